/**
 * Forwarding to the app through undici: one `Pool` for the upstream origin, one `Exchange` (an
 * undici dispatch handler) per accepted request, bounded by a connection gate (gate.ts), the
 * request body read with a gap timeout and buffered when small (body.ts), the response streamed
 * back with backpressure.
 *
 * undici writes the request framing itself, from what the sidecar tells it: Content-Length when
 * the length is known, chunked otherwise, for every method (Node's `http.request` writes a
 * GET/HEAD/DELETE/OPTIONS/TRACE body unframed, which an app reads as a second request). Each
 * client request therefore becomes exactly one upstream request; see framing.ts for what is
 * refused before this point.
 *
 * Timeouts, each with one meaning: `clientBodyTimeoutMs` is the longest gap between two reads of
 * the request body (408); `responseTimeoutMs` runs from the last body byte handed to the app (or
 * the request head, without a body) to the response head (504); `idleTimeoutMs` is the longest
 * silence inside a response body (undici's `bodyTimeout`).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { bodyChunks, bufferBody, ClientBodyError, ClientGone, joined } from './body.js';
import { ConnectionGate, type GateWaiter } from './gate.js';
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
    case RESPONSE_TIMEOUT:
      return timeout('response-timeout', 'the app did not answer in time');
    case 'UND_ERR_BODY_TIMEOUT':
      return timeout('idle-timeout', 'the app stopped sending its response');
    case 'UND_ERR_SOCKET':
      return unavailable('socket', 'the app closed the connection');
    default:
      return unavailable(code, 'the app could not be reached');
  }
}

const RESPONSE_TIMEOUT = 'ERR_REALIP_RESPONSE_TIMEOUT';

/** The error a response timeout aborts the upstream request with (mapped to 504). */
export function responseTimeoutError(): Error {
  return codeError(RESPONSE_TIMEOUT, 'the app did not answer in time');
}

function timeout(kind: string, detail: string): UpstreamFailure {
  return { status: 504, code: 'ERR_REALIP_UPSTREAM_TIMEOUT', kind, detail };
}
function unavailable(kind: string, detail: string): UpstreamFailure {
  return { status: 502, code: 'ERR_REALIP_UPSTREAM_UNAVAILABLE', kind, detail };
}
function codeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** What the forwarder needs from the sidecar besides its options. */
export interface ForwardHost {
  readonly counters: SidecarCounters;
  /** True once shutdown has begun: responses carry `Connection: close`. */
  readonly closing: boolean;
  /** Answers `status` (408, 413) on `res` and closes the client connection once sent. */
  refuseBody(req: IncomingMessage, res: ServerResponse, error: ClientBodyError): void;
}

/** The upstream side of the sidecar: a bounded pool of keep-alive connections to the app. */
export class Forwarder {
  readonly pool: Pool;
  readonly gate: ConnectionGate;
  /** Bytes reserved by request bodies being buffered now (bounded by requestBufferMemory). */
  buffered = 0;

