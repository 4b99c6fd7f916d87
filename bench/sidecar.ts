/**
 * Benchmark 6(b): the realip sidecar's server CPU per request against a bare proxy on the same
 * undici client plus the realip stack's in-process cost, with nginx beside it; then the sidecar's
 * memory over 2,000,000 distinct clients.
 *
 *   npm run build && node --expose-gc --import tsx bench/sidecar.ts
 *
 * (The sidecar and the stack run from dist/ when it is built, else from src/ through tsx: build
 * first, or a stale dist/ is what gets measured.)
 *
 * Targets, each its own process pinned to CPU 0 (taskset), in front of the same upstream (nginx
 * `return 200 'Hello'`, pinned with wrk to CPU 1):
 * - realip sidecar: `realip sidecar --trusted-proxy 127.0.0.1`, the built-in default policy (geo,
 *   10 r/s burst 20 per IP, access log to stdout, here /dev/null, metrics);
 * - bare undici proxy (bench/sidecar-targets.mjs undici): the same node:http server settings and
 *   undici Pool options as the sidecar, one `pool.dispatch` handler per request relaying status,
 *   headers minus hop-by-hop, and body; nothing else. The anchor;
 * - plain server and stack server (sidecar-targets.mjs plain / stack): a node:http server answering
 *   200 itself, and the same server running the sidecar's default stack (createStack(defaultPolicy())
 *   as the CLI builds it) first. Stack cost = CPU/req(stack) - CPU/req(plain), per round;
 * - nginx as a reverse proxy (worker_processes 1; its worker's CPU is measured, not the master's);
 * - unless BENCH_SKIP_EXTRA=1: a bare node:http proxy and bare Fastify + @fastify/reply-from.
 *
 * Load: wrk -t1 -c64, every request from a different client of BENCH_CLIENTS public IPv4 addresses
 * in turn, sent as `X-Forwarded-For` (the sidecar and the stack trust 127.0.0.1 for it): from one
 * IP the default policy's per-IP limit would answer 429 to nearly everything.
 *
 * Rounds are interleaved, the order rotated each round, after one warm-up run per target. For each
 * run: req/s, and the measured process's CPU time (user + system, /proc, all threads) over the run
 * divided by the requests wrk completed. Reported: the medians, and the verdict: sidecar CPU/req <=
 * bare undici CPU/req + stack cost (median of the per-round differences) + 5 µs.
 *
 * Then memory: the sidecar's RSS after 1,000,000 and 2,000,000 distinct client IPs, driven through
 * a trusted hop's X-Forwarded-For (the sidecar trusts 127.0.0.1 for that phase): read as is, as the
 * median of the last five of the samples taken every IPS/20 addresses, as the peak (VmHWM), and
 * after two forced full GCs through a SIGUSR2 preload (with heap used). Target: under 256 MB.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_DURATION (10s; whole seconds), BENCH_CONNECTIONS (64),
 * BENCH_CLIENTS (50000; distinct X-Forwarded-For addresses of the throughput load), BENCH_IPS
 * (2000000; memory is measured at half and at all of it), BENCH_SKIP_EXTRA=1 (no bare node:http
 * or reply-from targets), BENCH_SKIP_MEMORY=1, BENCH_SKIP_THROUGHPUT=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  mkdtempSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import http from 'node:http';
import { cpuMicros, has, runWrk, xffScript, type WrkResult } from './_wrk.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = process.env.BENCH_DURATION ?? '10s';
const DURATION_S = Number(/^(\d+)s?$/.exec(DURATION)?.[1] ?? NaN);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50_000);
const IPS = Number(process.env.BENCH_IPS ?? 2_000_000);
const EXTRA = process.env.BENCH_SKIP_EXTRA !== '1';
/** The sidecar's CPU per request may exceed bare undici + stack by this much (µs). */
const SLACK_US = 5;
const NCPU = cpus().length;
const PROXY_CPU = '0';
const LOAD_CPU = NCPU > 1 ? '1' : '0';
const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'realip-bench-sidecar-'));

