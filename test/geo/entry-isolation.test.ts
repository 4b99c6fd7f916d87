/**
 * What an entry loads at run time, from src/: the core entry and the framework adapters must never
 * load maxmind (only `realip/geo` does, and the Fastify plugin on demand when asked to open
 * databases itself), nor yaml and the policy layer (only `realip/policy` does, and `realip(policy)`
 * on demand when it builds its stack). test/package/entry-graph.test.ts checks the same borders in
 * the built dist/ (tsup's shared chunks).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Imports `entry` in a fresh Node process and reports which of `packages` got loaded. */
function loads(entry: string, packages: string[]): string[] {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(entry)});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const packages = ${JSON.stringify(packages)};
    console.log(JSON.stringify(packages.filter((p) =>
      cache.some((k) => k.replaceAll('\\\\', '/').includes('/node_modules/' + p + '/')))));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as string[];
}

const GEO = ['maxmind', 'mmdb-lib'];
const POLICY = ['yaml'];

describe('entry isolation', () => {
  it.each(['./src/index.ts', './src/express/index.ts', './src/fastify/index.ts'])(
    '%s loads neither maxmind nor yaml',
    (entry) => {
      expect(loads(entry, [...GEO, ...POLICY])).toEqual([]);
    },
  );

  it('./src/geo/index.ts loads maxmind and ./src/policy/index.ts yaml (the check works)', () => {
    expect(loads('./src/geo/index.ts', GEO)).toContain('maxmind');
    expect(loads('./src/policy/index.ts', POLICY)).toEqual(['yaml']);
  });
});
