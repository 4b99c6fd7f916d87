/**
 * Every TypeScript/JavaScript code block in README.md and docs/*.md compiles against the BUILT
 * package, exactly as a user imports it: each block becomes its own module in a temp project whose
 * node_modules/realip is a snapshot of this package (package.json and dist/, resolved through the
 * "exports" map and its .d.ts/.d.cts), with express, fastify, pino, prom-client, ioredis, maxmind,
 * ... coming from the repo's node_modules. One TypeScript program checks all blocks (strict,
 * NodeNext, top-level await); each error is reported as `docs/x.md:LINE: TSxxxx: message`.
 *
 * A block that is deliberately partial declares its prelude in an HTML comment right before the
 * fence (invisible on GitHub):
 *
 *   <!-- prelude: import express from 'express'; const app = express(); -->   inline code, or
 *   <!-- prelude: express-app -->                                             a name from PRELUDES
 *
 * and a block that is not code at all opts out with `<!-- not-checked: reason -->`. Partial plus
 * opted-out blocks may be at most 10% of all blocks.
 *
 * Needs `npm run build` first: without dist/ the suite is skipped with a message (outside CI) or
 * fails (CI=true), like the suites that need nginx or Redis.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { requireAvailable } from '../support/env.js';
import { docFiles, extractBlocks, LANGUAGES, PRELUDES, ROOT, type Block } from './blocks.js';

const MAX_PARTIAL_SHARE = 0.1;

/** Export targets in package.json that type-checking needs ("types" conditions). */
function typeTargets(pkg: { exports: Record<string, unknown> }): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key?: string): void => {
    if (typeof v === 'string') {
      if (key === 'types') out.push(v.replace(/^\.\//, ''));
    } else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(pkg.exports);
  return out;
}

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
const missingTypes = typeTargets(PKG).filter((f) => !existsSync(join(ROOT, f)));
const HAVE_DIST = requireAvailable(
  'The built package (dist/)',
  missingTypes.length === 0,
  `missing ${missingTypes.slice(0, 3).join(', ')}${missingTypes.length > 3 ? ', ...' : ''}; run npm run build`,
);

const BLOCKS = docFiles().flatMap((file) => extractBlocks(readFileSync(join(ROOT, file), 'utf8'), file));

describe('extractBlocks', () => {
  it('reads fences, indentation, languages and the annotation right above a fence', () => {
    const md = [
      '# t', //                                   1
      '```ts', //                                 2
      'const a = 1;', //                          3
      '```', //                                   4
      '<!-- prelude: express-app -->', //         5
      '```ts', //                                 6
      "app.use(clientIp({ trustedProxies: ['loopback'] }));",
      '```',
      '- item',
      '',
      '  <!-- not-checked: pseudo code -->',
      '  ```js',
      '    indented();',
      '  ```',
      '<!-- prelude:',
      "  import { x } from 'y';",
      '-->',
      '',
      '```mjs',
      'x();',
      '```',
      '```sh',
      'echo not checked',
      '```',
      '<!-- prelude: nope -->',
      '```typescript',
      '```',
    ].join('\n');
    const blocks = extractBlocks(md, 'x.md');
    expect(blocks.map((b) => [b.line, b.lang, b.code])).toEqual([
      [2, 'ts', 'const a = 1;'],
      [6, 'ts', "app.use(clientIp({ trustedProxies: ['loopback'] }));"],
      [12, 'js', '  indented();'],
      [19, 'mjs', 'x();'],
      [26, 'typescript', ''],
    ]);
    expect(blocks[0]!.prelude).toBeUndefined();
    expect(blocks[1]!.prelude).toBe(PRELUDES['express-app']);
    expect(blocks[1]!.annotationLine).toBe(5);
    expect(blocks[2]!.notChecked).toBe('pseudo code');
    expect(blocks[3]!.prelude).toBe("import { x } from 'y';");
    expect(blocks[3]!.annotationLine).toBe(15);
    expect(blocks[4]!.problems).toEqual([expect.stringContaining('unknown named prelude "nope"')]);
  });

  it('finds the blocks of README.md and docs/', () => {
    expect(BLOCKS.length).toBeGreaterThan(0);
    expect(new Set(BLOCKS.map((b) => b.file))).toContain('README.md');
  });
});

let work = '';
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * The temp project: WORK/node_modules links the repo's node_modules (peers and their types), and
 * WORK/app/node_modules/realip is a copy of package.json + dist/ (a snapshot, so a concurrent
 * `npm run build` cannot pull files away mid-check). Returns the app directory.
 */
function createProject(): string {
  work = mkdtempSync(join(tmpdir(), 'realip-docs-'));
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
  const app = join(work, 'app');
  const pkg = join(app, 'node_modules', 'realip');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  const incomplete = typeTargets(PKG).filter((f) => !existsSync(join(pkg, f)));
  if (incomplete.length > 0) {
    throw new Error(
      `dist/ is incomplete (${incomplete.join(', ')}): a build in progress? Run npm run build.`,
    );
  }
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'realip-docs-examples', private: true, type: 'module' }),
  );
  mkdirSync(join(app, 'blocks'));
  return app;
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  moduleDetection: ts.ModuleDetectionKind.Force, // each block is its own module, even without imports
  types: ['node'],
  allowJs: true,
  checkJs: true,
  noEmit: true,
  // The compiler's default, so the package's .d.ts and their interplay with the peers' (e.g. two
  // packages augmenting the same Fastify interface) are checked as a user without skipLibCheck sees them.
  // Module augmentations are program-wide: a block importing a plugin affects the types of all blocks.
  skipLibCheck: false,
};

