/**
 * Forwarding to the app through undici: one `Pool` for the upstream origin, one `Exchange` (an
 * undici dispatch handler) per accepted request, the request body streamed in and the response
 * streamed back with backpressure both ways.
 *
 * undici writes the request framing itself, from what the sidecar tells it: Content-Length when
 * the client declared one, chunked otherwise, for every method (Node's `http.request` writes a
 * GET/HEAD/DELETE/OPTIONS/TRACE body unframed, which an app reads as a second request). Each
 * client request therefore becomes exactly one upstream request; see framing.ts for what is
 * refused before this point.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { filterResponseHeaders } from './headers.js';
import { sendProblem } from './problem.js';
import type { UpstreamShape } from './framing.js';
import type { ResolvedSidecarOptions } from './options.js';
import type { SidecarCounters } from './metrics.js';

/** Methods retried once on a fresh connection when a kept-alive one failed before any answer. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A failure of the exchange with the app, as the status the client is answered with. */
export interface UpstreamFailure {
  readonly status: 502 | 504;
  readonly code: 'ERR_REALIP_UPSTREAM_TIMEOUT' | 'ERR_REALIP_UPSTREAM_UNAVAILABLE';
  /** Metric label of realip_sidecar_upstream_errors_total. */
  readonly kind: string;
  readonly detail: string;
}

/** Maps an undici (or socket) error to the answer and the metric label. */
export function upstreamFailure(err: Error): UpstreamFailure {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return timeout('connect-timeout', 'connecting to the app timed out');
    case 'UND_ERR_HEADERS_TIMEOUT':
      return timeout('response-timeout', 'the app did not answer in time');
    case 'UND_ERR_BODY_TIMEOUT':
      return timeout('idle-timeout', 'the app stopped sending its response');
    case 'UND_ERR_SOCKET':
      return unavailable('socket', 'the app closed the connection');
    default:
      return unavailable(code, 'the app could not be reached');
  }
}

function timeout(kind: string, detail: string): UpstreamFailure {
  return { status: 504, code: 'ERR_REALIP_UPSTREAM_TIMEOUT', kind, detail };
}
function unavailable(kind: string, detail: string): UpstreamFailure {
  return { status: 502, code: 'ERR_REALIP_UPSTREAM_UNAVAILABLE', kind, detail };
}

/** Thrown into the upload when a chunked body passes `maxBodyBytes`. */
class BodyTooLarge extends Error {
  readonly code = 'ERR_REALIP_BODY_TOO_LARGE';
}

/** What the forwarder needs from the sidecar besides its options. */
export interface ForwardHost {
  readonly counters: SidecarCounters;
  /** True once shutdown has begun: responses carry `Connection: close`. */
  readonly closing: boolean;
  /** Answers 413 on `res` and closes the client connection once sent. */
  bodyTooLarge(req: IncomingMessage, res: ServerResponse): void;
}

/** The upstream side of the sidecar: a pool of keep-alive connections to the app. */
export class Forwarder {
  readonly pool: Pool;

  constructor(
    readonly o: ResolvedSidecarOptions,
    readonly host: ForwardHost,
  ) {
    this.pool = new Pool(o.upstream.origin, {
      pipelining: 1,
      // Closes an idle connection before a typical 5 s server keep-alive timeout does; undici also
      // honours the app's `Keep-Alive: timeout=N` hint.
      keepAliveTimeout: 4_000,
      headersTimeout: o.responseTimeoutMs,
      bodyTimeout: o.idleTimeoutMs,
      connect: { timeout: o.connectTimeoutMs },
      strictContentLength: true,
    });
  }

  /**
   * Sends one accepted request to the app and relays the answer. `headers` are the end-to-end
   * headers for the app (buildUpstreamHeaders), Host included.
   */
  forward(req: IncomingMessage, res: ServerResponse, headers: string[], shape: UpstreamShape): void {
    if (shape.hasBody && shape.length !== undefined) headers.push('content-length', String(shape.length));
    if (shape.path === '*') {
      forwardAsterisk(this, req, res, headers);
      return;
    }
    const body = !shape.hasBody
      ? null
      : shape.length !== undefined
        ? req
        : Readable.from(countedBody(req, this.o.maxBodyBytes), { objectMode: false });
    const opts: Dispatcher.DispatchOptions = {
      path: shape.path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body,
      reset: shape.reset ? true : undefined,
    };
    new Exchange(this, req, res, opts, !shape.hasBody && IDEMPOTENT.has(req.method!)).start();
  }

