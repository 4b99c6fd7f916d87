import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as check } from '../../src/cli/check.js';
import { run as schema } from '../../src/cli/schema.js';
import { policyJsonSchema } from '../../src/policy/index.js';
import { requireRedis } from '../support/env.js';

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => ((out += String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => ((err += String(c)), true));
  try {
    return { code: await fn(), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('realip check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realip-cli-'));
    await writeFile(join(dir, 'ok.yaml'), 'resolve:\n  trustedProxies: [10.0.0.0/8]\n');
    await writeFile(join(dir, 'bad.yaml'), 'resolve:\n  trustedProxies: [10.0.0/8]\n  hopz: 1\n');
    await writeFile(
      join(dir, 'stage.yaml'),
      'version: 1\nresolve:\n  preset:\n    name: cloudflare\n    requireHeader: { name: x-t, valueEnv: REALIP_TEST_NO_SUCH_TENANT }\n',
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 and summarises a valid policy', async () => {
    const r = await capture(() => check([join(dir, 'ok.yaml')]));
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${join(dir, 'ok.yaml')}: OK`);
    expect(r.out).toContain('resolve: trusts 10.0.0.0/8; reads x-forwarded-for');
  });

  it('exits 2 with every problem as file:line: path: message, and no stack trace', async () => {
    const r = await capture(() => check([join(dir, 'bad.yaml')]));
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toMatch(/bad\.yaml:2: resolve\.trustedProxies\[0\]: invalid address "10\.0\.0"/);
    expect(lines[1]).toMatch(/bad\.yaml:3: resolve\.hopz: unknown key .*did you mean "hops"\?/);
    expect(lines[2]).toMatch(/bad\.yaml: 2 problems$/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('checks several files; one bad file fails the run', async () => {
    const r = await capture(() => check(['--quiet', join(dir, 'ok.yaml'), join(dir, 'bad.yaml')]));
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
  });

  it('--json prints one object per file', async () => {
    const r = await capture(() => check(['--json', join(dir, 'ok.yaml'), join(dir, 'bad.yaml')]));
    const [ok, bad] = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ok).toMatchObject({ valid: true, issues: [] });
    expect(bad.valid).toBe(false);
    expect(bad.issues[0]).toMatchObject({
      line: 2,
      path: 'resolve.trustedProxies[0]',
      code: 'ERR_REALIP_CIDR_INVALID',
    });
  });

  it.each([[[]], [['--nope', 'x.yaml']]])('exits 2 for bad arguments %j', async (argv) => {
    const r = await capture(() => check(argv));
    expect(r.code).toBe(2);
    expect(r.err).toContain('Usage: realip check');
  });

  it('builds the stages: a tenant secret from an unset variable fails at its line (unless --schema-only)', async () => {
    const r = await capture(() => check([join(dir, 'stage.yaml')]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/stage\.yaml:5: resolve\.preset\.requireHeader\.valueEnv: environment variable/);
    expect((await capture(() => check(['--schema-only', join(dir, 'stage.yaml')]))).code).toBe(0);
  });

  it('exits 2 for a missing file', async () => {
    const r = await capture(() => check([join(dir, 'missing.yaml')]));
    expect(r.code).toBe(2);
    expect(r.err).toContain('missing.yaml: cannot read the policy file (ENOENT)');
  });
});

describe('realip check --connect', async () => {
  const redisUp = await requireRedis();
  let dir: string;
  const policy = (url: string) =>
    `rateLimit:\n  store: redis\n  redis:\n    url: "${url}"\n  tiers: [{ name: d, limits: [{ points: 1, duration: 1 }] }]\n`;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realip-cli-connect-'));
    await writeFile(join(dir, 'up.yaml'), policy('redis://127.0.0.1:6379'));
    await writeFile(join(dir, 'down.yaml'), policy('redis://127.0.0.1:1'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.runIf(redisUp)('exits 0 when the policy connects to its Redis', async () => {
    const r = await capture(() => check(['--connect', join(dir, 'up.yaml')]));
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${join(dir, 'up.yaml')}: OK`);
  });

  it('exits 2 with the connection error at the redis section', async () => {
    const r = await capture(() => check(['--connect', '--timeout', '1', join(dir, 'down.yaml')]));
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `${join(dir, 'down.yaml')}:3: rateLimit.redis: not connected within 1 s (connect ECONNREFUSED 127.0.0.1:1)`,
    );
  });

  it('without --connect the same file is valid (nothing is connected)', async () => {
    expect((await capture(() => check(['--quiet', join(dir, 'down.yaml')]))).code).toBe(0);
  });

  it('rejects a bad --timeout', async () => {
    const r = await capture(() => check(['--connect', '--timeout', 'soon', join(dir, 'up.yaml')]));
    expect(r.code).toBe(2);
    expect(r.err).toContain('--timeout: expected seconds from 0 to 300 (got "soon")');
  });
});

describe('realip schema', () => {
  it('prints the JSON Schema', async () => {
    const r = await capture(() => schema([]));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(policyJsonSchema());
  });

  it('writes it to --out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'realip-schema-'));
    try {
      const r = await capture(() => schema(['--out', join(dir, 's.json')]));
      expect(r.code).toBe(0);
      expect(JSON.parse(await readFile(join(dir, 's.json'), 'utf8'))).toEqual(policyJsonSchema());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 for an unknown option', async () => {
    expect((await capture(() => schema(['--bogus']))).code).toBe(2);
  });
});
