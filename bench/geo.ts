/**
 * GeoIP lookup cost: realip's tagger (with and without its record LRU) against the bare `maxmind`
 * reader and against a naive per-IP LRU in front of that reader, on distinct and on repeating
 * addresses, interleaved in one process.
 *
 *   node --expose-gc --import tsx bench/geo.ts [--rounds 7] [--n 200000]
 *
 * Databases: the real @ip-location-db/geo-whois-asn-country-mmdb (country, ~250 distinct records,
 * 1.3 M tree nodes) and a synthetic city-shaped database with 50,000 distinct records (more than
 * the 10,000-entry caches can hold) built with the test writer.
 *
 * What each contender does per lookup:
 * - bare: `reader.get(ip)` from `maxmind.open()` (its own 10,000-entry tiny-lru of decoded records
 *   keyed by data offset); no validation, returns the shared record.
 * - naive LRU: lru-cache (10,000) keyed by the IP string in front of the bare reader.
 * - tagger, cache 0: strict parse, special-network check, tree walk, decode + normalise + freeze.
 * - tagger, record LRU only: the same, but decode + normalise only on a record-cache miss
 *   (lru-cache, 10,000, keyed by the matched record's offset: one entry serves every address of
 *   every network sharing that record).
 * - tagger (default): plus the address cache (lru-cache, 10,000, keyed by the address string,
 *   admitted on second sighting), which skips parse and walk for repeat clients.
 */
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { LRUCache } from 'lru-cache';
import maxmind, { type Reader } from 'maxmind';
import { openGeoTagger, type GeoTagger } from '../src/geo/index.js';
import { f64, u16, writeMmdb } from '../test/support/mmdb-writer.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 7);
const N = arg('n', 200_000);
const REPEAT = 1_000;
const gc = (globalThis as { gc?: () => void }).gc;

// Deterministic PRNG so every run measures the same addresses.
let seed = 0x2545f491;
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};

/** Public-looking IPv4 (skips 0/8, 10/8, 127/8, 224/3 so most are real lookups). */
function randomV4(): string {
  for (;;) {
    const v = rnd();
    const a = v >>> 24;
    if (a === 0 || a === 10 || a === 127 || a >= 224) continue;
    return `${a}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
}

/** IPv6 in allocated global unicast space (2001::/16 to 2a0f::/16), random below. */
function randomV6(): string {
  const first = [0x2001, 0x2400, 0x2600, 0x2800, 0x2a00, 0x2a01, 0x2a02, 0x2a03][rnd() % 8]!;
  const g = () => (rnd() & 0xffff).toString(16);
  return `${first.toString(16)}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
}

/**
 * Workload generators. "Distinct" addresses are fresh for every round (never seen before by any
 * cache: one-off clients, scanners, rotating IPv6); "repeating" cycles through 1,000 clients (a
 * quarter IPv6); "mixed" draws 80% from those 1,000 and 20% one-off.
 */
function workloads(): Record<string, () => string[]> {
  const pool = Array.from({ length: REPEAT }, (_, i) => (i % 4 === 3 ? randomV6() : randomV4()));
  return {
    'distinct IPv4': () => Array.from({ length: N }, randomV4),
    'distinct IPv6': () => Array.from({ length: N }, randomV6),
    'repeating 1,000': () => Array.from({ length: N }, () => pool[rnd() % REPEAT]!),
    'mixed 80% repeating / 20% distinct': () =>
      Array.from({ length: N }, () => (rnd() % 5 === 0 ? randomV4() : pool[rnd() % REPEAT]!)),
  };
}

interface Contender {
  name: string;
  lookup: (ip: string) => unknown;
}

async function contenders(path: string): Promise<{ list: Contender[]; taggers: GeoTagger[] }> {
  const bare: Reader<never> = await maxmind.open(path, { cache: { max: 10_000 } });
  const naiveReader: Reader<never> = await maxmind.open(path, { cache: { max: 10_000 } });
  const naive = new LRUCache<string, object>({ max: 10_000 });
  const NULL = {};
  const tagged = await openGeoTagger({ databases: path, watch: false });
  const uncached = await openGeoTagger({ databases: path, watch: false, cache: 0 });
  const recordsOnly = await openGeoTagger({ databases: path, watch: false, cache: { addresses: 0 } });
  return {
    taggers: [tagged, uncached, recordsOnly],
    list: [
      { name: 'bare maxmind', lookup: (ip) => bare.get(ip) },
      {
        name: 'naive per-IP LRU',
        lookup: (ip) => {
          const hit = naive.get(ip);
          if (hit !== undefined) return hit === NULL ? null : hit;
          const rec = naiveReader.get(ip);
          naive.set(ip, rec ?? NULL);
          return rec;
        },
      },
      { name: 'tagger, no LRU', lookup: (ip) => uncached.tag(ip) },
      { name: 'tagger, record LRU only', lookup: (ip) => recordsOnly.tag(ip) },
      { name: 'tagger (record + address LRU, default)', lookup: (ip) => tagged.tag(ip) },
    ],
  };
}

let sink = 0;
function run(c: Contender, ips: string[]): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ips.length; i++) if (c.lookup(ips[i]!) != null) sink++;
  return Number(process.hrtime.bigint() - start) / ips.length;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

