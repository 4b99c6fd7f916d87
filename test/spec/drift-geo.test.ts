import { describe, expect, it } from 'vitest';
import { normaliseGeoOptions } from '../../src/geo/tagger.js';
import { GEO_FIELDS, geoDatabaseSpec, geoSpec } from '../../src/geo/spec.js';
import { driftSuite, factoryVerdict, policyVerdict, type DriftStage } from './drift.js';

const geo: DriftStage = {
  name: 'geo',
  spec: geoSpec,
  base: {
    databases: ['a.mmdb'],
    cache: { records: 100, addresses: 100 },
    locales: ['en'],
    specialNetworks: ['private'],
    watch: { pollMs: 1000, debounceMs: 50 },
    allowOlder: false,
    maxClockSkewMs: 1000,
  },
  skip: ['onReload', 'onWarning', 'metrics'],
  // normaliseGeoOptions is openGeoTagger's validation, without reading the files.
  factory: (o) => normaliseGeoOptions(o as never),
  policy: (o) => ({ version: 1, geo: o }),
  factoryPath: 'geo',
  policyPath: 'geo',
};
driftSuite(geo);

const database: DriftStage = {
  name: 'geo.databases[]',
  spec: geoDatabaseSpec,
  base: { path: 'a.mmdb', name: 'a', fields: ['country', 'asn'], type: 'GeoLite2-Country' },
  skip: ['buffer'],
  factory: (o) => normaliseGeoOptions({ databases: [o] } as never),
  policy: (o) => ({ version: 1, geo: { databases: [o] } }),
  factoryPath: 'geo.databases[0]',
  policyPath: 'geo.databases[0]',
};
driftSuite(database);

/** Both verdicts for the geo options `o`: undefined (accepted) or the paths named. */
const both = (o: Record<string, unknown>) => ({
  factory: factoryVerdict(geo, o),
  policy: policyVerdict(geo, o),
});

describe('geo: values the two copies used to judge differently get one verdict', () => {
  it('every GeoInfo field may be picked (the policy knew 6 of the 10)', () => {
    for (const f of GEO_FIELDS) {
      expect(both({ databases: [{ path: 'a.mmdb', fields: [f] }] })).toEqual({
        factory: undefined,
        policy: undefined,
      });
    }
  });

  it('at most 8 databases (the factory had no bound)', () => {
    const dbs = (n: number) => Array.from({ length: n }, (_, i) => `db${i}.mmdb`);
    expect(both({ databases: dbs(8) })).toEqual({ factory: undefined, policy: undefined });
    expect(both({ databases: dbs(9) })).toEqual({ factory: ['geo.databases'], policy: ['geo.databases'] });
  });

  it('duplicate database names (the policy only failed when the stack was built)', () => {
    expect(both({ databases: ['a/x.mmdb', 'b/x.mmdb'] })).toEqual({
      factory: ['geo.databases[1].name'],
      policy: ['geo.databases[1].name'],
    });
    expect(both({ databases: ['a/x.mmdb', { path: 'b/x.mmdb', name: 'x2' }] })).toEqual({
      factory: undefined,
      policy: undefined,
    });
  });

  it('watch takes { pollMs, debounceMs } both ways (the policy took a boolean only)', () => {
    expect(both({ databases: ['a.mmdb'], watch: { pollMs: 5000 } })).toEqual({
      factory: undefined,
      policy: undefined,
    });
  });

  it.each([
    ['watch.pollMs', { watch: { pollMs: 1.5 } }],
    ['watch.debounceMs', { watch: { debounceMs: 2 ** 31 } }],
    ['maxClockSkewMs', { maxClockSkewMs: 1.5 }],
  ])('%s: whole milliseconds, a timer at most 2^31-1 (the factory took any positive number)', (path, o) => {
    expect(both({ databases: ['a.mmdb'], ...o })).toEqual({
      factory: [`geo.${path}`],
      policy: [`geo.${path}`],
    });
  });

  it.each([
    [0, true],
    [10_000_000, true],
    [-1, false],
    [10_000_001, false],
    [2.5, false],
  ])('cache: %j (a number sets both caches)', (cache, ok) => {
    const v = both({ databases: ['a.mmdb'], cache });
    expect(v).toEqual(
      ok ? { factory: undefined, policy: undefined } : { factory: ['geo.cache'], policy: ['geo.cache'] },
    );
  });

  it.each([
    ['specialNetworks', ['moon'], 'geo.specialNetworks[0]'],
    ['specialNetworks', 'yes', 'geo.specialNetworks'],
    ['databases', [], 'geo.databases'],
    ['databases', [{ path: 'a.mmdb', fields: [] }], 'geo.databases[0].fields'],
  ])('%s = %j is rejected at the same path both ways', (key, value, path) => {
    expect(both({ databases: ['a.mmdb'], [key]: value })).toEqual({ factory: [path], policy: [path] });
  });
});
