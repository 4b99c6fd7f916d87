/**
 * ipFilter behind the real resolver stage (`clientIp()`), Express and Fastify, through real HTTP:
 * 127.0.0.1 plays a trusted proxy that writes X-Forwarded-For; other 127.0.0.x sources are
 * untrusted clients, whose X-Forwarded-For must not move the decision.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ex from '../../src/express/index.js';
import * as fy from '../../src/fastify/index.js';
import { send } from './support.js';

const resolverOptions = { trustedProxies: ['127.0.0.1'] };
const accessOptions = {
  allow: ['198.51.100.0/24', '127.0.0.0/8'],
  deny: ['198.51.100.66', '127.0.0.66'],
  exempt: ['/healthz'],
};

const CASES: [string, Record<string, string>, number, string][] = [
  // through the trusted proxy: the forwarded client decides
  ['127.0.0.1', { 'x-forwarded-for': '198.51.100.7' }, 200, 'allow[0]'],
  ['127.0.0.1', { 'x-forwarded-for': '198.51.100.66' }, 403, 'deny[0]'],
  ['127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }, 403, ''],
  ['127.0.0.1', { 'x-forwarded-for': '198.51.100.66, 198.51.100.7' }, 200, 'allow[0]'],
  // an untrusted peer's header is ignored: the socket peer decides, both ways
  ['127.0.0.66', { 'x-forwarded-for': '198.51.100.7' }, 403, 'deny[1]'],
  ['127.0.0.5', { 'x-forwarded-for': '198.51.100.66' }, 200, 'allow[1]'],
];

describe('express: clientIp() + ipFilter()', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    const app = express();
    app.use(ex.clientIp(resolverOptions), ex.ipFilter(accessOptions));
    app.get('/', (req, res) => {
      res.json({ ip: req.clientIp, access: req.realip.access });
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each(CASES)('from %s with %j -> %i %s', async (from, headers, status, rule) => {
    const r = await send(port, from, '/', 'GET', headers);
    expect(r.status).toBe(status);
    if (status === 200) expect((JSON.parse(r.body) as { access: { rule: string } }).access.rule).toBe(rule);
    else expect(r.headers['content-type']).toBe('application/problem+json');
  });
});

describe('fastify: clientIp + ipFilter plugins', () => {
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    app = Fastify();
    await app.register(fy.clientIp, resolverOptions);
    await app.register(fy.ipFilter, accessOptions);
    app.get('/', (request) => ({ ip: request.clientIp, access: request.realip.access }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(() => app.close());

  it.each(CASES)('from %s with %j -> %i %s', async (from, headers, status, rule) => {
    const r = await send(port, from, '/', 'GET', headers);
    expect(r.status).toBe(status);
    if (status === 200) expect((JSON.parse(r.body) as { access: { rule: string } }).access.rule).toBe(rule);
    else expect(r.headers['content-type']).toBe('application/problem+json');
  });

  it('filters unknown routes for the forwarded client too', async () => {
    expect(
      (await send(port, '127.0.0.1', '/nope', 'GET', { 'x-forwarded-for': '198.51.100.66' })).status,
    ).toBe(403);
    expect(
      (await send(port, '127.0.0.1', '/nope', 'GET', { 'x-forwarded-for': '198.51.100.7' })).status,
    ).toBe(404);
  });
});
