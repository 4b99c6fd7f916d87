/**
 * A PROXY protocol front for an HTTP server: a `net.Server` whose connections must start with a
 * valid PROXY header before any HTTP is parsed.
 *
 * - A peer inside `trusted` must send a header; a connection without one is closed (the receiver
 *   "MUST NOT try to guess" whether a header is present).
 * - A peer outside `trusted` is closed (`untrusted: 'reject'`, the default) or served as plain HTTP
 *   with no header parsing at all (`untrusted: 'direct'`).
 * - A header split across reads is buffered; a peer that does not complete it within `timeoutMs`
 *   is closed.
 * - The announced source is attached to the socket (`getProxySource(socket)`); LOCAL, UNKNOWN,
 *   UNSPEC and UNIX headers attach nothing, so the socket address stays the peer.
 */
import { Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { createIpMatcher } from '../core/cidr.js';
import { parseOptions } from '../spec/spec.js';
import { ProxyHeaderParser, type ProxyErrorCode, type ProxyHeader } from '../resolve/proxy-protocol.js';
import { proxyProtocolSpec, type ProxyProtocolOptions } from './spec.js';

/** The PROXY source attached to a connection. */
export interface ProxySource {
  readonly sourceAddress: string;
  readonly sourcePort?: number;
  /** The full header (version, command, destination, TLS flag). */
  readonly header: ProxyHeader;
}

/** Why a connection was refused before any HTTP. */
export type ProxyRefusal = 'untrusted' | 'timeout' | 'closed' | ProxyErrorCode;

/** Counters of the PROXY front, for metrics. */
export interface ProxyProtocolStats {
  /** Headers accepted, by `v1`/`v2` and command (`proxy`/`local`). */
  accepted: Record<string, number>;
  /** Connections from untrusted peers served directly (`untrusted: 'direct'`). */
  direct: number;
  /** Connections closed, by reason. */
  refused: Record<string, number>;
}

const sources = new WeakMap<Socket, ProxySource>();

/** The PROXY source of a connection, when its header announced one. */
export function getProxySource(socket: Socket): ProxySource | undefined {
  return sources.get(socket);
}

/**
 * Creates the PROXY front of `http`. Listen on the returned server instead of on `http`.
 * Options are validated by `proxyProtocolSpec` (spec.ts); invalid ones throw a ConfigError.
 */
export function createProxyProtocolServer(
  http: HttpServer,
  options: ProxyProtocolOptions,
  stats: ProxyProtocolStats = { accepted: {}, direct: 0, refused: {} },
): NetServer {
  const o = parseOptions(proxyProtocolSpec, options, 'proxyProtocol');
  const trusted = createIpMatcher(options.trusted, { path: 'proxyProtocol.trusted' });
  const timeoutMs = o.timeoutMs as number;
  const direct = o.untrusted === 'direct';

  const refuse = (socket: Socket, reason: ProxyRefusal): void => {
    stats.refused[reason] = (stats.refused[reason] ?? 0) + 1;
    socket.destroy();
  };

  const server = new NetServer({ pauseOnConnect: false }, (socket) => {
    const peer = socket.remoteAddress;
    if (peer === undefined || !trusted.has(peer)) {
      if (direct && peer !== undefined) {
        stats.direct++;
        http.emit('connection', socket);
      } else {
        refuse(socket, 'untrusted');
      }
      return;
    }
    const parser = new ProxyHeaderParser();
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const onError = (): void => {
      if (!done) {
        finish();
        refuse(socket, 'closed');
      }
    };
    const onClose = onError;
    const onData = (chunk: Buffer): void => {
      const result = parser.push(chunk);
      if (result.status === 'incomplete') return;
      finish();
      if (result.status === 'error') {
        refuse(socket, result.code);
        return;
      }
      const header = result.header;
      const key = `v${header.version}-${header.command}`;
      stats.accepted[key] = (stats.accepted[key] ?? 0) + 1;
      if (header.sourceAddress !== undefined) {
        sources.set(socket, {
          sourceAddress: header.sourceAddress,
          sourcePort: header.sourcePort,
          header,
        });
      }
      // Hand over synchronously: no 'data' can be emitted between removing our listener and the
      // HTTP server adding its own, and the bytes after the header go back to the front of the stream.
      if (result.rest.length > 0) socket.unshift(result.rest);
      http.emit('connection', socket);
    };
    const timer = setTimeout(() => {
      if (!done) {
        finish();
        refuse(socket, 'timeout');
      }
    }, timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
  return server;
}
