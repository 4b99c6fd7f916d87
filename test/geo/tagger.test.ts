import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Reader } from 'maxmind';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RealipError } from '../../src/errors.js';
import { normaliseRecord } from '../../src/geo/schema.js';
import { openGeoTagger, type GeoOptions, type GeoTagger } from '../../src/geo/index.js';
import { writeMmdb } from '../support/mmdb-writer.js';
import {
  asnRecord,
  countryDb,
  daysAgo,
  flatCountry,
  maxmindCity,
  maxmindCountry,
  tempDir,
  writeDb,
} from './fixtures.js';

const tmp = tempDir();
const open: GeoTagger[] = [];
async function tagger(options: GeoOptions): Promise<GeoTagger> {
  const t = await openGeoTagger({ watch: false, ...options });
  open.push(t);
  return t;
}
afterAll(() => {
  open.forEach((t) => t.close());
  tmp.cleanup();
});

let countryPath: string;
let asnPath: string;
let cityPath: string;
beforeAll(() => {
  countryPath = writeDb(tmp.dir, 'country.mmdb', countryDb());
  asnPath = writeDb(tmp.dir, 'asn.mmdb', {
    databaseType: 'GeoLite2-ASN',
    buildEpoch: daysAgo(10),
    ipv4Aliases: true,
    networks: [
      { network: '8.8.8.0/24', data: asnRecord(15169, 'GOOGLE') },
      { network: '81.2.69.0/24', data: asnRecord(20712, 'Andrews & Arnold Ltd') },
      { network: '2001:db8::/32', data: asnRecord(64496, 'DOC-AS') },
      { network: '192.0.2.0/24', data: asnRecord(64497, 'ONLY-ASN') },
    ],
  });
  cityPath = writeDb(tmp.dir, 'city.mmdb', {
    databaseType: 'GeoLite2-City',
    buildEpoch: daysAgo(5),
    networks: [{ network: '81.2.69.0/24', data: maxmindCity('GB', 'EU', 'London', 51.5, -0.1) }],
  });
});

describe('input validation (the reader itself validates nothing)', () => {
  it.each([
    ['1.2.3', 'three parts: the bare reader answers for 1.2.3.undefined'],
    ['8.8.8.8:80', 'a port'],
    ['', 'empty'],
    ['not-an-ip', 'garbage'],
    ['[2001:db8::1]', 'brackets'],
    ['010.8.8.8', 'ambiguous octal'],
    ['8.8.8.8 ', 'trailing space'],
    ['2001:db8::1::', 'two gaps'],
  ])('%s (%s) is not looked up', async (ip) => {
    const t = await tagger({ databases: countryPath });
    expect(t.tag(ip)).toBeUndefined();
    expect(t.stats().invalid).toBe(1);
    expect(t.stats().cacheMisses + t.stats().cacheHits).toBe(0);
  });

  it('undefined and non-strings are invalid, not thrown', async () => {
    const t = await tagger({ databases: countryPath });
    expect(t.tag(undefined)).toBeUndefined();
    expect(t.tag(42 as unknown as string)).toBeUndefined();
    expect(t.stats().invalid).toBe(2);
  });

  it('IPv4-mapped IPv6 is looked up as IPv4, in any spelling', async () => {
    const t = await tagger({ databases: countryPath });
    for (const ip of ['8.8.8.8', '::ffff:8.8.8.8', '::FFFF:808:808', '0:0:0:0:0:ffff:8.8.8.8']) {
      expect(t.tag(ip)?.country, ip).toBe('US');
    }
  });

  it('tagParsed takes already-parsed words', async () => {
    const t = await tagger({ databases: countryPath });
    expect(t.tagParsed(4, Uint32Array.of(0x08080808, 0, 0, 0))?.country).toBe('US');
    expect(t.tagParsed(6, Uint32Array.of(0x20010db8, 0, 0, 1))?.country).toBe('FR');
    expect(t.tagParsed(0, new Uint32Array(4))).toBeUndefined();
  });
});

