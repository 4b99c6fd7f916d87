// Import cost of realip's entries against anchors, each measured in a fresh Node process around
// `await import()` (ms), interleaved over rounds; medians printed. Needs a build (`npm run build`).
//
//   node bench/import-cost.mjs [rounds]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Number(process.argv[2] ?? 15);

const TARGETS = {
  'realip (core)': './dist/index.js',
  'realip/express': './dist/express.js',
  'realip/fastify': './dist/fastify.js',
  'realip/policy': './dist/policy.js',
  'anchor: proxy-addr': 'proxy-addr',
  'anchor: zod (classic)': 'zod',
  'anchor: zod/mini (unbundled)': 'zod/mini',
  'anchor: express-rate-limit': 'express-rate-limit',
};

function once(spec) {
  const code = `const t=performance.now();await import(${JSON.stringify(spec)});process.stdout.write(String(performance.now()-t));`;
  return Number(
    execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' }),
  );
}

const samples = Object.fromEntries(Object.keys(TARGETS).map((k) => [k, []]));
for (const spec of Object.values(TARGETS)) once(spec); // warm the file cache
for (let r = 0; r < rounds; r++) {
  for (const [name, spec] of Object.entries(TARGETS)) {
    try {
      samples[name].push(once(spec));
    } catch {
      samples[name].push(Number.NaN);
    }
  }
}
const median = (xs) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : Number.NaN;
};
console.log(`| module | import (ms, median of ${rounds}) |`);
console.log('| --- | ---: |');
for (const name of Object.keys(TARGETS)) console.log(`| ${name} | ${median(samples[name]).toFixed(1)} |`);
