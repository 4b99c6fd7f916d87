/**
 * Plain node:http through real sockets, with createRequestResolver().
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createRequestResolver } from '../../src/index.js';
import { isResolverLike } from '../../src/http/request.js';
import { createResolver } from '../../src/resolve/resolver.js';
import { CASES, TRUSTED, close, get, listen } from './helpers.js';

function server(
  resolveClient: (req: IncomingMessage) => {
    ip: string | undefined;
    source: string;
    peer: string | undefined;
  },
): Server {
  return createServer((req, res) => {
    const r = resolveClient(req);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ clientIp: r.ip ?? null, source: r.source, peer: r.peer ?? null }));
  });
}

describe('createRequestResolver (node:http)', () => {
  const servers: Server[] = [];
  const ports = { none: 0, proxy: 0 };

  beforeAll(async () => {
    const none = server(createRequestResolver());
    const proxy = server(createRequestResolver({ trustedProxies: TRUSTED }));
    servers.push(none, proxy);
    ports.none = await listen(none);
    ports.proxy = await listen(proxy);
  });
  afterAll(async () => {
    await Promise.all(servers.map(close));
  });

  it.each(CASES)('$name', async (c) => {
    const body = (await get(ports[c.trust], '/', c.from, c.headers)).json();
    expect(body).toEqual({ clientIp: c.ip, source: c.source, peer: c.from });
  });

  it('accepts a prebuilt resolver, bare or as { resolver }', async () => {
    const resolver = createResolver({ trustedProxies: TRUSTED });
    expect(isResolverLike(resolver)).toBe(true);
    for (const resolveClient of [createRequestResolver(resolver), createRequestResolver({ resolver })]) {
      const s = server(resolveClient);
      const port = await listen(s);
      try {
        const body = (await get(port, '/', '127.0.0.2', { 'x-forwarded-for': '198.51.100.9' })).json();
        expect(body.clientIp).toBe('198.51.100.9');
      } finally {
        await close(s);
      }
    }
  });

  it('a request without a socket (synthetic) is undeterminable, never localhost', () => {
    const resolveClient = createRequestResolver({ trustedProxies: TRUSTED });
    const fake = {
      socket: null,
      headers: { 'x-forwarded-for': '203.0.113.9' },
    } as unknown as IncomingMessage;
    expect(resolveClient(fake).ip).toBeUndefined();
    const closed = { socket: { remoteAddress: undefined }, headers: {} } as unknown as IncomingMessage;
    expect(resolveClient(closed).ip).toBeUndefined();
  });

  it('rejects invalid options at construction', () => {
    expect(() => createRequestResolver({ trustedProxies: ['not-a-cidr'] })).toThrow(ConfigError);
    expect(() => createRequestResolver(42 as never)).toThrow(/options must be an object/);
  });
});
