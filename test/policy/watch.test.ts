import { mkdtemp, rename, rm, symlink, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PolicyError, type Policy, type PolicyLogger } from '../../src/policy/index.js';
import { watchPolicyFile } from '../../src/policy/watch.js';
import { ConfigError } from '../../src/errors.js';

const V1 = 'rateLimit:\n  tiers: [{ name: a, limits: [{ points: 1, duration: 1 }] }]\n';
const V2 = 'rateLimit:\n  tiers: [{ name: b, limits: [{ points: 2, duration: 1 }] }]\n';
const BAD = 'rateLimit:\n  tiers: [{ name: c, limits: [{ points: 0, duration: 1 }] }]\n';

function capture(): PolicyLogger & { lines: { level: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; obj: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (obj) => lines.push({ level: 'info', obj: obj as Record<string, unknown> }),
    error: (obj) => lines.push({ level: 'error', obj: obj as Record<string, unknown> }),
  };
}

/** Replaces a file atomically, as kubectl, editors and config tools do (no half-written reads). */
async function replace(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('watchPolicyFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realip-watch-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a valid new version, keeps the old one on an invalid version (logged and counted), then recovers', async () => {
    const path = join(dir, 'policy.yaml');
    await writeFile(path, V1);
    const applied: Policy[] = [];
    const errors: Error[] = [];
    const logger = capture();
    const w = watchPolicyFile(path, {
      onChange: (p) => void applied.push(p),
      onError: (e) => errors.push(e),
      logger,
      pollMs: 50,
      debounceMs: 10,
    });
    try {
      await replace(path, V2);
      await until(() => applied.length === 1);
      expect(applied.map((p) => p.rateLimit?.tiers[0]?.name)).toEqual(['b']);
      expect(w.stats()).toMatchObject({ reloads: 1, failures: 0, lastError: undefined });

      await replace(path, BAD);
      await until(() => errors.length === 1);
      expect(applied).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(PolicyError);
      expect(w.stats()).toMatchObject({ reloads: 1, failures: 1 });
      expect(w.stats().lastError).toContain('policy.yaml:2: rateLimit.tiers[0].limits[0].points: too small');
      const failed = logger.lines.find((l) => l.obj.event === 'policy-reload-failed');
      expect(failed?.level).toBe('error');
      expect(failed?.obj.problems).toEqual([expect.stringContaining('rateLimit.tiers[0].limits[0].points')]);

      await replace(path, V1);
      await until(() => applied.length === 2);
      expect(applied.map((p) => p.rateLimit?.tiers[0]?.name)).toEqual(['b', 'a']);
      expect(w.stats()).toMatchObject({ reloads: 2, failures: 1, lastError: undefined });
    } finally {
      w.close();
    }
  });

  it('maps a rejection by onChange (a stage ConfigError) to the policy line, and keeps the old policy', async () => {
    const path = join(dir, 'policy.yaml');
    await writeFile(path, V1);
    const errors: Error[] = [];
    const w = watchPolicyFile(path, {
      onChange: () => {
        throw new ConfigError([{ path: 'rateLimit.tiers[0].name', message: 'refused by the stage' }]);
      },
      onError: (e) => errors.push(e),
      logger: capture(),
      pollMs: 50,
    });
    try {
      await replace(path, V2);
      await until(() => errors.length === 1);
      expect(errors[0]?.message).toBe(`${path}:2: rateLimit.tiers[0].name: refused by the stage`);
      expect(w.stats().failures).toBe(1);
    } finally {
      w.close();
    }
  });

  it('follows a Kubernetes ConfigMap update (..data symlink swap) without an explicit check', async () => {
    // Layout of a mounted ConfigMap: policy.yaml -> ..data/policy.yaml, ..data -> ..2026_v1
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'policy.yaml'), V1);
    await symlink('..v1', join(dir, '..data'));
    await symlink(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    const applied: Policy[] = [];
    const w = watchPolicyFile(join(dir, 'policy.yaml'), {
      onChange: (p) => void applied.push(p),
      logger: capture(),
      pollMs: 100,
      debounceMs: 10,
    });
    try {
      await mkdir(join(dir, '..v2'));
      await writeFile(join(dir, '..v2', 'policy.yaml'), V2);
      await symlink('..v2', join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await until(() => applied.length === 1);
      expect(applied[0]?.rateLimit?.tiers[0]?.name).toBe('b');
    } finally {
      w.close();
    }
  });

  it('checks the files a new version names (a broken list file rejects the version)', async () => {
    const path = join(dir, 'policy.yaml');
    await writeFile(path, V1);
    await writeFile(join(dir, 'bad.txt'), 'not-a-cidr\n');
    const errors: Error[] = [];
    const w = watchPolicyFile(path, {
      onChange: () => {},
      onError: (e) => errors.push(e),
      logger: capture(),
      pollMs: 50,
    });
    try {
      await replace(path, 'lists:\n  x: { file: bad.txt }\n');
      await until(() => errors.length === 1);
      expect(errors[0]?.message).toContain(
        `${path}:2: lists.x.file: ${join(dir, 'bad.txt')}:1: invalid address "not-a-cidr"`,
      );
    } finally {
      w.close();
    }
  });
});
