/**
 * Named lists: inline and file-backed, hot reload through real files (plain rewrite, rename-over,
 * a Kubernetes ConfigMap-style `..data` symlink swap), bad files keeping the old version.
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createAccessPolicy,
  createIpLists,
  type IpListReloadError,
  type IpListReloadEvent,
  type ManagedIpLists,
} from '../../src/index.js';
import { configErrorOf } from '../support/config-error.js';

let root: string;
let seq = 0;
const open: ManagedIpLists[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'realip-lists-'));
});
afterEach(() => {
  for (const l of open.splice(0)) l.close();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(root, `d${seq++}`);
  await mkdir(dir);
  return dir;
}

function track(l: ManagedIpLists): ManagedIpLists {
  open.push(l);
  return l;
}

/** Polls until `fn` is true; fails after `ms` (a liveness deadline, not a speed assertion). */
async function waitFor(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Write via a temporary file and rename, so the watcher never sees a half-written file. */
async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${seq++}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('inline lists', () => {
  it('accepts arrays and { rules }, and get() returns undefined for unknown names', () => {
    const lists = track(createIpLists({ a: ['10.0.0.0/8'], b: { rules: ['2001:db8::/32', 'loopback'] } }));
    expect(lists.names()).toEqual(['a', 'b']);
    expect(lists.get('a')!.has('10.1.2.3')).toBe(true);
    expect(lists.get('a')!.has('::ffff:10.1.2.3')).toBe(true);
    expect(lists.get('b')!.has('::1')).toBe(true);
    expect(lists.get('b')!.has('2001:DB8::7')).toBe(true);
    expect(lists.get('b')!.has('not-an-ip')).toBe(false);
    expect(lists.get('c')).toBeUndefined();
    expect(lists.stats().map((s) => [s.name, s.source, s.rules])).toEqual([
      ['a', 'inline', 1],
      ['b', 'inline', 2],
    ]);
  });

  it('reports every problem at once with paths', () => {
    const error = configErrorOf(() => {
      createIpLists({ a: ['10.0.0/8', '10.0.0.0/8'], 'bad name': [], c: 'x' as unknown as string[] });
    });
    expect(error.issues.map((i) => i.path)).toEqual(['lists.a[0]', 'lists["bad name"]', 'lists.c']);
  });
});

describe('file lists: initial load', () => {
  it('parses comments, blank lines, CRLF, a BOM, trailing comments and named ranges', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(
      file,
      '\ufeff# partners\r\n\r\n203.0.113.0/24   # office\r\n  2001:db8:1::/48\r\nloopback\r\n# end\r\n10.1.2.3\n',
    );
    const lists = track(createIpLists({ p: { file } }));
    const live = lists.get('p')!;
    expect(['203.0.113.9', '2001:db8:1::5', '127.0.0.1', '::1', '10.1.2.3'].map((a) => live.has(a))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(live.has('10.1.2.4')).toBe(false);
    expect(lists.stats()[0]).toMatchObject({
      name: 'p',
      source: 'file',
      file,
      rules: 4,
      reloads: 0,
      reloadErrors: 0,
    });
  });

  it('an invalid line is a configuration error naming the file and the line', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '# header\n10.0.0.0/8\n10.0.0/8\n\n2001:db8::/129\n');
    const e = configErrorOf(() => {
      createIpLists({ p: { file } });
    });
    expect(e.code).toBe('ERR_REALIP_LIST_FILE');
    expect(e.issues.map((i) => i.path)).toEqual(['lists.p.file', 'lists.p.file']);
    expect(e.issues[0]!.message).toContain(`${file}: line 3: invalid address "10.0.0"`);
    expect(e.issues[1]!.message).toContain('line 5: invalid prefix');
  });

  it('a missing file and an empty file are configuration errors; allowEmpty accepts the latter', async () => {
    const dir = await freshDir();
    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '# nothing here\n\n');
    let error: unknown;
    try {
      createIpLists({ gone: { file: join(dir, 'missing.txt') }, empty: { file: empty } });
    } catch (e) {
      error = e;
    }
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => i.path)).toEqual(['lists.gone.file', 'lists.empty.file']);
    expect(issues[0]!.message).toContain('ENOENT');
    expect(issues[1]!.message).toContain('no rules');
    const lists = track(createIpLists({ empty: { file: empty, allowEmpty: true } }));
    expect(lists.get('empty')!.has('10.0.0.1')).toBe(false);
  });

  it('rejects unknown keys in a file definition', () => {
    let error: unknown;
    try {
      createIpLists({ p: { file: '/nonexistent', wacth: false } as never });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['lists.p.wacth', 'lists.p.file']);
  });
});

