/**
 * The Markdown code blocks that CI compiles (README.md and docs/*.md), shared by
 * examples.test.ts (which type-checks them against dist/) and api-coverage.test.ts (which checks that
 * every runtime export appears in one). The annotations are described in examples.test.ts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Fence languages that are checked, and the extension each block's module gets. */
export const LANGUAGES: Record<string, '.ts' | '.js' | '.mjs' | '.cjs'> = {
  ts: '.ts',
  typescript: '.ts',
  js: '.js',
  javascript: '.js',
  mjs: '.mjs',
  cjs: '.cjs',
};

/**
 * Named preludes, for `<!-- prelude: NAME -->`: the setup several partial blocks share. Keep them
 * few; a block that can show its own imports should.
 */
export const PRELUDES: Record<string, string> = {
  /** An Express app, for blocks that show one more `app.use(...)` line. */
  'express-app': [
    "import express from 'express';",
    "import { clientIp } from 'realip/express';",
    'const app = express();',
  ].join('\n'),
  /** A Fastify instance named `fastify` with the clientIp plugin registered. */
  'fastify-app': [
    "import Fastify from 'fastify';",
    "import { clientIp } from 'realip/fastify';",
    'const fastify = Fastify();',
    "await fastify.register(clientIp, { trustedProxies: ['10.0.0.0/8'] });",
  ].join('\n'),
  /** What a server that parsed a PROXY protocol header has at hand. */
  'proxy-protocol': [
    "import type { IncomingHttpHeaders } from 'node:http';",
    "import type { Socket } from 'node:net';",
    "import { createResolver } from 'realip';",
    "const resolver = createResolver({ trustedProxies: ['10.0.0.0/8'] });",
    'declare const socket: Socket;',
    'declare const headers: IncomingHttpHeaders;',
    'declare const sourceAddress: string;',
    'declare const sourcePort: number;',
  ].join('\n'),
};

export interface Block {
  /** Path relative to the repo root, e.g. docs/resolve.md. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** Code prepended to the block (`<!-- prelude: ... -->`), resolved if named. */
  prelude?: string;
  /** 1-based line of the annotation comment, when there is one. */
  annotationLine?: number;
  /** `<!-- not-checked: reason -->`. */
  notChecked?: string;
  /** Malformed annotations (unknown prelude name, empty reason). */
  problems: string[];
}

const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;

/** Code blocks of the checked languages in one Markdown text, with the annotation right above each. */
export function extractBlocks(markdown: string, file: string): Block[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const fence = open[2]!;
    const lang = open[3]!.toLowerCase();
    const close = new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end]!)) end++;
    const body = lines
      .slice(i + 1, end)
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)));
    if (Object.hasOwn(LANGUAGES, lang))
      blocks.push({ file, line: i + 1, lang, code: body.join('\n'), ...annotation(lines, i) });
    i = end;
  }
  return blocks;
}

/** The `<!-- prelude: ... -->` or `<!-- not-checked: ... -->` comment ending on the last non-blank line above a fence. */
function annotation(lines: string[], fenceIndex: number): Partial<Block> & { problems: string[] } {
  let last = fenceIndex - 1;
  while (last >= 0 && lines[last]!.trim() === '') last--;
  if (last < 0 || !lines[last]!.trim().endsWith('-->')) return { problems: [] };
  let first = last;
  while (first >= 0 && !lines[first]!.includes('<!--')) first--;
  if (first < 0) return { problems: [] };
  const text = lines
    .slice(first, last + 1)
    .join('\n')
    .replace(/^[\s\S]*?<!--/, '')
    .replace(/-->\s*$/, '')
    .trim();
  const m = /^(prelude|not-checked)\s*:([\s\S]*)$/.exec(text);
  if (!m) return { problems: [] };
  const value = m[2]!.trim();
  const annotationLine = first + 1;
  if (m[1] === 'not-checked') {
    return value === ''
      ? {
          annotationLine,
          notChecked: '?',
          problems: ['not-checked needs a reason: <!-- not-checked: why -->'],
        }
      : { annotationLine, notChecked: value, problems: [] };
  }
  if (value === '') return { annotationLine, problems: ['empty prelude'] };
  if (/^[a-z][a-z0-9-]*$/.test(value)) {
    const named = PRELUDES[value];
    return named === undefined
      ? {
          annotationLine,
          prelude: '',
          problems: [`unknown named prelude "${value}" (known: ${Object.keys(PRELUDES).join(', ')})`],
        }
      : { annotationLine, prelude: named, problems: [] };
  }
  return { annotationLine, prelude: value, problems: [] };
}

/** README.md and docs/*.md, relative to the repo root. */
export function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}
