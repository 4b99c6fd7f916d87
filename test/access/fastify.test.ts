/**
 * The ipFilter plugin on Fastify 5 through real HTTP, with clients bound to 127.0.0.x source
 * addresses, behind the real resolver plugin (`clientIp` with support.ts's RESOLVER: 127.0.0.1 is
 * a trusted proxy, one hop; other 127.0.0.x sources are the clients themselves). Country rules see
 * the real geo stage (`geoTag`) over a fixture database, for clients the proxy forwards.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createIpLists } from '../../src/index.js';
import { clientIp, geoTag, ipFilter, type FastifyAccessOptions } from '../../src/fastify/index.js';
import { openGeoTagger, type GeoTagger } from '../../src/geo/index.js';
import { countryDb, tempDir, writeDb } from '../geo/fixtures.js';
import { forwardedFor, PROXY, RESOLVER, send } from './support.js';

/** Forwarded clients the fixture database places in Russia and in Germany. */
const RU_CLIENT = '198.51.100.7';
const DE_CLIENT = '81.2.69.193';

async function start(
  options: FastifyAccessOptions,
  geo?: GeoTagger,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify();
  await app.register(clientIp, RESOLVER);
  if (geo !== undefined) await app.register(geoTag, { tagger: geo });
  await app.register(ipFilter, options);
  app.get('/', (request) => ({ access: request.realip.access }));
  app.get('/healthz', () => 'ok');
  // A route in an encapsulated child context is filtered too (the hook is on the root).
  await app.register(
    (child, _opts, done) => {
      child.get('/inner', () => 'inner');
      done();
    },
    { prefix: '/child' },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as AddressInfo).port };
}

describe('fastify ipFilter plugin', () => {
  const lists = createIpLists({ blocked: ['127.0.0.77', '2001:db8::/32'] });
  const tmp = tempDir('realip-access-fastify-');
  let geo: GeoTagger;
  let main: { app: FastifyInstance; port: number };
  let hook: { app: FastifyInstance; port: number };
  let asyncHook: { app: FastifyInstance; port: number };
  let silentHook: { app: FastifyInstance; port: number };
  let open: { app: FastifyInstance; port: number };

  beforeAll(async () => {
    // The fixture's marker network 198.51.100.0/24 is Russia here; 81.2.69.192/28 is Germany.
    geo = await openGeoTagger({
      databases: writeDb(tmp.dir, 'country.mmdb', countryDb({}, 'RU')),
      watch: false,
    });
    main = await start(
      {
        lists,
        // allow[1] and allow[2] admit the forwarded clients, so only their country decides.
        allow: [{ cidr: '127.0.0.0/8', except: ['127.0.0.128/25'] }, `${RU_CLIENT}/32`, `${DE_CLIENT}/32`],
        deny: ['127.0.0.66', { list: 'blocked' }],
        countries: { deny: ['RU'] },
        unknownCountry: 'allow',
        exempt: ['/healthz'],
      },
      geo,
    );
    hook = await start({
      deny: ['127.0.0.66'],
      onDenied: (request, reply, decision) => {
        reply.code(451).type('text/plain').send(`no (${decision.rule}, ${request.realip.access?.reason})`);
      },
    });
    asyncHook = await start({
      deny: ['127.0.0.66'],
      onDenied: async (_request, reply) => {
        await new Promise((r) => setTimeout(r, 10));
        return reply.code(429).send({ custom: true });
      },
    });
    silentHook = await start({
      deny: ['127.0.0.66'],
      onDenied: () => {
        // logs only: the default 403 follows
      },
    });
    open = await start({ undeterminable: 'allow', exposeIp: true, deny: ['127.0.0.66'] });
  });

  afterAll(async () => {
    await Promise.all([main, hook, asyncHook, silentHook, open].map((s) => s.app.close()));
    geo.close();
    tmp.cleanup();
  });

  it.each<[string, string, number, Record<string, string>?]>([
    ['127.0.0.5', '/', 200],
    ['127.0.0.128', '/', 403],
    ['127.0.0.66', '/', 403],
    ['127.0.0.77', '/', 403],
    ['127.0.0.66', '/healthz', 200],
    ['127.0.0.66', '/healthz?probe=1', 200],
    ['127.0.0.66', '/healthz/', 403],
    ['127.0.0.66', '/healthz/../', 403],
    ['127.0.0.66', '/%2e%2e/healthz', 403],
    // 404s are filtered too: a denied client learns nothing about which routes exist
    ['127.0.0.66', '/no-such-route', 403],
    ['127.0.0.5', '/no-such-route', 404],
    ['127.0.0.66', '/child/inner', 403],
    ['127.0.0.5', '/child/inner', 200],
    // countries from the geo stage, for clients forwarded by the trusted proxy
    [PROXY, '/', 403, forwardedFor(RU_CLIENT)],
    [PROXY, '/', 200, forwardedFor(DE_CLIENT)],
    // the proxy names no client: undeterminable
    [PROXY, '/', 403],
  ])('from %s GET %s -> %i %j', async (from, path, status, headers) => {
    const r = await send(main.port, from, path, 'GET', headers ?? {});
    expect(r.status).toBe(status);
  });

  it('sets request.realip.access for the handler', async () => {
    const r = await send(main.port, '127.0.0.5', '/');
    expect(JSON.parse(r.body)).toEqual({ access: { allowed: true, reason: 'allow-list', rule: 'allow[0]' } });
  });

  it('a denial is a 403 problem+json without the client IP, not cacheable', async () => {
    const r = await send(main.port, '127.0.0.66', '/');
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(r.body)).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'Access from your network is not allowed.',
    });
  });

  it('exposeIp puts the IP in the body; undeterminable: allow admits', async () => {
    expect(JSON.parse((await send(open.port, '127.0.0.66', '/')).body)).toMatchObject({ ip: '127.0.0.66' });
    const r = await send(open.port, PROXY, '/');
    expect(r.status).toBe(200);
  });

  it('the onDenied hook replaces the response (sync and async); a hook that sends nothing gets the default', async () => {
    const r = await send(hook.port, '127.0.0.66', '/');
    expect([r.status, r.body]).toEqual([451, 'no (deny[0], deny-list)']);
    const a = await send(asyncHook.port, '127.0.0.66', '/');
    expect([a.status, a.body]).toEqual([429, '{"custom":true}']);
    const s = await send(silentHook.port, '127.0.0.66', '/');
    expect(s.status).toBe(403);
    expect((await send(hook.port, '127.0.0.5', '/')).status).toBe(200);
  });

  it('exposes the compiled policy as fastify.realipAccess', () => {
    expect(main.app.realipAccess.decide('127.0.0.66', undefined).rule).toBe('deny[0]');
  });

  it('needs the realip-client-ip plugin', async () => {
    const app = Fastify();
    await expect(app.register(ipFilter, { deny: ['10.0.0.0/8'] }).ready()).rejects.toThrow(
      /realip-client-ip/,
    );
    await app.close();
  });

  it('invalid options fail registration with a ConfigError', async () => {
    const app = Fastify();
    await app.register(clientIp, RESOLVER);
    let error: unknown;
    try {
      await app.register(ipFilter, { allow: ['10.0.0.0/8', { list: 'nope' }] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('access.allow[1].list: unknown list (got "nope"');
    await app.close();
  });
});