describe('file lists: hot reload', () => {
  const opts = (events: IpListReloadEvent[], errors: IpListReloadError[]) => ({
    pollMs: 250,
    debounceMs: 30,
    onReload: (e: IpListReloadEvent) => events.push(e),
    onReloadError: (e: IpListReloadError) => errors.push(e),
  });

  it('plain rewrite: the live lookup and a policy built on it see the new list', async () => {
    const dir = await freshDir();
    const file = join(dir, 'blocked.txt');
    await writeFile(file, '198.51.100.0/24\n');
    const events: IpListReloadEvent[] = [];
    const errors: IpListReloadError[] = [];
    const lists = track(createIpLists({ blocked: { file } }, opts(events, errors)));
    const live = lists.get('blocked')!;
    const policy = createAccessPolicy({ lists, deny: [{ list: 'blocked' }] });
    expect(live.has('198.51.100.1')).toBe(true);
    expect(policy.decide('203.0.113.1', undefined).allowed).toBe(true);

    await writeFile(file, '203.0.113.0/24\n2001:db8::/32\n');
    await waitFor(() => live.has('203.0.113.1'));
    expect(live.has('198.51.100.1')).toBe(false);
    expect(live.has('2001:db8::1')).toBe(true);
    expect(policy.decide('203.0.113.1', undefined)).toMatchObject({ allowed: false, rule: 'list:blocked' });
    expect(events.at(-1)).toMatchObject({ list: 'blocked', file, rules: 2, ranges: 2 });
    // A plain rewrite truncates first: if the watcher caught the empty file in between, it was
    // rejected (and the old list kept) rather than swapped in.
    for (const e of errors) expect(e.error.message).toContain('no rules');
    expect(lists.stats()[0]!.reloads).toBeGreaterThanOrEqual(1);
  });

  it('rename-over (write a temp file, rename it onto the list)', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const lists = track(createIpLists({ l: { file } }, opts([], [])));
    const live = lists.get('l')!;
    expect(live.has('10.9.9.9')).toBe(true);
    const tmp = join(dir, '.list.txt.tmp');
    await writeFile(tmp, '192.0.2.0/24\n');
    await rename(tmp, file);
    await waitFor(() => live.has('192.0.2.7'));
    expect(live.has('10.9.9.9')).toBe(false);
  });

  it('Kubernetes ConfigMap symlink swap (..data -> ..2026_x, swapped atomically)', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, '..2026_11_27_10_00_00.1'));
    await writeFile(join(dir, '..2026_11_27_10_00_00.1', 'list.txt'), '10.0.0.0/8\n');
    await symlink('..2026_11_27_10_00_00.1', join(dir, '..data'));
    await symlink('..data/list.txt', join(dir, 'list.txt'));
    const file = join(dir, 'list.txt');
    const events: IpListReloadEvent[] = [];
    const lists = track(createIpLists({ cm: { file } }, opts(events, [])));
    const live = lists.get('cm')!;
    expect(live.has('10.1.1.1')).toBe(true);

    // What the kubelet does: write the new version into a fresh timestamped directory, point a
    // temporary symlink at it, rename the temporary symlink over ..data, remove the old directory.
    await mkdir(join(dir, '..2026_11_27_10_05_00.2'));
    await writeFile(join(dir, '..2026_11_27_10_05_00.2', 'list.txt'), '172.16.0.0/12\n# swapped\n');
    await symlink('..2026_11_27_10_05_00.2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await rm(join(dir, '..2026_11_27_10_00_00.1'), { recursive: true });

    await waitFor(() => live.has('172.20.0.1'));
    expect(live.has('10.1.1.1')).toBe(false);
    expect(lists.stats()[0]!.file).toBe(file);
    expect(events.length).toBe(1);
  });

  it('a bad file keeps the old list and is reported (callback, counter, lastError); a fix reloads', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const errors: IpListReloadError[] = [];
    const lists = track(createIpLists({ l: { file } }, opts([], errors)));
    const live = lists.get('l')!;

    await writeAtomic(file, '# comment\n192.0.2.0/24\n192.0.2.300\n');
    await waitFor(() => errors.length > 0);
    expect(live.has('10.1.1.1')).toBe(true);
    expect(live.has('192.0.2.1')).toBe(false);
    expect(errors[0]!.list).toBe('l');
    expect(errors[0]!.file).toBe(file);
    expect(errors[0]!.error.message).toContain('line 3: invalid address "192.0.2.300"');
    expect(lists.reloadErrors).toBe(1);
    expect(lists.stats()[0]).toMatchObject({ reloadErrors: 1, reloads: 0 });
    expect(lists.stats()[0]!.lastError).toContain('line 3');

    // A truncated (empty) file is also rejected: it would silently empty a deny list.
    await writeFile(file, '');
    await waitFor(() => errors.length > 1);
    expect(errors[1]!.error.message).toContain('no rules');
    expect(live.has('10.1.1.1')).toBe(true);

    await writeAtomic(file, '192.0.2.0/24\n');
    await waitFor(() => live.has('192.0.2.1'));
    expect(live.has('10.1.1.1')).toBe(false);
    expect(lists.stats()[0]).toMatchObject({ reloadErrors: 2, reloads: 1, lastError: undefined });
  });

  it('a deleted file keeps the old list and is reported', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const errors: IpListReloadError[] = [];
    const lists = track(createIpLists({ l: { file } }, opts([], errors)));
    await rm(file);
    await waitFor(() => errors.length > 0);
    expect(errors[0]!.error.message).toContain('ENOENT');
    expect(lists.get('l')!.has('10.1.1.1')).toBe(true);
  });

  it('without onReloadError, a process warning WRN_REALIP_LIST_RELOAD_FAILED is emitted once', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if ((w as Error & { code?: string }).code === 'WRN_REALIP_LIST_RELOAD_FAILED') warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const lists = track(createIpLists({ l: { file } }, { pollMs: 100, debounceMs: 20 }));
      await writeFile(file, 'nope\n');
      await waitFor(() => lists.reloadErrors >= 1);
      await writeFile(file, 'nope either\n');
      await waitFor(() => lists.reloadErrors >= 2);
      await sleep(50);
      expect(warnings.length).toBe(1);
      expect(warnings[0]!.message).toContain('list "l"');
      expect(warnings[0]!.message).toContain('previous version stays in use');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('watch: false does not reload by itself; reload() does', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const errors: IpListReloadError[] = [];
    const lists = track(createIpLists({ l: { file, watch: false } }, { ...opts([], errors), pollMs: 50 }));
    await writeFile(file, '192.0.2.0/24\n');
    await sleep(300);
    expect(lists.get('l')!.has('10.1.1.1')).toBe(true);
    await lists.reload('l');
    expect(lists.get('l')!.has('192.0.2.1')).toBe(true);
    expect(lists.get('l')!.has('10.1.1.1')).toBe(false);
    await writeFile(file, 'bad\n');
    await lists.reload();
    expect(errors.length).toBe(1);
    expect(lists.get('l')!.has('192.0.2.1')).toBe(true);
  });

  it('reload() on a watched list re-reads immediately', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const lists = track(createIpLists({ l: { file } }, { pollMs: 60_000, debounceMs: 60_000 }));
    await writeFile(file, '192.0.2.0/24\n');
    await lists.reload();
    expect(lists.get('l')!.has('192.0.2.1')).toBe(true);
  });

  it('close() stops reloading', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const lists = createIpLists({ l: { file } }, { pollMs: 50, debounceMs: 10 });
    lists.close();
    await writeFile(file, '192.0.2.0/24\n');
    await sleep(300);
    expect(lists.get('l')!.has('10.1.1.1')).toBe(true);
    expect(lists.get('l')!.has('192.0.2.1')).toBe(false);
  });

  it('a policy created from list definitions owns them and close() stops their watchers', async () => {
    const dir = await freshDir();
    const file = join(dir, 'list.txt');
    await writeFile(file, '10.0.0.0/8\n');
    const policy = createAccessPolicy({ lists: { l: { file } }, deny: [{ list: 'l' }] });
    expect(policy.decide('10.0.0.1', undefined).rule).toBe('list:l');
    policy.close();
  });
});
