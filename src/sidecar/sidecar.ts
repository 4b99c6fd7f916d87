/**
 * The sidecar: a reverse proxy that runs the stack on every public request and forwards the
 * allowed ones to the app in the same pod, plus an admin listener for probes and metrics.
 *
 * This file holds the listeners, the order of things per request (stack, then framing checks,
 * then forwarding) and shutdown. Forwarding is undici's (forward.ts), the framing rules are
 * framing.ts's, and WebSocket tunnels and other Upgrade requests are tunnel.ts's.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server as NetServer, Socket, AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { HeaderRules, buildUpstreamHeaders } from './headers.js';
import { createProxyProtocolServer, getProxySource, type ProxyProtocolStats } from './proxy-listener.js';
import { resolveSidecarOptions, type ResolvedSidecarOptions } from './options.js';
import { renderSidecarMetrics, SidecarCounters } from './metrics.js';
import { sendProblem } from './problem.js';
import { serveAdmin, type AdminHost } from './admin.js';
import { noteResponse, onClientError } from './client-error.js';
import { Forwarder, type ForwardHost } from './forward.js';
import { ClientBodyError } from './body.js';
import { isRefusal, isWebSocketHandshake, REFUSALS, shapeRequest, type Refusal } from './framing.js';
import { replayHead, tunnelWebSocket, type TunnelHost } from './tunnel.js';
import type { SidecarConnection, SidecarEvent, SidecarOptions, SidecarRequest } from './types.js';

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

/** Creates the sidecar. Validates every option at once (ConfigError). */
export function createSidecar(options: SidecarOptions): Sidecar {
  const o = resolveSidecarOptions(options);
  return new SidecarImpl(o);
}

