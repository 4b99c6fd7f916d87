// Import cost of realip's entries against anchors: the time of `await import()` itself, measured
// inside a fresh (cold) Node process, the median of at least 10 processes per module (issue 15's
// method), interleaved over rounds so machine drift hits every module alike. Also reports whether
// the import loaded yaml (only `realip/policy` should), and checks the budgets:
//   - core ≤ 30 ms;
//   - `realip/express` and `realip/fastify` ≤ the core + 15 ms.
// Needs a build (`npm run build`).
//
//   node bench/import-cost.mjs [processes per module, default 11, at least 10]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rounds = Math.max(10, Number(process.argv[2] ?? 11));

const CORE = 'realip (core)';
const TARGETS = {
  [CORE]: './dist/index.js',
  'realip/express': './dist/express.js',
  'realip/fastify': './dist/fastify.js',
  'realip/policy': './dist/policy.js',
  'anchor: proxy-addr': 'proxy-addr',
  'anchor: zod (classic)': 'zod',
  'anchor: zod/mini (unbundled)': 'zod/mini',
  'anchor: express-rate-limit': 'express-rate-limit',
};
/** Budget of a module, in ms, given the core's median. */
const BUDGETS = {
  [CORE]: () => 30,
  'realip/express': (core) => core + 15,
  'realip/fastify': (core) => core + 15,
};

/** One cold process: the import's time (ms) and whether yaml got loaded. */
function once(spec) {
  const code = `
    import { createRequire } from 'node:module';
    const c = process.cpuUsage();
    const t = performance.now();
    await import(${JSON.stringify(spec)});
    const ms = performance.now() - t;
    const u = process.cpuUsage(c);
    const cpu = (u.user + u.system) / 1000;
    const yaml = Object.keys(createRequire(import.meta.url).cache).some((k) => /[\\\\/]node_modules[\\\\/]yaml[\\\\/]/.test(k));
    process.stdout.write(JSON.stringify({ ms, cpu, yaml }));`;
  return JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' }),
  );
}

const samples = Object.fromEntries(Object.keys(TARGETS).map((k) => [k, []]));
const cpuSamples = Object.fromEntries(Object.keys(TARGETS).map((k) => [k, []]));
const yaml = {};
for (const spec of Object.values(TARGETS)) once(spec); // warm the file cache
for (let r = 0; r < rounds; r++) {
  for (const [name, spec] of Object.entries(TARGETS)) {
    try {
      const s = once(spec);
      samples[name].push(s.ms);
      cpuSamples[name].push(s.cpu);
      yaml[name] = s.yaml;
    } catch {
      samples[name].push(Number.NaN);
      cpuSamples[name].push(Number.NaN);
    }
  }
}
const median = (xs) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const medians = Object.fromEntries(Object.keys(TARGETS).map((k) => [k, median(samples[k])]));
// The budgets are on the wall-clock time; the CPU time of the import (user + system) is printed
// next to it because it is steadier on a busy or drifting machine.
console.log(
  `| module | import (ms, median of ${rounds} cold processes) | budget | | CPU (ms) | loads yaml |`,
);
console.log('| --- | ---: | ---: | --- | ---: | --- |');
for (const name of Object.keys(TARGETS)) {
  const ms = medians[name];
  const budget = BUDGETS[name]?.(medians[CORE]);
  const cells =
    budget === undefined
      ? ['', '']
      : [`≤ ${budget.toFixed(1)}`, ms <= budget ? 'met' : `over by ${(ms - budget).toFixed(1)}`];
  console.log(
    `| ${name} | ${ms.toFixed(1)} | ${cells.join(' | ')} | ${median(cpuSamples[name]).toFixed(1)} | ${yaml[name] === undefined ? '?' : yaml[name] ? 'yes' : 'no'} |`,
  );
}
