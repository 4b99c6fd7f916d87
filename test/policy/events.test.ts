/**
 * Lifecycle events: one shape (`time` ISO 8601, `level`, kebab-case `event`, fields), the level
 * table, the catalogue in docs/sidecar.md, and the stack reporting reloads (policy file, lists,
 * GeoIP) to `onEvent` instead of its access logger.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EVENT_NAMES,
  createEvent,
  eventLevel,
  formatEventLine,
  warningEvent,
} from '../../src/core/events.js';
import { createStack, parsePolicy, type RealipEvent } from '../../src/policy/index.js';
import { countryDb, daysAgo, writeDb } from '../geo/fixtures.js';
import { writeMmdb } from '../support/mmdb-writer.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'realip-events-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces a file atomically, as kubectl and editors do. */
async function replace(path: string, content: string | Buffer): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

async function until<T>(find: () => T | undefined, what: () => string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A logger that records every call (the access logger must receive access-log lines only). */
function recordingLogger() {
  const lines: object[] = [];
  const push = (o: object) => void lines.push(o);
  return { lines, info: push, warn: push, error: push };
}

describe('the event line', () => {
  it('is time (ISO 8601), level, event, then the fields', () => {
    const line = formatEventLine(
      { event: 'listening', listen: '127.0.0.1:8080', admin: undefined },
      new Date(Date.UTC(2026, 0, 31, 12)),
    );
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd().split('\n')).toHaveLength(1);
    expect(line).toBe(
      '{"time":"2026-01-31T12:00:00.000Z","level":"info","event":"listening","listen":"127.0.0.1:8080"}\n',
    );
  });

  it('takes the level from the table for events without one, and fields cannot replace time or event', () => {
    const parse = (e: Parameters<typeof formatEventLine>[0]) =>
      JSON.parse(formatEventLine(e)) as Record<string, unknown>;
    expect(parse({ event: 'upstream-error', kind: 'connect', status: 502 })).toMatchObject({
      level: 'warn',
      event: 'upstream-error',
    });
    expect(parse({ event: 'stack-error', error: 'boom' }).level).toBe('error');
    expect(parse({ event: 'shutdown', step: 'closed', drained: true }).level).toBe('info');
    expect(parse({ event: 'policy-reloaded', level: 'nonsense' }).level).toBe('info');
    const e = parse({ event: 'signal', time: 'yesterday', signal: 'SIGTERM' });
    expect(e.time).toMatch(ISO);
    expect(Object.keys(e)).toEqual(['time', 'level', 'event', 'signal']);
  });

  it('levels: lifecycle info, upstream errors and warnings warn, failures error', () => {
    expect(
      Object.fromEntries(
        ['listening', 'signal', 'shutdown', 'policy-reloaded'].map((n) => [n, eventLevel(n)]),
      ),
    ).toEqual({ listening: 'info', signal: 'info', shutdown: 'info', 'policy-reloaded': 'info' });
    expect(eventLevel('upstream-error')).toBe('warn');
    expect(eventLevel('warning')).toBe('warn');
    for (const n of ['stack-error', 'admin-error', 'policy-reload-failed'])
      expect(eventLevel(n)).toBe('error');
    expect(eventLevel('constructor')).toBe('info');
    for (const n of EVENT_NAMES) expect(n).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });

  it('a warning is a warn-level event with code, message, help and count', () => {
    const w = { code: 'WRN_REALIP_X', message: 'm', help: 'docs/errors.md#wrn-realip-x', count: 2 };
    expect(warningEvent(w)).toEqual({ event: 'warning', level: 'warn', ...w });
    // The name and level of createEvent win over fields of the same name.
    expect(createEvent('policy-reloaded', { event: 'x', level: 'error', file: 'p' })).toEqual({
      event: 'policy-reloaded',
      level: 'info',
      file: 'p',
    });
  });

  it('docs/sidecar.md lists every event with its level', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/sidecar.md'), 'utf8');
    const rows = new Map<string, string>();
    for (const m of doc.matchAll(/^\| `([a-z-]+)` \| (info|warn|error) \|/gm)) rows.set(m[1]!, m[2]!);
    expect([...rows.keys()].sort()).toEqual([...EVENT_NAMES].sort());
    for (const [name, level] of rows) expect(level, name).toBe(eventLevel(name));
  });
});