describe('special networks are tagged, not looked up', () => {
  it.each([
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'linklocal'],
    ['fe80::1', 'linklocal'],
    ['febf:ffff::1', 'linklocal'],
    ['fe80::1%eth0', 'linklocal'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['fc00::1', 'ula'],
    ['fd12:3456::1', 'ula'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
  ])('%s -> %s', async (ip, network) => {
    const t = await tagger({ databases: countryPath });
    expect(t.tag(ip)).toEqual({ network });
    expect(Object.isFrozen(t.tag(ip))).toBe(true);
    expect(t.stats().special).toBe(2);
  });

  it.each([
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.255.255',
    '11.0.0.0',
    '126.255.255.255',
    'fec0::1',
    'fe7f::1',
    'fbff::1',
    '::2',
    '::',
  ])('%s is not special', async (ip) => {
    const t = await tagger({ databases: countryPath });
    expect(t.tag(ip)?.network).toBeUndefined();
    expect(t.stats().special).toBe(0);
  });

  it('specialNetworks: false looks everything up (a database of your own ranges)', async () => {
    const buffer = writeMmdb({ networks: [{ network: '10.0.0.0/8', data: flatCountry('DE') }] });
    const t = await tagger({ databases: { buffer }, specialNetworks: false });
    expect(t.tag('10.1.2.3')).toEqual({ country: 'DE' });
    expect(t.tag('127.0.0.1')).toBeUndefined();
  });

  it('specialNetworks: a subset', async () => {
    const buffer = writeMmdb({ networks: [{ network: '10.0.0.0/8', data: flatCountry('DE') }] });
    const t = await tagger({ databases: { buffer }, specialNetworks: ['loopback'] });
    expect(t.tag('10.1.2.3')).toEqual({ country: 'DE' });
    expect(t.tag('127.0.0.1')).toEqual({ network: 'loopback' });
  });
});

describe('answers are copies, never the reader records', () => {
  it('mutating an answer throws (frozen) and cannot change later answers', async () => {
    const t = await tagger({ databases: countryPath });
    const a = t.tag('8.8.8.8')! as { country?: string };
    expect(() => {
      'use strict';
      a.country = 'XX';
    }).toThrow(TypeError);
    expect(t.tag('8.8.8.9')?.country).toBe('US');
  });

  it('the answer has no reader fields (names, geoname ids)', async () => {
    const t = await tagger({ databases: countryPath });
    expect(Object.keys(t.tag('81.2.69.1')!).sort()).toEqual([
      'continent',
      'country',
      'eu',
      'registeredCountry',
    ]);
  });
});

describe('several databases at once', () => {
  it('country + ASN are merged per address', async () => {
    const t = await tagger({ databases: [countryPath, asnPath] });
    expect(t.tag('8.8.8.8')).toEqual({
      country: 'US',
      continent: 'NA',
      registeredCountry: 'US',
      eu: false,
      asn: 15169,
      org: 'GOOGLE',
    });
    expect(t.tag('2001:db8::5')).toMatchObject({ country: 'FR', asn: 64496 });
    // Only one database knows it.
    expect(t.tag('192.0.2.1')).toEqual({ asn: 64497, org: 'ONLY-ASN' });
    expect(t.tag('198.51.100.1')).toMatchObject({ country: 'NL' });
    expect(t.tag('198.51.100.1')?.asn).toBeUndefined();
    expect(Object.isFrozen(t.tag('8.8.8.8'))).toBe(true);
    expect(t.tag('203.0.113.1')).toBeUndefined();
    expect(t.stats().notFound).toBe(1);
  });

  it('the first database that has a field wins; `fields` narrows a database', async () => {
    const first = await tagger({ databases: [cityPath, countryPath] });
    // City says GB for all of 81.2.69.0/24; the country database says DE for 81.2.69.192/28.
    expect(first.tag('81.2.69.200')?.country).toBe('GB');
    const narrowed = await tagger({
      databases: [{ path: cityPath, fields: ['city', 'location'] }, countryPath],
    });
    expect(narrowed.tag('81.2.69.200')).toMatchObject({ country: 'DE', city: 'London' });
    expect(narrowed.tag('81.2.69.200')?.timeZone).toBeUndefined();
  });

  it('exposes each database and the oldest build time', async () => {
    const t = await tagger({ databases: [countryPath, { path: asnPath, name: 'asn' }] });
    const dbs = t.databases();
    expect(dbs.map((d) => d.name)).toEqual(['country.mmdb', 'asn']);
    expect(dbs[0]!.metadata).toMatchObject({
      databaseType: 'GeoLite2-Country',
      ipVersion: 6,
      recordSize: 24,
      binaryFormat: '2.0',
    });
    expect(dbs[0]!.path).toBe(countryPath);
    expect(dbs[0]!.size).toBeGreaterThan(100);
    // The ASN fixture is 10 days old, the country one 3: the oldest is reported.
    expect(Math.abs(t.buildTime().getTime() - daysAgo(10) * 1000)).toBeLessThan(5000);
    expect(Math.abs(dbs[0]!.metadata.buildEpoch.getTime() - daysAgo(3) * 1000)).toBeLessThan(5000);
  });
});

describe('the record cache', () => {
  it('distinct addresses of one record share an entry', async () => {
    const t = await tagger({ databases: countryPath });
    for (let i = 0; i < 256; i++) expect(t.tag(`8.8.8.${i}`)?.country).toBe('US');
    expect(t.stats()).toMatchObject({ lookups: 256, cacheMisses: 1, cacheHits: 255 });
  });

  it('the address cache admits an address on its second sighting, then skips parse and walk', async () => {
    const t = await tagger({ databases: countryPath });
    expect(t.tag('8.8.8.8')?.country).toBe('US');
    expect(t.tag('8.8.8.8')?.country).toBe('US');
    expect(t.stats()).toMatchObject({ lookups: 2, addressHits: 0, cacheMisses: 1, cacheHits: 1 });
    expect(t.tag('8.8.8.8')?.country).toBe('US');
    expect(t.tag('203.0.113.9')).toBeUndefined();
    expect(t.tag('203.0.113.9')).toBeUndefined();
    expect(t.tag('203.0.113.9')).toBeUndefined();
    expect(t.stats()).toMatchObject({ lookups: 6, addressHits: 2, notFound: 2 });
    // Invalid input is never cached.
    for (let i = 0; i < 3; i++) expect(t.tag('1.2.3')).toBeUndefined();
    expect(t.stats()).toMatchObject({ invalid: 3, addressHits: 2 });
  });

  it('one-off addresses never enter the address cache', async () => {
    const t = await tagger({ databases: countryPath, cache: { addresses: 4 } });
    for (let i = 0; i < 200; i++) t.tag(`8.8.${i}.1`);
    for (let i = 0; i < 3; i++) t.tag('81.2.69.1');
    // Had the 200 one-offs been inserted, the 4-entry cache would still hold the last ones; the
    // repeated address is admitted and hit regardless.
    expect(t.stats().addressHits).toBe(1);
    for (let i = 196; i < 200; i++) t.tag(`8.8.${i}.1`);
    expect(t.stats().addressHits).toBe(1);
  });

  it('is bounded by `cache` and evicts', async () => {
    const networks = Array.from({ length: 64 }, (_, i) => ({
      network: `20.0.${i}.0/24`,
      data: { country_code: 'US', city: `c${i}` },
    }));
    const t = await tagger({ databases: { buffer: writeMmdb({ networks }) }, cache: 8 });
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 64; i++) expect(t.tag(`20.0.${i}.1`)?.city).toBe(`c${i}`);
    // 8 entries cannot hold 64 records cycled in order: every lookup misses.
    expect(t.stats().cacheMisses).toBe(128);
  });

  it('the direct-mapped front answers like no cache at all, on records that collide in it (property)', async () => {
    // 3,000 records through a 1,024-slot front (cache 4,096): collisions and refills every round.
    const networks = Array.from({ length: 3000 }, (_, i) => ({
      network: `30.${i >> 8}.${i & 255}.0/24`,
      data: { country_code: i % 2 === 0 ? 'US' : 'DE', city: `c${i}` },
    }));
    const buffer = writeMmdb({ networks });
    const cached = await tagger({ databases: { buffer }, cache: { records: 4096, addresses: 0 } });
    const plain = await tagger({ databases: { buffer }, cache: 0 });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3099 }), { minLength: 1, maxLength: 200 }), (ids) => {
        for (const i of ids) {
          const ip = `30.${i >> 8}.${i & 255}.7`;
          expect(cached.tag(ip)).toEqual(plain.tag(ip));
        }
      }),
      { numRuns: 200 },
    );
    expect(cached.stats().cacheHits).toBeGreaterThan(0);
  });

  it('cache: 0 gives the same answers without caching', async () => {
    const a = await tagger({ databases: [countryPath, asnPath], cache: 0 });
    const c = await tagger({ databases: [countryPath, asnPath], cache: { records: 0, addresses: 100 } });
    const b = await tagger({ databases: [countryPath, asnPath] });
    for (let round = 0; round < 3; round++) {
      for (const ip of ['8.8.8.8', '81.2.69.200', '2001:db8::1', '192.0.2.9', '1.1.1.1', '10.0.0.1']) {
        expect(a.tag(ip)).toEqual(b.tag(ip));
        expect(c.tag(ip)).toEqual(b.tag(ip));
      }
    }
    expect(a.stats()).toMatchObject({ cacheHits: 0, addressHits: 0 });
    expect(b.stats().addressHits).toBe(24); // 6 lookups per address, the first two admit it
    expect(c.stats()).toMatchObject({ cacheHits: 0, addressHits: 6 });
  });

  it('property: answers equal normalising the bare reader record, with and without the cache', async () => {
    const buf = writeMmdb({
      ...countryDb(),
      networks: Array.from({ length: 40 }, (_, i) => ({
        network: i % 2 ? `${i * 5}.${i}.0.0/${8 + (i % 17)}` : `2001:db8:${i.toString(16)}::/${33 + i}`,
        data:
          i % 3
            ? maxmindCountry(['US', 'GB', 'DE', 'FR', 'JP'][i % 5]!, 'EU')
            : asnRecord(64500 + i, `AS${i}`),
      })),
    });
    const bare = new Reader(buf);
    const cached = await tagger({ databases: { buffer: buf }, specialNetworks: false });
    const uncached = await tagger({ databases: { buffer: buf }, specialNetworks: false, cache: 0 });
    const v4 = fc
      .integer({ min: 0, max: 0xffffffff })
      .map((v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
    const v4near = fc
      .tuple(fc.integer({ min: 0, max: 39 }), fc.integer({ min: 0, max: 0xffff }))
      .map(([i, x]) => `${i * 5}.${i}.${x >> 8}.${x & 255}`);
    const v6near = fc
      .tuple(fc.integer({ min: 0, max: 39 }), fc.integer({ min: 0, max: 0xffff }))
      .map(([i, x]) => `2001:db8:${i.toString(16)}:${x.toString(16)}::1`);
    fc.assert(
      fc.property(fc.oneof(v4, v4near, v6near), (ip) => {
        const expected = normaliseRecord(bare.get(ip), ['en'], undefined);
        expect(cached.tag(ip)).toEqual(expected);
        expect(uncached.tag(ip)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('options are validated at once', () => {
  it.each([
    [{ databases: [] }, 'geo.databases: too few entries (got 0, expected at least 1'],
    [{ databases: [42] }, 'geo.databases[0]: wrong type (got 42, expected a path'],
    [
      { databases: { path: 'a', buffer: Buffer.alloc(1) } },
      'geo.databases: needs exactly one of path or buffer (got both)',
    ],
    [{ databases: ['a/x.mmdb', 'b/x.mmdb'] }, 'geo.databases[1].name: duplicate database name (got "x.mmdb"'],
    [
      { databases: [{ path: 'x', fields: ['country', 'planet'] }] },
      'geo.databases[0].fields[1]: not a valid value (got "planet"',
    ],
    [{ databases: [{ path: 'x', colour: 1 }] }, 'geo.databases[0].colour: unknown key'],
    [{ databases: 'x', cache: -1 }, 'geo.cache: too small (got -1, expected a number >= 0)'],
    [{ databases: 'x', cache: 1.5 }, 'geo.cache'],
    [{ databases: 'x', cache: { records: -2 } }, 'geo.cache.records: too small (got -2'],
    [{ databases: 'x', cache: { addresses: 'many' } }, 'geo.cache.addresses: wrong type (got "many"'],
    [{ databases: 'x', cache: { lines: 1 } }, 'geo.cache.lines: unknown key'],
    [{ databases: 'x', locales: [] }, 'geo.locales'],
    [
      { databases: 'x', specialNetworks: ['private', 'moon'] },
      'geo.specialNetworks[1]: not a valid value (got "moon"',
    ],
    [{ databases: 'x', watch: { pollMs: 0 } }, 'geo.watch.pollMs: too small (got 0'],
    [{ databases: 'x', watch: 'yes' }, 'geo.watch: wrong type (got "yes"'],
    [{ databases: 'x', allowOlder: 'no' }, 'geo.allowOlder'],
    [{ databases: 'x', onReload: 1 }, 'geo.onReload: expected a function'],
    [{ databases: 'x', databse: 'y' }, 'geo.databse: unknown key'],
    [{ databases: 'x', metrics: {} }, 'geo.metrics: expected an object with geoDatabase'],
  ])('%j', async (options, message) => {
    const error = await openGeoTagger(options as unknown as GeoOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(message);
  });

  it('reports every problem, not just the first', async () => {
    const error = (await openGeoTagger({ databases: [], cache: -1, locales: [] } as GeoOptions).catch(
      (e: unknown) => e,
    )) as ConfigError;
    expect(error.issues.map((i) => i.path)).toEqual(['geo.databases', 'geo.cache', 'geo.locales']);
  });
});

describe('opening a database that cannot be used fails with a code', () => {
  const cases: [string, () => Buffer | string, string][] = [
    ['missing file', () => join(tmp.dir, 'nope.mmdb'), 'ERR_REALIP_GEO_READ'],
    ['empty file', () => Buffer.alloc(0), 'ERR_REALIP_GEO_CORRUPT'],
    [
      'random bytes',
      () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
      'ERR_REALIP_GEO_CORRUPT',
    ],
    ['gzip-compressed', () => gzipSync(writeMmdb(countryDb())), 'ERR_REALIP_GEO_CORRUPT'],
    ['truncated (first half)', () => writeMmdb(countryDb()).subarray(0, 1500), 'ERR_REALIP_GEO_CORRUPT'],
    [
      'tree cut out (metadata intact)',
      () => {
        const full = writeMmdb(countryDb());
        return Buffer.concat([full.subarray(0, 600), full.subarray(full.length - 300)]);
      },
      'ERR_REALIP_GEO_CORRUPT',
    ],
    [
      'a tree record pointing past the data section',
      () => {
        const b = Buffer.from(writeMmdb(countryDb()));
        b.writeUIntBE(0xfffff0, 0, 3);
        return b;
      },
      'ERR_REALIP_GEO_CORRUPT',
    ],
    [
      'build epoch in the future',
      () => writeMmdb(countryDb({ buildEpoch: Math.floor(Date.now() / 1000) + 7 * 86_400 })),
      'ERR_REALIP_GEO_CORRUPT',
    ],
    [
      'no field realip understands',
      () => writeMmdb({ networks: [{ network: '1.0.0.0/8', data: { colour: 'blue' } }] }),
      'ERR_REALIP_GEO_SCHEMA',
    ],
  ];
  it.each(cases)('%s -> %s', async (_name, make, code) => {
    const input = make();
    const databases = typeof input === 'string' ? input : { buffer: input };
    const error = await openGeoTagger({ databases, watch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RealipError);
    expect((error as RealipError).code).toBe(code);
    expect((error as RealipError).help).toBe(`docs/errors.md#${code.toLowerCase().replace(/_/g, '-')}`);
  });

  it('type: checks database_type at open (string or RegExp)', async () => {
    const wrong = await openGeoTagger({
      databases: { path: asnPath, type: 'GeoLite2-Country' },
      watch: false,
    }).catch((e: unknown) => e);
    expect((wrong as RealipError).code).toBe('ERR_REALIP_GEO_TYPE');
    const ok = await tagger({ databases: { path: countryPath, type: /Country/ } });
    expect(ok.tag('8.8.8.8')?.country).toBe('US');
  });

  it('a corrupt record the sample did not cover answers not found and is counted', async () => {
    // 300 distinct records: verification samples 64 of them; corrupt the last one's bytes.
    const networks = Array.from({ length: 300 }, (_, i) => ({
      network: `30.${i >> 8}.${i & 255}.0/24`,
      data: { country_code: 'US', city: `city-${String(i).padStart(3, '0')}` },
    }));
    const buf = Buffer.from(writeMmdb({ networks }));
    const at = buf.indexOf('city-299');
    // Turn the string's control byte into an invalid extended type.
    buf[at - 1] = 0x00;
    buf[at] = 0x00;
    const t = await tagger({ databases: { buffer: buf } });
    expect(t.tag('30.1.43.1')).toBeUndefined();
    expect(t.stats().decodeErrors).toBe(1);
    expect(t.tag('30.0.1.1')?.city).toBe('city-001');
  });

  it('a file written to disk can be opened by path', async () => {
    const p = join(tmp.dir, 'by-path.mmdb');
    writeFileSync(p, writeMmdb(countryDb()));
    const t = await tagger({ databases: p });
    expect(t.tag('81.2.69.1')?.country).toBe('GB');
  });
});