async function benchDatabase(label: string, path: string): Promise<string[]> {
  const { list, taggers } = await contenders(path);
  const loads = workloads();
  const lines: string[] = [];
  lines.push(`\n### ${label}\n`);
  lines.push(`| workload | ${list.map((c) => c.name).join(' | ')} | default tagger speed-up vs bare |`);
  lines.push(`|---|${list.map(() => '---:').join('|')}|---:|`);
  for (const [wname, gen] of Object.entries(loads)) {
    const samples = list.map(() => [] as number[]);
    const warm = gen();
    for (const c of list) run(c, warm); // warm-up (JIT, caches)
    for (let r = 0; r < ROUNDS; r++) {
      // Every contender sees the same addresses in a round, each contender once.
      const ips = gen();
      // Rotate the order each round so no contender always runs first after a GC.
      for (let k = 0; k < list.length; k++) {
        const i = (k + r) % list.length;
        gc?.();
        samples[i]!.push(run(list[i]!, ips));
      }
    }
    const med = samples.map(median);
    const bare = med[0]!;
    const cells = med.map((m) => `${m.toFixed(0)} ns (${(bare / m).toFixed(2)}x)`);
    const last = med[med.length - 1]!;
    lines.push(`| ${wname} | ${cells.join(' | ')} | ${(bare / last).toFixed(2)}x |`);
  }
  const stats = taggers[0]!.stats();
  lines.push(
    `\nDefault tagger over the whole run: ${stats.lookups} lookups, ${stats.addressHits} address-cache hits, ` +
      `record cache ${((100 * stats.cacheHits) / Math.max(1, stats.cacheHits + stats.cacheMisses)).toFixed(1)}% hits, ` +
      `${stats.special} special, ${stats.notFound} not found.`,
  );
  taggers.forEach((t) => t.close());
  return lines;
}

/** A city-shaped database with many distinct records (more than the caches hold). */
function syntheticCity(dir: string): string {
  const networks = [];
  const cities = 50_000;
  for (let i = 0; i < cities; i++) {
    const v = rnd();
    const a = 1 + ((v >>> 24) % 222);
    networks.push({
      network: `${a === 10 || a === 127 ? a + 1 : a}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.0/24`,
      data: {
        city: { geoname_id: i, names: { en: `City ${i}`, de: `Stadt ${i}` } },
        continent: { code: 'EU', geoname_id: 6255148, names: { en: 'Europe' } },
        country: { geoname_id: 2921044, iso_code: 'DE', names: { en: 'Germany' } },
        location: {
          accuracy_radius: u16(50),
          latitude: f64(50 + (i % 100) / 100),
          longitude: f64(8 + (i % 50) / 50),
          time_zone: 'Europe/Berlin',
        },
      },
    });
  }
  // Cover the rest of the space coarsely so most random addresses find something.
  for (let a = 1; a < 224; a++)
    networks.push({
      network: `${a}.0.0.0/8`,
      data: { country: { iso_code: 'US', names: { en: 'United States' } } },
    });
  const path = join(dir, 'synthetic-city.mmdb');
  writeFileSync(
    path,
    writeMmdb({ networks, databaseType: 'Synthetic-City', recordSize: 28, ipv4Aliases: true }),
  );
  return path;
}

const require = createRequire(import.meta.url);
const sapics = join(
  dirname(require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/package.json')),
  'geo-whois-asn-country.mmdb',
);
const dir = mkdtempSync(join(tmpdir(), 'realip-geo-bench-'));
try {
  const out: string[] = [];
  out.push(
    `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${new Date().toISOString()}`,
  );
  out.push(
    `${N} lookups per sample, ${ROUNDS} interleaved rounds, median ns per lookup (ratio: bare / contender, >1 is faster than bare)`,
  );
  out.push(...(await benchDatabase('@ip-location-db/geo-whois-asn-country-mmdb (real, country)', sapics)));
  out.push(...(await benchDatabase('synthetic city database (50,000 distinct records)', syntheticCity(dir))));
  console.log(out.join('\n'));
  if (sink === 0) console.log('(sink)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
