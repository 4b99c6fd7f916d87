/**
 * The documented order, end to end through real HTTP with the real stages:
 * clientIp (X-Forwarded-For from a trusted 127.0.0.1 peer) -> geoTag -> ipFilter with country rules.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientIp as expressClientIp,
  geoTag as expressGeoTag,
  ipFilter as expressIpFilter,
} from '../../src/express/index.js';
import {
  clientIp as fastifyClientIp,
  geoTag as fastifyGeoTag,
  ipFilter as fastifyIpFilter,
} from '../../src/fastify/index.js';
import { openGeoTagger, type GeoTagger } from '../../src/geo/index.js';
import { countryDb, tempDir, writeDb } from './fixtures.js';

const tmp = tempDir();
let path: string;
let tagger: GeoTagger;
beforeAll(async () => {
  path = writeDb(tmp.dir, 'country.mmdb', countryDb());
  tagger = await openGeoTagger({ databases: path, watch: false });
});
afterAll(() => {
  tagger.close();
  tmp.cleanup();
});

async function get(base: string, xff: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}/`, { headers: { 'x-forwarded-for': xff } });
  return { status: res.status, body: await res.text() };
}

const CASES = [
  ['8.8.8.8', 403], // US: denied by country
  ['81.2.69.1', 200], // GB
  ['203.0.113.1', 403], // not in the database: unknown country, denied by default
  ['10.0.0.7', 200], // private: known to have no country, not "unknown"
  ['::ffff:8.8.8.8', 403], // IPv4-mapped is IPv4
] as const;

describe('Express: clientIp -> geoTag -> ipFilter', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const app = express();
    app.use(expressClientIp({ trustedProxies: ['127.0.0.1'] }));
    app.use(expressGeoTag(tagger));
    app.use(expressIpFilter({ countries: { deny: ['US'] } }));
    app.get('/', (req, res) => {
      res.json({
        ip: req.clientIp,
        country: req.realip.geo?.country ?? null,
        network: req.realip.geo?.network ?? null,
      });
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it.each(CASES)('%s -> %i', async (xff, status) => {
    const res = await get(base, xff);
    expect(res.status).toBe(status);
    if (xff === '81.2.69.1')
      expect(JSON.parse(res.body)).toEqual({ ip: '81.2.69.1', country: 'GB', network: null });
    if (xff === '10.0.0.7')
      expect(JSON.parse(res.body)).toEqual({ ip: '10.0.0.7', country: null, network: 'private' });
  });
});

describe('Fastify: clientIp -> geoTag -> ipFilter', () => {
  const app = Fastify();
  let base: string;
  beforeAll(async () => {
    await app.register(fastifyClientIp, { trustedProxies: ['127.0.0.1'] });
    await app.register(fastifyGeoTag, { tagger });
    await app.register(fastifyIpFilter, { countries: { deny: ['US'] } });
    app.get('/', async (request) => ({ ip: request.clientIp, country: request.realip.geo?.country ?? null }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  it.each(CASES)('%s -> %i', async (xff, status) => {
    expect((await get(base, xff)).status).toBe(status);
  });
});
