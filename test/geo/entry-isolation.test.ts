/**
 * The core entry and the framework adapters must never load maxmind: only `realip/geo` does (and
 * the Fastify plugin, on demand, when asked to open databases itself).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Imports `entry` in a fresh Node process and reports whether maxmind/mmdb-lib got loaded. */
function loadsMaxmind(entry: string): boolean {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(entry)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    console.log(cache.some((k) => /node_modules[\\\\/](maxmind|mmdb-lib)[\\\\/]/.test(k)) ? 'yes' : 'no');
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
  });
  return out.trim().endsWith('yes');
}

describe('entry isolation', () => {
  it.each(['./src/index.ts', './src/express/index.ts', './src/fastify/index.ts'])(
    '%s does not load maxmind',
    (entry) => {
      expect(loadsMaxmind(entry)).toBe(false);
    },
  );

  it('./src/geo/index.ts does (the check works)', () => {
    expect(loadsMaxmind('./src/geo/index.ts')).toBe(true);
  });
});
