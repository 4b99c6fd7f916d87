/**
 * The README's main job: `npm start` runs `realip demo`, the echo app behind the sidecar with the
 * built-in default policy. Tested in-process (startDemo) and as the real command (a child process).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { banner, run, startDemo, type Demo } from '../../src/cli/demo.js';
import { DEFAULT_POLICY } from '../../src/policy/index.js';

const ROOT = join(import.meta.dirname, '../..');
let demo: Demo | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

describe('realip demo', () => {
  it('serves {"message":"Hello","yourIP":...}, ignores a spoofed X-Forwarded-For, limits bursts, exposes metrics', async () => {
    const lines: Record<string, unknown>[] = [];
    const push = (o: object) => void lines.push(o as Record<string, unknown>);
    demo = await startDemo({
      listen: { host: '127.0.0.1', port: 0 },
      adminListen: { host: '127.0.0.1', port: 0 },
      logger: { info: push, warn: push, error: push },
      clock: () => 1_000_000, // frozen: the burst arithmetic, not the machine's speed, decides
    });
    expect(demo.policy).toBe(DEFAULT_POLICY);
    const r = await fetch(`${demo.url}/`);
    expect(await r.json()).toEqual({ message: 'Hello', yourIP: '127.0.0.1' });
    const spoofed = await fetch(`${demo.url}/`, {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9' },
    });
    expect(await spoofed.json()).toEqual({ message: 'Hello', yourIP: '127.0.0.1' });
    // Two requests so far; with the clock frozen, 19 more pass (burst 20 + 1), then 429.
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const x = await fetch(`${demo.url}/`);
      await x.arrayBuffer();
      statuses.push(x.status);
    }
    expect(statuses).toEqual([...Array(19).fill(200), 429]);
    const limited = await fetch(`${demo.url}/`);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('content-type')).toBe('application/problem+json');
    await limited.arrayBuffer();
    const metrics = await (await fetch(`${demo.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /realip_requests_total\{decision="limited",reason="ratelimit",tier="per-ip"\} \d+/,
    );
    expect((await fetch(`${demo.adminUrl}/readyz`)).status).toBe(200);
    // The public listener does not serve the admin paths (this one reaches the app, and is limited).
    expect((await fetch(`${demo.url}/metrics`)).status).toBe(429);
    expect(lines.some((l) => l['client.address'] === '127.0.0.1' && l['realip.decision'] === 'allowed')).toBe(
      true,
    );
    const text = banner(demo, undefined);
    expect(text).toContain(`curl -H 'X-Forwarded-For: 203.0.113.9' ${demo.url}/`);
    expect(text).toContain(`${demo.adminUrl}/metrics`);
    expect(text).toContain('Local mode: no proxy is trusted');
  });

  it('exits 2 on bad arguments', async () => {
    const err: string[] = [];
    const spy = process.stderr.write;
    process.stderr.write = ((c: string) => (err.push(String(c)), true)) as typeof process.stderr.write;
    try {
      expect(await run(['--bogus'])).toBe(2);
      expect(await run(['--listen', 'nope:nope'])).toBe(2);
    } finally {
      process.stderr.write = spy;
    }
    expect(err.join('')).toContain('Usage: realip demo');
  });

  it('runs as the real command, prints the URLs, answers, and stops on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'demo',
        '--listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const end = Date.now() + 30_000;
      while (!/Ctrl-C stops the demo/.test(out)) {
        if (Date.now() > end) throw new Error(`demo did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = /realip sidecar in front:\s+(http:\/\/\S+)/.exec(out)![1]!;
      const body = await (await fetch(`${url}/`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).json();
      expect(body).toEqual({ message: 'Hello', yourIP: '127.0.0.1' });
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/"client\.address":"127\.0\.0\.1"/);
  }, 60_000);
});
