/**
 * Rate-limit benchmarks (run: `node --expose-gc --import tsx bench/rate-limit.ts`).
 *
 * 1. Memory: heap growth after gc() over 1,000,000 distinct keys (half IPv4, half IPv6 /64s) for
 *    our default memory store (bounded, maxKeys 100,000) vs rate-limiter-flexible's
 *    RateLimiterMemory (unbounded: a Map entry and a timer per key).
 * 2. HTTP overhead: memory store, limits never reached, load spread over 100,000 client IPs sent in
 *    X-Forwarded-For from a trusted hop. Ours vs express-rate-limit on Express and vs
 *    @fastify/rate-limit on Fastify; every server runs in its own child process, autocannon in this
 *    one; 5 interleaved runs, medians and ratios printed. Besides req/s (which on a shared machine
 *    mostly measures the scheduler), each server reports its CPU time, so CPU microseconds per
 *    request give a load-independent comparison.
 *
 * Every server resolves the client with realip's `clientIp()` (the bench client 127.0.0.1 is a
 * trusted hop); the anchors key on `req.clientIp`, so both sides of a comparison do the same work
 * except the rate limiting.
 *
 * Options: --keys N (default 1000000), --runs N (5), --duration S (5), --connections N (50),
 *          --only memory|http
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PINNED_WRK, runWrk, startServer, xffScript } from './_wrk.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};

const HIGH = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Servers (child processes)
// ---------------------------------------------------------------------------------------------

async function serve(kind: string): Promise<void> {
  let port: number;
  if (kind.startsWith('express')) {
    const express = (await import('express')).default;
    const app = express();
    app.set('etag', false);
    // CPU time of this process (read before and after each run; not rate limited).
    app.get('/__cpu', (_req, res) => {
      res.json(process.cpuUsage());
    });
    // The real resolver: the bench client (127.0.0.1) is a trusted hop, the client is its X-Forwarded-For.
    const { clientIp } = await import('../src/express/client-ip.js');
    app.use(clientIp({ trustedProxies: ['127.0.0.1'] }));
    if (kind === 'express-ours') {
      const { rateLimit } = await import('../src/express/rate-limit.js');
      app.use(rateLimit({ tiers: [{ name: 'default', limits: [{ points: HIGH, duration: 60 }] }] }));
    } else {
      const { rateLimit } = await import('express-rate-limit');
      app.use(
        rateLimit({
          windowMs: 60_000,
          limit: HIGH,
          standardHeaders: 'draft-8',
          legacyHeaders: false,
          keyGenerator: (req) => req.clientIp ?? '',
          validate: false,
        }),
      );
    }
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as { port: number }).port;
  } else {
    const Fastify = (await import('fastify')).default;
    const app = Fastify();
    app.get('/__cpu', { config: { rateLimit: false } }, async () => process.cpuUsage());
    const { clientIp } = await import('../src/fastify/client-ip.js');
    await app.register(clientIp, { trustedProxies: ['127.0.0.1'] });
    if (kind === 'fastify-ours') {
      const { rateLimit } = await import('../src/fastify/rate-limit.js');
      await app.register(rateLimit, {
        tiers: [{ name: 'default', limits: [{ points: HIGH, duration: 60 }] }],
      });
    } else {
      const frl = (await import('@fastify/rate-limit')).default;
      await app.register(frl, { max: HIGH, timeWindow: 60_000, keyGenerator: (req) => req.clientIp ?? '' });
    }
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  }
  // Exit cleanly on SIGINT so `--cpu-prof` can write its profile.
  process.once('SIGINT', () => process.exit(0));
  process.stdout.write(`PORT ${port}\n`);
}

function startChild(kind: string, pin = false): Promise<{ child: ChildProcess; port: number }> {
  const self = fileURLToPath(import.meta.url);
  return startServer(kind, [process.execPath, '--import', 'tsx', self, '--serve', kind], pin);
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) g();
}

function keyAt(i: number): string {
  // Even: distinct IPv4; odd: distinct IPv6 /64 prefixes (the host part varies too).
  if ((i & 1) === 0) {
    const v = (0x0b000000 + (i >> 1)) >>> 0; // from 11.0.0.0
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const j = i >> 1;
  return `2001:db8:${(j >>> 16).toString(16)}:${(j & 0xffff).toString(16)}::${(i & 0xfff).toString(16)}`;
}

async function measureOurs(keys: number): Promise<string> {
  const { createRateLimiter } = await import('../src/rate-limit/limiter.js');
  const { createContext } = await import('../src/http/context.js');
  const c = createContext();
  const res = { ip: '' };
  c.resolution = res as never;
  gc();
  const before = process.memoryUsage().heapUsed;
  const limiter = createRateLimiter({
    tiers: [{ name: 'default', limits: [{ points: 100, duration: 60 }] }],
  });
  for (let i = 0; i < keys; i++) {
    res.ip = keyAt(i);
    c.rateLimit = undefined; // a fresh request (the context records what counted it)
    limiter.consume(c);
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  const st = limiter.stats();
  return (
    `realip memory store (maxKeys 100000, default): heap +${(grown / 2 ** 20).toFixed(1)} MB over ${keys} keys; ` +
    `${st.keys} keys held, ${st.evictions} evicted; ${Math.round(grown / st.keys)} B per held key`
  );
}

async function measureRlf(keys: number): Promise<string> {
  const { RateLimiterMemory } = await import('rate-limiter-flexible');
  gc();
  const before = process.memoryUsage().heapUsed;
  const rlf = new RateLimiterMemory({ points: 100, duration: 60 });
  for (let i = 0; i < keys; i++) await rlf.consume(keyAt(i)).catch(() => undefined);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  return (
    `rate-limiter-flexible RateLimiterMemory: heap +${(grown / 2 ** 20).toFixed(1)} MB over ${keys} keys; ` +
    `${keys} keys held (no bound, no eviction); ${Math.round(grown / keys)} B per key`
  );
}

async function memory(keys: number): Promise<string[]> {
  const ours = await measureOurs(keys);
  gc();
  return [ours, await measureRlf(keys)];
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

async function cpuOf(port: number): Promise<{ user: number; system: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/__cpu`);
  return (await res.json()) as { user: number; system: number };
}

interface AutocannonResult {
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** The same 100,000 client IPs as the autocannon path, one per request, for wrk. */
const WRK_SCRIPT = xffScript(
  100_000,
  'ips[i + 1] = string.format("%d.%d.%d.%d", 11 + rshift(i, 16), band(rshift(i, 8), 255), band(i, 255), 1 + (i % 7))',
);