const TASKSET = has('taskset');
function pinned(cpu: string, cmd: string, args: string[]): [string, string[]] {
  return TASKSET ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitHttp(port: number, path = '/', timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => (req.destroy(), resolve(false)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port}${path} not ready`);
}

function start(cpu: string, cmd: string, args: string[]): ChildProcess {
  const [c, a] = pinned(cpu, cmd, args);
  // Own process group, so stop() also ends nginx's workers. stdout (the access log) is discarded.
  const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT, detached: true });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  });
}

/** Pids whose parent is `pid` (nginx's workers under its master), from /proc. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function nginxConf(dir: string, body: string): string {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(
    file,
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 1000000;
${body}
}
`,
  );
  return file;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]) / 1024;
}

/** The sidecar and the stack from dist/ when built, else from src/ through tsx. */
const BUILT = existsSync(join(ROOT, 'dist/cli/main.js')) && existsSync(join(ROOT, 'dist/policy.js'));
const sidecarCmd = BUILT ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];

/** The measured sidecar's argv: the default policy, trusting the load's hop (127.0.0.1). */
function sidecarArgv(upPort: number, port: number, adminPort: number): string[] {
  return [
    ...sidecarCmd,
    'sidecar',
    '--upstream',
    `http://127.0.0.1:${upPort}`,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--trusted-proxy',
    '127.0.0.1',
  ];
}
const stackCmd = BUILT
  ? ['bench/sidecar-targets.mjs', 'stack']
  : ['--import', 'tsx', 'bench/sidecar-targets.mjs', 'stack'];
const policyModule = BUILT ? 'dist/policy.js' : 'src/policy/index.ts';

type TargetKey = 'sidecar' | 'undici' | 'plain' | 'stack' | 'nginx' | 'node' | 'reply-from';

interface Target {
  readonly key: TargetKey;
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** The process whose CPU time is measured (nginx: its one worker). */
  pid: number;
}

interface Run {
  readonly rps: number;
  /** CPU time of the measured process over the run, per completed request (µs). */
  readonly cpu: number;
  readonly wrk: WrkResult;
}

/** One wrk run against `t`, with its process's CPU time around it. */
function measure(t: Target, script: string, duration: number): Run {
  const c0 = cpuMicros(t.pid);
  const w = runWrk(`http://127.0.0.1:${t.port}/`, { duration, connections: CONNECTIONS, script });
  const c1 = cpuMicros(t.pid);
  return { rps: w.rps, cpu: (c1 - c0) / w.requests, wrk: w };
}

async function main(): Promise<void> {
  if (!has('wrk') || !has('nginx')) throw new Error('needs wrk and nginx (apt-get install wrk nginx-light)');
  if (!Number.isInteger(DURATION_S) || DURATION_S < 1) {
    throw new Error(`BENCH_DURATION must be whole seconds (10s or 10), not ${DURATION}`);
  }
  if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > 2 ** 22) {
    throw new Error(`BENCH_CLIENTS must be an integer from 1 to ${2 ** 22}, not ${CLIENTS}`);
  }
  console.log(`node ${process.version}, ${NCPU} CPUs (${cpus()[0]?.model}), taskset: ${TASKSET}`);
  console.log(
    `proxy on CPU ${PROXY_CPU}, upstream + wrk on CPU ${LOAD_CPU}; ${ROUNDS} rounds x ${DURATION_S}s, ` +
      `${CONNECTIONS} connections, ${CLIENTS.toLocaleString('en')} distinct X-Forwarded-For clients; ` +
      `realip from ${BUILT ? 'dist/ (npm run build first)' : 'src/ (tsx)'}`,
  );

  // Upstream: nginx answering directly.
  const upPort = await freePort();
  const upDir = join(tmp, 'upstream');
  mkdirSync(upDir);
  start(LOAD_CPU, 'nginx', [
    '-c',
    nginxConf(upDir, `  server { listen 127.0.0.1:${upPort}; location / { return 200 'Hello'; } }`),
    '-p',
    upDir,
    '-e',
    'stderr',
  ]);
  await waitHttp(upPort);

  if (process.env.BENCH_SKIP_THROUGHPUT !== '1') {
    const targets = await startTargets(upPort);
    // Every request from the next of CLIENTS public IPv4 addresses, spread over 20.0.0.0/8 to
    // 83.0.0.0/8 (distinct up to 2^22 clients).
    const script = join(tmp, 'clients.lua');
    writeFileSync(
      script,
      xffScript(
        CLIENTS,
        `ips[i + 1] = string.format("%d.%d.%d.%d", 20 + band(i, 63), band(rshift(i, 14), 255), band(rshift(i, 6), 255), 1 + i % 250)`,
      ),
    );
    throughput(targets, script);
    for (const t of targets) await stop(t.child);
  }

  if (process.env.BENCH_SKIP_MEMORY !== '1') await memory(upPort);
}

