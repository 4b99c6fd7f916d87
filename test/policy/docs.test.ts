import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { generated } from '../../scripts/gen-config-docs.mjs';

describe('generated configuration docs', () => {
  it('docs/configuration.md and docs/policy.schema.json agree with the schema (regenerate: node --import tsx scripts/gen-config-docs.mjs)', async () => {
    const files = (await generated()) as Record<string, string>;
    expect(Object.keys(files)).toHaveLength(2);
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
});
