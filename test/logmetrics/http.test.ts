/**
 * Real HTTP on 127.0.0.1 (port 0) through Express and Fastify: access log lines via pino, metrics
 * text from the /metrics handler, top-clients JSON from its handler; every sink grepped for raw
 * addresses under each anonymisation mode.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server } from 'node:http';
import express from 'express';
import Fastify, { LogController } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { accessLog as expressAccessLog } from '../../src/express/index.js';
import { accessLogController, accessLog as fastifyAccessLog } from '../../src/fastify/index.js';
import { createHeavyHitters } from '../../src/index.js';
import {
  createRealipMetrics,
  expressMetrics,
  expressMetricsEndpoint,
  expressTopClientsEndpoint,
  fastifyMetrics,
  fastifyMetricsEndpoint,
  fastifyTopClientsEndpoint,
} from '../../src/metrics/index.js';
import { createAnonymizer } from '../../src/log/anonymize.js';
import type { AnonymizeMode } from '../../src/log/anonymize.js';
import type { FieldStyle } from '../../src/log/access-log.js';
import {
  CLIENT_MAPPED,
  CLIENT_MAPPED_V4,
  CLIENT_V4,
  CLIENT_V6,
  Capture,
  PROXY_A,
  PROXY_B,
  leaks,
  stubStagesExpress,
  stubStagesFastify,
} from './fixtures.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const SECRET = 'a-32-byte-secret-for-tests-only!';
const RAW = [CLIENT_V4, CLIENT_V6, CLIENT_MAPPED_V4, PROXY_A, PROXY_B, '127.0.0.1'];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

async function until(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Sinks {
  log: Capture;
  base: string;
  registry: Registry;
  close: () => Promise<void>;
}

interface Setup {
  mode: AnonymizeMode;
  fieldStyle: FieldStyle;
}

function shared({ mode }: Setup) {
  const anonymize = createAnonymizer({ anonymize: mode, hmacKey: { id: 'k1', secret: SECRET } });
  const registry = new Registry();
  const topClients = createHeavyHitters({ granularity: 'ip', windowMs: 0, anonymize });
  const metrics = createRealipMetrics({ registry, topClients });
  return { anonymize, registry, topClients, metrics };
}

async function startExpress(setup: Setup): Promise<Sinks> {
  const { anonymize, registry, topClients, metrics } = shared(setup);
  const log = new Capture();
  const logger = pino({ base: undefined }, log);
  const app = express();
  app.use(
    expressAccessLog({
      logger,
      anonymize,
      fieldStyle: setup.fieldStyle,
      explain: 'denied',
      chain: true,
      headers: ['user-agent', 'x-forwarded-for'],
      allowSensitiveHeaders: true,
      exempt: ['/metrics', '/top-clients'],
    }),
  );
  app.use(expressMetrics(metrics));
  app.get('/metrics', expressMetricsEndpoint(registry));
  app.get('/top-clients', expressTopClientsEndpoint(topClients));
  app.use(stubStagesExpress());
  app.get('/users/:id', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/boom', () => {
    throw new Error('boom');
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const close = () => new Promise<void>((r) => server.close(() => r()));
  closers.push(close);
  return { log, registry, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close };
}

async function startFastify(setup: Setup): Promise<Sinks> {
  const { anonymize, registry, topClients, metrics } = shared(setup);
  const log = new Capture();
  const app = Fastify({
    loggerInstance: pino({ base: undefined }, log),
    logController: new LogController({ disableRequestLogging: true }),
  });
  await app.register(stubStagesFastify);
  await app.register(fastifyAccessLog, {
    anonymize,
    fieldStyle: setup.fieldStyle,
    explain: 'denied',
    chain: true,
    headers: ['user-agent', 'x-forwarded-for'],
    allowSensitiveHeaders: true,
    exempt: ['/metrics', '/top-clients'],
  });
  await app.register(fastifyMetrics, { metrics });
  app.get('/metrics', fastifyMetricsEndpoint(registry));
  app.get('/top-clients', fastifyTopClientsEndpoint(topClients));
  app.get('/users/:id', async () => ({ ok: true }));
  app.get('/boom', async () => {
    throw new Error('boom');
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const close = async () => {
    await app.close();
  };
  closers.push(close);
  return { log, registry, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close };
}

const FRAMEWORKS = [
  ['express', startExpress],
  ['fastify', startFastify],
] as const;

/** The same traffic for every framework and mode. Returns the number of request lines expected. */
async function traffic(base: string): Promise<void> {
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      headers: { 'user-agent': 'realip-test', 'x-forwarded-for': `${CLIENT_V4}, ${PROXY_B}`, ...headers },
    }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });
  expect(await get('/users/1?token=abc', { 'x-test-geo': 'de' })).toBe(200);
  expect(await get('/users/2', { 'x-test-client': CLIENT_V6 })).toBe(200);
  expect(await get('/users/3', { 'x-test-client': CLIENT_MAPPED, 'x-test-geo': 'private' })).toBe(200);
  for (let i = 0; i < 5; i++) expect(await get('/users/4', { 'x-test-deny': '1' })).toBe(403);
  for (let i = 0; i < 4; i++)
    expect(await get('/users/5', { 'x-test-limit': '1', 'x-test-client': CLIENT_V6 })).toBe(429);
  expect(await get('/nowhere')).toBe(404);
  expect(await get('/boom')).toBe(500);
}

