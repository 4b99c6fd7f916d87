/**
 * Rate-limit headers onto a Fastify reply through the shared writer (`setRateLimitHeaders`),
 * using `reply.header()` rather than `reply.raw.setHeader()`: a header set on the raw response makes
 * Node's `writeHead()` take its slow path and re-set every one of Fastify's own headers through
 * `setHeader()`. One reusable target per user, pointed at a reply for one synchronous use: no
 * allocation per request.
 */
import type { FastifyReply } from 'fastify';
import type { HeaderTarget } from '../core/rate-limit/headers.js';

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
