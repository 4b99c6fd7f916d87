/**
 * The composed stack in Express (4 and 5) and Fastify, through real sockets: clients bound to
 * different 127.0.0.x source addresses are different clients.
 */
import type { Server } from 'node:http';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { realip as expressRealip } from '../../src/express/index.js';
import { getRealipStack, realip as fastifyRealip } from '../../src/fastify/index.js';
import { PolicyError, parsePolicy } from '../../src/policy/index.js';
import { close, get } from '../adapters/helpers.js';

const POLICY = parsePolicy(
  [
    'resolve: { trustedProxies: [127.0.0.10] }',
    'access: { deny: [127.0.0.66], exempt: [/healthz] }',
    'rateLimit:',
    '  exempt: [/healthz]',
    '  tiers:',
    '    - { name: lo, match: [127.0.0.5], limits: [{ points: 2, duration: 60 }] }',
    '    - { name: others, limits: [{ points: 100, duration: 60 }] }',
    'log: { fieldStyle: otel }',
    'metrics: { enabled: true }',
  ].join('\n'),
  { filename: 'policy.yaml' },
);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const push = (o: object) => void lines.push(o as Record<string, unknown>);
  return { lines, logger: { info: push, warn: push, error: push } };
}

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each([
  ['Express 5', express as unknown as typeof express],
  ['Express 4', express4 as unknown as typeof express],
])('%s: app.use(realip(policy))', (_name, expressFn) => {
  it('resolves, denies, limits, logs and counts; req.ip follows realip', async () => {
    const { lines, logger } = capture();
    const app = expressFn();
    const mw = expressRealip(POLICY, { logger, registry: undefined });
    await mw.ready;
    cleanup.push(() => mw.close());
    app.use(mw);
    app.get('/', (req, res) => {
      res.json({ clientIp: req.clientIp, ip: req.ip, tier: req.realip.rateLimit?.tier });
    });
    app.get('/healthz', (_req, res) => res.send('ok'));
    const server = app.listen(0) as Server;
    await new Promise((r) => server.once('listening', r));
    cleanup.push(() => close(server));
    const port = (server.address() as { port: number }).port;

    const viaProxy = await get(port, '/', '127.0.0.10', { 'x-forwarded-for': '203.0.113.7' });
    expect(viaProxy.json()).toEqual({ clientIp: '203.0.113.7', ip: '203.0.113.7', tier: 'others' });
    const spoof = await get(port, '/', '127.0.0.3', { 'x-forwarded-for': '203.0.113.7' });
    expect(spoof.json().clientIp).toBe('127.0.0.3');
    const denied = await get(port, '/', '127.0.0.66');
    expect(denied.status).toBe(403);
    expect(denied.headers['content-type']).toBe('application/problem+json');
    expect((await get(port, '/healthz', '127.0.0.66')).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(port, '/', '127.0.0.5')).status);
    expect(statuses).toEqual([200, 200, 429]);
    const limited = await get(port, '/', '127.0.0.5');
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    // 404s go through the stack too.
    expect((await get(port, '/nope', '127.0.0.5')).status).toBe(429);

    await until(() => lines.length >= 7); // repeated 429s of one client are suppressed (counted into the next line)
    const allowed = lines.find((l) => l['client.address'] === '203.0.113.7');
    expect(allowed).toMatchObject({
      'network.peer.address': '127.0.0.10',
      'http.route': '/',
      'http.response.status_code': 200,
    });
    const registry = (await mw.ready).registry!;
    expect(await registry.metrics()).toMatch(
      /realip_requests_total\{decision="limited",reason="ratelimit",tier="lo"\} 3/,
    ); // the third /, the extra one and /nope
  });

  it('a policy a stage refuses fails `ready` with file positions and every request with next(err)', async () => {
    const bad = parsePolicy(REFUSED_BY_A_STAGE, { filename: 'bad.yaml' });
    const mw = expressRealip(bad, { logger: capture().logger });
    await expect(mw.ready).rejects.toBeInstanceOf(PolicyError);
    await expect(mw.ready).rejects.toThrow(/^bad\.yaml:4: resolve\.preset\.requireHeader\.valueEnv/);
    const app = expressFn();
    app.use(mw);
    app.use(
      (err: Error, _req: unknown, res: { status(n: number): { send(s: string): void } }, _next: unknown) => {
        res.status(500).send(err.constructor.name);
      },
    );
    const server = app.listen(0) as Server;
    await new Promise((r) => server.once('listening', r));
    cleanup.push(() => close(server));
    const r = await get((server.address() as { port: number }).port, '/', '127.0.0.1');
    expect(r.status).toBe(500);
    expect(r.body).toBe('PolicyError');
  });
});

