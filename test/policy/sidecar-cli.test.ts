/**
 * `realip sidecar --config policy.yaml`: the policy's stack in front of an app, and hot reload of
 * the policy file (a valid version is applied, an invalid one is logged and the old one kept).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEchoApp } from '../../src/cli/echo-app.js';

const ROOT = join(import.meta.dirname, '../..');
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function until(cond: () => boolean | Promise<boolean>, what: () => string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('realip sidecar --config', () => {
  it('runs the policy and reloads it when the file changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'realip-sidecar-cli-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const app = await startEchoApp(0);
    cleanup.push(() => new Promise((r) => app.server.close(r)));
    const policy = join(dir, 'policy.yaml');
    const write = async (text: string) => {
      await writeFile(`${policy}.tmp`, text);
      await rename(`${policy}.tmp`, policy);
    };
    await write('access:\n  deny: [loopback]\nlog: { enabled: false }\n');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'sidecar',
        '--config',
        policy,
        '--upstream',
        `http://127.0.0.1:${app.port}`,
        '--listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    cleanup.push(async () => {
      child.kill('SIGINT');
      await exited;
    });
    await until(
      () => /"event":"listening"/.test(out),
      () => out,
    );
    const port = /"listen":"[^"]*:(\d+)"/.exec(out)![1];
    const url = `http://127.0.0.1:${port}/`;
    expect((await fetch(url)).status).toBe(403);

    await write('access:\n  deny: [192.0.2.0/24]\nlog: { enabled: false }\n');
    await until(
      async () => (await fetch(url)).status === 200,
      () => out,
    );
    expect(await (await fetch(url, { headers: { 'x-forwarded-for': '203.0.113.9' } })).json()).toMatchObject({
      message: 'Hello',
      yourIP: '127.0.0.1',
    });

    await write('access:\n  deny: [192.0.2.0/33]\n');
    await until(
      () => /policy-reload-failed/.test(out),
      () => out,
    );
    expect(out).toMatch(/policy\.yaml:2: access\.deny\[0\]: invalid prefix/);
    expect((await fetch(url)).status).toBe(200);
  }, 60_000);
});
