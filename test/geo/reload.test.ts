/**
 * Hot reload: verified swaps, bad files kept out (corrupt, truncated, stale, wrong type), answers
 * served from the old database while that happens, and Kubernetes ConfigMap symlink swaps.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openGeoTagger, type GeoOptions, type GeoReloadEvent, type GeoTagger } from '../../src/geo/index.js';
import type { RealipWarning } from '../../src/types.js';
import { writeMmdb } from '../support/mmdb-writer.js';
import { asnRecord, countryDb, daysAgo, tempDir } from './fixtures.js';

const tmp = tempDir();
let counter = 0;
const open: GeoTagger[] = [];
afterEach(() => {
  open.forEach((t) => t.close());
  open.length = 0;
});
afterAll(() => tmp.cleanup());

/** A fresh directory per test (tests in this file may run while others write theirs). */
function dir(): string {
  const d = join(tmp.dir, `t${++counter}`);
  mkdirSync(d);
  return d;
}

/** Version `n` of the country fixture: marker country and build time both advance with `n`. */
const NOW = daysAgo(0);
const epochOf = (ageDays: number) => NOW - ageDays * 86_400;
const version = (marker: string, ageDays: number) =>
  writeMmdb(countryDb({ buildEpoch: epochOf(ageDays) }, marker));

