import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { generated } from '../../scripts/gen-config-docs.mjs';

describe('generated configuration docs', () => {
  it('docs/configuration.md, docs/policy.schema.json and docs/sidecar.md agree with the specs (regenerate: node --import tsx scripts/gen-config-docs.mjs)', async () => {
    const files = (await generated()) as Record<string, string>;
    expect(Object.keys(files)).toHaveLength(3);
    for (const [path, text] of Object.entries(files)) {
      expect({ path, text: await readFile(path, 'utf8') }).toEqual({ path, text });
    }
  });

  it('documents every key of every section', async () => {
    const files = (await generated()) as Record<string, string>;
    const doc = Object.entries(files).find(([p]) => p.endsWith('configuration.md'))![1];
    for (const key of [
      'resolve.trustedProxies',
      'access.countries.deny',
      'rateLimit.tiers[].limits[].burst',
      'log.anonymize',
      'metrics.enabled',
      'geo.databases',
    ]) {
      expect(doc).toContain(`\`${key}\``);
    }
  });

  it("documents every sidecar option with its flag (docs/sidecar.md, from the sidecar's spec)", async () => {
    const { sidecarSpec, SIDECAR_FLAGS } = await import('../../src/sidecar/spec.js');
    const files = (await generated()) as Record<string, string>;
    const doc = Object.entries(files).find(([p]) => p.endsWith('sidecar.md'))![1];
    for (const key of Object.keys(sidecarSpec.def.shape)) expect(doc).toContain(`| \`${key}\` |`);
    for (const [path, f] of Object.entries(SIDECAR_FLAGS))
      expect(doc).toMatch(new RegExp(`\\| \`${path}\` \\| \`--${f.flag}[ \`]`));
  });
});
