/**
 * What each built entry loads when it is imported: the STATIC import graph of dist/ (ESM `import
 * ... from './chunk-X.js'`, bare `import './x.js'`, `export ... from`; CJS top-level `require()`),
 * followed through the chunks tsup shares between entries. Dynamic `import()` is not followed: it is
 * how the framework entries load the policy layer when `realip(policy)` builds its stack, and how the
 * policy stack loads geo, metrics and redis on demand.
 *
 * - `yaml` (and the policy stack's chunk) is reachable only from `realip/policy`, `realip/sidecar`
 *   and the CLI: `realip/express` and `realip/fastify` do not make `clientIp()` users pay for it.
 * - No entry reaches another framework's package, and the core reaches no optional integration.
 *
 * test/geo/entry-isolation.test.ts checks the same borders at run time from src/ (what actually
 * gets loaded); this suite checks what tsup's chunking ships. Needs `npm run build` first: without
 * dist/ it is skipped with a message (outside CI) or fails (CI=true).
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireAvailable } from '../support/env.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(ROOT, 'dist');

/** tsup's entries (tsup.config.ts), by the name of their file in dist/. */
const ENTRIES = ['index', 'express', 'fastify', 'geo', 'metrics', 'redis', 'policy', 'sidecar', 'cli/main'];
const FORMATS = ['js', 'cjs'] as const;

const missing = FORMATS.flatMap((ext) => ENTRIES.map((e) => `dist/${e}.${ext}`)).filter(
  (f) => !existsSync(join(ROOT, f)),
);
const HAVE_DIST = requireAvailable(
  'The built package (dist/)',
  missing.length === 0,
  `missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}; run npm run build`,
);

/** ESM: `import x from 'y'`, `import 'y'`, `export { x } from 'y'` at the start of a line. */
const ESM_STATIC = /^(?:import|export)\s*(?:[\w$*{},\s]+?\s*from\s*)?['"]([^'"]+)['"]/gm;
/** CJS (tsup hoists them to the top level): `var x = require('y');` or `require('y');`. */
const CJS_STATIC = /^(?:var [\w$]+ = )?require\(['"]([^'"]+)['"]\)/gm;

/** The static imports of one built file. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const re = file.endsWith('.cjs') ? CJS_STATIC : ESM_STATIC;
  return [...text.matchAll(re)].map((m) => m[1]!);
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`; undefined for Node's builtins. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface Reach {
  /** dist/ files, relative to dist/. */
  files: Set<string>;
  packages: Set<string>;
}

const cache = new Map<string, Reach>();

/** Everything `entry` (e.g. `express.js`) loads statically. */
function reach(entry: string): Reach {
  const known = cache.get(entry);
  if (known !== undefined) return known;
  const out: Reach = { files: new Set(), packages: new Set() };
  const todo = [join(DIST, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const rel = relative(DIST, file);
    if (out.files.has(rel)) continue;
    out.files.add(rel);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else {
        const pkg = packageOf(spec);
        if (pkg !== undefined) out.packages.add(pkg);
      }
    }
  }
  cache.set(entry, out);
  return out;
}

/** The dist/ files that define the policy stack (`createStackInternal`), per format. */
function policyStackFiles(ext: string): string[] {
  const all = new Set(ENTRIES.flatMap((e) => [...reach(`${e}.${ext}`).files]));
  // Also the lazily imported chunks: list dist/ rather than trust the graph.
  for (const e of ENTRIES) {
    const text = readFileSync(join(DIST, `${e}.${ext}`), 'utf8');
    for (const m of text.matchAll(/import\(['"](\.[^'"]+)['"]\)/g)) {
      all.add(relative(DIST, resolve(dirname(join(DIST, e)), m[1]!)));
    }
  }
  return [...all].filter((f) => /\bfunction createStackInternal\(/.test(readFileSync(join(DIST, f), 'utf8')));
}

/** Packages no entry but the listed ones may reach. */
const FORBIDDEN: Record<string, string[]> = {
  index: ['yaml', 'express', 'fastify', 'fastify-plugin', 'pino', 'prom-client', 'maxmind', 'ioredis'],
  express: ['yaml', 'fastify', 'fastify-plugin'],
  fastify: ['yaml', 'express'],
  geo: ['yaml', 'express', 'fastify'],
  metrics: ['yaml', 'express', 'fastify'],
  redis: ['yaml', 'express', 'fastify'],
};

describe.skipIf(!HAVE_DIST)('static import graph of the built entries', () => {
  describe.each(FORMATS)('%s', (ext) => {
    it('finds the imports (the walk works)', () => {
      const express = reach(`express.${ext}`);
      expect(express.files.size).toBeGreaterThan(3);
      expect(reach(`fastify.${ext}`).packages).toContain('fastify-plugin');
      expect(reach(`geo.${ext}`).packages).toContain('maxmind');
      expect(reach(`metrics.${ext}`).packages).toContain('prom-client');
    });

    it('yaml is reachable only from realip/policy, realip/sidecar and the CLI', () => {
      // The sidecar entry and the CLI may load it statically or (as now) on demand.
      const withYaml = ENTRIES.filter((e) => reach(`${e}.${ext}`).packages.has('yaml'));
      expect(withYaml).toContain('policy');
      expect(withYaml.filter((e) => !['policy', 'sidecar', 'cli/main'].includes(e))).toEqual([]);
    });

    it('the policy stack is loaded lazily by realip/express and realip/fastify', () => {
      const stackFiles = policyStackFiles(ext);
      expect(stackFiles.length).toBeGreaterThan(0);
      expect(reach(`policy.${ext}`).files).toContain(stackFiles[0]);
      for (const e of ['index', 'express', 'fastify', 'geo', 'metrics', 'redis']) {
        const files = reach(`${e}.${ext}`).files;
        expect(
          stackFiles.filter((f) => files.has(f)),
          `${e}.${ext} statically reaches the policy stack`,
        ).toEqual([]);
      }
    });

    it.each(Object.keys(FORBIDDEN))('%s reaches no package that belongs to another entry', (e) => {
      const packages = reach(`${e}.${ext}`).packages;
      expect(FORBIDDEN[e]!.filter((p) => packages.has(p))).toEqual([]);
    });
  });
});
