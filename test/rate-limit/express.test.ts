import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientIp, rateLimit } from '../../src/express/index.js';
import { httpGet } from './helpers.js';

/** Behind the real resolver stage, `clientIp()` with no trusted proxy: the socket peer (127.0.0.x) is the client. */
describe('Express rateLimit() through real HTTP', () => {
  let server: Server;
  let port: number;
  const global = rateLimit({
    tiers: [
      { name: 'vip', match: ['127.0.0.9'], limits: [{ points: 100, duration: 60 }] },
      { name: 'internet', limits: [{ points: 1, duration: 60, burst: 2 }] },
    ],
    legacyHeaders: true,
    exempt: ['/healthz'],
  });
  const login = rateLimit({ tiers: [{ name: 'login', limits: [{ points: 1, duration: 60 }] }] });

  beforeAll(async () => {
    const app = express();
    app.get('/no-context', global, (_req, res) => {
      res.send('unreachable');
    });
    app.use(clientIp());
    app.use(global);
    app.use(global); // mounted twice: still counted once
    app.get('/healthz', (_req, res) => {
      res.send('ok');
    });
    app.get('/info', (req, res) => {
      res.json(req.realip.rateLimit);
    });
    app.post('/login', login, (_req, res) => {
      res.send('welcome');
    });
    app.get('/login', login, (_req, res) => {
      res.send('welcome');
    });
    app.use((err: Error & { code?: string }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).send(err.code ?? 'error');
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await global.limiter.close();
  });

  it('admits burst + 1, then 429 with problem+json, Retry-After and RateLimit headers', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await httpGet(port, '/info', '127.0.0.2'));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    const ok = results[0]!;
    expect(JSON.parse(ok.body)).toMatchObject({
      tier: 'internet',
      limit: 3,
      remaining: 2,
      limited: false,
      source: 'store',
    });
    expect(ok.headers['ratelimit-policy']).toBe('"internet-1-per-60s-burst-2";q=3;w=60');
    expect(ok.headers['ratelimit']).toBe('"internet-1-per-60s-burst-2";r=2;t=0');
    expect(ok.headers['x-ratelimit-limit']).toBe('3');
    expect(ok.headers['x-ratelimit-remaining']).toBe('2');
    const limited = results[3]!;
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    // 1 r/min is 16 milli-requests/s in nginx's integer arithmetic: 1000 of excess drains in 62.5 s.
    expect(limited.headers['retry-after']).toBe('63');
    expect(limited.headers['ratelimit']).toBe('"internet-1-per-60s-burst-2";r=0;t=63');
    expect(JSON.parse(limited.body)).toMatchObject({
      status: 429,
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      'violated-policies': ['internet-1-per-60s-burst-2'],
    });
    expect(JSON.parse(limited.body).ip).toBeUndefined();
  });

  it('buckets are per client IP, and tiers pick limits by IP', async () => {
    expect((await httpGet(port, '/info', '127.0.0.3')).status).toBe(200);
    const vip = await httpGet(port, '/info', '127.0.0.9');
    expect(JSON.parse(vip.body)).toMatchObject({ tier: 'vip', limit: 100, remaining: 99 });
  });

  it('exempt paths are never counted', async () => {
    for (let i = 0; i < 6; i++) expect((await httpGet(port, '/healthz', '127.0.0.4')).status).toBe(200);
    expect(JSON.parse((await httpGet(port, '/info', '127.0.0.4')).body).remaining).toBe(2);
  });

  it('a per-route instance adds its limit; both policies are advertised', async () => {
    const a = await httpGet(port, '/login', '127.0.0.5');
    expect(a.status).toBe(200);
    expect(a.headers['ratelimit-policy']).toBe(
      '"internet-1-per-60s-burst-2";q=3;w=60, "login-1-per-60s";q=1;w=60',
    );
    const b = await httpGet(port, '/login', '127.0.0.5');
    expect(b.status).toBe(429);
    expect(JSON.parse(b.body)['violated-policies']).toEqual(['login-1-per-60s']);
    expect(b.headers['retry-after']).toBe('60');
  });

  it('without clientIp() it fails with ERR_REALIP_NO_CONTEXT', async () => {
    const r = await httpGet(port, '/no-context', '127.0.0.6');
    expect(r.status).toBe(500);
    expect(r.body).toBe('ERR_REALIP_NO_CONTEXT');
  });
});