describe('createStack({ onEvent })', () => {
  it('reports policy reloads (success and failure) to onEvent, none to the access logger', async () => {
    const dir = await tempDir();
    const path = join(dir, 'policy.yaml');
    const v1 = 'access: { allow: [10.0.0.0/8] }\nmetrics: { enabled: false }\n';
    await writeFile(path, v1);
    const events: RealipEvent[] = [];
    const logger = recordingLogger();
    const s = await createStack(parsePolicy(v1, { filename: path }), {
      logger,
      onEvent: (e) => void events.push(e),
      watch: path,
      watchOptions: { pollMs: 50, debounceMs: 10 },
    });
    cleanup.push(() => s.close());

    await replace(path, 'access: { allow: [198.51.100.0/24] }\nmetrics: { enabled: false }\n');
    const ok = await until(
      () => events.find((e) => e.event === 'policy-reloaded'),
      () => JSON.stringify(events),
    );
    expect(ok).toEqual({ event: 'policy-reloaded', level: 'info', file: path, count: 1 });

    await replace(path, 'access: { allow: [198.51.100.0/33] }\n');
    const failed = await until(
      () => events.find((e) => e.event === 'policy-reload-failed'),
      () => JSON.stringify(events),
    );
    expect(failed).toMatchObject({ level: 'error', file: path, count: 1 });
    expect(failed.problems).toEqual([expect.stringContaining(`${path}:1: access.allow[0]`)]);
    expect(s.reloads()).toMatchObject({ reloads: 1, failures: 1 });
    expect(logger.lines).toEqual([]);
  });

  it('reports list reloads as events and a rejected list file as one warning event (no process warning)', async () => {
    const dir = await tempDir();
    const list = join(dir, 'blocked.txt');
    await writeFile(list, '192.0.2.0/24\n');
    const events: RealipEvent[] = [];
    const processWarnings: Error[] = [];
    const onProcessWarning = (w: Error) => void processWarnings.push(w);
    process.on('warning', onProcessWarning);
    cleanup.push(() => void process.off('warning', onProcessWarning));
    const s = await createStack(
      parsePolicy(
        `lists: { blocked: { file: ${JSON.stringify(list)} } }\naccess: { deny: [{ list: blocked }] }\nmetrics: { enabled: false }\nlog: { enabled: false }\n`,
      ),
      { onEvent: (e) => void events.push(e), watchOptions: { pollMs: 50, debounceMs: 10 } },
    );
    cleanup.push(() => s.close());

    await replace(list, '192.0.2.0/24\n198.51.100.0/24\n');
    const reloaded = await until(
      () => events.find((e) => e.event === 'list-reloaded'),
      () => JSON.stringify(events),
    );
    expect(reloaded).toEqual({
      event: 'list-reloaded',
      level: 'info',
      list: 'blocked',
      file: list,
      rules: 2,
      ranges: 2,
    });

    await replace(list, 'not an address\n');
    const warning = await until(
      () => events.find((e) => e.event === 'warning'),
      () => JSON.stringify(events),
    );
    expect(warning).toMatchObject({
      level: 'warn',
      code: 'WRN_REALIP_LIST_RELOAD_FAILED',
      help: 'docs/errors.md#wrn-realip-list-reload-failed',
      count: 1,
    });
    expect(warning.message).toContain('lists.blocked');
    await replace(list, 'still not an address\n');
    await until(
      () => (s.pipeline.lists?.stats()[0]?.reloadErrors === 2 ? true : undefined),
      () => JSON.stringify(s.pipeline.lists?.stats()),
    );
    expect(events.filter((e) => e.event === 'warning')).toHaveLength(1); // once until it reloads
    expect(processWarnings.filter((w) => /list/.test(w.message))).toEqual([]);
  });

  it('reports a GeoIP database reload as geo-reloaded', async () => {
    const dir = await tempDir();
    const db = writeDb(dir, 'country.mmdb', countryDb());
    const events: RealipEvent[] = [];
    const s = await createStack(
      parsePolicy(
        `geo: { databases: [${JSON.stringify(db)}] }\nmetrics: { enabled: false }\nlog: { enabled: false }\n`,
      ),
      { onEvent: (e) => void events.push(e) },
    );
    cleanup.push(() => s.close());
    const built = new Date(daysAgo(1) * 1000);
    await replace(db, writeMmdb(countryDb({ buildEpoch: built }, 'SE')));
    await s.pipeline.geo!.reload();
    const reloaded = await until(
      () => events.find((e) => e.event === 'geo-reloaded'),
      () => JSON.stringify(events),
    );
    expect(reloaded).toEqual({
      event: 'geo-reloaded',
      level: 'info',
      database: expect.any(String),
      file: db,
      buildEpoch: built.toISOString(),
    });
  });

  it('warnings go to onEvent when there is no onWarning', async () => {
    const events: RealipEvent[] = [];
    const s = await createStack(
      parsePolicy('resolve: { trustedProxies: [] }\nmetrics: { enabled: false }\nlog: { enabled: false }\n'),
      { onEvent: (e) => void events.push(e) },
    );
    cleanup.push(() => s.close());
    s.pipeline.resolver.warn('WRN_REALIP_TEST', 'a test warning');
    expect(events).toEqual([
      expect.objectContaining({ event: 'warning', level: 'warn', code: 'WRN_REALIP_TEST', count: 1 }),
    ]);
  });
});
