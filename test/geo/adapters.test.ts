/**
 * The Express and Fastify geo stages through real HTTP on 127.0.0.1, behind the real resolver stage:
 * the test client plays a trusted proxy (127.0.0.1, one hop) that names the client in
 * X-Forwarded-For, or names none (the client is undeterminable); the geo stage must read only
 * `realip.resolution`.
 */
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import express4 from 'express4';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { clientIp as expressClientIp, geoTag as expressGeoTag } from '../../src/express/index.js';
import { clientIp as fastifyClientIp, geoTag as fastifyGeoTag } from '../../src/fastify/index.js';
import { openGeoTagger, type GeoTagger } from '../../src/geo/index.js';
import type { ResolverOptions } from '../../src/types.js';
import { writeMmdb } from '../support/mmdb-writer.js';
import { asnRecord, countryDb, daysAgo, tempDir, writeDb } from './fixtures.js';

const tmp = tempDir();
let countryPath: string;
let asnPath: string;
let tagger: GeoTagger;
beforeAll(async () => {
  countryPath = writeDb(tmp.dir, 'country.mmdb', countryDb());
  asnPath = writeDb(tmp.dir, 'asn.mmdb', {
    databaseType: 'GeoLite2-ASN',
    buildEpoch: daysAgo(2),
    networks: [{ network: '8.8.8.0/24', data: asnRecord(15169, 'GOOGLE') }],
  });
  tagger = await openGeoTagger({ databases: [countryPath, asnPath], watch: false });
});
afterAll(() => {
  tagger.close();
  tmp.cleanup();
});

/**
 * The real resolver's options: the test client (127.0.0.1) is a trusted proxy one hop away, so the
 * client is the X-Forwarded-For entry, and a request without one has no client IP (hops-short).
 */
const RESOLVER: ResolverOptions = { trustedProxies: ['127.0.0.1'], hops: 1, onWarning: () => {} };

/** A request the proxy forwards for `client` (`'none'` or absent: the proxy names no client). */
async function get(base: string, path: string, client?: string): Promise<{ status: number; body: unknown }> {
  const forwarded = client !== undefined && client !== 'none';
  const res = await fetch(base + path, { headers: forwarded ? { 'x-forwarded-for': client } : {} });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe.each([
  ['Express 5', express],
  ['Express 4', express4 as unknown as typeof express],
])('%s geoTag', (_name, makeApp) => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const app = makeApp();
    app.get('/no-context', expressGeoTag(tagger), (_req, res) => {
      res.json({ reached: true });
    });
    app.use(expressClientIp(RESOLVER));
    app.use(expressGeoTag(tagger));
    app.get('/geo', (req, res) => {
      res.json({ geo: req.realip.geo ?? null });
    });
    app.use((err: Error & { code?: string }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).json({ code: err.code });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each([
    [
      '8.8.8.8',
      { country: 'US', continent: 'NA', registeredCountry: 'US', eu: false, asn: 15169, org: 'GOOGLE' },
    ],
    ['2001:db8::1', { country: 'FR', continent: 'EU', registeredCountry: 'FR', eu: true }],
    ['10.1.2.3', { network: 'private' }],
    ['203.0.113.1', null],
    ['none', null],
  ])('%s', async (client, geo) => {
    expect(await get(base, '/geo', client)).toEqual({ status: 200, body: { geo } });
  });

  it('without clientIp() it fails with ERR_REALIP_NO_CONTEXT', async () => {
    expect(await get(base, '/no-context', '8.8.8.8')).toEqual({
      status: 500,
      body: { code: 'ERR_REALIP_NO_CONTEXT' },
    });
  });

  it('rejects what is not an opened tagger', () => {
    expect(() => expressGeoTag(openGeoTagger({ databases: countryPath, watch: false }) as never)).toThrow(
      /await openGeoTagger/,
    );
    expect(() => expressGeoTag({} as never)).toThrow(ConfigError);
  });
});

describe('Fastify geoTag', () => {
  async function start(register: (app: FastifyInstance) => Promise<void>) {
    const app = Fastify();
    await register(app);
    app.get('/geo', async (request) => ({ geo: request.realip.geo ?? null }));
    app.setNotFoundHandler(async (request, reply) =>
      reply.code(404).send({ geo: request.realip.geo ?? null }),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
  }

  it('with an opened tagger; 404s are tagged too', async () => {
    const { app, base } = await start(async (a) => {
      await a.register(fastifyClientIp, RESOLVER);
      await a.register(fastifyGeoTag, { tagger });
    });
    try {
      expect(await get(base, '/geo', '8.8.8.8')).toMatchObject({
        status: 200,
        body: { geo: { country: 'US', asn: 15169 } },
      });
      expect(await get(base, '/missing', '81.2.69.1')).toMatchObject({
        status: 404,
        body: { geo: { country: 'GB' } },
      });
      expect(await get(base, '/geo', '::1')).toEqual({ status: 200, body: { geo: { network: 'loopback' } } });
      expect(await get(base, '/geo')).toEqual({ status: 200, body: { geo: null } });
      expect(app.realipGeo).toBe(tagger);
    } finally {
      await app.close();
    }
    // Not owned: still usable after the app closed.
    expect(tagger.tag('8.8.8.8')?.country).toBe('US');
  });

  it('opens the databases during registration and closes them with the app', async () => {
    const { app, base } = await start(async (a) => {
      await a.register(fastifyClientIp, RESOLVER);
      await a.register(fastifyGeoTag, { databases: [countryPath, asnPath], watch: { pollMs: 50 } });
    });
    try {
      expect(await get(base, '/geo', '::ffff:8.8.8.8')).toMatchObject({
        body: { geo: { country: 'US', org: 'GOOGLE' } },
      });
      expect(app.realipGeo.databases().map((d) => d.name)).toEqual(['country.mmdb', 'asn.mmdb']);
    } finally {
      await app.close();
    }
    // Owned: closed with the app, so a newer file is no longer picked up.
    writeFileSync(countryPath, writeMmdb(countryDb({ buildEpoch: daysAgo(0) }, 'BE')));
    await new Promise((r) => setTimeout(r, 300));
    expect(app.realipGeo.stats().reloads).toBe(0);
    expect(app.realipGeo.tag('198.51.100.1')?.country).toBe('NL');
  });

  it('a bad database fails registration with its code', async () => {
    const app = Fastify();
    await app.register(fastifyClientIp, RESOLVER);
    app.register(fastifyGeoTag, { databases: `${tmp.dir}/missing.mmdb` });
    await expect(app.ready()).rejects.toMatchObject({ code: 'ERR_REALIP_GEO_READ' });
    await app.close();
  });

  it('requires the client-IP plugin', async () => {
    const app = Fastify();
    app.register(fastifyGeoTag, { tagger });
    await expect(app.ready()).rejects.toThrow(/realip-client-ip/);
    await app.close();
  });

  it('rejects a tagger mixed with options', async () => {
    const app = Fastify();
    await app.register(fastifyClientIp, RESOLVER);
    app.register(fastifyGeoTag, { tagger, cache: 5 } as never);
    await expect(app.ready()).rejects.toThrow(ConfigError);
    await app.close();
  });
});
