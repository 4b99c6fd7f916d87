/**
 * The rate-limit stage behind the real resolver (clientIp() from realip/express and
 * realip/fastify): the key comes from X-Forwarded-For only through a trusted hop.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientIp as expressClientIp } from '../../src/express/client-ip.js';
import { rateLimit as expressRateLimit } from '../../src/express/rate-limit.js';
import { clientIp as fastifyClientIp } from '../../src/fastify/client-ip.js';
import { rateLimit as fastifyRateLimit } from '../../src/fastify/rate-limit.js';
import { httpGet } from './helpers.js';

const tiers = [
  { name: 'lan', match: ['10.0.0.0/8'], limits: [{ points: 5, duration: 60 }] },
  { name: 'default', limits: [{ points: 2, duration: 60 }] },
];

describe.each(['express', 'fastify'] as const)('%s: clientIp() + rateLimit()', (framework) => {
  let port: number;
  let close: () => Promise<unknown>;

  beforeAll(async () => {
    if (framework === 'express') {
      const app = express();
      app.use(expressClientIp({ trustedProxies: ['127.0.0.1'] }));
      app.use(expressRateLimit({ tiers }));
      app.get('/', (req, res) => {
        res.json(req.realip.rateLimit ?? null);
      });
      const server: Server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      port = (server.address() as AddressInfo).port;
      close = () => new Promise((r) => server.close(r));
    } else {
      const app: FastifyInstance = Fastify();
      await app.register(fastifyClientIp, { trustedProxies: ['127.0.0.1'] });
      await app.register(fastifyRateLimit, { tiers });
      app.get('/', async (request) => request.realip.rateLimit ?? null);
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.server.address() as AddressInfo).port;
      close = () => app.close();
    }
  });
  afterAll(() => close());

  const via = (xff: string, from = '127.0.0.1') => httpGet(port, '/', from, { 'x-forwarded-for': xff });

  it('keys by the client behind the trusted hop, per tier', async () => {
    expect(JSON.parse((await via('203.0.113.5')).body)).toMatchObject({ tier: 'default', remaining: 1 });
    expect(JSON.parse((await via('10.1.2.3')).body)).toMatchObject({ tier: 'lan', remaining: 4 });
    expect((await via('203.0.113.5')).status).toBe(200);
    expect((await via('203.0.113.5')).status).toBe(429);
    // Another client behind the same proxy has its own bucket.
    expect((await via('198.51.100.5')).status).toBe(200);
  });

  it('IPv6 clients of one /64 share a bucket', async () => {
    expect((await via('2001:db8:7:7::1')).status).toBe(200);
    expect((await via('2001:db8:7:7:ffff::2')).status).toBe(200);
    const third = await via('2001:db8:7:7::3');
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body)['violated-policies']).toEqual(['default-2-per-60s']);
  });

  it('an untrusted peer cannot choose its key with X-Forwarded-For', async () => {
    expect((await via('192.0.2.1', '127.0.0.30')).status).toBe(200);
    expect((await via('192.0.2.2', '127.0.0.30')).status).toBe(200);
    expect((await via('192.0.2.3', '127.0.0.30')).status).toBe(429);
  });
});
