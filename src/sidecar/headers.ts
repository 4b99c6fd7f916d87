/**
 * Header processing between the client and the app: hop-by-hop removal (RFC 9110 §7.6.1) and the
 * sidecar's header hygiene (every client-sent forwarding, client-IP and geo header is removed, then
 * the resolved values are set), compiled once into a name table.
 */
import type { GeoInfo, Resolution } from '../types.js';

/** Hop-by-hop headers (plus `proxy`, the httpoxy vector), never forwarded in either direction. */
export const HOP_BY_HOP: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy',
];

/**
 * Request headers the sidecar never copies from the client because it decides them itself:
 * the body's framing (the upstream client writes Content-Length or chunked from what was
 * received), `Expect` (the sidecar answers 100 Continue after the stack admits the request), and
 * `HTTP2-Settings` (an h2c upgrade is never tunnelled). `Host` is copied but never removed by a
 * `Connection` token.
 */
const FRAMING: readonly string[] = ['content-length', 'expect', 'http2-settings'];

/** Headers a `Connection` token may not remove (RFC 9110 §7.6.1 lets a client name any header). */
const PROTECTED = new Set(['host', 'content-length', 'transfer-encoding']);

/**
 * Client-IP and geo headers that apps and libraries read (request-ip, CDN conventions). A client
 * can send any of them, so none reaches the app; the sidecar sets its own.
 */
export const SPOOFABLE: readonly string[] = [
  'forwarded',
  'forwarded-for',
  'x-forwarded',
  'x-real-ip',
  'x-client-ip',
  'x-client-country',
  'x-client-continent',
  'x-client-asn',
  'x-client-org',
  'x-client-city',
  'x-cluster-client-ip',
  'x-original-forwarded-for',
  'true-client-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'cf-pseudo-ipv4',
  'cf-ipcountry',
  'fastly-client-ip',
  'x-envoy-external-address',
  'x-azure-clientip',
  'x-azure-socketip',
  'x-appengine-user-ip',
  'x-appengine-country',
  'cloudfront-viewer-address',
  'cloudfront-viewer-country',
];

/** Every `x-forwarded-*` header is removed as well. */
const X_FORWARDED_PREFIX = 'x-forwarded-';

/** Compiled header rules: which request headers to drop. */
export class HeaderRules {
  private readonly table = new Set<string>();

  constructor(extraStrip: readonly string[]) {
    for (const h of SPOOFABLE) this.table.add(h);
    for (const h of extraStrip) this.table.add(h.toLowerCase());
    for (const h of HOP_BY_HOP) this.table.add(h);
    for (const h of FRAMING) this.table.add(h);
  }

  /** True when a request header must not reach the app (`lower` is the lower-cased name). */
  dropsRequest(lower: string): boolean {
    return this.table.has(lower) || lower.startsWith(X_FORWARDED_PREFIX);
  }
}

/**
 * Lower-cased tokens of a `Connection` header that name headers to remove, or undefined: never
 * `close`/`keep-alive`/`upgrade`, and never Host or the framing headers (a client must not be
 * able to make the sidecar drop them).
 */
export function connectionTokens(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const joined = typeof value === 'string' ? value : value.join(',');
  let out: string[] | undefined;
  for (const raw of joined.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade' || PROTECTED.has(t)) continue;
    (out ??= []).push(t);
  }
  return out;
}

/** The last comma-separated value of a header (what the nearest proxy wrote), trimmed and lower-cased. */
function lastToken(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const s = typeof value === 'string' ? value : value[value.length - 1];
  if (s === undefined) return undefined;
  const comma = s.lastIndexOf(',');
  const t = (comma < 0 ? s : s.slice(comma + 1)).trim();
  return t === '' ? undefined : t;
}

/** What the sidecar knows about the request when it builds the upstream headers. */
export interface ForwardFacts {
  readonly resolution: Resolution | undefined;
  readonly geo: GeoInfo | undefined;
  /** The PROXY v2 header said the client used TLS. */
  readonly proxySsl: boolean;
}

/**
 * True when the resolver believed the immediate peer (a configured trusted proxy), so its
 * `X-Forwarded-Proto`/`-Host` describe the client's request.
 */
function peerTrusted(resolution: Resolution | undefined): boolean {
  if (resolution === undefined) return false;
  return resolution.source === 'header' || resolution.reason === 'no-header';
}

/**
 * Builds the request headers for the app as a flat `[name, value, ...]` list: client headers minus
 * hop-by-hop, framing, Connection-listed and spoofable ones, then `X-Real-IP`, `X-Forwarded-For`
 * (exactly the resolved IP), `X-Forwarded-Proto`, `X-Forwarded-Host` and geo headers. The body's
 * framing and a WebSocket handshake's `Connection`/`Upgrade` pair are the upstream client's to write.
 */
export function buildUpstreamHeaders(
  rules: HeaderRules,
  rawHeaders: readonly string[],
  headers: Readonly<Record<string, string | string[] | undefined>>,
  facts: ForwardFacts,
  geoHeaders: boolean,
): string[] {
  const out: string[] = [];
  const listed = headers.connection === undefined ? undefined : connectionTokens(headers.connection);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (rules.dropsRequest(lower)) continue;
    if (listed !== undefined && listed.includes(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  const resolution = facts.resolution;
  const ip = resolution?.ip;
  if (ip !== undefined) out.push('x-real-ip', ip, 'x-forwarded-for', ip);
  const trusted = peerTrusted(resolution);
  let proto = trusted ? lastToken(headers['x-forwarded-proto'])?.toLowerCase() : undefined;
  if (proto !== 'http' && proto !== 'https') proto = facts.proxySsl ? 'https' : 'http';
  out.push('x-forwarded-proto', proto);
  const host = (trusted ? lastToken(headers['x-forwarded-host']) : undefined) ?? headers.host;
  if (typeof host === 'string' && host !== '') out.push('x-forwarded-host', host);
  const geo = facts.geo;
  if (geoHeaders && geo !== undefined) {
    if (geo.country !== undefined) out.push('x-client-country', geo.country);
    if (geo.continent !== undefined) out.push('x-client-continent', geo.continent);
    if (geo.asn !== undefined) out.push('x-client-asn', String(geo.asn));
  }
  return out;
}

/**
 * Response headers for the client: the app's headers minus hop-by-hop and Connection-listed ones.
 * Takes Node's `rawHeaders` strings or undici's raw `Buffer`s (latin1, as received).
 */
export function filterResponseHeaders(rawHeaders: ReadonlyArray<string | Buffer>): string[] {
  let listed: string[] | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 10 && text(rawHeaders[i]!).toLowerCase() === 'connection') {
      const value = text(rawHeaders[i + 1]!);
      // The usual values name no header: skip the split (most responses carry one of them).
      if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close')
        continue;
      const tokens = connectionTokens(value);
      if (tokens !== undefined) (listed ??= []).push(...tokens);
    }
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = text(rawHeaders[i]!);
    const lower = name.toLowerCase();
    if (HOP_SET.has(lower)) continue;
    if (listed !== undefined && listed.includes(lower)) continue;
    out.push(name, text(rawHeaders[i + 1]!));
  }
  return out;
}

function text(value: string | Buffer): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}

const HOP_SET = new Set(HOP_BY_HOP);
