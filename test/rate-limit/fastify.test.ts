import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientIp, rateLimit } from '../../src/fastify/index.js';
import { httpGet } from './helpers.js';

/** Behind the real resolver plugin, `clientIp` with no trusted proxy: the socket peer (127.0.0.x) is the client. */
describe('Fastify rateLimit plugin through real HTTP', () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = Fastify();
    await app.register(clientIp);
    await app.register(rateLimit, {
      tiers: [{ name: 'default', limits: [{ points: 2, duration: 60 }] }],
      exempt: ['/static/'],
    });
    app.get('/', async (request) => request.realip.rateLimit);
    app.get('/free', { config: { rateLimit: false } }, async () => 'free');
    app.get(
      '/search',
      { config: { rateLimit: { tiers: [{ name: 'default', limits: [{ points: 1, duration: 60 }] }] } } },
      async () => 'search',
    );
    app.get('/static/*', async () => 'static');
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await app.close();
  });

  it('limits with headers, 429 problem+json and request.realip.rateLimit', async () => {
    const a = await httpGet(port, '/', '127.0.0.2');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({
      tier: 'default',
      limit: 2,
      remaining: 1,
      resetMs: 60000,
      limited: false,
      source: 'store',
    });
    expect(a.headers['ratelimit-policy']).toBe('"default-2-per-60s";q=2;w=60');
    expect(a.headers['ratelimit']).toBe('"default-2-per-60s";r=1;t=60');
    await httpGet(port, '/', '127.0.0.2');
    const c = await httpGet(port, '/', '127.0.0.2');
    expect(c.status).toBe(429);
    expect(c.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(c.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(JSON.parse(c.body)['violated-policies']).toEqual(['default-2-per-60s']);
  });

  it('404s are limited too (root onRequest hook)', async () => {
    const s = [];
    for (let i = 0; i < 3; i++) s.push((await httpGet(port, '/nope', '127.0.0.3')).status);
    expect(s).toEqual([404, 404, 429]);
  });

  it('config.rateLimit false exempts a route; exempt paths are not counted', async () => {
    for (let i = 0; i < 4; i++) expect((await httpGet(port, '/free', '127.0.0.4')).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await httpGet(port, '/static/a.css', '127.0.0.4')).status).toBe(200);
    expect((await httpGet(port, '/', '127.0.0.4')).headers['ratelimit']).toBe('"default-2-per-60s";r=1;t=60');
  });

  it('a route override replaces the limits in buckets of its own', async () => {
    expect((await httpGet(port, '/search', '127.0.0.5')).status).toBe(200);
    const b = await httpGet(port, '/search', '127.0.0.5');
    expect(b.status).toBe(429);
    expect(b.headers['ratelimit-policy']).toBe('"default-1-per-60s";q=1;w=60');
    // The app-wide bucket of this client is untouched.
    expect((await httpGet(port, '/', '127.0.0.5')).headers['ratelimit']).toBe('"default-2-per-60s";r=1;t=60');
  });

  it('two registrations both count; both policies are advertised', async () => {
    const two = Fastify();
    await two.register(clientIp);
    await two.register(rateLimit, { tiers: [{ name: 'minute', limits: [{ points: 5, duration: 60 }] }] });
    await two.register(rateLimit, { tiers: [{ name: 'hour', limits: [{ points: 1, duration: 3600 }] }] });
    two.get('/', async () => 'ok');
    await two.listen({ port: 0, host: '127.0.0.1' });
    try {
      const p = (two.server.address() as { port: number }).port;
      const a = await httpGet(p, '/', '127.0.0.8');
      expect(a.headers['ratelimit-policy']).toBe(
        '"minute-5-per-60s";q=5;w=60, "hour-1-per-3600s";q=1;w=3600',
      );
      const b = await httpGet(p, '/', '127.0.0.8');
      expect(b.status).toBe(429);
      expect(JSON.parse(b.body)['violated-policies']).toEqual(['hour-1-per-3600s']);
    } finally {
      await two.close();
    }
  });

  it('requires the realip-client-ip plugin', async () => {
    const bare = Fastify();
    await expect(
      bare.register(rateLimit, { tiers: [{ name: 'd', limits: [{ points: 1, duration: 1 }] }] }).ready(),
    ).rejects.toThrow(/realip-client-ip/);
    await bare.close();
  });

  it('invalid options fail registration with ConfigError paths', async () => {
    const bad = Fastify();
    await bad.register(clientIp);
    await expect(
      bad.register(rateLimit, { tiers: [{ name: 'd', limits: [{ points: 0, duration: 1 }] }] }).ready(),
    ).rejects.toThrow(/rateLimit\.tiers\[0\]\.limits\[0\]\.points/);
    await bad.close();
  });
});
