/**
 * A policy with `rateLimit.store: redis` through real HTTP servers (Express 5 and 4, Fastify, the
 * sidecar): the rate limit's decision arrives asynchronously (a Promise from the Redis store), and two
 * instances of each, as two replicas, share one limit through the Redis on 127.0.0.1:6379.
 */
import type { Server } from 'node:http';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { realip as expressRealip } from '../../src/express/index.js';
import { realip as fastifyRealip } from '../../src/fastify/index.js';
import { createStack, parsePolicy, type Policy } from '../../src/policy/index.js';
import { close, get } from '../adapters/helpers.js';
import { requireRedis } from '../support/env.js';
import { startApp, startSidecar } from '../sidecar/helpers.js';

const redis = await requireRedis();
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

let n = 0;
/** A fresh key prefix per test, so counts start at zero. */
function policy(): Policy {
  return parsePolicy(
    JSON.stringify({
      rateLimit: {
        store: 'redis',
        redis: { url: 'redis://127.0.0.1:6379' },
        prefix: `realip-frameworks-${process.pid}-${Date.now()}-${++n}-`,
        tiers: [{ name: 'default', limits: [{ points: 3, duration: 60 }] }],
      },
      log: { enabled: false },
    }),
  );
}

const silent = { info: () => {}, warn: () => {}, error: () => {} };

/** Starts one instance on a free port; returns the port. */
type Start = (p: Policy) => Promise<number>;

const expressWith =
  (expressFn: typeof express): Start =>
  async (p) => {
    const app = expressFn();
    const mw = expressRealip(p, { logger: silent });
    await mw.ready;
    cleanup.push(() => mw.close());
    app.use(mw);
    app.get('/', (req, res) => {
      res.json({ source: req.realip.rateLimit?.source });
    });
    const server = app.listen(0, '127.0.0.1') as Server;
    await new Promise((r) => server.once('listening', r));
    cleanup.push(() => close(server));
    return (server.address() as { port: number }).port;
  };

const fastifyWith: Start = async (p) => {
  const app = Fastify();
  await app.register(fastifyRealip, { policy: p, options: { logger: silent } });
  app.get('/', async (request) => ({ source: request.realip.rateLimit?.source }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanup.push(() => app.close());
  return (app.server.address() as { port: number }).port;
};

const sidecarWith: Start = async (p) => {
  const upstream = await startApp();
  cleanup.push(() => upstream.close());
  const stack = await createStack(p, { logger: silent, onWarning: () => {} });
  const running = await startSidecar(upstream.url, { stack });
  cleanup.push(async () => {
    await running.sidecar.close();
    await stack.close();
  });
  return running.port;
};

describe.skipIf(!redis).each([
  ['Express 5', expressWith(express)],
  ['Express 4', expressWith(express4 as unknown as typeof express)],
  ['Fastify', fastifyWith],
  ['the sidecar', sidecarWith],
] as const)('%s with rateLimit.store: redis', (name, start) => {
  it('two instances share one limit of 3: the fourth request, on either, is a 429 problem', async () => {
    const p = policy();
    const ports = [await start(p), await start(p)];
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await get(ports[i % 2]!, '/', '127.0.0.7'));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    if (name !== 'the sidecar') expect(replies[0]!.json()).toEqual({ source: 'store' });
    expect(replies[0]!.headers['ratelimit-policy']).toBe('"default-3-per-60s";q=3;w=60');
    expect(replies[2]!.headers['ratelimit']).toMatch(/^"default-3-per-60s";r=0;t=\d+$/);
    const limited = replies[3]!;
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json(;|$)/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(limited.body)).toMatchObject({ status: 429 });
    // Another client has its own count.
    expect((await get(ports[1]!, '/', '127.0.0.8')).status).toBe(200);
  });
});