function atomicWrite(path: string, bytes: Buffer): void {
  const t = `${path}.tmp-${++counter}`;
  writeFileSync(t, bytes);
  renameSync(t, path);
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function watched(path: string, extra: Partial<GeoOptions> = {}) {
  const events: GeoReloadEvent[] = [];
  const warnings: RealipWarning[] = [];
  const t = await openGeoTagger({
    databases: path,
    watch: { pollMs: 50, debounceMs: 10 },
    onReload: (e) => events.push(e),
    onWarning: (w) => warnings.push(w),
    ...extra,
  });
  open.push(t);
  return { t, events, warnings };
}

const MARK = '198.51.100.7';

describe('hot reload', () => {
  it('swaps in a newer verified file and clears the cache', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events } = await watched(p);
    // Three lookups: the record cache and (from the second sighting) the address cache hold it.
    for (let i = 0; i < 3; i++) expect(t.tag(MARK)?.country).toBe('NL');
    expect(t.stats().addressHits).toBe(1);
    const before = t.databases()[0]!;
    atomicWrite(p, version('BE', 1));
    await waitFor('reload', () => events.length === 1);
    expect(events[0]).toMatchObject({ database: 'country.mmdb', path: p, ok: true, error: undefined });
    expect(events[0]!.current.buildEpoch.getTime()).toBe(epochOf(1) * 1000);
    expect(events[0]!.previous.buildEpoch.getTime()).toBe(epochOf(5) * 1000);
    expect(t.tag(MARK)?.country).toBe('BE');
    const after = t.databases()[0]!;
    expect(after.reloads).toBe(1);
    expect(after.loadedAt.getTime()).toBeGreaterThanOrEqual(before.loadedAt.getTime());
    expect(t.buildTime().getTime()).toBe(epochOf(1) * 1000);
    expect(t.stats()).toMatchObject({ reloads: 1, reloadFailures: 0 });
  });

  it.each([
    [
      'corrupt (random bytes)',
      () => Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) % 256)),
      'ERR_REALIP_GEO_CORRUPT',
    ],
    ['truncated (a copy in progress)', () => version('BE', 1).subarray(0, 700), 'ERR_REALIP_GEO_CORRUPT'],
    ['empty', () => Buffer.alloc(0), 'ERR_REALIP_GEO_CORRUPT'],
    ['older build', () => version('BE', 30), 'ERR_REALIP_GEO_STALE'],
    [
      'another database type',
      () =>
        writeMmdb({
          databaseType: 'GeoLite2-ASN',
          buildEpoch: daysAgo(1),
          networks: [{ network: '198.51.100.0/24', data: asnRecord(1, 'X') }],
        }),
      'ERR_REALIP_GEO_TYPE',
    ],
    [
      'IPv4-only replacing IPv6',
      () =>
        writeMmdb(
          countryDb({
            ipVersion: 4,
            ipv4Aliases: false,
            buildEpoch: daysAgo(1),
            networks: countryDb().networks.filter((n) => !n.network.includes(':')),
          }),
        ),
      'ERR_REALIP_GEO_TYPE',
    ],
  ])('%s is rejected, reported, and the old database stays', async (_name, make, code) => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events, warnings } = await watched(p);
    atomicWrite(p, make());
    await waitFor('failure event', () => events.length >= 1);
    expect(events[0]).toMatchObject({ ok: false });
    expect(events[0]!.error?.code).toBe(code);
    expect(events[0]!.current).toBe(events[0]!.previous);
    expect(t.tag(MARK)?.country).toBe('NL');
    expect(t.stats().reloadFailures).toBeGreaterThanOrEqual(1);
    expect(t.databases()[0]!.lastError?.code).toBe(code);
    expect(warnings[0]).toMatchObject({
      code: 'WRN_REALIP_GEO_RELOAD_FAILED',
      count: 1,
      help: 'docs/errors.md#wrn-realip-geo-reload-failed',
    });
    expect(warnings[0]!.message).toContain(code);
  });

  it('allowOlder accepts an older build', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events } = await watched(p, { allowOlder: true });
    atomicWrite(p, version('BE', 30));
    await waitFor('reload', () => events.length === 1);
    expect(events[0]!.ok).toBe(true);
    expect(t.tag(MARK)?.country).toBe('BE');
  });

  it('under load: a truncated then corrupt file never interrupts answers; the good file then swaps in', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events } = await watched(p);
    const answers: (string | undefined)[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        for (let i = 0; i < 200; i++) answers.push(t.tag(MARK)?.country);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const full = version('BE', 1);
    // A non-atomic copy: the first part lands, then (later) the rest.
    writeFileSync(p, full.subarray(0, Math.floor(full.length / 2)));
    await waitFor('truncated rejected', () => events.length >= 1);
    writeFileSync(p, Buffer.from('this is not an mmdb file'));
    await waitFor('corrupt rejected', () => events.length >= 2);
    const beforeGood = answers.length;
    writeFileSync(p, full);
    await waitFor('good file', () => events.some((e) => e.ok));
    const swapAt = answers.length;
    await new Promise((r) => setTimeout(r, 30));
    running = false;
    await loop;
    expect(events.filter((e) => !e.ok).every((e) => e.error?.code === 'ERR_REALIP_GEO_CORRUPT')).toBe(true);
    expect(beforeGood).toBeGreaterThan(1000);
    // Every answer is from one of the two good databases; none is missing.
    expect(answers.every((a) => a === 'NL' || a === 'BE')).toBe(true);
    expect(answers.slice(0, beforeGood).every((a) => a === 'NL')).toBe(true);
    expect(answers.slice(swapAt).every((a) => a === 'BE')).toBe(true);
    expect(answers.at(-1)).toBe('BE');
  });

  it('follows a Kubernetes ConfigMap update (..data symlink swap)', async () => {
    const d = dir();
    mkdirSync(join(d, '..2026_11_27_01'));
    writeFileSync(join(d, '..2026_11_27_01', 'geo.mmdb'), version('NL', 5));
    symlinkSync('..2026_11_27_01', join(d, '..data'));
    symlinkSync(join('..data', 'geo.mmdb'), join(d, 'geo.mmdb'));
    const { t, events } = await watched(join(d, 'geo.mmdb'));
    expect(t.tag(MARK)?.country).toBe('NL');
    // kubelet: write the new timestamped dir, point a temp symlink at it, rename over ..data.
    mkdirSync(join(d, '..2026_11_27_02'));
    writeFileSync(join(d, '..2026_11_27_02', 'geo.mmdb'), version('BE', 1));
    symlinkSync('..2026_11_27_02', join(d, '..data_tmp'));
    renameSync(join(d, '..data_tmp'), join(d, '..data'));
    rmSync(join(d, '..2026_11_27_01'), { recursive: true });
    await waitFor('reload', () => events.length >= 1);
    expect(events[0]!.ok).toBe(true);
    expect(t.tag(MARK)?.country).toBe('BE');
  });

  it('a deleted file is reported and the database stays; restoring it reloads', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events } = await watched(p);
    unlinkSync(p);
    await waitFor('read failure', () => events.length >= 1);
    expect(events[0]!.error?.code).toBe('ERR_REALIP_GEO_READ');
    expect(t.tag(MARK)?.country).toBe('NL');
    atomicWrite(p, version('BE', 1));
    await waitFor('reload', () => events.some((e) => e.ok));
    expect(t.tag(MARK)?.country).toBe('BE');
  });

  it('reload() checks now and resolves after the swap', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t } = await watched(p, { watch: { pollMs: 600_000, debounceMs: 600_000 } });
    atomicWrite(p, version('BE', 1));
    await t.reload();
    expect(t.tag(MARK)?.country).toBe('BE');
  });

  it('close() stops watching; lookups keep working', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events } = await watched(p);
    t.close();
    atomicWrite(p, version('BE', 1));
    await new Promise((r) => setTimeout(r, 250));
    expect(events).toHaveLength(0);
    expect(t.tag(MARK)?.country).toBe('NL');
  });

  it('watch: false loads once', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events } = await watched(p, { watch: false });
    atomicWrite(p, version('BE', 1));
    await new Promise((r) => setTimeout(r, 250));
    await t.reload();
    expect(events).toHaveLength(0);
    expect(t.tag(MARK)?.country).toBe('NL');
  });

  it('without onWarning, process.emitWarning fires once per code, then counts', async () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const p = join(dir(), 'country.mmdb');
      writeFileSync(p, version('NL', 5));
      const events: GeoReloadEvent[] = [];
      const t = await openGeoTagger({
        databases: p,
        watch: { pollMs: 50, debounceMs: 10 },
        onReload: (e) => events.push(e),
      });
      open.push(t);
      atomicWrite(p, Buffer.from('garbage one'));
      await waitFor('first failure', () => events.length >= 1);
      atomicWrite(p, Buffer.from('garbage two'));
      await waitFor('second failure', () => events.length >= 2);
      const calls = spy.mock.calls.filter(
        (c) => (c[1] as { code?: string } | undefined)?.code === 'WRN_REALIP_GEO_RELOAD_FAILED',
      );
      expect(calls).toHaveLength(1);
      expect(t.stats().reloadFailures).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('onWarning receives WRN_REALIP_GEO_RELOAD_FAILED once per code, then only counts', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const { t, events, warnings } = await watched(p);
    atomicWrite(p, Buffer.from('garbage one'));
    await waitFor('first failure', () => events.length >= 1);
    atomicWrite(p, Buffer.from('garbage two'));
    await waitFor('second failure', () => events.length >= 2);
    expect(events.map((e) => e.ok)).toEqual([false, false]);
    expect(t.stats().reloadFailures).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'WRN_REALIP_GEO_RELOAD_FAILED', count: 1 });
  });

  it('a throwing onReload callback does not break reloading', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const t = await openGeoTagger({
      databases: p,
      watch: { pollMs: 50, debounceMs: 10 },
      onReload: () => {
        throw new Error('callback bug');
      },
    });
    open.push(t);
    atomicWrite(p, version('BE', 1));
    await waitFor('reload', () => t.stats().reloads === 1);
    expect(t.tag(MARK)?.country).toBe('BE');
  });

  it('tells the metrics hooks each build time at open and after successful reloads only', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const calls: [string, number][] = [];
    const metrics = { geoDatabase: (db: string, epoch: number) => calls.push([db, epoch]) };
    const { t, events } = await watched(p, { metrics });
    expect(calls).toEqual([['country.mmdb', epochOf(5)]]);
    atomicWrite(p, Buffer.from('corrupt'));
    await waitFor('failure', () => events.length === 1);
    expect(calls).toHaveLength(1);
    atomicWrite(p, version('BE', 1));
    await waitFor('reload', () => events.length === 2);
    expect(calls).toEqual([
      ['country.mmdb', epochOf(5)],
      ['country.mmdb', epochOf(1)],
    ]);
    expect(t.tag(MARK)?.country).toBe('BE');
  });

  it('a throwing metrics hook breaks neither opening nor reloading', async () => {
    const p = join(dir(), 'country.mmdb');
    writeFileSync(p, version('NL', 5));
    const metrics = {
      geoDatabase: () => {
        throw new Error('hook bug');
      },
    };
    const { t, events } = await watched(p, { metrics });
    atomicWrite(p, version('BE', 1));
    await waitFor('reload', () => events.length === 1);
    expect(events[0]!.ok).toBe(true);
    expect(t.tag(MARK)?.country).toBe('BE');
  });
});