/** Starts every throughput target (pinned to the proxy CPU) and waits until each answers 200. */
async function startTargets(upPort: number): Promise<Target[]> {
  const targets: Target[] = [];
  const adminPort = await freePort();
  const add = async (key: TargetKey, name: string, cmd: string, args: (port: number) => string[]) => {
    const port = await freePort();
    const child = start(PROXY_CPU, cmd, args(port));
    targets.push({ key, name, port, child, pid: child.pid! }); // taskset execs: the pid is the program's
  };
  await add('sidecar', 'realip sidecar (default policy)', process.execPath, (port) =>
    sidecarArgv(upPort, port, adminPort),
  );
  await add('undici', 'bare undici proxy', process.execPath, (port) => [
    'bench/sidecar-targets.mjs',
    'undici',
    String(port),
    String(upPort),
  ]);
  await add('plain', 'plain server (200, no proxy)', process.execPath, (port) => [
    'bench/sidecar-targets.mjs',
    'plain',
    String(port),
  ]);
  await add('stack', 'plain server + default stack', process.execPath, (port) => [
    ...stackCmd,
    String(port),
    policyModule,
  ]);
  const ngDir = join(tmp, 'proxy');
  mkdirSync(ngDir);
  await add('nginx', 'nginx reverse proxy (worker)', 'nginx', (port) => [
    '-c',
    nginxConf(
      ngDir,
      `  upstream app { server 127.0.0.1:${upPort}; keepalive 256; }
  server { listen 127.0.0.1:${port};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $remote_addr; } }`,
    ),
    '-p',
    ngDir,
    '-e',
    'stderr',
  ]);
  if (EXTRA) {
    await add('node', 'bare node:http proxy', process.execPath, (port) => [
      'bench/sidecar-targets.mjs',
      'bare-node',
      String(port),
      String(upPort),
    ]);
    await add('reply-from', 'bare fastify + reply-from', process.execPath, (port) => [
      'bench/sidecar-targets.mjs',
      'reply-from',
      String(port),
      String(upPort),
    ]);
  }
  for (const t of targets) await waitHttp(t.port);
  const ng = targets.find((t) => t.key === 'nginx')!;
  const workers = childPids(ng.pid);
  if (workers.length !== 1) throw new Error(`nginx proxy: expected one worker, found ${workers.length}`);
  ng.pid = workers[0]!;
  return targets;
}

