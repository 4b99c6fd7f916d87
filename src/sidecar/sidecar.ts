/**
 * The sidecar: a reverse proxy that runs the stack on every public request and forwards the
 * allowed ones to the app in the same pod, plus an admin listener for probes and metrics.
 *
 * The upstream client is Node's own `http` with a keep-alive agent: the sidecar talks to one
 * loopback origin, and `node:http` gives streaming in both directions, 1xx handling and Upgrade
 * without extra dependencies on every supported Node version.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server as NetServer, Socket, AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { problemBody, PROBLEM_CONTENT_TYPE } from '../core/problem.js';
import { HeaderRules, buildUpstreamHeaders, filterResponseHeaders } from './headers.js';
import { createProxyProtocolServer, getProxySource, type ProxyProtocolStats } from './proxy-listener.js';
import { resolveSidecarOptions, ADMIN_PATHS, type ResolvedSidecarOptions } from './options.js';
import { renderSidecarMetrics, SidecarCounters } from './metrics.js';
import { sendProblem } from './problem.js';
import type { SidecarConnection, SidecarOptions, SidecarRequest } from './types.js';

/** A running (or ready to run) sidecar. */
export interface Sidecar {
  /** Starts both listeners; resolves with their addresses. */
  listen(): Promise<{ public: AddressInfo; admin: AddressInfo | undefined }>;
  /**
   * The Kubernetes termination sequence: `/readyz` fails at once, the public listener keeps
   * serving for `shutdownDelayMs`, then stops accepting, in-flight requests get `drainTimeoutMs`
   * to finish, and everything closes. Resolves when done; calling it again returns the same promise.
   */
  shutdown(): Promise<void>;
  /** Closes everything now (tests, fatal errors). */
  close(): Promise<void>;
  /** True from the start of `shutdown()`. */
  readonly draining: boolean;
  /** Counters (requests by status, upstream errors, PROXY protocol, in-flight). */
  readonly counters: SidecarCounters;
  /** Ready-made Prometheus text for the sidecar's own metrics (the stack's come first on /metrics). */
  metricsText(): string;
}

const NO_PROXY: SidecarConnection = Object.freeze({});
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Timeouts and failures of the upstream, mapped to a status and an error code. */
class UpstreamFailure extends Error {
  constructor(
    readonly status: 502 | 504,
    readonly code: string,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }

  /** The app did not send response headers within `responseTimeoutMs`. */
  static responseTimeout(): UpstreamFailure {
    return new UpstreamFailure(
      504,
      'ERR_REALIP_UPSTREAM_TIMEOUT',
      'response-timeout',
      'the app did not answer in time',
    );
  }

  /** Any error on the upstream request, as the failure the client is answered with. */
  static from(err: Error): UpstreamFailure {
    return err instanceof UpstreamFailure
      ? err
      : new UpstreamFailure(
          502,
          'ERR_REALIP_UPSTREAM_UNAVAILABLE',
          (err as NodeJS.ErrnoException).code ?? 'error',
          'the app could not be reached',
        );
  }
}

/** Creates the sidecar. Validates every option at once (ConfigError). */
export function createSidecar(options: SidecarOptions): Sidecar {
  const o = resolveSidecarOptions(options);
  return new SidecarImpl(o);
}