describe.each(FRAMEWORKS)('%s: access log, metrics and top clients over HTTP', (_name, start) => {
  it('none/otel: one line per allowed request, first denial per client, fields from req.realip', async () => {
    const s = await start({ mode: 'none', fieldStyle: 'otel' });
    await traffic(s.base);
    // 3 allowed + 1 of 5 denied + 1 of 4 limited + 404 + 500
    await until(() => s.log.lines().filter((l) => l['msg'] === 'request completed').length >= 7, 'log lines');
    const lines = s.log.lines().filter((l) => l['msg'] === 'request completed');
    expect(lines.length).toBe(7);
    const first = lines.find((l) => l['url.path'] === '/users/1')!;
    expect(first).toMatchObject({
      level: 30,
      'client.address': CLIENT_V4,
      'network.peer.address': PROXY_A,
      'http.request.method': 'GET',
      'http.route': '/users/:id',
      'http.response.status_code': 200,
      'geo.country.iso_code': 'DE',
      'realip.source': 'header',
      'realip.decision': 'allowed',
      'realip.rate_limit.tier': 'partners',
      'http.request.header.user-agent': 'realip-test',
    });
    expect(typeof first['http.server.request.duration']).toBe('number');
    expect(JSON.stringify(first)).not.toContain('token=abc');
    const mapped = lines.find((l) => l['url.path'] === '/users/3')!;
    expect(mapped['client.address']).toBe(CLIENT_MAPPED_V4);
    expect(mapped['realip.network']).toBe('private');
    const denied = lines.filter((l) => l['http.response.status_code'] === 403);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({
      level: 40,
      suppressed: 0,
      'realip.decision': 'denied',
      'realip.access.rule': 'deny[3]',
    });
    expect(denied[0]!['realip.explain']).toContain(CLIENT_V4);
    const limited = lines.filter((l) => l['http.response.status_code'] === 429);
    expect(limited).toHaveLength(1);
    expect(limited[0]).toMatchObject({
      'realip.decision': 'limited',
      'realip.rate_limit.tier': 'anonymous',
      'client.address': CLIENT_V6,
    });
    const notFound = lines.find((l) => l['http.response.status_code'] === 404)!;
    expect(notFound['url.path']).toBe('/nowhere');
    expect(notFound['http.route']).toBeUndefined();
    expect(lines.find((l) => l['http.response.status_code'] === 500)).toMatchObject({ level: 50 });

    const metricsText = await fetch(s.base + '/metrics').then((r) => r.text());
    const p = parsePrometheusText(metricsText);
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'denied', reason: 'deny-list', tier: 'none' }),
    ).toBe(5);
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'limited', reason: 'ratelimit', tier: 'anonymous' }),
    ).toBe(4);
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'DE', decision: 'allowed' })).toBe(1);
    expect(
      valueOf(p, 'realip_resolutions_total', {
        source: 'header',
        reason: 'untrusted-entry',
        ip_version: '6',
      }),
    ).toBe(5);

    const top = (await fetch(s.base + '/top-clients').then((r) => r.json())) as {
      current: { clients: { client: string; count: number }[]; total: number };
    };
    expect(top.current.clients[0]).toMatchObject({ client: CLIENT_V4, count: 8 });
    // The "none" run must show the raw addresses: proves the leak check below can fail.
    expect(
      leaks(s.log.text + JSON.stringify(top), [CLIENT_V4, CLIENT_V6, CLIENT_MAPPED_V4, PROXY_A, PROXY_B]),
    ).not.toEqual([]);
    await s.close();
  });

  it.each(
    (['truncate', 'hmac', 'drop'] as const).flatMap((mode) =>
      (['otel', 'ecs', 'both'] as const).map((fieldStyle) => [mode, fieldStyle] as const),
    ),
  )(
    '%s/%s: no raw address in log lines, explanations, metrics text or top-clients JSON',
    async (mode, fieldStyle) => {
      const s = await start({ mode, fieldStyle });
      await traffic(s.base);
      await until(
        () => s.log.lines().filter((l) => l['msg'] === 'request completed').length >= 7,
        'log lines',
      );
      const metricsText = await fetch(s.base + '/metrics').then((r) => r.text());
      const topJson = await fetch(s.base + '/top-clients').then((r) => r.text());
      await s.close(); // Fastify's onClose flushes pending suppression counts into the log
      // Only realip's lines: the framework's own ("Server listening at http://127.0.0.1:...") are not ours.
      const ours = s.log
        .lines()
        .filter((l) => typeof l['msg'] === 'string' && /^(request completed|realip )/.test(l['msg']));
      const everything = [JSON.stringify(ours), metricsText, topJson].join('\n');
      expect(leaks(everything, RAW)).toEqual([]);
      const lines = s.log.lines().filter((l) => l['msg'] === 'request completed');
      expect(lines.every((l) => l['realip.anonymize'] === mode)).toBe(true);
      expect(lines.some((l) => typeof l['realip.explain'] === 'string')).toBe(true);
      if (mode === 'truncate') expect(s.log.text).toContain('"client.address":"203.0.113.0"');
      if (mode === 'hmac') expect(JSON.parse(topJson).current.keyId).toBe('k1');
      expect(parsePrometheusText(metricsText).samples.length).toBeGreaterThan(5);
    },
  );
});

