/**
 * Fastify's translations of the shared writers: `FASTIFY_REPLY` for the 403/429/503 problem
 * responses (`sendProblemResponse`), `ReplyHeaderTarget` for the rate-limit headers
 * (`setRateLimitHeaders`). Both use `reply.header()` rather than `reply.raw.setHeader()`: a header
 * set on the raw response makes Node's `writeHead()` take its slow path and re-set every one of
 * Fastify's own headers through `setHeader()`. One reusable header target per user, pointed at a
 * reply for one synchronous use: no allocation per request.
 */
import type { FastifyReply } from 'fastify';
import type { ResponseTarget } from '../http/problem.js';
import type { HeaderTarget } from '../rate-limit/headers.js';

export class ReplyHeaderTarget implements HeaderTarget {
  private reply: FastifyReply | undefined = undefined;

  /** Points the target at `reply`; call `release()` when done, so it holds no reply. */
  use(reply: FastifyReply): this {
    this.reply = reply;
    return this;
  }

  release(): void {
    this.reply = undefined;
  }

  getHeader(name: string): string | number | string[] | undefined {
    return this.reply!.getHeader(name);
  }

  setHeader(name: string, value: string | number | readonly string[]): void {
    this.reply!.header(name, value);
  }
}

/**
 * Fastify's translation of the shared problem writer (`sendProblemResponse`). The body goes as a
 * Buffer so the content type stays exactly `application/problem+json` (a string would get
 * `; charset=utf-8` appended). Fastify leaves the body out of HEAD responses itself: callers pass
 * `head: false`, so `onSend` hooks see the same payload for GET and HEAD.
 */
export const FASTIFY_REPLY: ResponseTarget<FastifyReply> = {
  status(reply, status) {
    reply.code(status);
  },
  header(reply, name, value) {
    reply.header(name, value);
  },
  end(reply, body) {
    reply.send(body === undefined ? undefined : Buffer.from(body));
  },
};
