/**
 * Every supported schema, end to end: a fixture database in the product's record shape is written,
 * opened through openGeoTagger, and the normalised answer compared with what the product means.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { normaliseRecord } from '../../src/geo/schema.js';
import { openGeoTagger, type GeoTagger } from '../../src/geo/index.js';
import { writeMmdb, type MmdbNetwork } from '../support/mmdb-writer.js';
import {
  asnRecord,
  daysAgo,
  dbipCity,
  dbipCountry,
  flatCity,
  flatCountry,
  maxmindCity,
  maxmindCountry,
} from './fixtures.js';

const open: GeoTagger[] = [];
afterAll(() => open.forEach((t) => t.close()));

async function taggerFor(
  databaseType: string,
  networks: MmdbNetwork[],
  ipVersion: 4 | 6 = 6,
  locales?: string[],
) {
  const buffer = writeMmdb({
    databaseType,
    networks,
    ipVersion,
    buildEpoch: daysAgo(1),
    ipv4Aliases: ipVersion === 6,
  });
  const t = await openGeoTagger({
    databases: { buffer, name: databaseType },
    ...(locales ? { locales } : {}),
  });
  open.push(t);
  return t;
}

describe.each([
  {
    schema: 'GeoLite2-Country (MaxMind)',
    type: 'GeoLite2-Country',
    data: maxmindCountry('DE', 'EU', 'GB'),
    expected: { country: 'DE', continent: 'EU', registeredCountry: 'GB', eu: true },
  },
  {
    schema: 'GeoIP2-City (MaxMind)',
    type: 'GeoIP2-City',
    data: maxmindCity('GB', 'EU', 'London', 51.5142, -0.0931),
    expected: {
      country: 'GB',
      continent: 'EU',
      registeredCountry: 'GB',
      city: 'London',
      region: 'ENG',
      location: { latitude: 51.5142, longitude: -0.0931, accuracyRadius: 100 },
      timeZone: 'Europe/London',
    },
  },
  {
    schema: 'GeoLite2-ASN (MaxMind)',
    type: 'GeoLite2-ASN',
    data: asnRecord(15169, 'GOOGLE'),
    expected: { asn: 15169, org: 'GOOGLE' },
  },
  {
    schema: 'GeoIP2-Enterprise traits (MaxMind)',
    type: 'GeoIP2-Enterprise',
    data: {
      ...(maxmindCountry('US', 'NA') as object),
      traits: {
        autonomous_system_number: 7922,
        autonomous_system_organization: 'COMCAST',
        is_anycast: false,
      },
    },
    expected: {
      country: 'US',
      continent: 'NA',
      registeredCountry: 'US',
      eu: false,
      asn: 7922,
      org: 'COMCAST',
    },
  },
  {
    schema: 'dbip-country-lite (DB-IP)',
    type: 'DBIP-Country-Lite',
    data: dbipCountry('FR', 'EU'),
    expected: { country: 'FR', continent: 'EU', eu: true },
  },
  {
    schema: 'dbip-city-lite (DB-IP)',
    type: 'DBIP-City-Lite',
    data: dbipCity('DE', 'EU', 'Frankfurt am Main', 50.1109, 8.6821),
    expected: {
      country: 'DE',
      continent: 'EU',
      eu: true,
      city: 'Frankfurt am Main',
      region: 'Hesse',
      location: { latitude: 50.1109, longitude: 8.6821 },
    },
  },
  {
    schema: 'dbip-asn-lite (DB-IP)',
    type: 'DBIP-ASN-Lite (compat=GeoLite2-ASN)',
    data: asnRecord(3320, 'Deutsche Telekom AG'),
    expected: { asn: 3320, org: 'Deutsche Telekom AG' },
  },
  {
    schema: 'ip-location-db country (flat country_code)',
    type: 'country ipvAll',
    data: flatCountry('US'),
    expected: { country: 'US' },
  },
  {
    schema: 'ip-location-db city (flat)',
    type: 'city ipvAll',
    data: flatCity('US', 'New York', 40.7128, -74.006),
    expected: {
      country: 'US',
      city: 'New York',
      region: 'New York',
      location: { latitude: 40.7128, longitude: -74.006 },
      timeZone: 'America/New_York',
    },
  },
  {
    schema: 'ip-location-db asn (flat)',
    type: 'asn ipvAll',
    data: asnRecord(13335, 'CLOUDFLARENET'),
    expected: { asn: 13335, org: 'CLOUDFLARENET' },
  },
])('$schema', ({ type, data, expected }) => {
  it('normalises the record (IPv4, IPv6, IPv4-mapped) into a frozen copy', async () => {
    const t = await taggerFor(type, [
      { network: '203.0.113.0/24', data },
      { network: '2001:db8:ab::/48', data },
    ]);
    for (const ip of ['203.0.113.7', '2001:db8:ab::1', '::ffff:203.0.113.7', '::FFFF:cb00:7107']) {
      const g = t.tag(ip);
      expect(g, ip).toEqual(expected);
      expect(Object.isFrozen(g)).toBe(true);
      if (g?.location) expect(Object.isFrozen(g.location)).toBe(true);
    }
    expect(t.tag('203.0.114.1')).toBeUndefined();
    expect(t.databases()[0]!.metadata.databaseType).toBe(type);
  });

  it('also from an IPv4-only tree', async () => {
    const t = await taggerFor(type, [{ network: '203.0.113.0/24', data }], 4);
    expect(t.tag('203.0.113.200')).toEqual(expected);
    expect(t.tag('::ffff:203.0.113.200')).toEqual(expected);
    // IPv6 is never walked in an IPv4 tree (the bare reader answers for an unrelated IPv4 network).
    expect(t.tag('cb00:7100::1')).toBeUndefined();
  });
});

describe('normaliseRecord edge cases', () => {
  const all = undefined;
  it.each([
    ['lower-case country is upper-cased', { country_code: 'us' }, { country: 'US' }],
    ['ZZ (unknown) is dropped', { country_code: 'ZZ' }, undefined],
    ['XX is dropped', { country: { iso_code: 'XX' } }, undefined],
    ['three letters are dropped', { country_code: 'USA' }, undefined],
    ['non-letters are dropped', { country_code: '1A' }, undefined],
    [
      'registered_country is never the country',
      { registered_country: { iso_code: 'GB' } },
      { registeredCountry: 'GB' },
    ],
    ['bigint ASN', { autonomous_system_number: 64512n }, { asn: 64512 }],
    ['ASN 0 is dropped', { autonomous_system_number: 0 }, undefined],
    ['ASN as string is dropped', { autonomous_system_number: '15169' }, undefined],
    ['latitude out of range drops location', { latitude: 123, longitude: 1 }, undefined],
    ['latitude without longitude drops location', { location: { latitude: 1 } }, undefined],
    ['empty strings are dropped', { city: '', autonomous_system_organization: '' }, undefined],
    ['not a map', 'US', undefined],
    ['array', ['US'], undefined],
    ['null', null, undefined],
    ['unknown fields only', { foo: 1 }, undefined],
  ])('%s', (_name, record, expected) => {
    expect(normaliseRecord(record, ['en'], all)).toEqual(expected);
  });

  it('picks the first available locale', () => {
    const rec = { city: { names: { de: 'München', en: 'Munich' } } };
    expect(normaliseRecord(rec, ['fr', 'de', 'en'], all)).toEqual({ city: 'München' });
    expect(normaliseRecord(rec, ['fr'], all)).toBeUndefined();
  });

  it('fields limit what a database contributes', () => {
    const rec = {
      country: { iso_code: 'GB' },
      autonomous_system_number: 1,
      city: { names: { en: 'London' } },
    };
    expect(normaliseRecord(rec, ['en'], new Set(['asn']))).toEqual({ asn: 1 });
  });

  it('locales reach city names through the tagger', async () => {
    const t = await taggerFor(
      'GeoIP2-City',
      [{ network: '203.0.113.0/24', data: maxmindCity('GB', 'EU', 'London', 51.5, -0.1) }],
      6,
      ['de', 'en'],
    );
    expect(t.tag('203.0.113.1')?.city).toBe('London (de)');
  });
});
