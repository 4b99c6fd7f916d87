/** Shared helpers for rate-limit tests: a fake clock, contexts, and an independent nginx model. */
import { request } from 'node:http';
import { createContext } from '../../src/http/context.js';
import { createResolver } from '../../src/index.js';
import type { GeoInfo, RealipContext } from '../../src/types.js';

export function fakeClock(start = 1_700_000_000_000) {
  const clock = { now: start, fn: () => clock.now, advance: (ms: number) => (clock.now += ms) };
  return clock;
}

/** The real resolver with no trusted proxy: the socket peer is the client. */
const socketPeer = createResolver({ onWarning: () => {} });

/**
 * A context as the resolver leaves it for a client connecting from `ip` (a real resolution, with
 * a canonical `ip`; `undefined` is a peer without an address), and `geo` as the geo stage's tags.
 */
export function ctx(ip: string | undefined, geo?: GeoInfo): RealipContext {
  const c = createContext();
  c.resolution = socketPeer.resolve({ remoteAddress: ip, headers: {} });
  c.geo = geo;
  return c;
}

/**
 * nginx limit_req for one key, written from ngx_http_limit_req_lookup (C integer arithmetic:
 * ctx->rate = r * 1000 / scale; excess = lr->excess - rate * ms / 1000 + 1000; clamp at 0;
 * reject when excess > burst * 1000; a rejected request changes nothing; a new node stores 0).
 */
export function nginxModel(ratePerSec: number | { perMinute: number }, burst: number) {
  const rate =
    typeof ratePerSec === 'number' ? ratePerSec * 1000 : Math.trunc((ratePerSec.perMinute * 1000) / 60);
  let node: { excess: number; last: number } | undefined;
  return (now: number): boolean => {
    if (node === undefined) {
      node = { excess: 0, last: now };
      return true;
    }
    let ms = now - node.last;
    if (ms < -60000) ms = 1;
    else if (ms < 0) ms = 0;
    let excess = node.excess - Math.trunc((rate * ms) / 1000) + 1000;
    if (excess < 0) excess = 0;
    if (excess > burst * 1000) return false;
    node.excess = excess;
    if (ms) node.last = now;
    return true;
  };
}

/** '.' admitted, 'x' rejected. */
export function pattern(results: boolean[]): string {
  return results.map((ok) => (ok ? '.' : 'x')).join('');
}

export interface HttpResult {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  body: string;
}

/** One HTTP request over a fresh connection from `localAddress` (127.0.0.x is the client IP). */
export function httpGet(
  port: number,
  path: string,
  localAddress = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