/** Counts reads of `req.headers` from now on (Node builds that object on first access). */
function watchHeaderReads(req: IncomingMessage): { reads: number } {
  const counter = { reads: 0 };
  const value = req.headers;
  Object.defineProperty(req, 'headers', {
    configurable: true,
    get() {
      counter.reads++;
      return value;
    },
  });
  return counter;
}

describe("Node's header object is read only when a line needs a header", () => {
  const fastifyVariants = ['plugin', 'controller'] as const;

  it.each([
    [{}, 0],
    [{ headers: ['user-agent'] }, 1],
    [{ requestIdHeader: 'x-request-id' }, 1],
  ])('express, options %j: %i reads after the handler', async (options, expected) => {
    const log = new Capture();
    const app = express();
    app.use(expressAccessLog({ logger: pino({ base: undefined }, log), ...options }));
    app.use(stubStagesExpress());
    let counter = { reads: -1 };
    app.get('/x', (req, res) => {
      counter = watchHeaderReads(req);
      res.end('ok');
    });
    const server: Server = await new Promise((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const res = await fetch(`http://127.0.0.1:${port}/x`, {
      headers: { 'user-agent': 'ua-test', 'x-request-id': 'rid-1' },
    });
    await res.text();
    await until(() => log.lines().length === 1, 'line');
    expect(counter.reads).toBe(expected);
    if ('headers' in options) expect(log.lines()[0]!['http.request.header.user-agent']).toBe('ua-test');
    if ('requestIdHeader' in options) expect(log.lines()[0]!['http.request.id']).toBe('rid-1');
  });

  it.each(
    fastifyVariants.flatMap((v) => [[v, {}, 0] as const, [v, { headers: ['user-agent'] }, 1] as const]),
  )('fastify %s, options %j: %i reads after the handler', async (variant, options, expected) => {
    const log = new Capture();
    const logger = pino({ base: undefined }, log);
    const app =
      variant === 'controller'
        ? Fastify({ loggerInstance: logger, logController: accessLogController(LogController, options) })
        : Fastify({
            loggerInstance: logger,
            logController: new LogController({ disableRequestLogging: true }),
          });
    await app.register(stubStagesFastify);
    if (variant === 'plugin') await app.register(fastifyAccessLog, options);
    let counter = { reads: -1 };
    app.get('/x', async (request) => {
      counter = watchHeaderReads(request.raw);
      return 'ok';
    });
    const res = await app.inject({ url: '/x', headers: { 'user-agent': 'ua-test' } });
    expect(res.statusCode).toBe(200);
    await until(() => log.lines().length === 1, 'line');
    expect(counter.reads).toBe(expected);
    if (expected > 0) expect(log.lines()[0]!['http.request.header.user-agent']).toBe('ua-test');
    await app.close();
  });
});

describe('adapter contracts', () => {
  it('express: the logger is required and never owned', () => {
    expect(() => expressAccessLog({ logger: undefined as never })).toThrow(/logger/);
  });

  it('express 4: same line, route template from req.route', async () => {
    const express4 = (await import('express4')).default;
    const log = new Capture();
    const app = express4();
    app.use(expressAccessLog({ logger: pino({ base: undefined }, log) }));
    app.use(stubStagesExpress());
    const router = express4.Router();
    router.get('/items/:id', (_req, res) => {
      res.send('ok');
    });
    app.use('/api', router);
    const server: Server = await new Promise((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/items/7?x=1`);
    await res.text();
    await until(() => log.lines().length === 1, 'line');
    expect(log.lines()[0]).toMatchObject({
      'client.address': CLIENT_V4,
      'http.route': '/api/items/:id',
      'url.path': '/api/items/7',
      'http.response.status_code': 200,
    });
  });

  it('express: aborted responses are still logged', async () => {
    const log = new Capture();
    const app = express();
    app.use(expressAccessLog({ logger: pino({ base: undefined }, log) }));
    app.use(stubStagesExpress());
    app.get('/slow', (_req, res) => {
      res.write('partial');
    });
    const server: Server = await new Promise((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`, {
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await until(() => log.lines().length === 1, 'aborted line');
    expect(log.lines()[0]).toMatchObject({ 'realip.aborted': true, 'client.address': CLIENT_V4 });
    server.closeAllConnections();
  });

  it('fastify: writes to request.log (lines carry reqId) and needs the resolver plugin', async () => {
    const log = new Capture();
    const app = Fastify({
      loggerInstance: pino({ base: undefined }, log),
      logController: new LogController({ disableRequestLogging: true }),
    });
    await app.register(stubStagesFastify);
    await app.register(fastifyAccessLog);
    app.get('/x', async () => 'x');
    const res = await app.inject('/x');
    expect(res.statusCode).toBe(200);
    await until(() => log.lines().length === 1, 'line');
    expect(log.lines()[0]).toMatchObject({
      reqId: expect.any(String),
      'client.address': CLIENT_V4,
      'http.route': '/x',
    });
    await app.close();

    const bare = Fastify();
    await expect(bare.register(fastifyAccessLog).ready()).rejects.toThrow(/realip-client-ip/);
    await bare.close();
  });

  it('fastify: a bad option fails registration with the ConfigError', async () => {
    const app = Fastify();
    await app.register(stubStagesFastify);
    await expect(app.register(fastifyAccessLog, { headers: ['cookie'] }).ready()).rejects.toMatchObject({
      code: 'ERR_REALIP_LOG_SENSITIVE_HEADER',
    });
    await app.close();
  });
});
