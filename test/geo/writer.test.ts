/**
 * The fixture writer is checked against two independent readers: libmaxminddb's `mmdblookup`
 * (Debian mmdb-bin) and the `maxmind` npm reader, and against a brute-force longest-prefix oracle.
 * Our own tree walk (MmdbDatabase.lookup) is checked against the same oracle.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Reader } from 'maxmind';
import { afterAll, describe, expect, it } from 'vitest';
import { MmdbDatabase, loadMmdb } from '../../src/geo/database.js';
import { parseIp } from '../../src/core/ip.js';
import { requireCommand } from '../support/env.js';
import {
  bytes,
  f32,
  f64,
  i32,
  u128,
  u16,
  u32,
  u64,
  writeMmdb,
  type MmdbNetwork,
} from '../support/mmdb-writer.js';
import { maxmindCountry, tempDir } from './fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const verify = { locales: ['en'], fields: undefined, maxFutureMs: 86_400_000 };

/** mmdblookup's answer for one address and data path, as printed (trimmed), or undefined. */
function mmdblookup(file: string, ip: string, ...path: string[]): string | undefined {
  try {
    const out = execFileSync('mmdblookup', ['--file', file, '--ip', ip, ...path], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return out.trim();
  } catch (error) {
    const out =
      String((error as { stdout?: string }).stdout ?? '') +
      String((error as { stderr?: string }).stderr ?? '');
    if (/Could not find an entry|not find/i.test(out)) return undefined;
    throw error;
  }
}

/**
 * Brute force over the IPv6 tree's space (IPv4 lives at ::/96, as the writer stores it): the last,
 * most specific network containing `ip`.
 */
function oracle(networks: readonly MmdbNetwork[], ip: string): MmdbNetwork | undefined {
  const target = to128(ip).value;
  let best: MmdbNetwork | undefined;
  let bestPrefix = -1;
  for (const n of networks) {
    const [addr, len] = n.network.split('/') as [string, string];
    const { value, v4 } = to128(addr);
    const p = Number(len) + (v4 ? 96 : 0);
    const shift = BigInt(128 - p);
    if (value >> shift === target >> shift && p >= bestPrefix) {
      best = n;
      bestPrefix = p;
    }
  }
  return best;
}

function to128(ip: string): { value: bigint; v4: boolean } {
  const p = parseIp(ip)!;
  const value = p.words.reduce((acc, w) => (acc << 32n) | BigInt(w), 0n);
  return { value, v4: p.kind === 4 };
}

const hasMmdblookup = requireCommand('mmdblookup', 'mmdb-bin');

describe('MMDB writer vs mmdblookup (libmaxminddb)', () => {
  const allTypes = {
    str: 'héllo wörld',
    long: 'x'.repeat(300),
    u16: u16(65535),
    u32: u32(4_000_000_000),
    u64: u64(2n ** 63n + 5n),
    u128: u128(2n ** 100n),
    i32: i32(-123456),
    f64: f64(-12.5),
    f32: f32(0.25),
    yes: true,
    no: false,
    arr: ['a', 1, [2, 3]],
    map: { nested: { deeper: 'ok' } },
    bin: bytes(Uint8Array.from([1, 2, 3])),
    empty: {},
  };

  it.each([
    [24, false, 6],
    [28, false, 6],
    [32, false, 6],
    [24, true, 6],
    [28, true, 4],
    [32, true, 4],
  ] as const)('record size %i, pointers %s, IPv%i tree', (recordSize, pointers, ipVersion) => {
    if (!hasMmdblookup) return;
    const networks: MmdbNetwork[] = [
      { network: '8.8.8.0/24', data: maxmindCountry('US', 'NA') },
      {
        network: '81.2.69.128/25',
        data: { ...(maxmindCountry('GB', 'EU') as object), all: allTypes } as never,
      },
      { network: '81.2.69.160/27', data: maxmindCountry('DE', 'EU') },
      ...(ipVersion === 6 ? [{ network: '2001:db8:1::/48', data: maxmindCountry('FR', 'EU') }] : []),
    ];
    const file = join(tmp.dir, `w-${recordSize}-${pointers}-${ipVersion}.mmdb`);
    writeFileSync(
      file,
      writeMmdb({
        recordSize,
        pointers,
        ipVersion,
        networks,
        ipv4Aliases: ipVersion === 6,
        databaseType: 'Writer-Test',
        buildEpoch: 1_700_000_000,
      }),
    );
    expect(mmdblookup(file, '8.8.8.8', 'country', 'iso_code')).toBe('"US" <utf8_string>');
    expect(mmdblookup(file, '81.2.69.170', 'country', 'iso_code')).toBe('"DE" <utf8_string>');
    expect(mmdblookup(file, '81.2.69.130', 'country', 'iso_code')).toBe('"GB" <utf8_string>');
    expect(mmdblookup(file, '81.2.69.1')).toBeUndefined();
    expect(mmdblookup(file, '81.2.69.130', 'all', 'str')).toBe('"héllo wörld" <utf8_string>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'u16')).toBe('65535 <uint16>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'u32')).toBe('4000000000 <uint32>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'u64')).toBe(`${2n ** 63n + 5n} <uint64>`);
    expect(mmdblookup(file, '81.2.69.130', 'all', 'u128')).toBe(
      `0x${(2n ** 100n).toString(16).padStart(32, '0')} <uint128>`,
    );
    expect(mmdblookup(file, '81.2.69.130', 'all', 'i32')).toBe('-123456 <int32>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'f64')).toBe('-12.500000 <double>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'f32')).toBe('0.250000 <float>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'yes')).toBe('true <boolean>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'no')).toBe('false <boolean>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'arr', '2', '1')).toBe('3 <uint32>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'map', 'nested', 'deeper')).toBe('"ok" <utf8_string>');
    expect(mmdblookup(file, '81.2.69.130', 'all', 'long')).toBe(`"${'x'.repeat(300)}" <utf8_string>`);
    if (ipVersion === 6) {
      expect(mmdblookup(file, '2001:db8:1::5', 'country', 'iso_code')).toBe('"FR" <utf8_string>');
      // MaxMind-style aliases reach the IPv4 subtree.
      expect(mmdblookup(file, '::ffff:8.8.8.8', 'country', 'iso_code')).toBe('"US" <utf8_string>');
      expect(mmdblookup(file, '2002:808:808::1', 'country', 'iso_code')).toBe('"US" <utf8_string>');
    }
    const meta = execFileSync('mmdblookup', ['--file', file, '--ip', '8.8.8.8', '--verbose'], {
      encoding: 'utf8',
    });
    expect(meta).toContain(`Record size:   ${recordSize} bits`);
    expect(meta).toContain(`IP version:    IPv${ipVersion}`);
    expect(meta).toContain('Type:          Writer-Test');
    expect(meta).toContain('Build epoch:   1700000000');
  });

  it('pointers make repeated data smaller and read the same', () => {
    const networks = Array.from({ length: 50 }, (_, i) => ({
      network: `10.${i}.0.0/16`,
      data: { ...(maxmindCountry('US', 'NA') as object), serial: i } as never,
    }));
    const plain = writeMmdb({ networks });
    const pointed = writeMmdb({ networks, pointers: true });
    expect(pointed.length).toBeLessThan(plain.length / 2);
    const a = new Reader(plain);
    const b = new Reader(pointed);
    for (let i = 0; i < 50; i += 7) expect(b.get(`10.${i}.1.1`)).toEqual(a.get(`10.${i}.1.1`));
  });
});