class SidecarImpl implements Sidecar {
  readonly counters = new SidecarCounters();
  private readonly proxyStats: ProxyProtocolStats;
  private readonly rules: HeaderRules;
  private readonly agent: http.Agent;
  private readonly http: http.Server;
  private readonly front: NetServer | undefined;
  private readonly admin: http.Server | undefined;
  private readonly tunnels = new Set<Duplex>();
  private drainingFlag = false;
  private closing = false;
  private shutdownPromise: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: ResolvedSidecarOptions) {
    this.proxyStats = this.counters.proxyProtocol;
    this.rules = new HeaderRules(o.stripHeaders);
    this.agent = new http.Agent({
      keepAlive: true,
      maxFreeSockets: o.upstreamMaxIdleSockets,
      scheduling: 'lifo',
      // Drop idle upstream sockets before a typical 5 s server keep-alive timeout closes them.
      timeout: 4_000,
    });
    this.http = http.createServer(
      {
        // Slow-header and slow-request protection on the public side.
        headersTimeout: 30_000,
        requestTimeout: 0,
        keepAliveTimeout: 5_000,
      },
      (req, res) => this.onRequest(req, res),
    );
    // A client connection silent for the idle timeout in both directions is closed (slow uploads,
    // abandoned sockets); 0 disables it like the option says.
    this.http.timeout = o.idleTimeoutMs;
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.counters.clientErrors++;
      if (!socket.writable || (err.code === 'ECONNRESET' && socket.destroyed)) {
        socket.destroy();
        return;
      }
      const status =
        err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = problemBody({
        title: http.STATUS_CODES[status]!,
        status,
        detail: 'malformed HTTP request',
      });
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    if (o.proxyProtocol !== undefined) {
      this.front = createProxyProtocolServer(this.http, o.proxyProtocol, this.proxyStats);
    }
    if (o.adminListen !== false) {
      this.admin = http.createServer((req, res) => void this.onAdmin(req, res));
    }
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  // ---------------------------------------------------------------------------------------------
  // Listeners
  // ---------------------------------------------------------------------------------------------

  async listen(): Promise<{ public: AddressInfo; admin: AddressInfo | undefined }> {
    const pub = this.front ?? this.http;
    await listenOn(pub, this.o.listen.host, this.o.listen.port);
    if (this.front !== undefined) {
      // The HTTP server never listens itself; 'listening' starts its connection tracking
      // (headers/request timeouts, closeIdleConnections) for the sockets the front hands over.
      this.http.emit('listening');
    }
    let admin: AddressInfo | undefined;
    if (this.admin !== undefined && this.o.adminListen !== false) {
      await listenOn(this.admin, this.o.adminListen.host, this.o.adminListen.port);
      admin = this.admin.address() as AddressInfo;
    }
    const addr = pub.address() as AddressInfo;
    this.o.onEvent({
      event: 'listening',
      listen: `${addr.address}:${addr.port}`,
      admin: admin === undefined ? undefined : `${admin.address}:${admin.port}`,
      upstream: this.o.upstream.href,
      proxyProtocol: this.o.proxyProtocol !== undefined,
    });
    return { public: addr, admin };
  }

  // ---------------------------------------------------------------------------------------------
  // Requests
  // ---------------------------------------------------------------------------------------------

  private connectionOf(socket: Socket): { conn: SidecarConnection; ssl: boolean } | undefined {
    const src = getProxySource(socket);
    if (src === undefined) return undefined;
    return {
      conn: { proxyProtocol: { sourceAddress: src.sourceAddress, sourcePort: src.sourcePort } },
      ssl: src.header.ssl,
    };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const c = this.counters;
    c.inflight++;
    res.once('close', () => {
      c.inflight--;
      c.countStatus(res.statusCode);
      if (this.closing) {
        this.http.closeIdleConnections();
        this.checkIdle();
      }
    });
    if (this.closing) res.shouldKeepAlive = false;
    const pp = this.o.proxyProtocol === undefined ? undefined : this.connectionOf(req.socket);
    const conn = pp === undefined ? NO_PROXY : pp.conn;
    const ssl = pp !== undefined && pp.ssl;
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.o.stack.handle(req as SidecarRequest, res, conn);
    } catch (error) {
      this.stackFailed(res, error);
      return;
    }
    if (verdict === true) this.forward(req as SidecarRequest, res, ssl);
    else if (verdict !== false) {
      verdict.then(
        (ok) => {
          if (ok) this.forward(req as SidecarRequest, res, ssl);
        },
        (error: unknown) => this.stackFailed(res, error),
      );
    }
  }

  private stackFailed(res: ServerResponse, error: unknown): void {
    this.counters.stackErrors++;
    this.o.onEvent({ event: 'stack-error', error: error instanceof Error ? error.message : String(error) });
    if (res.headersSent) res.destroy();
    else sendProblem(res, 500, 'ERR_REALIP_STACK_FAILED', 'the realip stack failed on this request');
  }

  private forward(req: SidecarRequest, res: ServerResponse, ssl: boolean): void {
    if (res.headersSent || res.writableEnded) return;
    const o = this.o;
    const cl = req.headers['content-length'];
    const chunked = cl === undefined && req.headers['transfer-encoding'] !== undefined;
    if (cl !== undefined && Number(cl) > o.maxBodyBytes) {
      this.bodyTooLarge(req, res);
      return;
    }
    const ctx = req.realip;
    const headers = buildUpstreamHeaders(
      this.rules,
      req.rawHeaders,
      req.headers,
      { resolution: ctx?.resolution, geo: ctx?.geo, proxySsl: ssl },
      o.geoHeaders,
      undefined,
    );
    // HTTP/1.0 clients may omit Host; the app speaks HTTP/1.1, where it is required.
    if (req.headers.host === undefined) headers.push('host', this.o.upstream.host);
    const hasBody = chunked || (cl !== undefined && cl !== '0');
    this.dispatch(req, res, headers, hasBody, chunked, false);
  }

  private dispatch(
    req: SidecarRequest,
    res: ServerResponse,
    headers: string[],
    hasBody: boolean,
    chunked: boolean,
    retried: boolean,
  ): void {
    const o = this.o;
    const upReq = http.request({
      host: o.upstreamHost,
      port: o.upstreamPort,
      method: req.method,
      path: o.upstreamBasePath === '' ? req.url : o.upstreamBasePath + req.url,
      headers,
      agent: this.agent,
      setHost: false,
    });
    let connectTimer: NodeJS.Timeout | undefined;
    let responseTimer: NodeJS.Timeout | undefined = setTimeout(() => {
      responseTimer = undefined;
      upReq.destroy(UpstreamFailure.responseTimeout());
    }, o.responseTimeoutMs);
    upReq.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      connectTimer = setTimeout(() => {
        connectTimer = undefined;
        upReq.destroy(
          new UpstreamFailure(
            504,
            'ERR_REALIP_UPSTREAM_TIMEOUT',
            'connect-timeout',
            'connecting to the app timed out',
          ),
        );
      }, o.connectTimeoutMs);
      socket.once('connect', () => {
        if (connectTimer !== undefined) clearTimeout(connectTimer);
        connectTimer = undefined;
      });
    });
    const clearTimers = (): void => {
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      if (responseTimer !== undefined) clearTimeout(responseTimer);
      connectTimer = responseTimer = undefined;
    };
    let upstreamDone = false;
    upReq.on('response', (upRes: IncomingMessage) => {
      clearTimers();
      upRes.once('end', () => {
        upstreamDone = true;
      });
      if (res.destroyed) {
        upRes.destroy();
        return;
      }
      if (this.closing) res.shouldKeepAlive = false;
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, filterResponseHeaders(upRes.rawHeaders));
      // A response of unknown length is a stream (SSE, long polling): send the head now instead of
      // with the first chunk. Sized responses go out head and body together.
      if (upRes.headers['content-length'] === undefined) res.flushHeaders();
      if (o.idleTimeoutMs > 0) {
        upReq.setTimeout(o.idleTimeoutMs, () => {
          this.counters.upstreamError('idle-timeout');
          upReq.destroy();
          res.destroy();
        });
      }
      upRes.on('error', () => res.destroy());
      upRes.pipe(res);
    });
    upReq.on('error', (err: Error) => {
      clearTimers();
      if (
        !retried &&
        !hasBody &&
        upReq.reusedSocket &&
        (err as NodeJS.ErrnoException).code === 'ECONNRESET' &&
        IDEMPOTENT.has(req.method ?? '') &&
        !res.headersSent
      ) {
        // The app closed an idle keep-alive connection as we reused it: the request never reached
        // it, so one retry on a fresh connection is safe for idempotent requests without a body.
        this.counters.upstreamRetries++;
        this.dispatch(req, res, headers, hasBody, chunked, true);
        return;
      }
      const failure = UpstreamFailure.from(err);
      if (res.writableEnded) return; // already answered (413) or finished
      this.counters.upstreamError(failure.kind);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!res.destroyed) {
        this.o.onEvent({
          event: 'upstream-error',
          kind: failure.kind,
          status: failure.status,
          error: err.message,
        });
        sendProblem(res, failure.status, failure.code, failure.message);
      }
    });
    res.once('close', () => {
      // The client went away (or the exchange finished): never leave the upstream request running.
      if (!upstreamDone && !upReq.destroyed) upReq.destroy();
      clearTimers();
    });
    if (!hasBody) {
      upReq.end();
    } else if (!chunked) {
      req.pipe(upReq);
    } else {
      this.pumpCounted(req, res, upReq);
    }
  }

  /** Streams a body of unknown length, answering 413 as soon as it exceeds the limit. */
  private pumpCounted(req: IncomingMessage, res: ServerResponse, upReq: http.ClientRequest): void {
    const max = this.o.maxBodyBytes;
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > max) {
        req.removeListener('data', onData);
        this.bodyTooLarge(req, res);
        upReq.destroy();
        return;
      }
      if (!upReq.write(chunk)) req.pause();
    };
    upReq.on('drain', () => req.resume());
    req.on('data', onData);
    req.on('end', () => {
      if (received <= max) upReq.end();
    });
  }

  private bodyTooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.counters.bodyTooLarge++;
    // Do not read the rest of the body: answer and close the connection.
    res.shouldKeepAlive = false;
    if (!res.headersSent) {
      sendProblem(
        res,
        413,
        'ERR_REALIP_BODY_TOO_LARGE',
        `the request body exceeds ${this.o.maxBodyBytes} bytes`,
      );
    }
    res.once('finish', () => req.socket.destroySoon());
  }

  // ---------------------------------------------------------------------------------------------
  // Upgrade (WebSocket)
  // ---------------------------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const c = this.counters;
    socket.on('error', () => socket.destroy());
    if (this.closing) {
      socket.destroy();
      return;
    }
    // A response bound to the raw socket, so the stack can answer 403/429 the usual way.
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      c.countStatus(res.statusCode);
      socket.end();
    });
    const pp = this.o.proxyProtocol === undefined ? undefined : this.connectionOf(socket as Socket);
    const conn = pp === undefined ? NO_PROXY : pp.conn;
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.o.stack.handle(req as SidecarRequest, res, conn);
    } catch (error) {
      this.stackFailed(res, error);
      return;
    }
    const go = (ok: boolean): void => {
      if (!ok) return;
      res.detachSocket(socket as Socket);
      this.tunnel(req as SidecarRequest, socket, head, pp !== undefined && pp.ssl);
    };
    if (verdict === true || verdict === false) go(verdict);
    else verdict.then(go, (error: unknown) => this.stackFailed(res, error));
  }

  private tunnel(req: SidecarRequest, socket: Duplex, head: Buffer, ssl: boolean): void {
    const o = this.o;
    const ctx = req.realip;
    const headers = buildUpstreamHeaders(
      this.rules,
      req.rawHeaders,
      req.headers,
      { resolution: ctx?.resolution, geo: ctx?.geo, proxySsl: ssl },
      o.geoHeaders,
      String(req.headers.upgrade ?? 'websocket'),
    );
    if (req.headers.host === undefined) headers.push('host', o.upstream.host);
    const upReq = http.request({
      host: o.upstreamHost,
      port: o.upstreamPort,
      method: req.method,
      path: o.upstreamBasePath === '' ? req.url : o.upstreamBasePath + req.url,
      headers,
      // A dedicated connection: upgraded sockets never return to the keep-alive pool.
      agent: false,
      setHost: false,
    });
    const timer = setTimeout(() => {
      upReq.destroy(UpstreamFailure.responseTimeout());
    }, o.responseTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      upReq.destroy();
    });
    upReq.on('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      clearTimeout(timer);
      if (socket.destroyed) {
        upSocket.destroy();
        return;
      }
      this.counters.countStatus(101);
      let headText = `HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}\r\n`;
      const raw = upRes.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) headText += `${raw[i]}: ${raw[i + 1]}\r\n`;
      socket.write(headText + '\r\n');
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      upSocket.on('error', () => socket.destroy());
      socket.on('error', () => upSocket.destroy());
      upSocket.on('close', () => socket.destroy());
      socket.on('close', () => upSocket.destroy());
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      this.tunnels.add(socket);
      this.counters.tunnels++;
      socket.once('close', () => {
        this.tunnels.delete(socket);
        this.counters.tunnels--;
        this.checkIdle();
      });
    });
    upReq.on('response', (upRes: IncomingMessage) => {
      // The app declined the upgrade with a normal response: relay it and close.
      clearTimeout(timer);
      const res2 = new http.ServerResponse(req);
      res2.shouldKeepAlive = false;
      res2.assignSocket(socket as Socket);
      res2.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, filterResponseHeaders(upRes.rawHeaders));
      res2.once('finish', () => {
        this.counters.countStatus(res2.statusCode);
        socket.end();
      });
      upRes.pipe(res2);
    });
    upReq.on('error', (err: Error) => {
      clearTimeout(timer);
      const failure = UpstreamFailure.from(err);
      this.counters.upstreamError(failure.kind);
      if (socket.destroyed || !socket.writable) return;
      const res3 = new http.ServerResponse(req);
      res3.shouldKeepAlive = false;
      res3.assignSocket(socket as Socket);
      res3.once('finish', () => socket.end());
      sendProblem(res3, failure.status, failure.code, failure.message);
    });
    upReq.end();
  }

  // ---------------------------------------------------------------------------------------------
  // Admin listener
  // ---------------------------------------------------------------------------------------------

  private async onAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendProblem(res, 405, 'ERR_REALIP_ADMIN_METHOD', 'the admin listener answers GET and HEAD only');
      return;
    }
    try {
      switch (path) {
        case ADMIN_PATHS.healthz:
          sendText(res, 200, 'ok\n');
          return;
        case ADMIN_PATHS.readyz: {
          if (this.drainingFlag) {
            sendText(res, 503, 'shutting down\n');
            return;
          }
          const ready = this.o.stack.ready === undefined ? true : await this.o.stack.ready();
          sendText(res, ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
          return;
        }
        case ADMIN_PATHS.metrics: {
          const stackText = this.o.stack.metrics === undefined ? '' : await this.o.stack.metrics();
          const body =
            (stackText === '' || stackText.endsWith('\n') ? stackText : stackText + '\n') +
            this.metricsText();
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(body);
          return;
        }
        case ADMIN_PATHS.topClients: {
          const top = this.o.stack.topClients === undefined ? [] : this.o.stack.topClients();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(top ?? []) + '\n');
          return;
        }
        default:
          sendProblem(res, 404, 'ERR_REALIP_ADMIN_NOT_FOUND', `no admin endpoint at ${path}`);
      }
    } catch (error) {
      this.o.onEvent({
        event: 'admin-error',
        path,
        error: error instanceof Error ? error.message : String(error),
      });
      if (!res.headersSent) sendProblem(res, 500, 'ERR_REALIP_STACK_FAILED', 'the admin endpoint failed');
      else res.destroy();
    }
  }

  metricsText(): string {
    return renderSidecarMetrics(this.counters, this.drainingFlag);
  }

  // ---------------------------------------------------------------------------------------------
  // Shutdown
  // ---------------------------------------------------------------------------------------------

  private checkIdle(): void {
    if (this.counters.inflight > 0 || this.tunnels.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.counters.inflight === 0 && this.tunnels.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.runShutdown();
    return this.shutdownPromise;
  }

  private async runShutdown(): Promise<void> {
    const o = this.o;
    this.drainingFlag = true;
    o.onEvent({ event: 'shutdown', step: 'readyz-failing', delayMs: o.shutdownDelayMs });
    if (o.shutdownDelayMs > 0) await sleep(o.shutdownDelayMs);
    o.onEvent({
      event: 'shutdown',
      step: 'draining',
      inflight: this.counters.inflight,
      tunnels: this.tunnels.size,
    });
    const drained = await this.stopPublic(o.drainTimeoutMs);
    o.onEvent({ event: 'shutdown', step: 'closed', drained });
    await this.closeRest();
  }

  private async stopPublic(drainMs: number): Promise<boolean> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => {
      if (this.front !== undefined) {
        this.front.close(() => resolve());
        this.http.close();
      } else {
        this.http.close(() => resolve());
      }
    });
    this.http.closeIdleConnections();
    const drained = await this.waitIdle(drainMs);
    this.http.closeAllConnections();
    for (const t of this.tunnels) t.destroy();
    await closed;
    return drained;
  }

  private async closeRest(): Promise<void> {
    this.agent.destroy();
    if (this.admin !== undefined && this.admin.listening) {
      await new Promise<void>((resolve) => {
        this.admin!.close(() => resolve());
        this.admin!.closeAllConnections();
      });
    }
    if (this.o.stack.close !== undefined) await this.o.stack.close();
  }

  async close(): Promise<void> {
    this.drainingFlag = true;
    if (this.front?.listening || this.http.listening) await this.stopPublic(0);
    await this.closeRest();
  }
}

function listenOn(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, ipv6Only: false }, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}