  /** Answers a failed exchange: a problem when nothing was sent yet, a cut connection otherwise. */
  fail(req: IncomingMessage, res: ServerResponse, err: Error): void {
    if (err instanceof BodyTooLarge) {
      this.host.bodyTooLarge(req, res);
      return;
    }
    if (res.writableEnded) return; // answered already (413) or finished
    const failure = upstreamFailure(err);
    this.host.counters.upstreamError(failure.kind);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    this.o.onEvent({
      event: 'upstream-error',
      kind: failure.kind,
      status: failure.status,
      error: err.message,
    });
    sendProblem(res, failure.status, failure.code, failure.detail);
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/**
 * One request/response exchange with the app, as an undici dispatch handler. The response is
 * relayed as it arrives; interim (1xx) responses are not relayed.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  /** The final response's head arrived. */
  private started = false;
  /** The client went away (or the exchange ended) before the app finished. */
  private gone = false;
  private readonly resume = (): void => this.controller?.resume();

  constructor(
    private readonly fw: Forwarder,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly opts: Dispatcher.DispatchOptions,
    private readonly retryable: boolean,
  ) {}

  start(): void {
    this.res.once('close', this.onClientClose);
    this.fw.pool.dispatch(this.opts, this);
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished) return;
    this.gone = true;
    this.controller?.abort(new Error('the client closed the connection'));
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) controller.abort(new Error('the client closed the connection'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: http.IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return; // 103 Early Hints and other interim answers stay between us and the app
    this.started = true;
    const res = this.res;
    if (res.destroyed || res.headersSent) {
      controller.abort(new Error('the client is gone'));
      return;
    }
    // An answer before the whole body arrived (413, 401 from an app that does not read it): the
    // rest of the body is not read, so the client connection closes after this response.
    if (this.fw.host.closing || !this.req.complete) res.shouldKeepAlive = false;
    res.writeHead(statusCode, statusMessage, filterResponseHeaders(controller.rawHeaders as Buffer[]));
    // A response of unknown length is a stream (SSE, long polling): send the head now instead of
    // with the first chunk. Sized responses go out head and body together.
    if (headers['content-length'] === undefined) res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', this.resume);
    }
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.gone) return;
    const code = (err as NodeJS.ErrnoException).code;
    if (
      this.retryable &&
      !this.started &&
      !this.res.headersSent &&
      (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')
    ) {
      // The app closed a kept-alive connection as it was reused: one retry on a fresh
      // connection is safe for an idempotent request without a body.
      this.fw.host.counters.upstreamRetries++;
      this.res.removeListener('close', this.onClientClose);
      new Exchange(this.fw, this.req, this.res, this.opts, false).start();
      return;
    }
    this.fw.fail(this.req, this.res, err);
  }
}

/**
 * A chunked upload, counted: past `max` bytes it throws, which aborts the upstream request (the
 * app sees a truncated chunked body, never a complete one) and answers 413.
 */
async function* countedBody(req: IncomingMessage, max: number): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > max) throw new BodyTooLarge(`the request body exceeds ${max} bytes`);
    yield chunk;
  }
}

/**
 * `OPTIONS *` (asterisk-form), which undici's request API cannot express: sent with node:http on a
 * connection of its own, without a body (framing.ts refuses one), and closed afterwards.
 */
function forwardAsterisk(fw: Forwarder, req: IncomingMessage, res: ServerResponse, headers: string[]): void {
  const o = fw.o;
  const up = http.request({
    host: o.upstreamHost,
    port: o.upstreamPort,
    method: 'OPTIONS',
    path: '*',
    headers: [...headers, 'connection', 'close'],
    agent: false,
    setHost: false,
    timeout: o.connectTimeoutMs,
  });
  const timer = setTimeout(() => up.destroy(codeError('UND_ERR_HEADERS_TIMEOUT')), o.responseTimeoutMs);
  up.once('timeout', () => up.destroy(codeError('UND_ERR_CONNECT_TIMEOUT')));
  up.once('socket', (s) => s.once('connect', () => up.setTimeout(0)));
  up.once('response', (upRes) => {
    clearTimeout(timer);
    if (res.destroyed) {
      upRes.destroy();
      return;
    }
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, filterResponseHeaders(upRes.rawHeaders));
    upRes.on('error', () => res.destroy());
    upRes.pipe(res);
  });
  up.once('error', (err) => {
    clearTimeout(timer);
    fw.fail(req, res, err);
  });
  res.once('close', () => up.destroy());
  up.end();
}

function codeError(code: string): Error {
  return Object.assign(new Error(code), { code });
}
