/**
 * With the real resolver (`clientIp()` from the adapters branch) instead of the stub: the access
 * log's client, peer, source, trusted hops and explanation come from a genuine Resolution, and no
 * address leaks under anonymisation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify, { LogController } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { accessLog as expressAccessLog, clientIp as expressClientIp } from '../../src/express/index.js';
import { accessLog as fastifyAccessLog, clientIp as fastifyClientIp } from '../../src/fastify/index.js';
import { createRealipMetrics, expressMetrics, fastifyMetrics } from '../../src/metrics/index.js';
import { Capture, leaks, until } from './fixtures.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const CLIENT = '198.51.100.23';
const CLIENT6 = '2001:db8:77::5';
const MIDDLE = '10.9.8.7';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

const RESOLVE = { trustedProxies: ['127.0.0.1', '10.0.0.0/8'] };

async function expressApp(log: Capture, registry: Registry, anonymize: 'none' | 'truncate') {
  const app = express();
  app.use(
    expressAccessLog({
      logger: pino({ base: undefined }, log),
      anonymize,
      detail: 'full',
      explain: 'always',
    }),
  );
  app.use(expressMetrics(createRealipMetrics({ registry })));
  app.use(expressClientIp(RESOLVE));
  app.get('/hello', (_req, res) => {
    res.send('hi');
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function fastifyApp(log: Capture, registry: Registry, anonymize: 'none' | 'truncate') {
  const app = Fastify({
    loggerInstance: pino({ base: undefined }, log),
    logController: new LogController({ disableRequestLogging: true }),
  });
  await app.register(fastifyClientIp, RESOLVE);
  await app.register(fastifyAccessLog, { anonymize, detail: 'full', explain: 'always' });
  await app.register(fastifyMetrics, { metrics: createRealipMetrics({ registry }) });
  app.get('/hello', async () => 'hi');
  await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

describe.each([
  ['express', expressApp],
  ['fastify', fastifyApp],
] as const)('%s with the real clientIp()', (_name, make) => {
  it('logs the resolved client, the peer, the source and the trusted hops', async () => {
    const log = new Capture();
    const registry = new Registry();
    const base = await make(log, registry, 'none');
    await fetch(base + '/hello', { headers: { 'x-forwarded-for': `${CLIENT}, ${MIDDLE}` } }).then((r) =>
      r.text(),
    );
    await fetch(base + '/hello', { headers: { 'x-forwarded-for': `${CLIENT6}` } }).then((r) => r.text());
    await until(() => log.lines().filter((l) => l['msg'] === 'request completed').length === 2);
    const [v4, v6] = log.lines().filter((l) => l['msg'] === 'request completed');
    expect(v4).toMatchObject({
      'client.address': CLIENT,
      'network.peer.address': '127.0.0.1',
      'realip.source': 'header',
      'realip.header': 'x-forwarded-for',
      'realip.reason': 'untrusted-entry',
      'realip.trusted_hops': 2,
      'http.route': '/hello',
    });
    expect(v4!['realip.explain']).toContain(CLIENT);
    expect(v6).toMatchObject({ 'client.address': CLIENT6, 'realip.trusted_hops': 1 });
    const p = parsePrometheusText(await registry.metrics());
    expect(
      valueOf(p, 'realip_resolutions_total', {
        source: 'header',
        reason: 'untrusted-entry',
        ip_version: '4',
      }),
    ).toBe(1);
    expect(
      valueOf(p, 'realip_resolutions_total', {
        source: 'header',
        reason: 'untrusted-entry',
        ip_version: '6',
      }),
    ).toBe(1);
  });

  it('truncate: nothing raw in lines or the real explain() text', async () => {
    const log = new Capture();
    const base = await make(log, new Registry(), 'truncate');
    await fetch(base + '/hello', { headers: { 'x-forwarded-for': `${CLIENT}, ${MIDDLE}` } }).then((r) =>
      r.text(),
    );
    await fetch(base + '/hello', { headers: { 'x-forwarded-for': `::ffff:${CLIENT}, ${CLIENT6}` } }).then(
      (r) => r.text(),
    );
    await until(() => log.lines().filter((l) => l['msg'] === 'request completed').length === 2);
    const ours = log.lines().filter((l) => l['msg'] === 'request completed');
    expect(leaks(JSON.stringify(ours), [CLIENT, CLIENT6, MIDDLE, '127.0.0.1'])).toEqual([]);
    expect(ours[0]!['client.address']).toBe('198.51.100.0');
    expect(String(ours[0]!['realip.explain'])).toContain('198.51.100.0');
  });
});