function throughput(targets: Target[], script: string): void {
  const runs = new Map<TargetKey, Run[]>(targets.map((t) => [t.key, []]));
  const width = Math.max(...targets.map((t) => t.name.length));
  const flags = (r: Run) =>
    `${r.wrk.non2xx > 0 ? ` NON-2XX ${r.wrk.non2xx}` : ''}${r.wrk.socketErrors ? ' SOCKET ERRORS' : ''}`;
  for (const t of targets) {
    // Warm-up (JIT, keep-alive pools, the stack's per-client state), not recorded.
    const r = measure(t, script, DURATION_S);
    console.log(`warm-up: ${t.name.padEnd(width)} ${r.rps.toFixed(0).padStart(7)} req/s${flags(r)}`);
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of order) {
      const r = measure(t, script, DURATION_S);
      runs.get(t.key)!.push(r);
      console.log(
        `round ${round + 1}: ${t.name.padEnd(width)} ${r.rps.toFixed(0).padStart(7)} req/s ` +
          `${r.cpu.toFixed(1).padStart(6)} µs/req${flags(r)}`,
      );
    }
  }

  const cpuOf = (k: TargetKey) => runs.get(k)!.map((r) => r.cpu);
  console.log(
    `\nmedians of ${ROUNDS} rounds x ${DURATION_S}s (CPU: the process's user + system time per request)`,
  );
  const row = (cells: string[]) =>
    `  ${cells[0]!.padEnd(width)} ${cells[1]!.padStart(8)} ${cells[2]!.padStart(11)} ` +
    `${cells[3]!.padStart(15)} ${cells[4]!.padStart(8)}`;
  console.log(row(['target', 'req/s', 'CPU µs/req', '(min - max)', 'non-2xx']));
  for (const t of targets) {
    const rs = runs.get(t.key)!;
    const cpu = rs.map((r) => r.cpu);
    const range = `(${Math.min(...cpu).toFixed(1)} - ${Math.max(...cpu).toFixed(1)})`;
    const non2xx = rs.reduce((n, r) => n + r.wrk.non2xx, 0);
    const rps = median(rs.map((r) => r.rps));
    console.log(row([t.name, rps.toFixed(0), median(cpu).toFixed(1), range, String(non2xx)]));
  }

  const side = cpuOf('sidecar');
  const bare = cpuOf('undici');
  const plain = cpuOf('plain');
  const stackDiffs = cpuOf('stack').map((x, i) => x - plain[i]!);
  const stackCost = median(stackDiffs);
  const budget = median(bare) + stackCost + SLACK_US;
  const excess = side.map((x, i) => x - bare[i]! - stackDiffs[i]!);
  console.log(
    `\nstack's in-process cost: ${stackCost.toFixed(1)} µs/req (median of the per-round differences ` +
      `stack - plain: ${stackDiffs.map((d) => d.toFixed(1)).join(', ')})`,
  );
  console.log(
    `sidecar beyond bare undici + stack, per round: ${excess.map((d) => d.toFixed(1)).join(', ')} µs ` +
      `(median ${median(excess).toFixed(1)}; allowed ${SLACK_US})`,
  );
  const bad = (['sidecar', 'undici', 'plain', 'stack'] as const).filter((k) =>
    runs.get(k)!.some((r) => r.wrk.non2xx > 0 || r.wrk.socketErrors),
  );
  const met = median(side) <= budget;
  console.log(
    `verdict: sidecar ${median(side).toFixed(1)} µs/req vs bare undici ${median(bare).toFixed(1)} + stack ` +
      `${stackCost.toFixed(1)} + ${SLACK_US} = ${budget.toFixed(1)} µs/req: ${met ? 'MET' : 'NOT MET'} ` +
      `(${met ? 'under' : 'over'} by ${Math.abs(budget - median(side)).toFixed(1)} µs)` +
      (bad.length > 0 ? `; INVALID: non-2xx or socket errors from ${bad.join(', ')}` : ''),
  );
  console.log(
    `nginx (one worker), beside it: ${median(cpuOf('nginx')).toFixed(1)} µs/req, ` +
      `${median(runs.get('nginx')!.map((r) => r.rps)).toFixed(0)} req/s`,
  );
}

/** RSS after N/2 and N distinct client IPs through a trusted hop's X-Forwarded-For. */
/**
 * A preload for the measured sidecar: on SIGUSR2 it runs two full GCs and writes
 * process.memoryUsage() to a file, so retained memory is read apart from garbage in flight (RSS
 * without a GC moves with V8's heap sizing and malloc arenas under load).
 */
const GC_PRELOAD = `import { writeFileSync } from 'node:fs';
process.on('SIGUSR2', () => {
  globalThis.gc(); globalThis.gc();
  writeFileSync(process.env.REALIP_BENCH_MEM_FILE, JSON.stringify(process.memoryUsage()));
});
`;

async function afterGc(pid: number, file: string): Promise<{ rss: number; heapUsed: number }> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 100));
  const m = JSON.parse(readFileSync(file, 'utf8')) as { rss: number; heapUsed: number };
  return { rss: m.rss / 2 ** 20, heapUsed: m.heapUsed / 2 ** 20 };
}

