/**
 * ipFilter() on Express 5 and Express 4 through real HTTP, with clients bound to 127.0.0.x
 * source addresses, behind the real resolver stage (`clientIp()` with support.ts's RESOLVER:
 * 127.0.0.1 is a trusted proxy, one hop; other 127.0.0.x sources are the clients themselves).
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express5 from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIpLists, ConfigError, type ManagedIpLists } from '../../src/index.js';
import { clientIp, ipFilter, type ExpressAccessOptions } from '../../src/express/index.js';
import { PROXY, RESOLVER, send } from './support.js';

// express4 is the same package at major version 4 (npm alias); its API is the same for this test.
const express4 = (await import('express4' as string)).default as typeof express5;

const errorHandler: ErrorRequestHandler = (err: Error & { code?: string }, _req, res, _next) => {
  res.status(500).json({ code: err.code, message: err.message });
};

async function listen(app: Express): Promise<{ server: Server; port: number }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

describe.each([
  ['express 5', express5],
  ['express 4', express4],
])('%s', (_name, express) => {
  let dir: string;
  let lists: ManagedIpLists;
  let port: number;
  let server: Server;
  let hookPort: number;
  let hookServer: Server;
  let bareServer: Server;
  let barePort: number;
  let openPort: number;
  let openServer: Server;
  const blockedFile = () => join(dir, 'blocked.txt');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realip-access-express-'));
    await writeFile(blockedFile(), '# blocked clients\n127.0.0.77\n');
    lists = createIpLists({ blocked: { file: blockedFile() } }, { pollMs: 200, debounceMs: 20 });

    const options: ExpressAccessOptions = {
      lists,
      allow: [{ cidr: '127.0.0.0/8', except: ['127.0.0.128/25'] }],
      deny: ['127.0.0.66', { list: 'blocked' }],
      exempt: ['/healthz', '/static/'],
    };
    const app = express();
    app.use(clientIp(RESOLVER), ipFilter(options));
    app.get('/', (req, res) => {
      res.json({ access: req.realip.access });
    });
    app.get('/healthz', (_req, res) => {
      res.send('ok');
    });
    app.use(errorHandler);
    ({ server, port } = await listen(app));

    const hookApp = express();
    hookApp.use(
      clientIp(RESOLVER),
      ipFilter({
        deny: ['127.0.0.66'],
        onDenied: (req, res, _next, decision) => {
          res.status(451).type('text/plain').send(`no (${decision.rule}, ${req.realip.access?.reason})`);
        },
      }),
    );
    hookApp.get('/', (_req, res) => {
      res.send('hello');
    });
    ({ server: hookServer, port: hookPort } = await listen(hookApp));

    // ipFilter without the resolver stage: a programming error, reported through next(err).
    const bareApp = express();
    bareApp.use(ipFilter({ deny: ['127.0.0.66'] }));
    bareApp.get('/', (_req, res) => {
      res.send('hello');
    });
    bareApp.use(errorHandler);
    ({ server: bareServer, port: barePort } = await listen(bareApp));

    const openApp = express();
    openApp.use(
      clientIp(RESOLVER),
      ipFilter({ undeterminable: 'allow', exposeIp: true, exposeReason: true, deny: ['127.0.0.66'] }),
    );
    openApp.get('/', (req, res) => {
      res.json({ access: req.realip.access });
    });
    ({ server: openServer, port: openPort } = await listen(openApp));
  });

  afterAll(async () => {
    lists.close();
    await Promise.all(
      [server, hookServer, bareServer, openServer].map(
        (s) => new Promise((r) => s.close(() => r(undefined))),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  });

  it.each<[string, string, number, string | undefined]>([
    ['127.0.0.5', '/', 200, 'allow[0]'],
    ['127.0.0.127', '/', 200, 'allow[0]'],
    ['127.0.0.128', '/', 403, undefined],
    ['127.0.0.200', '/', 403, undefined],
    ['127.0.0.66', '/', 403, undefined],
    ['127.0.0.77', '/', 403, undefined],
    ['127.0.0.66', '/healthz', 200, undefined],
    ['127.0.0.66', '/healthz?x=1', 200, undefined],
    ['127.0.0.66', '/healthzz', 403, undefined],
    ['127.0.0.66', '/static/../', 403, undefined],
    ['127.0.0.66', '/static/%2e%2e/', 403, undefined],
    ['127.0.0.66', '/static/..%2f', 403, undefined],
    ['127.0.0.66', '/healthz;a=b', 403, undefined],
    ['127.0.0.66', '/no-such-route', 403, undefined],
    ['127.0.0.5', '/no-such-route', 404, undefined],
  ])('from %s GET %s -> %i', async (from, path, status, rule) => {
    const r = await send(port, from, path);
    expect(r.status).toBe(status);
    if (rule !== undefined)
      expect((JSON.parse(r.body) as { access: { rule: string } }).access.rule).toBe(rule);
  });

  it('a denial is a 403 problem+json without the client IP, not cacheable', async () => {
    const r = await send(port, '127.0.0.66', '/');
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(r.body)).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'Access from your network is not allowed.',
    });
    expect(r.body).not.toContain('127.0.0.66');
    const head = await send(port, '127.0.0.66', '/', 'HEAD');
    expect(head.status).toBe(403);
    expect(head.body).toBe('');
  });

  // Undeterminable: the trusted proxy forwards a request without X-Forwarded-For (hops-short).
  it('undeterminable clients are denied by default', async () => {
    const r = await send(port, PROXY, '/');
    expect(r.status).toBe(403);
  });

  it('undeterminable: allow, exposeIp and exposeReason', async () => {
    const ok = await send(openPort, PROXY, '/');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ access: { allowed: true, reason: 'undeterminable' } });
    const denied = await send(openPort, '127.0.0.66', '/');
    expect(JSON.parse(denied.body)).toMatchObject({ ip: '127.0.0.66', reason: 'deny-list', rule: 'deny[0]' });
  });

  it('the onDenied hook replaces the response', async () => {
    expect((await send(hookPort, '127.0.0.5', '/')).body).toBe('hello');
    const r = await send(hookPort, '127.0.0.66', '/');
    expect(r.status).toBe(451);
    expect(r.body).toBe('no (deny[0], deny-list)');
  });

  it('without the resolver stage, next(err) carries ERR_REALIP_NO_CONTEXT', async () => {
    const r = await send(barePort, '127.0.0.5', '/');
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body)).toEqual({
      code: 'ERR_REALIP_NO_CONTEXT',
      message: 'mount clientIp() before ipFilter()',
    });
  });

  it('hot reload of a list file is seen by requests', async () => {
    expect((await send(port, '127.0.0.78', '/')).status).toBe(200);
    const tmp = `${blockedFile()}.tmp`;
    await writeFile(tmp, '127.0.0.78\n');
    await rename(tmp, blockedFile());
    const deadline = Date.now() + 5000;
    while ((await send(port, '127.0.0.78', '/')).status !== 403) {
      if (Date.now() > deadline) throw new Error('reload not seen within 5 s');
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await send(port, '127.0.0.77', '/')).status).toBe(200);
  });

  it('invalid options throw at construction', () => {
    expect(() => ipFilter({ deny: ['127.0.0.0/33'] })).toThrow(ConfigError);
    expect(() => ipFilter({ deny: ['127.0.0.0/33'] })).toThrow('access.deny[0]: invalid prefix');
    expect(() => ipFilter({ onDenied: 'x' as never })).toThrow('access.onDenied');
  });
});
