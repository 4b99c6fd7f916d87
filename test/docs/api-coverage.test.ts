/**
 * The public API is small and shown: every runtime name each built entry exports (package.json
 * "exports", ESM build) appears in a code block CI compiles (README.md and docs/*.md, see
 * examples.test.ts) or in a TypeScript example under examples/ (compiled by `npm run typecheck`),
 * and all entries together export at most API_BUDGET distinct runtime names.
 *
 * A name that fails here is either documented with a short compiled example or un-exported. The
 * types are checked by the API reports (etc/*.api.md, `npm run api:check`).
 *
 * Needs `npm run build` first, like examples.test.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireAvailable } from '../support/env.js';
import { docFiles, extractBlocks, ROOT } from './blocks.js';

/** Distinct runtime names across all entries (issue 15: at most 40, or each extra justified here). */
const API_BUDGET = 40;

/** Each public entry ("." -> "realip") and its ESM file, from package.json "exports". */
function entries(): { name: string; file: string }[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { import?: { default?: string } }>;
  };
  return Object.entries(pkg.exports)
    .filter(([key, target]) => key !== './package.json' && typeof target === 'object')
    .map(([key, target]) => ({
      name: key === '.' ? 'realip' : `realip/${key.slice(2)}`,
      file: join(ROOT, (target as { import: { default: string } }).import.default),
    }));
}

/** TypeScript files under examples/ (the tsconfig includes them). */
function exampleFiles(dir = join(ROOT, 'examples')): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' ? [] : exampleFiles(p);
    return /\.[cm]?ts$/.test(f) ? [p] : [];
  });
}

/** The compiled code, one text per place (`docs/x.md:LINE` or `examples/...`). */
function compiledCode(): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of docFiles()) {
    for (const b of extractBlocks(readFileSync(join(ROOT, file), 'utf8'), file)) {
      if (b.notChecked === undefined) out.set(`${b.file}:${b.line}`, b.code);
    }
  }
  for (const f of exampleFiles()) out.set(relative(ROOT, f), readFileSync(f, 'utf8'));
  return out;
}

const ENTRIES = entries();
const missing = ENTRIES.filter((e) => !existsSync(e.file)).map((e) => relative(ROOT, e.file));
const HAVE_DIST = requireAvailable(
  'The built package (dist/)',
  missing.length === 0,
  `missing ${missing.slice(0, 3).join(', ')}; run npm run build`,
);

describe.skipIf(!HAVE_DIST)('public API', () => {
  it('every runtime export appears in a compiled doc block or example', async () => {
    const code = compiledCode();
    const undocumented: string[] = [];
    for (const e of ENTRIES) {
      const names = Object.keys((await import(pathToFileURL(e.file).href)) as object);
      for (const name of names) {
        const word = new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`);
        if (![...code.values()].some((c) => word.test(c))) undocumented.push(`${e.name}: ${name}`);
      }
    }
    expect(
      undocumented,
      'document each name in a compiled block (README.md, docs/*.md) or examples/*.ts, or un-export it',
    ).toEqual([]);
  });

  it(`all entries together export at most ${API_BUDGET} distinct runtime names`, async () => {
    const all = new Set<string>();
    const perEntry: string[] = [];
    for (const e of ENTRIES) {
      const names = Object.keys((await import(pathToFileURL(e.file).href)) as object);
      names.forEach((n) => all.add(n));
      perEntry.push(`${e.name} ${names.length}`);
    }
    console.info(`public API: ${all.size} distinct runtime names (${perEntry.join(', ')})`);
    expect(all.size, [...all].sort().join(' ')).toBeLessThanOrEqual(API_BUDGET);
  });
});