/** Valid to the schema; refused when the stack is built (the tenant secret's variable is unset). */
const REFUSED_BY_A_STAGE =
  'resolve:\n  preset:\n    name: cloudflare\n    requireHeader: { name: x-t, valueEnv: REALIP_TEST_NO_SUCH_TENANT }\n';

describe('Fastify: fastify.register(realip, policy)', () => {
  it('resolves, denies, limits (404s too), logs to request.log or a given logger, and counts', async () => {
    const { lines, logger } = capture();
    const fastify = Fastify();
    cleanup.push(() => fastify.close());
    await fastify.register(fastifyRealip, { policy: POLICY, options: { logger } });
    fastify.get('/', async (request) => ({
      clientIp: request.clientIp,
      tier: request.realip.rateLimit?.tier,
    }));
    fastify.get('/healthz', async () => 'ok');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const port = (fastify.server.address() as { port: number }).port;

    const first = await get(port, '/', '127.0.0.10', { 'x-forwarded-for': '203.0.113.7' });
    expect(first.json()).toEqual({
      clientIp: '203.0.113.7',
      tier: 'others',
    });
    // Rate-limit headers sit beside Fastify's own (set through reply.header(), not the raw response).
    expect(first.headers['ratelimit-policy']).toBeDefined();
    expect(first.headers['ratelimit']).toMatch(/;r=\d+;t=\d+$/);
    expect(first.headers['content-type']).toMatch(/^application\/json/);
    expect(first.headers['content-length']).toBe(String(first.body.length));
    expect((await get(port, '/', '127.0.0.3', { 'x-forwarded-for': '203.0.113.7' })).json().clientIp).toBe(
      '127.0.0.3',
    );
    expect((await get(port, '/', '127.0.0.66')).status).toBe(403);
    expect((await get(port, '/healthz', '127.0.0.66')).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(port, '/nope', '127.0.0.5')).status);
    expect(statuses).toEqual([404, 404, 429]);
    const limited = await get(port, '/', '127.0.0.5');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-policy']).toBe('"lo-2-per-60s";q=2;w=60');

    await until(() => lines.length >= 7); // repeated 429s of one client are suppressed (counted into the next line)
    expect(lines.find((l) => l['client.address'] === '203.0.113.7')).toMatchObject({ 'http.route': '/' });
    expect(await getRealipStack(fastify)!.metrics()).toMatch(
      /realip_requests_total\{decision="denied",reason="deny-list",tier="none"\} 1/,
    );
  });

  it('takes a bare policy, and fails register() with the PolicyError for a refused policy', async () => {
    const ok = Fastify();
    cleanup.push(() => ok.close());
    await ok.register(fastifyRealip, parsePolicy('metrics: { enabled: false }\nlog: { enabled: false }\n'));
    ok.get('/', async (request) => request.clientIp);
    const r = await ok.inject({ url: '/', remoteAddress: '198.51.100.4' });
    expect(r.body).toBe('198.51.100.4');

    const bad = Fastify();
    cleanup.push(() => bad.close());
    await expect(
      bad.register(fastifyRealip, parsePolicy(REFUSED_BY_A_STAGE, { filename: 'bad.yaml' })),
    ).rejects.toThrow(/bad\.yaml:4: resolve\.preset\.requireHeader\.valueEnv/);
  });
});