async function memory(upPort: number): Promise<void> {
  const port = await freePort();
  const admin = await freePort();
  const memDir = mkdtempSync(join(tmpdir(), 'realip-bench-mem-'));
  const preload = join(memDir, 'gc-on-signal.mjs');
  const memFile = join(memDir, 'memory.json');
  writeFileSync(preload, GC_PRELOAD);
  process.env.REALIP_BENCH_MEM_FILE = memFile;
  const child = start(PROXY_CPU, process.execPath, [
    '--expose-gc',
    '--import',
    preload,
    ...sidecarArgv(upPort, port, admin),
  ]);
  await waitHttp(port);
  const pid = child.pid!; // taskset execs the command, so the pid is node's
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let next = 0;
  let non200 = 0;
  const ipOf = (n: number): string => {
    // distinct public-looking IPv4 addresses: 11.0.0.0 upward
    const v = 0x0b000000 + n;
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  };
  const drive = async (until: number): Promise<void> => {
    const worker = async (): Promise<void> => {
      while (next < until) {
        const ip = ipOf(next++);
        await new Promise<void>((resolve, reject) => {
          const req = http.get(
            { host: '127.0.0.1', port, path: '/', agent, headers: { 'x-forwarded-for': ip } },
            (res) => {
              if (res.statusCode !== 200) non200++;
              res.resume();
              res.on('end', resolve);
            },
          );
          req.on('error', reject);
        });
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  };
  const started = Date.now();
  const before = rssMb(pid);
  const beforeGc = await afterGc(pid, memFile);
  // RSS read as is every STEP IPs: a garbage-collected heap is a sawtooth, so one reading says
  // little; the peak (VmHWM) and the median of a half's last samples say whether it still grows.
  const STEP = Math.max(1, Math.round(IPS / 20));
  const samples: number[] = [];
  const driveSampled = async (until: number): Promise<void> => {
    while (next < until) {
      await drive(Math.min(until, next + STEP));
      samples.push(rssMb(pid));
    }
  };
  await driveSampled(IPS / 2);
  await new Promise((r) => setTimeout(r, 1000));
  const half = rssMb(pid);
  const halfPeak = rssMb(pid, 'VmHWM');
  const halfTail = median(samples.slice(-5));
  const halfGc = await afterGc(pid, memFile);
  await driveSampled(IPS);
  await new Promise((r) => setTimeout(r, 1000));
  const full = rssMb(pid);
  const fullPeak = rssMb(pid, 'VmHWM');
  const fullTail = median(samples.slice(-5));
  const fullGc = await afterGc(pid, memFile);
  agent.destroy();
  const mb = (v: number, w = 7) => `${v.toFixed(1).padStart(w)} MB`;
  const row = (
    label: string,
    rss: number,
    tail: number,
    peak: number,
    gc: { rss: number; heapUsed: number },
  ) =>
    `  ${label.padEnd(30)} ${mb(rss)} ${mb(tail, 9)} ${mb(peak, 9)} ${mb(gc.rss, 9)} ${mb(gc.heapUsed, 9)}`;
  const pct = (a: number, b: number) => `${(((b - a) / a) * 100).toFixed(1)}%`;
  console.log(`\nmemory (sidecar, default policy, ${((Date.now() - started) / 1000).toFixed(0)} s):`);
  console.log(
    `  ${''.padEnd(30)} ${'RSS'.padStart(10)} ${'RSS tail'.padStart(12)} ${'RSS peak'.padStart(12)} ${'RSS aft. GC'.padStart(12)} ${'heap aft. GC'.padStart(12)}`,
  );
  console.log(row('at start', before, before, before, beforeGc));
  console.log(row(`after ${(IPS / 2).toLocaleString('en')} distinct IPs`, half, halfTail, halfPeak, halfGc));
  console.log(row(`after ${IPS.toLocaleString('en')} distinct IPs`, full, fullTail, fullPeak, fullGc));
  console.log(
    `  RSS every ${STEP.toLocaleString('en')} IPs: ${samples.map((v) => v.toFixed(0)).join(' ')} MB`,
  );
  console.log(
    `  growth second half: RSS ${pct(half, full)}, tail (median of the last 5 samples) ${pct(halfTail, fullTail)}, ` +
      `peak ${pct(halfPeak, fullPeak)}, RSS after GC ${pct(halfGc.rss, fullGc.rss)}, heap after GC ${pct(halfGc.heapUsed, fullGc.heapUsed)} ` +
      `(target within 5%); under 256 MB: ${Math.max(full, fullPeak) < 256}`,
  );
  if (non200 > 0) console.log(`  NOTE: ${non200.toLocaleString('en')} responses were not 200`);
  await stop(child);
  rmSync(memDir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const c of children) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    process.exit(130);
  });
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) await stop(c);
    rmSync(tmp, { recursive: true, force: true });
  });
