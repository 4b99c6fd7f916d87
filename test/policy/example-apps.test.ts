import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp as createExpressApp } from '../../examples/express-app/server.js';
import { createApp as createFastifyApp } from '../../examples/fastify-app/server.js';
import { close, get } from '../adapters/helpers.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const silent = { info: () => {}, warn: () => {}, error: () => {} };

describe('examples/express-app', () => {
  it('starts and answers with the resolved client IP, denies and serves metrics', async () => {
    const { app, stack } = await createExpressApp({ logger: silent });
    cleanup.push(() => stack.close());
    const server = app.listen(0, '127.0.0.1') as Server;
    await new Promise((r) => server.once('listening', r));
    cleanup.push(() => close(server));
    const port = (server.address() as { port: number }).port;
    const r = await get(port, '/', '127.0.0.4', { 'x-forwarded-for': '203.0.113.9' });
    expect(r.json()).toMatchObject({
      message: 'Hello',
      yourIP: '203.0.113.9',
      rateLimit: { tier: 'per-ip', remaining: 20 },
    });
    expect((await get(port, '/', '127.0.0.4', { 'x-forwarded-for': '192.0.2.5' })).status).toBe(403);
    expect((await get(port, '/metrics', '127.0.0.4')).body).toContain('realip_requests_total');
  });
});

describe('examples/fastify-app', () => {
  it('starts and answers with the resolved client IP, denies and serves metrics', async () => {
    const fastify = await createFastifyApp({ logger: false });
    cleanup.push(() => fastify.close());
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const port = (fastify.server.address() as { port: number }).port;
    const r = await get(port, '/', '127.0.0.4', { 'x-forwarded-for': '203.0.113.9' });
    expect(r.json()).toMatchObject({
      message: 'Hello',
      yourIP: '203.0.113.9',
      rateLimit: { tier: 'per-ip', remaining: 20 },
    });
    expect((await get(port, '/', '127.0.0.4', { 'x-forwarded-for': '192.0.2.5' })).status).toBe(403);
    expect((await get(port, '/metrics', '127.0.0.4')).body).toContain('realip_requests_total');
  });
});