class SidecarImpl implements Sidecar, ForwardHost, TunnelHost, AdminHost {
  readonly counters = new SidecarCounters();
  private readonly proxyStats: ProxyProtocolStats;
  private readonly rules: HeaderRules;
  private readonly forwarder: Forwarder;
  private readonly http: http.Server;
  /** Parses Upgrade requests that are not tunnelled again, as plain HTTP (tunnel.ts). */
  private readonly plain: http.Server;
  private readonly front: NetServer | undefined;
  private readonly admin: http.Server | undefined;
  private readonly tunnels = new Set<Duplex>();
  private drainingFlag = false;
  closing = false;
  private shutdownPromise: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: ResolvedSidecarOptions) {
    this.proxyStats = this.counters.proxyProtocol;
    this.rules = new HeaderRules(o.stripHeaders);
    this.forwarder = new Forwarder(o, this);
    const { gate } = this.forwarder;
    this.counters.upstreamState = () => ({
      active: gate.active,
      waiting: gate.waiting,
      buffered: this.forwarder.buffered,
    });
    this.http = this.publicServer();
    this.plain = this.publicServer();
    if (o.proxyProtocol !== undefined) {
      this.front = createProxyProtocolServer(this.http, o.proxyProtocol, this.proxyStats);
    }
    if (o.adminListen !== false) {
      this.admin = http.createServer((req, res) => void serveAdmin(req, res, this));
    }
  }

  /** One of the two HTTP servers of the public listener; both behave the same. */
  private publicServer(): http.Server {
    const server = http.createServer(
      {
        // Slow-header and slow-request protection on the public side.
        headersTimeout: 30_000,
        requestTimeout: 0,
        keepAliveTimeout: 5_000,
      },
      (req, res) => this.onRequest(req, res, false),
    );
    // A client connection silent for the idle timeout in both directions is closed (slow uploads,
    // abandoned sockets); 0 disables it like the option says.
    server.timeout = this.o.idleTimeoutMs;
    // Expect: 100-continue is answered only once the stack has admitted the request.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res, true));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    server.on('connect', (req: IncomingMessage, socket: Duplex) =>
      this.refuseRaw(req, socket, REFUSALS.connect),
    );
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      this.counters.clientErrors++;
      onClientError(err, socket);
    });
    return server;
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  /** AdminHost: the stack (readiness, metrics, top clients) and the event sink. */
  get stack(): ResolvedSidecarOptions['stack'] {
    return this.o.stack;
  }

  onEvent(event: SidecarEvent): void {
    this.o.onEvent(event);
  }

  // ---------------------------------------------------------------------------------------------
  // Listeners
  // ---------------------------------------------------------------------------------------------

  async listen(): Promise<{ public: AddressInfo; admin: AddressInfo | undefined }> {
    const pub = this.front ?? this.http;
    await listenOn(pub, this.o.listen.host, this.o.listen.port);
    // These HTTP servers never listen themselves (`http` does unless a PROXY front does);
    // 'listening' starts their connection tracking (headers timeout, closeIdleConnections) for
    // the sockets handed over.
    if (this.front !== undefined) this.http.emit('listening');
    this.plain.emit('listening');
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

  private onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const c = this.counters;
    c.inflight++;
    noteResponse(req.socket, res);
    res.once('close', () => {
      c.inflight--;
      if (res.writableFinished) c.countStatus(res.statusCode);
      else if (!res.headersSent) {
        // The client left before the response head (nginx's 499); the stack's log says the same.
        c.clientAborted('before-head');
        c.countStatus(499);
      } else {
        c.clientAborted('during-body');
        c.countStatus(res.statusCode);
      }
      if (this.closing) {
        this.http.closeIdleConnections();
        this.plain.closeIdleConnections();
        this.checkIdle();
      }
    });
    // A client waiting for 100 Continue has not sent its body: an answer without the 100 (403,
    // 429, a refusal) closes the connection instead of waiting for a body that may never come.
    const keepAlive = res.shouldKeepAlive && !this.closing;
    if (expectsContinue || this.closing) res.shouldKeepAlive = false;
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
    if (verdict === true) this.forward(req as SidecarRequest, res, ssl, expectsContinue, keepAlive);
    else if (verdict !== false) {
      verdict.then(
        (ok) => {
          if (ok) this.forward(req as SidecarRequest, res, ssl, expectsContinue, keepAlive);
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

  /** The stack admitted the request: check its framing, then send it to the app. */
  private forward(
    req: SidecarRequest,
    res: ServerResponse,
    ssl: boolean,
    expectsContinue: boolean,
    keepAlive: boolean,
  ): void {
    if (res.headersSent || res.writableEnded) return;
    const shape = shapeRequest(req, this.o.upstreamBasePath);
    if (isRefusal(shape)) {
      this.refuse(res, shape);
      return;
    }
    if (shape.length !== undefined && shape.length > this.o.maxBodyBytes) {
      this.bodyTooLarge(req, res);
      return;
    }
    const headers = this.upstreamHeaders(req, ssl, shape.host);
    if (expectsContinue) {
      res.shouldKeepAlive = keepAlive && !this.closing;
      res.writeContinue();
    }
    this.forwarder.forward(req, res, headers, shape);
  }

  /** The end-to-end headers for the app, Host included. */
  private upstreamHeaders(req: SidecarRequest, ssl: boolean, host: string | undefined): string[] {
    const ctx = req.realip;
    const headers = buildUpstreamHeaders(
      this.rules,
      req.rawHeaders,
      req.headers,
      { resolution: ctx?.resolution, geo: ctx?.geo, proxySsl: ssl },
      this.o.geoHeaders,
    );
    // An absolute-form target names the host; HTTP/1.0 clients may send none, and the app
    // speaks HTTP/1.1, where Host is required.
    if (host !== undefined || req.headers.host === undefined)
      headers.push('host', host ?? this.o.upstream.host);
    return headers;
  }

  private refuse(res: ServerResponse, refusal: Refusal): void {
    this.counters.refused(refusal.reason);
    res.shouldKeepAlive = false;
    if (refusal.status === 405) res.setHeader('allow', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    sendProblem(res, refusal.status, refusal.code, refusal.detail);
  }

  /** Answers 413 and closes the client connection once sent: the rest of the body is not read. */
  bodyTooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.refuseBody(
      req,
      res,
      new ClientBodyError(
        413,
        'ERR_REALIP_BODY_TOO_LARGE',
        `the request body exceeds ${this.o.maxBodyBytes} bytes`,
      ),
    );
  }

  /** ForwardHost: answers 408 or 413 and closes the client connection once sent. */
  refuseBody(req: IncomingMessage, res: ServerResponse, error: ClientBodyError): void {
    if (error.status === 413) this.counters.bodyTooLarge++;
    else this.counters.clientBodyTimeouts++;
    res.shouldKeepAlive = false;
    if (!res.headersSent && !res.destroyed) sendProblem(res, error.status, error.code, error.message);
    else res.destroy();
    const socket = req.socket as Socket | null;
    if (socket === null) return;
    if (res.writableFinished) socket.destroySoon();
    else res.once('finish', () => socket.destroySoon());
  }

  // ---------------------------------------------------------------------------------------------
  // Upgrade (WebSocket) and CONNECT
  // ---------------------------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (!isWebSocketHandshake(req)) {
      // h2c, TLS/1.x or a WebSocket token on something other than an HTTP/1.1 GET: served as the
      // plain HTTP request it also is, its body parsed by the plain server.
      socket.unshift(head);
      socket.unshift(replayHead(req));
      this.plain.emit('connection', socket);
      return;
    }
    // A response bound to the raw socket, so the stack can answer 403/429 the usual way.
    const res = this.rawResponse(req, socket);
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
      if (!ok || res.headersSent) return;
      const shape = shapeRequest(req, this.o.upstreamBasePath);
      if (isRefusal(shape) || shape.hasBody) {
        this.refuse(res, isRefusal(shape) ? shape : REFUSALS.upgradeBody);
        return;
      }
      res.detachSocket(socket as Socket);
      const headers = this.upstreamHeaders(req as SidecarRequest, pp !== undefined && pp.ssl, shape.host);
      tunnelWebSocket(this.forwarder, this, req, socket, head, shape.path, headers);
    };
    if (verdict === true || verdict === false) go(verdict);
    else verdict.then(go, (error: unknown) => this.stackFailed(res, error));
  }

  /** A response written on a raw (upgrade or CONNECT) socket, which closes once it is sent. */
  private rawResponse(req: IncomingMessage, socket: Duplex): ServerResponse {
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      this.counters.countStatus(res.statusCode);
      (socket as Socket).destroySoon();
    });
    return res;
  }

  private refuseRaw(req: IncomingMessage, socket: Duplex, refusal: Refusal): void {
    socket.on('error', () => socket.destroy());
    this.refuse(this.rawResponse(req, socket), refusal);
  }

  /** TunnelHost: a WebSocket tunnel is open on `socket`. */
  opened(socket: Duplex): void {
    this.tunnels.add(socket);
    this.counters.tunnels++;
    socket.once('close', () => {
      this.tunnels.delete(socket);
      this.counters.tunnels--;
      this.checkIdle();
    });
  }

  /** TunnelHost: a response was sent on a raw socket. */
  answered(status: number): void {
    this.counters.countStatus(status);
  }

  /** TunnelHost: the handshake failed on the upstream side. */
  upstreamError(kind: string): void {
    this.counters.upstreamError(kind);
  }

  /** TunnelHost: no app connection for a handshake within the queue bounds. */
  upstreamBusy(reason: string): void {
    this.counters.upstreamBusy(reason);
  }

  // ---------------------------------------------------------------------------------------------
  // Admin listener
  // ---------------------------------------------------------------------------------------------

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
      this.plain.close();
    });
    this.http.closeIdleConnections();
    this.plain.closeIdleConnections();
    const drained = await this.waitIdle(drainMs);
    this.http.closeAllConnections();
    this.plain.closeAllConnections();
    for (const t of this.tunnels) t.destroy();
    await closed;
    return drained;
  }

  private async closeRest(): Promise<void> {
    await this.forwarder.close();
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
