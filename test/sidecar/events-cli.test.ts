/**
 * The built `realip sidecar` as a child process: every lifecycle event, reload results included, is
 * one JSON line on stderr (`time` ISO 8601, `level`, kebab-case `event`); the access log alone goes
 * to its destination (here a file), and stdout stays empty.
 *
 * Runs `dist/cli/main.js` when dist/ is newer than every source file; otherwise builds a private
 * copy (tsup, ESM only, no declarations: a few seconds), so neither a stale dist/ nor another suite
 * rebuilding dist/ can affect it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startApp, type App } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The built CLI entry: dist/ when fresh, else a private build of the current sources. */
async function builtCli(work: string): Promise<string> {
  const main = join(ROOT, 'dist/cli/main.js');
  if (existsSync(main) && statSync(main).mtimeMs > newestMtime(join(ROOT, 'src'))) return main;
  const pkg = join(work, 'pkg');
  mkdirSync(pkg);
  for (const f of ['package.json', 'tsup.config.ts', 'tsconfig.json', 'src']) {
    cpSync(join(ROOT, f), join(pkg, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules/tsup/dist/cli-default.js'), '--no-dts', '--format', 'esm', '--silent'],
      { cwd: pkg, timeout: 60_000 },
      (error, _stdout, stderr) => (error ? reject(new Error(`tsup: ${stderr || error.message}`)) : resolve()),
    ),
  );
  return join(pkg, 'dist/cli/main.js');
}

let work: string;
let cli: string;
let app: App;
const children: ChildProcess[] = [];
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'realip-events-cli-'));
  app = await startApp();
  cli = await builtCli(work);
}, 90_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

async function until<T>(find: () => T | undefined, what: () => string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('realip sidecar events (built CLI)', () => {
  it('events on stderr for a failed reload, a successful one and shutdown; access log alone in its file; stdout empty', async () => {
    const dir = join(work, 'run');
    mkdirSync(dir);
    const policy = join(dir, 'policy.yaml');
    const accessLog = join(dir, 'access.log');
    const write = async (text: string) => {
      await writeFile(`${policy}.tmp`, text);
      await rename(`${policy}.tmp`, policy);
    };
    const valid = (cidr: string) =>
      `access: { deny: [${cidr}] }\nmetrics: { enabled: false }\nlog: { destination: ${JSON.stringify(accessLog)} }\n`;
    await write(valid('192.0.2.0/24'));

    const child = spawn(
      process.execPath,
      [
        cli,
        'sidecar',
        '--config',
        policy,
        '--upstream',
        app.url,
        '--listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
        '--shutdown-delay',
        '0',
        '--drain-timeout',
        '1s',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const lines = () => stderr.split('\n').filter((l) => l.endsWith('}'));
    const events = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    const find = (name: string) => events().find((e) => e.event === name);

    const listening = await until(
      () => find('listening'),
      () => stderr,
    );
    expect((await request(`http://${listening.listen as string}/hello`)).status).toBe(200);
    await until(
      () => (existsSync(accessLog) && statSync(accessLog).size > 0 ? true : undefined),
      () => 'an access-log line',
    );

    // An invalid version: rejected, reported on stderr, the old policy stays.
    await write('access: { deny: [192.0.2.0/33] }\n');
    const failed = await until(
      () => find('policy-reload-failed'),
      () => stderr,
    );
    expect(failed).toMatchObject({ level: 'error', file: policy, count: 1 });
    expect(failed.problems).toEqual([expect.stringMatching(/policy\.yaml:1: access\.deny\[0\]: .*prefix/)]);

    // A valid version: applied, reported.
    await write(valid('198.51.100.0/24'));
    const reloaded = await until(
      () => find('policy-reloaded'),
      () => stderr,
    );
    expect(reloaded).toMatchObject({ level: 'info', file: policy, count: 1 });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // Every stderr line is an event of the one shape.
    expect(stderr.split('\n').filter((l) => l !== '')).toEqual(lines());
    for (const e of events()) {
      expect(Object.keys(e).slice(0, 3)).toEqual(['time', 'level', 'event']);
      expect(e.time).toMatch(ISO);
      expect(['info', 'warn', 'error']).toContain(e.level);
      expect(e.event).toMatch(/^[a-z]+(-[a-z]+)*$/);
    }
    expect(events().map((e) => [e.event, e.level])).toEqual([
      ['listening', 'info'],
      ['policy-reload-failed', 'error'],
      ['policy-reloaded', 'info'],
      ['signal', 'info'],
      ['shutdown', 'info'],
      ['shutdown', 'info'],
      ['shutdown', 'info'],
    ]);

    // Neither stdout nor the access log carries events.
    expect(stdout).toBe('');
    const access = (await readFile(accessLog, 'utf8')).split('\n').filter((l) => l !== '');
    expect(access.length).toBeGreaterThan(0);
    expect(access.join('\n')).not.toMatch(/policy|reload|listening|shutdown/);
  }, 90_000);
});
