/**
 * Test support for the access stage: HTTP requests from chosen 127.0.0.x source addresses, and the
 * options the Express and Fastify suites mount the real resolver stage (`clientIp()`) with.
 */
import { request } from 'node:http';
import type { ResolverOptions } from '../../src/types.js';

/** The address that plays a trusted proxy in front of the app (other 127.0.0.x are clients). */
export const PROXY = '127.0.0.1';

/**
 * Options of the real resolver stage: a client that connects directly (any 127.0.0.x other than
 * {@link PROXY}) is the client; a request from {@link PROXY} names its client in X-Forwarded-For,
 * one hop (`hops: 1`), so a request from the proxy without that header has an undeterminable
 * client (`reason: 'hops-short'`, `ip: undefined`).
 */
export const RESOLVER: ResolverOptions = { trustedProxies: [PROXY], hops: 1, onWarning: () => {} };

/** Headers of a request the proxy forwards for `client`. */
export const forwardedFor = (client: string): Record<string, string> => ({ 'x-forwarded-for': client });

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