describe('our tree walk agrees with the maxmind reader and a brute-force oracle', () => {
  const v4net = fc
    .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 32 }))
    .map(([v, p]) => {
      const masked = p === 32 ? v : (v >>> (32 - p)) << (32 - p);
      const m = masked >>> 0;
      return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}/${p}`;
    });
  const v6net = fc
    .tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 1, max: 128 }))
    .map(([v, p]) => {
      const masked = (v >> BigInt(128 - p)) << BigInt(128 - p);
      const groups = Array.from({ length: 8 }, (_, i) =>
        ((masked >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
      );
      return `${groups.join(':')}/${p}`;
    });
  const v4addr = fc
    .integer({ min: 0, max: 0xffffffff })
    .map((v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);

  it('random IPv4 and IPv6 networks, all record sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(v4net, v6net), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(24 as const, 28 as const, 32 as const),
        fc.array(
          fc.oneof(
            v4addr,
            v6net.map((n) => n.split('/')[0]!),
          ),
          { minLength: 5, maxLength: 20 },
        ),
        async (nets, recordSize, probes) => {
          // Addresses inside the networks too, so hits are exercised, not only misses.
          const inside = nets.map((n) => n.split('/')[0]!);
          const networks: MmdbNetwork[] = nets.map((network, i) => ({
            network,
            data: { country_code: 'US', i },
          }));
          const buf = writeMmdb({ networks, recordSize });
          const reader = new Reader(buf);
          const db = await loadMmdb(buf, 't', verify);
          for (const ip of [...inside, ...probes]) {
            const expected = oracle(networks, ip);
            const got = reader.get(ip) as { i: number } | null;
            expect(got?.i).toBe(expected === undefined ? undefined : networks.indexOf(expected));
            const p = parseIp(ip)!;
            const words = Uint32Array.from(p.words.length === 1 ? [p.words[0]!, 0, 0, 0] : p.words);
            const off = db.lookup(p.kind, words);
            expect(off < 0 ? undefined : (db.decode(off, p.kind, words) as { i: number }).i).toBe(got?.i);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('without mmdb-lib internals (a future version) it falls back to the public get()', () => {
    const networks: MmdbNetwork[] = [
      { network: '8.8.8.0/24', data: { country_code: 'US' } },
      { network: '2001:db8::/32', data: { country_code: 'FR' } },
    ];
    const buf = writeMmdb({ networks, ipv4Aliases: true });
    const real = new Reader(buf);
    // Only the public surface: no `decoder` property.
    const publicOnly = {
      metadata: real.metadata,
      get: (ip: string) => real.get(ip),
    } as unknown as Reader<never>;
    const db = new MmdbDatabase(buf, publicOnly);
    for (const [ip, cc] of [
      ['8.8.8.8', 'US'],
      ['2001:db8::1', 'FR'],
    ] as const) {
      const p = parseIp(ip)!;
      const words = Uint32Array.from(p.words.length === 1 ? [p.words[0]!, 0, 0, 0] : p.words);
      const off = db.lookup(p.kind, words);
      expect(off).toBeGreaterThan(0);
      expect(db.decode(off, p.kind, words)).toEqual({ country_code: cc });
    }
  });
});
