// Runs every benchmark in bench/ one after another (never in parallel: they compare ratios on a
// quiet machine). `npm run bench` or `npm run bench -- resolve matcher` for a subset.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dir = new URL('.', import.meta.url);
const wanted = process.argv.slice(2);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_') && !f.includes('.helper.'))
  .map((f) => f.slice(0, -3))
  .sort();
const names = wanted.length > 0 ? wanted : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`bench: no bench/${name}.ts (have: ${all.join(', ')})`);
    process.exitCode = 2;
    continue;
  }
  console.log(`\n=== bench/${name}.ts`);
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', new URL(`${name}.ts`, dir).pathname],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) failed++;
}
if (failed > 0) process.exitCode = 1;