function wrkRun(port: number, script: string, duration: number, connections: number) {
  const w = runWrk(`http://127.0.0.1:${port}/`, { script, duration, connections });
  return { rps: w.rps, total: w.requests, non2xx: w.non2xx, errors: w.socketErrors ? 1 : 0 };
}

async function http(runs: number, duration: number, connections: number): Promise<string[]> {
  const useWrk = PINNED_WRK && opt('load', 'wrk') === 'wrk';
  const autocannon = useWrk ? undefined : ((await import('autocannon' as string)).default as Autocannon);
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-rl-'));
  const script = join(dir, 'xff.lua');
  writeFileSync(script, WRK_SCRIPT);
  const ips: string[] = [];
  for (let i = 0; i < 100_000; i++) ips.push(`${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${1 + (i % 7)}`);
  let n = 0;
  const kinds = ['express-ours', 'express-erl', 'fastify-ours', 'fastify-frl'];
  const servers = new Map<string, { child: ChildProcess; port: number }>();
  for (const k of kinds) servers.set(k, await startChild(k, useWrk));
  const rps = new Map<string, number[]>(kinds.map((k) => [k, []]));
  const cpuPerReq = new Map<string, number[]>(kinds.map((k) => [k, []]));
  try {
    for (let r = 0; r < runs; r++) {
      // Interleave and alternate the order so drift in machine load hits both sides equally.
      const order = r % 2 === 0 ? kinds : [...kinds].reverse();
      for (const k of order) {
        const port = servers.get(k)!.port;
        if (useWrk && r === 0) wrkRun(port, script, 2, connections); // warm-up (JIT), not recorded
        const cpu0 = await cpuOf(port);
        const res = useWrk
          ? (() => {
              const w = wrkRun(port, script, duration, connections);
              return { requests: { average: w.rps, total: w.total }, non2xx: w.non2xx, errors: w.errors };
            })()
          : await autocannon!({
              url: `http://127.0.0.1:${port}/`,
              connections,
              duration,
              requests: [
                {
                  setupRequest: (req: { headers?: Record<string, string> }) => {
                    req.headers = { ...req.headers, 'x-forwarded-for': ips[n++ % ips.length]! };
                    return req;
                  },
                },
              ],
            });
        if (res.non2xx > 0 || res.errors > 0)
          throw new Error(`${k}: ${res.non2xx} non-2xx, ${res.errors} errors`);
        const cpu1 = await cpuOf(port);
        const us = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / res.requests.total;
        rps.get(k)!.push(res.requests.average);
        cpuPerReq.get(k)!.push(us);
        process.stderr.write(
          `  run ${r + 1} ${k}: ${Math.round(res.requests.average)} req/s, ${us.toFixed(1)} us CPU per request\n`,
        );
      }
    }
  } finally {
    for (const s of servers.values()) s.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const perRun = (a: string, b: string) => median(rps.get(a)!.map((x, i) => x / rps.get(b)![i]!)).toFixed(3);
  const m = new Map(kinds.map((k) => [k, median(rps.get(k)!)]));
  const c = new Map(kinds.map((k) => [k, median(cpuPerReq.get(k)!)]));
  const cpuLine = (name: string, a: string, b: string, anchor: string) =>
    `${name} server CPU per request: realip ${c.get(a)!.toFixed(1)} us vs ${anchor} ${c.get(b)!.toFixed(1)} us -> ` +
    `throughput ratio implied by CPU ${(c.get(b)! / c.get(a)!).toFixed(3)}`;
  return [
    cpuLine('Express', 'express-ours', 'express-erl', 'express-rate-limit'),
    cpuLine('Fastify', 'fastify-ours', 'fastify-frl', '@fastify/rate-limit'),
    `Express: realip ${Math.round(m.get('express-ours')!)} req/s vs express-rate-limit ${Math.round(m.get('express-erl')!)} req/s -> ratio ${(m.get('express-ours')! / m.get('express-erl')!).toFixed(3)}`,
    `Fastify: realip ${Math.round(m.get('fastify-ours')!)} req/s vs @fastify/rate-limit ${Math.round(m.get('fastify-frl')!)} req/s -> ratio ${(m.get('fastify-ours')! / m.get('fastify-frl')!).toFixed(3)}`,
    `Median of per-run ratios (each pair ran seconds apart): Express ${perRun('express-ours', 'express-erl')}, Fastify ${perRun('fastify-ours', 'fastify-frl')}`,
    `(${useWrk ? 'wrk on CPU 1, servers on CPU 0' : 'autocannon, unpinned'}; median of ${runs} interleaved runs of ${duration} s, ${connections} connections, 100000 client IPs)`,
  ];
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const serveIdx = args.indexOf('--serve');
  if (serveIdx >= 0) {
    await serve(args[serveIdx + 1]!);
    return;
  }
  const only = opt('only', 'all');
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}`);
  if (only === 'all' || only === 'memory') {
    console.log('\n## Memory');
    for (const l of await memory(Number(opt('keys', '1000000')))) console.log(l);
  }
  if (only === 'all' || only === 'http') {
    console.log('\n## HTTP overhead');
    for (const l of await http(
      Number(opt('runs', '5')),
      Number(opt('duration', '5')),
      Number(opt('connections', '50')),
    )) {
      console.log(l);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
