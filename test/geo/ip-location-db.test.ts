/**
 * Against a real, published database: @ip-location-db/geo-whois-asn-country-mmdb (sapics; data
 * CC BY 4.0 by NRO per its README). Assertions use addresses whose registration is stable for
 * years (Google, RIPE NCC); the package's own README warns its npm data has bugs, so the tests do
 * not depend on anything finer.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import maxmind from 'maxmind';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGeoTagger, type GeoTagger } from '../../src/geo/index.js';
import { requireCommand } from '../support/env.js';

const require = createRequire(import.meta.url);
const pkg = dirname(require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/package.json'));
const ALL = join(pkg, 'geo-whois-asn-country.mmdb');
const V4 = join(pkg, 'geo-whois-asn-country-ipv4.mmdb');
const V6 = join(pkg, 'geo-whois-asn-country-ipv6.mmdb');

let all: GeoTagger;
let v4: GeoTagger;
let v6: GeoTagger;
beforeAll(async () => {
  const open = (databases: string) => openGeoTagger({ databases, watch: false });
  [all, v4, v6] = await Promise.all([open(ALL), open(V4), open(V6)]);
});
afterAll(() => [all, v4, v6].forEach((t) => t?.close()));

describe('@ip-location-db/geo-whois-asn-country-mmdb', () => {
  it('reads the metadata and build time', () => {
    const m = all.databases()[0]!.metadata;
    expect(m.databaseType).toBe('country ipvAll');
    expect(m.ipVersion).toBe(6);
    expect(m.buildEpoch.getTime()).toBeGreaterThan(Date.UTC(2024, 0, 1));
    expect(m.buildEpoch.getTime()).toBeLessThan(Date.now() + 86_400_000);
    expect(all.buildTime()).toEqual(m.buildEpoch);
    expect(v4.databases()[0]!.metadata).toMatchObject({ databaseType: 'country ipv4', ipVersion: 4 });
    expect(v6.databases()[0]!.metadata.databaseType).toBe('country ipv6');
  });

  it.each([
    ['8.8.8.8', 'US'],
    ['8.8.4.4', 'US'],
    ['193.0.6.139', 'NL'], // RIPE NCC, Amsterdam
    ['2001:4860:4860::8888', 'US'],
    ['2001:67c:2e8:22::c100:68b', 'NL'], // RIPE NCC
  ])('%s -> %s', (ip, country) => {
    expect(all.tag(ip)).toEqual({ country });
  });

  it('IPv4-mapped addresses are found (the database has no ::ffff:0:0/96 alias; the bare reader says null)', async () => {
    const bare = await maxmind.open(ALL);
    expect(bare.get('::ffff:8.8.8.8')).toBeNull();
    expect(all.tag('::ffff:8.8.8.8')).toEqual({ country: 'US' });
  });

  it('the IPv4-only file never answers for IPv6 (the bare reader answers for an unrelated network)', async () => {
    expect(v4.tag('8.8.8.8')).toEqual({ country: 'US' });
    expect(v4.tag('::ffff:8.8.8.8')).toEqual({ country: 'US' });
    expect(v4.tag('2001:4860:4860::8888')).toBeUndefined();
    const bare = await maxmind.open(V4);
    // Documents the pitfall our guard avoids: a v6 string walks the v4 tree with the wrong bits.
    expect(bare.get('2a00:1450:4001::1')).not.toBeNull();
  });

  it('the IPv6 file answers IPv6', () => {
    expect(v6.tag('2001:4860:4860::8888')).toEqual({ country: 'US' });
  });

  it('the invalid inputs the bare reader mis-answers give undefined', async () => {
    const bare = await maxmind.open(ALL);
    const bare4 = await maxmind.open(V4);
    expect(bare.get('1.2.3')).not.toBeNull();
    expect(bare4.get('8.8.8.8:80')).not.toBeNull();
    for (const ip of ['1.2.3', '8.8.8.8:80', '', 'not-an-ip']) {
      expect(all.tag(ip)).toBeUndefined();
      expect(v4.tag(ip)).toBeUndefined();
    }
  });

  it('agrees with mmdblookup (libmaxminddb) on a spread of addresses', () => {
    if (!requireCommand('mmdblookup', 'mmdb-bin')) return;
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const ips = ['8.8.8.8', '1.1.1.1', '9.9.9.9', '2001:4860:4860::8888', '2a00:1450:4001::1'];
    for (let i = 0; i < 25; i++)
      ips.push(`${(rnd() % 223) + 1}.${rnd() % 256}.${rnd() % 256}.${rnd() % 256}`);
    for (const ip of ips) {
      const ours = all.tag(ip);
      if (ours?.network) continue;
      let theirs: string | undefined;
      try {
        const out = execFileSync('mmdblookup', ['--file', ALL, '--ip', ip, 'country_code'], {
          encoding: 'utf8',
          stdio: 'pipe',
        });
        theirs = /"([A-Z]{2})"/.exec(out)?.[1];
      } catch {
        theirs = undefined;
      }
      expect(ours?.country, ip).toBe(theirs);
    }
  });
});
