/**
 * What the sidecar accepts from a client before it forwards anything, and the shape of the one
 * upstream request each accepted client request becomes (docs/security.md, "What the sidecar
 * guarantees").
 *
 * Node's parser (llhttp, strict mode) has already refused what it cannot frame: Content-Length
 * with Transfer-Encoding, a list or a repeat of Content-Length, `chunked` not last, a coding after
 * `chunked`, bad chunk sizes. This module refuses the rest of what nginx refuses or what would be
 * ambiguous to the app, in one pass over facts the parser already produced.
 */
import type { IncomingMessage } from 'node:http';

/** Why a request is refused before it reaches the app. */
export interface Refusal {
  readonly status: 400 | 405 | 501;
  readonly code: 'ERR_REALIP_REQUEST_REFUSED' | 'ERR_REALIP_TRANSFER_CODING';
  /** Metric label: realip_sidecar_requests_refused_total{reason}. */
  readonly reason: string;
  readonly detail: string;
}

/** The upstream request an accepted client request becomes. */
export interface UpstreamShape {
  /** Origin-form target (or `*` for a server-wide OPTIONS), prefixed by the upstream URL's path. */
  readonly path: string;
  /** The Host the app sees when the client sent none (HTTP/1.0) or sent an absolute-form target. */
  readonly host: string | undefined;
  /** The request carries a body: Content-Length above 0, or chunked. */
  readonly hasBody: boolean;
  /** The declared Content-Length (undefined when chunked or absent). */
  readonly length: number | undefined;
  /**
   * Close the upstream connection after this exchange: a body on a method whose semantics give a
   * body no meaning, which an app may ignore and then read as the start of the next request.
   */
  readonly reset: boolean;
}

const refusal = (
  status: Refusal['status'],
  reason: string,
  detail: string,
  code: Refusal['code'] = 'ERR_REALIP_REQUEST_REFUSED',
): Refusal => Object.freeze({ status, code, reason, detail });

export const REFUSALS = Object.freeze({
  duplicateHost: refusal(400, 'duplicate-host', 'the request has more than one Host header'),
  hostMismatch: refusal(
    400,
    'absolute-form-host',
    'the absolute-form target names a different host than the Host header',
  ),
  badTarget: refusal(400, 'bad-target', 'the request target is not origin-form, absolute-form or *'),
  traceBody: refusal(400, 'trace-body', 'a TRACE request must not have a body (RFC 9110 §9.3.8)'),
  asteriskBody: refusal(400, 'asterisk-body', 'OPTIONS * must not have a body'),
  http10Chunked: refusal(
    400,
    'http10-transfer-encoding',
    'an HTTP/1.0 request must not use Transfer-Encoding',
  ),
  coding: refusal(
    501,
    'transfer-coding',
    'only the chunked transfer coding is supported',
    'ERR_REALIP_TRANSFER_CODING',
  ),
  connect: refusal(405, 'connect', 'the sidecar is not a forward proxy: CONNECT is not allowed'),
  upgradeBody: refusal(400, 'upgrade-body', 'a WebSocket handshake must not have a body'),
});

/** Methods whose body has no defined meaning; such a body is forwarded on a connection used once. */
const RESET_WITH_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/**
 * Checks a parsed request and returns the upstream request it becomes, or why it is refused.
 * `basePath` is the upstream URL's path without its trailing slash ('' for none).
 */
export function shapeRequest(req: IncomingMessage, basePath: string): UpstreamShape | Refusal {
  const headers = req.headers;
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    // llhttp accepts any coding list that ends in `chunked`; the sidecar cannot undo the others
    // and forwarding the bytes under another framing would change the body's meaning.
    if (te.trim().toLowerCase() !== 'chunked') return REFUSALS.coding;
    if (req.httpVersionMinor === 0 && req.httpVersionMajor === 1) return REFUSALS.http10Chunked;
  }
  const length = cl === undefined ? undefined : Number(cl);
  const hasBody = te !== undefined || (length !== undefined && length > 0);
  const method = req.method!;
  if (hasBody && method === 'TRACE') return REFUSALS.traceBody;
  if (countHost(req.rawHeaders) > 1) return REFUSALS.duplicateHost;

  const url = req.url!;
  let path: string;
  let host: string | undefined;
  if (url.charCodeAt(0) === 47 /* / */) {
    path = basePath === '' ? url : basePath + url;
  } else if (url === '*') {
    if (method !== 'OPTIONS') return REFUSALS.badTarget;
    if (hasBody) return REFUSALS.asteriskBody;
    path = '*';
  } else {
    const target = absoluteForm(url);
    if (target === undefined) return REFUSALS.badTarget;
    const given = headers.host;
    if (given !== undefined && !sameAuthority(given, target)) return REFUSALS.hostMismatch;
    if (given === undefined) host = target.host;
    path = basePath + target.pathname + target.search;
  }
  return {
    path,
    host,
    hasBody,
    length: te === undefined ? length : undefined,
    reset: hasBody && RESET_WITH_BODY.has(method),
  };
}

/** True for the refusal branch of `shapeRequest`. */
export function isRefusal(value: UpstreamShape | Refusal): value is Refusal {
  return (value as Refusal).status !== undefined;
}

function countHost(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}

function absoluteForm(url: string): URL | undefined {
  const lower = url.slice(0, 8).toLowerCase();
  if (!lower.startsWith('http://') && !lower.startsWith('https://')) return undefined;
  try {
    const u = new URL(url);
    return u.host === '' ? undefined : u;
  } catch {
    return undefined;
  }
}

/** Host header and absolute-form authority compared as URL hosts (case, default port). */
function sameAuthority(host: string, target: URL): boolean {
  try {
    return new URL(`${target.protocol}//${host}`).host === target.host;
  } catch {
    return false;
  }
}

/**
 * True when a request's Upgrade is a WebSocket handshake the sidecar may tunnel: exactly the
 * `websocket` token, on an HTTP/1.1 GET.
 */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return (
    req.method === 'GET' &&
    req.httpVersionMajor === 1 &&
    req.httpVersionMinor === 1 &&
    upgrade !== undefined &&
    upgrade.trim().toLowerCase() === 'websocket'
  );
}
