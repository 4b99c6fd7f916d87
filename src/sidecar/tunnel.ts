/**
 * WebSocket handshakes, tunnelled through undici's upgrade (a connection of its own, never
 * returned to the pool), and every other Upgrade request turned back into plain HTTP.
 *
 * Node hands any request with `Connection: upgrade` + `Upgrade` to the server's 'upgrade' event
 * with the raw socket and without reading its body. Only `Upgrade: websocket` on an HTTP/1.1 GET
 * is tunnelled; for anything else (h2c, TLS/1.x, ...) the request head is written again without
 * `Upgrade` and `HTTP2-Settings` from the parser's own validated values, put back in front of the
 * unread bytes, and the connection is handed to a plain HTTP server, which parses the request and
 * its body as an ordinary request.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { filterResponseHeaders } from './headers.js';
import type { Forwarder } from './forward.js';
import type { GateWaiter } from './gate.js';
import { responseTimeoutError, upstreamFailure } from './forward.js';
import { sendProblem } from './problem.js';

/** Request headers left out when an Upgrade request is replayed as plain HTTP. */
const DROPPED_ON_REPLAY = new Set(['upgrade', 'http2-settings']);

/**
 * The request head again, without `Upgrade`/`HTTP2-Settings`, as the bytes a client would have
 * sent (header values are the parser's latin1 strings, already checked for CR, LF and NUL).
 */
export function replayHead(req: IncomingMessage): Buffer {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (DROPPED_ON_REPLAY.has(raw[i]!.toLowerCase())) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return Buffer.from(head + '\r\n', 'latin1');
}

/** What the tunnel reports back to the sidecar. */
export interface TunnelHost {
  /** A tunnel opened (101 relayed) on `socket`; the sidecar tracks it for shutdown. */
  opened(socket: Duplex): void;
  /** Counts a response sent on the raw socket. */
  answered(status: number): void;
  upstreamError(kind: string): void;
  /** A handshake found no free app connection within the queue bounds (503). */
  upstreamBusy(reason: string): void;
}

/**
 * Sends a WebSocket handshake to the app. A 101 opens a byte tunnel both ways; any other answer
 * is relayed with `Connection: close`, and then both connections close: no later byte is tunnelled.
 */
export function tunnelWebSocket(
  fw: Forwarder,
  host: TunnelHost,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  path: string,
  headers: string[],
): void {
  const handler = new Handshake(fw, host, req, socket, head, path, headers);
  socket.once('close', handler.onClientClose);
  handler.cancelWait = fw.gate.acquire(handler);
}

/**
 * One handshake with the app. It holds a connection of the gate while it is made (queued like
 * any request); an open tunnel does not: undici hands its socket over and the pool opens another.
 */
class Handshake implements Dispatcher.DispatchHandler, GateWaiter {
  private controller: Dispatcher.DispatchController | undefined;
  private gone = false;
  private admittedFlag = false;
  private released = false;
  cancelWait: (() => void) | undefined;
  /** `responseTimeoutMs` for the app's answer to the handshake (504). */
  private timer: NodeJS.Timeout | undefined;
  /** The app declined: its answer, relayed on the raw socket. */
  private reply: http.ServerResponse | undefined;

  constructor(
    private readonly fw: Forwarder,
    private readonly host: TunnelHost,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    private readonly path: string,
    private readonly headers: string[],
  ) {}

  readonly onClientClose = (): void => {
    this.gone = true;
    this.cancelWait?.();
    if (this.controller !== undefined) this.controller.abort(new Error('the client closed the connection'));
    else this.release();
  };

  admitted(): void {
    this.admittedFlag = true;
    this.cancelWait = undefined;
    if (this.gone) return this.release();
    this.fw.pool.dispatch(
      { path: this.path, method: 'GET', headers: this.headers, upgrade: 'websocket' },
      this,
    );
  }

  busy(reason: 'queue-full' | 'queue-timeout'): void {
    this.cancelWait = undefined;
    this.host.upstreamBusy(reason);
    if (this.gone || this.socket.destroyed) return;
    const res = this.rawResponse();
    res.setHeader('retry-after', String(Math.max(1, Math.ceil(this.fw.o.upstreamQueueTimeoutMs / 1000))));
    sendProblem(res, 503, 'ERR_REALIP_UPSTREAM_BUSY', `the app is busy (${reason})`);
  }

  /** Gives the gate's connection back, once. */
  private release(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.released || !this.admittedFlag) return;
    this.released = true;
    this.fw.gate.release();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) {
      controller.abort(new Error('the client closed the connection'));
      return;
    }
    this.timer = setTimeout(() => controller.abort(responseTimeoutError()), this.fw.o.responseTimeoutMs);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: http.IncomingHttpHeaders,
    upSocket: Duplex,
  ): void {
    const socket = this.socket;
    socket.removeListener('close', this.onClientClose);
    this.release();
    if (socket.destroyed) {
      upSocket.destroy();
      return;
    }
    this.host.answered(statusCode);
    let text = `HTTP/1.1 ${statusCode} ${http.STATUS_CODES[statusCode] ?? 'Switching Protocols'}\r\n`;
    const raw = controller.rawHeaders as Buffer[];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      text += `${raw[i]!.toString('latin1')}: ${raw[i + 1]!.toString('latin1')}\r\n`;
    }
    socket.write(Buffer.from(text + '\r\n', 'latin1'));
    if (this.head.length > 0) upSocket.write(this.head);
    upSocket.on('error', () => socket.destroy());
    socket.on('error', () => upSocket.destroy());
    upSocket.on('close', () => socket.destroy());
    socket.on('close', () => upSocket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
    // Silence in both directions for the idle timeout closes the tunnel (the client socket sees
    // every byte either way).
    const idle = this.fw.o.idleTimeoutMs;
    (socket as Socket).setTimeout(idle);
    if (idle > 0) socket.once('timeout', () => socket.destroy());
    this.host.opened(socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: http.IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (statusCode < 200) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    if (socket.destroyed) {
      controller.abort(new Error('the client is gone'));
      return;
    }
    // Nothing the client sends after the handshake is read any more.
    socket.removeAllListeners('data');
    socket.pause();
    const res = this.rawResponse();
    res.writeHead(statusCode, statusMessage, filterResponseHeaders(controller.rawHeaders as Buffer[]));
    this.reply = res;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.reply !== undefined && !this.reply.write(chunk)) {
      controller.pause();
      this.reply.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.release();
    this.reply?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.release();
    const socket = this.socket;
    socket.removeListener('close', this.onClientClose);
    if (this.gone || socket.destroyed) return;
    const failure = upstreamFailure(err);
    this.host.upstreamError(failure.kind);
    if (this.reply !== undefined) {
      socket.destroy();
      return;
    }
    sendProblem(this.rawResponse(), failure.status, failure.code, failure.detail);
  }

  /** A response written on the raw socket, closing it once sent. */
  private rawResponse(): http.ServerResponse {
    const res = new http.ServerResponse(this.req);
    res.shouldKeepAlive = false;
    res.assignSocket(this.socket as Socket);
    res.once('finish', () => {
      this.host.answered(res.statusCode);
      res.detachSocket(this.socket as Socket);
      (this.socket as Socket).destroySoon();
    });
    return res;
  }
}