  constructor(
    readonly o: ResolvedSidecarOptions,
    readonly host: ForwardHost,
  ) {
    this.gate = new ConnectionGate(o.upstreamConnections, o.upstreamQueue, o.upstreamQueueTimeoutMs);
    this.pool = new Pool(o.upstream.origin, {
      connections: o.upstreamConnections,
      pipelining: 1,
      // Closes an idle connection before a typical 5 s server keep-alive timeout does; undici also
      // honours the app's `Keep-Alive: timeout=N` hint.
      keepAliveTimeout: 4_000,
      // The response timeout is the Exchange's own: it starts when the body has been sent.
      headersTimeout: 0,
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
    new Exchange(this, req, res, headers, shape).start();
  }

  /** Answers a failed exchange: a problem when nothing was sent yet, a cut connection otherwise. */
  fail(req: IncomingMessage, res: ServerResponse, err: Error): void {
    if (err instanceof ClientBodyError) {
      this.host.refuseBody(req, res, err);
      return;
    }
    if (res.writableEnded || err instanceof ClientGone) return;
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
 * One request/response exchange with the app, as an undici dispatch handler: read (or buffer)
 * the body, wait for a connection, dispatch, relay the response. Interim (1xx) responses are not
 * relayed.
 */
class Exchange implements Dispatcher.DispatchHandler, GateWaiter {
  private controller: Dispatcher.DispatchController | undefined;
  private body: Buffer | Readable | null = null;
  /** Holds a connection from the gate (released once, in `end()`). */
  private admittedFlag = false;
  private cancelWait: (() => void) | undefined;
  /** Bytes of `Forwarder.buffered` this exchange reserved. */
  private reserved = 0;
  /** The final response's head arrived. */
  private started = false;
  private retried = false;
  /** The client went away (or the exchange ended) before the app finished. */
  private gone = false;
  private ended = false;
  private responseTimer: NodeJS.Timeout | undefined;
  private readonly resume = (): void => this.controller?.resume();

  constructor(
    private readonly fw: Forwarder,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly headers: string[],
    private readonly shape: UpstreamShape,
  ) {}

  start(): void {
    this.res.once('close', this.onClientClose);
    const { shape, fw } = this;
    const o = fw.o;
    if (!shape.hasBody) {
      this.wait();
      return;
    }
    const want = shape.length ?? o.requestBufferBytes;
    if (
      o.requestBufferBytes > 0 &&
      want <= o.requestBufferBytes &&
      fw.buffered + want <= o.requestBufferMemoryBytes
    ) {
      this.reserved = want;
      fw.buffered += want;
      void this.buffer();
      return;
    }
    this.streamBody([], bodyChunks(this.req, o.clientBodyTimeoutMs, o.maxBodyBytes));
    this.wait();
  }

  /** Reads a small body whole before asking for a connection. */
  private async buffer(): Promise<void> {
    const o = this.fw.o;
    try {
      const b = await bufferBody(this.req, o.requestBufferBytes, o.clientBodyTimeoutMs, o.maxBodyBytes);
      if (this.gone) return this.end();
      if (b.rest === undefined) {
        // undici frames a Buffer body with its Content-Length (a chunked body that fit included)
        this.body = b.chunks.length === 1 ? b.chunks[0]! : Buffer.concat(b.chunks, b.bytes);
      } else {
        this.streamBody(b.chunks, b.rest);
      }
    } catch (error) {
      this.end();
      this.fw.fail(this.req, this.res, error as Error);
      return;
    }
    this.wait();
  }

  private streamBody(start: Buffer[], rest: AsyncGenerator<Buffer>): void {
    if (this.shape.length !== undefined) this.headers.push('content-length', String(this.shape.length));
    this.body = Readable.from(
      joined(start, rest, () => this.bodySent()),
      { objectMode: false },
    );
  }

  private wait(): void {
    if (this.gone) return this.end();
    this.cancelWait = this.fw.gate.acquire(this);
  }

  /** GateWaiter: a connection is ours. */
  admitted(): void {
    this.admittedFlag = true;
    this.cancelWait = undefined;
    if (this.gone) return this.end();
    if (this.shape.path === '*') {
      forwardAsterisk(this.fw, this.req, this.res, this.headers, () => this.end());
      return;
    }
    this.dispatch();
  }

  /** GateWaiter: no connection within the bounds. */
  busy(reason: 'queue-full' | 'queue-timeout'): void {
    this.cancelWait = undefined;
    this.end();
    this.fw.host.counters.upstreamBusy(reason);
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    // A body still streaming in is not read: the connection closes after the answer.
    if (!this.req.complete) res.shouldKeepAlive = false;
    res.setHeader('retry-after', String(Math.max(1, Math.ceil(this.fw.o.upstreamQueueTimeoutMs / 1000))));
    sendProblem(res, 503, 'ERR_REALIP_UPSTREAM_BUSY', `the app is busy (${reason})`);
  }

  private dispatch(): void {
    const opts: Dispatcher.DispatchOptions = {
      path: this.shape.path,
      method: this.req.method as Dispatcher.HttpMethod,
      headers: this.headers,
      body: this.body,
      reset: this.shape.reset ? true : undefined,
    };
    this.fw.pool.dispatch(opts, this);
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished) return;
    this.gone = true;
    this.cancelWait?.();
    this.clearResponseTimer();
    if (this.controller !== undefined)
      this.controller.abort(new ClientGone('the client closed the connection'));
    else if (!this.admittedFlag) this.end();
  };

  /** The last byte of the request went to the app: the response timeout starts. */
  private bodySent(): void {
    if (this.started || this.gone || this.responseTimer !== undefined) return;
    this.responseTimer = setTimeout(() => {
      this.responseTimer = undefined;
      this.controller?.abort(responseTimeoutError());
    }, this.fw.o.responseTimeoutMs);
  }

  private clearResponseTimer(): void {
    if (this.responseTimer !== undefined) clearTimeout(this.responseTimer);
    this.responseTimer = undefined;
  }

  /** Gives back the connection and the buffer reservation, once. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearResponseTimer();
    this.cancelWait?.();
    if (this.reserved > 0) this.fw.buffered -= this.reserved;
    this.reserved = 0;
    if (this.admittedFlag) this.fw.gate.release();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) {
      controller.abort(new ClientGone('the client closed the connection'));
      return;
    }
    if (!(this.body instanceof Readable)) this.bodySent();
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: http.IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return; // 103 Early Hints and other interim answers stay between us and the app
    this.started = true;
    this.clearResponseTimer();
    const res = this.res;
    if (res.destroyed || res.headersSent) {
      controller.abort(new ClientGone('the client is gone'));
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
    this.end();
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.clearResponseTimer();
    const code = (err as NodeJS.ErrnoException).code;
    if (
      !this.gone &&
      !this.retried &&
      !this.started &&
      !this.shape.hasBody &&
      IDEMPOTENT.has(this.req.method!) &&
      !this.res.headersSent &&
      (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')
    ) {
      // The app closed a kept-alive connection as it was reused: one retry on a fresh
      // connection is safe for an idempotent request without a body. The slot is kept.
      this.fw.host.counters.upstreamRetries++;
      this.retried = true;
      this.controller = undefined;
      this.dispatch();
      return;
    }
    this.end();
    if (!this.gone) this.fw.fail(this.req, this.res, err);
  }
}

/**
 * `OPTIONS *` (asterisk-form), which undici's request API cannot express: sent with node:http on a
 * connection of its own, without a body (framing.ts refuses one), and closed afterwards.
 */
function forwardAsterisk(
  fw: Forwarder,
  req: IncomingMessage,
  res: ServerResponse,
  headers: string[],
  done: () => void,
): void {
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
  const timer = setTimeout(() => up.destroy(responseTimeoutError()), o.responseTimeoutMs);
  up.once('timeout', () => up.destroy(codeError('UND_ERR_CONNECT_TIMEOUT', 'connect timeout')));
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
  up.once('close', done);
  res.once('close', () => up.destroy());
  up.end();
}
