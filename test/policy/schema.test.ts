import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, loadPolicyFile, parsePolicy, policyJsonSchema } from '../../src/policy/index.js';
import { defaultPolicy } from '../../src/policy/default.js';
import { embeddedGeoDatabase } from '../../src/policy/files.js';

// Ajv 8 (draft 2020-12) as installed with Fastify: an independent validator of the JSON Schema.
const requireFromFastify = createRequire(createRequire(import.meta.url).resolve('@fastify/ajv-compiler'));
const Ajv2020 = (requireFromFastify('ajv/dist/2020') as { default: new (o: object) => AjvLike }).default;
interface AjvLike {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: unknown[] | null };
}

const EXAMPLES = join(import.meta.dirname, '../../examples/policies');

describe('JSON Schema', () => {
  const schema = policyJsonSchema();
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);

  it('is draft 2020-12 and closed (unknown keys are errors for editors too)', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.additionalProperties).toBe(false);
    expect(validate({ resolve: { trustedProxy: [] } })).toBe(false);
    expect(validate({ rateLimit: { tiers: [{ name: 'a', limits: [{ points: 1 }] }] } })).toBe(false);
  });

  it('accepts every example policy', async () => {
    for (const file of (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml'))) {
      const data = parseYaml(await readFile(join(EXAMPLES, file), 'utf8'));
      const ok = validate(data);
      expect({ file, ok, errors: validate.errors ?? null }).toEqual({ file, ok: true, errors: null });
    }
  });

  it('is committed as docs/policy.schema.json, up to date (regenerate: node --import tsx scripts/gen-config-docs.mjs)', async () => {
    const committed = JSON.parse(
      await readFile(join(import.meta.dirname, '../../docs/policy.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(schema);
  });

  it('describes every property (editors show the descriptions)', () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.properties && typeof n.properties === 'object') {
        for (const [k, v] of Object.entries(n.properties as Record<string, Record<string, unknown>>)) {
          if (!v.description && !v.$ref) missing.push(`${path}.${k}`);
          walk(v, `${path}.${k}`);
        }
      }
      for (const key of ['items', 'additionalProperties']) if (n[key]) walk(n[key], `${path}[]`);
      for (const key of ['anyOf', 'oneOf']) for (const o of (n[key] as unknown[]) ?? []) walk(o, path);
      for (const [k, v] of Object.entries((n.$defs as Record<string, unknown>) ?? {})) walk(v, `#${k}`);
    };
    walk(schema, '');
    expect(missing).toEqual([]);
  });
});

describe('DEFAULT_POLICY', () => {
  it('is examples/policies/default.yaml', async () => {
    const fromFile = await loadPolicyFile(join(EXAMPLES, 'default.yaml')).catch(async (e) => {
      // Without the embedded database installed the file does not load; compare the text.
      if (embeddedGeoDatabase() === undefined)
        return parsePolicy(await readFile(join(EXAMPLES, 'default.yaml'), 'utf8'));
      throw e;
    });
    expect(defaultPolicy({ geo: true })).toEqual(fromFile);
  });

  it('trusts no proxy, denies undeterminable clients, limits every client, and is frozen', () => {
    expect(DEFAULT_POLICY.resolve?.trustedProxies).toEqual([]);
    expect(DEFAULT_POLICY.resolve?.preset).toBeUndefined();
    expect(DEFAULT_POLICY.access?.undeterminable).toBe('deny');
    expect(DEFAULT_POLICY.rateLimit?.tiers).toHaveLength(1);
    expect(DEFAULT_POLICY.rateLimit?.tiers[0]?.match).toBeUndefined();
    expect(Object.isFrozen(DEFAULT_POLICY.rateLimit?.tiers[0])).toBe(true);
    // Geo when (and only when) the embedded database is installed.
    expect(DEFAULT_POLICY.geo !== undefined).toBe(embeddedGeoDatabase() !== undefined);
    expect(defaultPolicy({ geo: false }).geo).toBeUndefined();
  });

  it('passes its own schema', () => {
    expect(parsePolicy(JSON.stringify(DEFAULT_POLICY))).toEqual(DEFAULT_POLICY);
  });
});
