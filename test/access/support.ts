/**
 * Test support for the access stage: HTTP requests from chosen 127.0.0.x source addresses, and a
 * stand-in for the resolver stage (`req.realip` from the socket peer) until `clientIp()` lands.
 */
import { request } from 'node:http';
import { canonicalIp } from '../../src/index.js';
import { createContext } from '../../src/core/context.js';
import type { GeoInfo, RealipContext, Resolution } from '../../src/types.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request from `from` (a 127.0.0.x address) to 127.0.0.1:port. */
export function send(
  port: number,
  from: string,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, localAddress: from, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** A resolution-like object with the socket peer as the client (what `clientIp()` does with no trusted proxies). */
export function stubResolution(ip: string | undefined): Resolution {
  return {
    ip,
    source: 'socket',
    header: undefined,
    peer: ip,
    chain: ip === undefined ? [] : [ip],
    complete: ip !== undefined,
    reason: ip === undefined ? 'undefined-peer' : 'no-trusted-proxies',
    explain: () => `socket peer ${ip ?? '(none)'} is the client`,
  };
}

/**
 * Builds the context the resolver and geo stages would: `x-test-undeterminable: 1` makes the IP
 * undefined, `x-test-country: DE` stands in for the geo stage.
 */
export function stubContext(
  remoteAddress: string | undefined,
  headers: Record<string, string | string[] | undefined>,
): RealipContext {
  const ctx = createContext();
  const ip = headers['x-test-undeterminable'] === '1' ? undefined : canonicalIp(remoteAddress ?? '');
  ctx.resolution = stubResolution(ip);
  const country = headers['x-test-country'];
  if (typeof country === 'string') ctx.geo = { country } satisfies GeoInfo;
  return ctx;
}
