/**
 * Real sockets for adapter tests: servers on 127.0.0.1 port 0, clients bound to other loopback
 * source addresses (Linux routes all of 127.0.0.0/8 to lo), so the server sees distinct peers.
 */
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

/** Listens on 127.0.0.1:0 and returns the port. */
export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Closes a server (and its idle keep-alive sockets). */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

/**
 * One request from `from` (a loopback source address) to 127.0.0.1:port. `headers` may be a raw
 * `[name, value, ...]` list to send a header twice.
 */
export function get(
  port: number,
  path: string,
  from: string,
  headers: Record<string, string> | string[] = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, localAddress: from, headers, agent: false, method: 'GET' },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A warning sink for `onWarning`. */
export function warningSink() {
  const seen: { code: string; message: string; count: number }[] = [];
  return {
    seen,
    onWarning: (w: { code: string; message: string; count: number }) => {
      seen.push({ code: w.code, message: w.message, count: w.count });
    },
    codes: () => seen.map((w) => w.code),
  };
}

/** The rows every adapter must agree on. `trust` selects the server's configuration. */
export interface Case {
  name: string;
  trust: 'none' | 'proxy';
  from: string;
  headers: Record<string, string> | string[];
  ip: string;
  source: 'socket' | 'header';
}

/** trustedProxies of the 'proxy' configuration: two single hosts, not all of loopback. */
export const TRUSTED = ['127.0.0.2', '127.0.0.4/32'];

export const CASES: Case[] = [
  {
    name: 'no trust: socket, XFF ignored',
    trust: 'none',
    from: '127.0.0.2',
    headers: { 'x-forwarded-for': '203.0.113.9' },
    ip: '127.0.0.2',
    source: 'socket',
  },
  {
    name: 'no trust: socket, no header',
    trust: 'none',
    from: '127.0.0.3',
    headers: {},
    ip: '127.0.0.3',
    source: 'socket',
  },
  {
    name: 'trusted peer with XFF: header client',
    trust: 'proxy',
    from: '127.0.0.2',
    headers: { 'x-forwarded-for': '203.0.113.9' },
    ip: '203.0.113.9',
    source: 'header',
  },
  {
    name: 'trusted peer, spoofed left entry ignored',
    trust: 'proxy',
    from: '127.0.0.2',
    headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' },
    ip: '198.51.100.7',
    source: 'header',
  },
  {
    name: 'trusted peer, trusted hop walked',
    trust: 'proxy',
    from: '127.0.0.2',
    headers: { 'x-forwarded-for': '198.51.100.7, 127.0.0.4' },
    ip: '198.51.100.7',
    source: 'header',
  },
  {
    name: 'trusted peer without header: the peer',
    trust: 'proxy',
    from: '127.0.0.2',
    headers: {},
    ip: '127.0.0.2',
    source: 'socket',
  },
  {
    name: 'untrusted peer with XFF: socket',
    trust: 'proxy',
    from: '127.0.0.3',
    headers: { 'x-forwarded-for': '203.0.113.9' },
    ip: '127.0.0.3',
    source: 'socket',
  },
  {
    name: 'untrusted peer in the trusted /8 neighbourhood: socket',
    trust: 'proxy',
    from: '127.0.0.5',
    headers: { 'x-forwarded-for': '203.0.113.9, 127.0.0.2' },
    ip: '127.0.0.5',
    source: 'socket',
  },
];
