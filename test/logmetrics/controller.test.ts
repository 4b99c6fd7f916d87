/**
 * `accessLogController()`: realip's line in place of Fastify's own request logging, through real
 * HTTP with the real resolver. One line per request (404s and thrown errors included), none for
 * "incoming request", reqId kept, and a clear error when the class is not Fastify's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController } from 'fastify';
import pino from 'pino';
import { RealipError } from '../../src/errors.js';
import { accessLogController, clientIp } from '../../src/fastify/index.js';
import { Capture, until } from './fixtures.js';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

async function app(log: Capture, options: Parameters<typeof accessLogController>[1] = {}) {
  const controller = accessLogController(LogController, options);
  const f = Fastify({ loggerInstance: pino({ base: undefined }, log), logController: controller });
  await f.register(clientIp, { trustedProxies: ['127.0.0.1'] });
  f.get('/hello/:name', async () => 'hi');
  f.get('/boom', async () => {
    throw new Error('boom');
  });
  await f.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => f.close());
  return { base: `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`, controller };
}

describe('accessLogController', () => {
  it('writes exactly one realip line per request, with reqId, and no incoming line', async () => {
    const log = new Capture();
    const { base, controller } = await app(log, { fieldStyle: 'otel' });
    expect(controller).toBeInstanceOf(LogController);
    expect(controller.accessLog.options.fieldStyle).toBe('otel');
    await fetch(`${base}/hello/ada?x=1`, { headers: { 'x-forwarded-for': '198.51.100.23' } });
    await fetch(`${base}/missing`, { headers: { 'x-forwarded-for': '198.51.100.24' } });
    await until(() => log.lines().length >= 2);
    await new Promise((r) => setTimeout(r, 50));
    const lines = log.lines();
    // Per-request lines only (Fastify's "Server listening" has no reqId): no "incoming request",
    // no "Route GET:/missing not found".
    const perRequest = lines.filter((l) => l['reqId'] !== undefined);
    expect(perRequest.map((l) => l['msg'])).toEqual(['request completed', 'request completed']);
    const [ok, missing] = perRequest;
    expect(ok).toMatchObject({
      'client.address': '198.51.100.23',
      'network.peer.address': '127.0.0.1',
      'http.request.method': 'GET',
      'http.route': '/hello/:name',
      'url.path': '/hello/ada',
      'http.response.status_code': 200,
      'realip.source': 'header',
      'realip.decision': 'allowed',
    });
    expect(typeof ok!['reqId']).toBe('string');
    expect(typeof ok!['http.server.request.duration']).toBe('number');
    expect(missing).toMatchObject({ 'client.address': '198.51.100.24', 'http.response.status_code': 404 });
  });

  it('logs thrown errors with their status at the error level; Fastify still logs the error', async () => {
    const log = new Capture();
    const { base } = await app(log);
    const res = await fetch(`${base}/boom`);
    expect(res.status).toBe(500);
    await until(() => log.lines().some((l) => l['http.response.status_code'] === 500));
    const line = log.lines().find((l) => l['http.response.status_code'] === 500)!;
    expect(line['level']).toBe(50);
    expect(log.lines().some((l) => l['msg'] === 'boom' && l['err'] !== undefined)).toBe(true);
  });

  it('rejects anything but a LogController class, saying what to pass', () => {
    expect(() => accessLogController({} as never)).toThrow(RealipError);
    expect(() => accessLogController((() => undefined) as never)).toThrow(/LogController class/);
  });
});