interface Written {
  block: Block;
  /** Lines of prelude before the block's first line in the module. */
  preludeLines: number;
}

describe.skipIf(!HAVE_DIST)('documentation code blocks', () => {
  it('compile against the built package (strict, NodeNext)', () => {
    const started = Date.now();
    const app = createProject();
    const written = new Map<string, Written>();
    for (const block of BLOCKS) {
      if (block.notChecked !== undefined) continue;
      const name = `${block.file.replace(/[^A-Za-z0-9]+/g, '_')}_L${block.line}${LANGUAGES[block.lang]}`;
      const path = join(app, 'blocks', name);
      const prelude = block.prelude === undefined ? '' : `${block.prelude}\n`;
      writeFileSync(path, `${prelude}${block.code}\n`);
      written.set(path, { block, preludeLines: prelude === '' ? 0 : prelude.split('\n').length - 1 });
    }
    const program = ts.createProgram({ rootNames: [...written.keys()], options: COMPILER_OPTIONS });
    const errors: string[] = BLOCKS.flatMap((b) =>
      b.problems.map((p) => `${b.file}:${b.annotationLine ?? b.line}: ${p}`),
    );
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const text = `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      const w = d.file ? written.get(d.file.fileName) : undefined;
      if (!d.file || d.start === undefined) {
        errors.push(`(program): ${text}`);
      } else if (!w) {
        // A declaration file (realip's under node_modules/realip, or a peer's): no block to blame.
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        const file = d.file.fileName.startsWith(ROOT)
          ? relative(ROOT, d.file.fileName)
          : relative(app, d.file.fileName);
        errors.push(`${file}:${line + 1}: (declaration file) ${text}`);
      } else {
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        errors.push(
          line < w.preludeLines
            ? `${w.block.file}:${w.block.annotationLine}: (in the prelude) ${text}`
            : `${w.block.file}:${w.block.line + 1 + line - w.preludeLines}: ${text}`,
        );
      }
    }
    console.info(`docs examples: ${written.size} modules type-checked in ${Date.now() - started} ms`);
    expect(errors.length, `\n${errors.join('\n')}\n`).toBe(0);
  }, 60_000);
});

describe('documentation code blocks are mostly whole', () => {
  it(`at most ${MAX_PARTIAL_SHARE * 100}% declare a prelude or are not checked`, () => {
    const total = BLOCKS.length;
    const withPrelude = BLOCKS.filter((b) => b.prelude !== undefined && b.notChecked === undefined);
    const notChecked = BLOCKS.filter((b) => b.notChecked !== undefined);
    const whole = total - withPrelude.length - notChecked.length;
    const list = (bs: Block[]) => bs.map((b) => `${b.file}:${b.line}`).join(', ') || 'none';
    console.info(
      `docs examples: ${total} blocks: ${whole} whole, ${withPrelude.length} with a prelude (${list(withPrelude)}), ` +
        `${notChecked.length} not checked (${list(notChecked)})`,
    );
    expect(withPrelude.length + notChecked.length).toBeLessThanOrEqual(Math.floor(total * MAX_PARTIAL_SHARE));
  });
});
