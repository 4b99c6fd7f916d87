/**
 * Benchmark 6(b): the realip sidecar (built-in default policy) vs a bare Node proxy, a bare
 * Fastify + @fastify/reply-from proxy, and nginx as a reverse proxy, all in front of the same
 * upstream (nginx answering `return 200`), through HTTP with wrk.
 *
 *   node --expose-gc --import tsx bench/sidecar.ts
 *
 * Layout: the proxy under test is pinned to CPU 0 (taskset), the upstream and wrk to CPU 1.
 * Rounds are interleaved (A B C D, A B C D, ...) and medians reported with ratios.
 * Then memory: the sidecar's RSS after 1,000,000 and 2,000,000 distinct client IPs, driven through
 * a trusted hop's X-Forwarded-For (the sidecar trusts 127.0.0.1 for that phase): read as is, as the
 * median of the last five of the samples taken every IPS/20 addresses, as the peak (VmHWM), and
 * after two forced full GCs through a SIGUSR2 preload (with heap used).
 *
 * Environment: BENCH_ROUNDS (5), BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_IPS (2000000;
 * memory is measured at half and at all of it), BENCH_SKIP_MEMORY=1, BENCH_SKIP_THROUGHPUT=1.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import http from 'node:http';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = process.env.BENCH_DURATION ?? '10s';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const IPS = Number(process.env.BENCH_IPS ?? 2_000_000);
const NCPU = cpus().length;
const PROXY_CPU = '0';
const LOAD_CPU = NCPU > 1 ? '1' : '0';
const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'realip-bench-sidecar-'));

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}
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
  // Own process group, so stop() also ends nginx's workers.
  const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], cwd: ROOT, detached: true });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  });
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

function wrk(port: number): number {
  const [c, a] = pinned(LOAD_CPU, 'wrk', [
    '-t1',
    `-c${CONNECTIONS}`,
    `-d${DURATION}`,
    `http://127.0.0.1:${port}/`,
  ]);
  const out = execFileSync(c, a, { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (errors) throw new Error(`wrk saw ${errors[1]} non-2xx responses on port ${port}`);
  return m ? Number(m[1]) : NaN;
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

const sidecarCmd = existsSync(join(ROOT, 'dist/cli/main.js'))
  ? ['dist/cli/main.js']
  : ['--import', 'tsx', 'src/cli/main.ts'];

async function main(): Promise<void> {
  if (!has('wrk') || !has('nginx')) throw new Error('needs wrk and nginx (apt-get install wrk nginx-light)');
  console.log(`node ${process.version}, ${NCPU} CPUs (${cpus()[0]?.model}), taskset: ${TASKSET}`);
  console.log(
    `proxy on CPU ${PROXY_CPU}, upstream + wrk on CPU ${LOAD_CPU}; ${ROUNDS} rounds x ${DURATION}, ${CONNECTIONS} connections`,
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

  const targets: Array<{ name: string; port: number; child: ChildProcess }> = [];
  const sidePort = await freePort();
  const adminPort = await freePort();
  targets.push({
    name: 'realip sidecar (default policy)',
    port: sidePort,
    child: start(PROXY_CPU, process.execPath, [
      ...sidecarCmd,
      'sidecar',
      '--upstream',
      `http://127.0.0.1:${upPort}`,
      '--listen',
      `127.0.0.1:${sidePort}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
    ]),
  });
  const barePort = await freePort();
  targets.push({
    name: 'bare node:http proxy',
    port: barePort,
    child: start(PROXY_CPU, process.execPath, [
      'bench/sidecar-targets.mjs',
      'bare-node',
      String(barePort),
      String(upPort),
    ]),
  });
  const rfPort = await freePort();
  targets.push({
    name: 'bare fastify + reply-from',
    port: rfPort,
    child: start(PROXY_CPU, process.execPath, [
      'bench/sidecar-targets.mjs',
      'reply-from',
      String(rfPort),
      String(upPort),
    ]),
  });
  const ngPort = await freePort();
  const ngDir = join(tmp, 'proxy');
  mkdirSync(ngDir);
  targets.push({
    name: 'nginx reverse proxy',
    port: ngPort,
    child: start(PROXY_CPU, 'nginx', [
      '-c',
      nginxConf(
        ngDir,
        `  upstream app { server 127.0.0.1:${upPort}; keepalive 256; }
  server { listen 127.0.0.1:${ngPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $remote_addr; } }`,
      ),
      '-p',
      ngDir,
      '-e',
      'stderr',
    ]),
  });
  for (const t of targets) await waitHttp(t.port);

  const results = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  if (process.env.BENCH_SKIP_THROUGHPUT !== '1') {
    for (const t of targets) wrk(t.port); // warm-up (JIT, keep-alive pools), not recorded
    for (let round = 1; round <= ROUNDS; round++) {
      for (const t of targets) {
        const rps = wrk(t.port);
        results.get(t.name)!.push(rps);
        console.log(`round ${round}: ${t.name.padEnd(32)} ${rps.toFixed(0)} req/s`);
      }
    }
    const med = new Map([...results].map(([k, v]) => [k, median(v)]));
    const side = med.get(targets[0]!.name)!;
    console.log('\nmedians (req/s) and the sidecar as a fraction of each:');
    for (const [name, m] of med) {
      console.log(
        `  ${name.padEnd(32)} ${m.toFixed(0).padStart(8)}   sidecar/this = ${(side / m).toFixed(2)}`,
      );
    }
  }
  for (const t of targets) await stop(t.child);

  if (process.env.BENCH_SKIP_MEMORY !== '1') await memory(upPort);
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
    ...sidecarCmd,
    'sidecar',
    '--upstream',
    `http://127.0.0.1:${upPort}`,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    `127.0.0.1:${admin}`,
    '--trusted-proxy',
    '127.0.0.1',
  ]);
  await waitHttp(port);
  const pid = child.pid!; // taskset execs the command, so the pid is node's
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let next = 0;
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
