/**
 * The composed stack through HTTP (issue 5, section 6(a)). Run:
 *
 *   node --expose-gc --import tsx bench/stack.ts [--runs 5] [--duration 10] [--connections 50]
 *     [--framework express|fastify]
 *
 * Side by side, each server in its own child process (pinned to CPU 0 when `taskset` exists; the
 * load generator runs on CPU 1: wrk when installed, else autocannon from this process, which caps
 * bare Fastify below its capacity: `--load autocannon` to force it), 5 interleaved runs, medians
 * and ratios, and (wrk) the server's CPU time per request:
 *
 * - bare Express / bare Fastify: hello world, nothing else;
 * - log-only: bare plus one pino line per request to the same kind of destination, nothing else
 *   (the ceiling for any stack that must write that line);
 * - realip: `app.use(realip(policy))` / `fastify.register(realip, policy)` with the full stack:
 *   resolve (loopback trusted, X-Forwarded-For) + an allow-list of 1,000 CIDRs + GeoIP on the
 *   embedded @ip-location-db country MMDB + a memory rate limit (never reached) + one access-log
 *   line per request to an async pino file destination (metrics off: the anchors have none);
 * - the anchor stack: Express `trust proxy` / Fastify `trustProxy` + a `net.BlockList` of the same
 *   1,000 CIDRs + maxmind `Reader.get` on the same MMDB + express-rate-limit / @fastify/rate-limit
 *   + pino-http / one line per request from an `onResponse` hook through a root pino logger
 *   (Fastify's own logger off, as for realip, which gets the same kind of logger) to the same kind
 *   of pino file destination.
 *
 * Load: every request comes from 127.0.0.1 (the trusted hop) with X-Forwarded-For naming one of
 * 100,000 public client IPs, 95% of which are inside the allow-list (the other 5% get 403 from both
 * stacks alike). Targets (issue 5): realip >= 0.70 of bare Fastify and >= 0.85 of bare Express, and
 * >= 2x the anchor stack on Fastify and >= 1.5x on Express.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAN_PIN, cpuMicros, has, runWrk, startServer, type WrkResult } from './_wrk.js';
import { HIGH, STACK_WRK_SCRIPT, allowList, clientIps } from './_stack-load.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};

// ---------------------------------------------------------------------------------------------
// Servers (child processes)
// ---------------------------------------------------------------------------------------------

async function serve(kind: string, logFile: string): Promise<void> {
  const { parsePolicy } = await import('../src/policy/index.js');
  const { embeddedGeoDatabase } = await import('../src/policy/files.js');
  const mmdb = embeddedGeoDatabase();
  if (!mmdb) throw new Error('npm install @ip-location-db/geo-whois-asn-country-mmdb');
  const pino = (await import('pino')).default;
  const destination = () => pino.destination({ dest: logFile, sync: false });
  const policy = parsePolicy(
    JSON.stringify({
      resolve: { trustedProxies: ['loopback'] },
      access: { allow: allowList() },
      geo: { databases: [mmdb], watch: false },
      rateLimit: { tiers: [{ name: 'default', limits: [{ points: HIGH, duration: 60 }] }] },
      log: { fieldStyle: 'otel' },
      metrics: { enabled: false },
    }),
  );
  let port: number;
  if (kind.startsWith('express')) {
    const express = (await import('express')).default;
    const app = express();
    app.set('etag', false);
    app.set('x-powered-by', false);
    if (kind === 'express-realip') {
      const { realip } = await import('../src/express/index.js');
      const mw = realip(policy, { logger: pino(destination()) });
      await mw.ready;
      app.use(mw);
    } else if (kind === 'express-anchor') {
      const { BlockList } = await import('node:net');
      const maxmind = (await import('maxmind')).default;
      const { rateLimit } = await import('express-rate-limit');
      const { pinoHttp } = await import('pino-http');
      const reader = await maxmind.open(mmdb, { watchForUpdates: false });
      const list = new BlockList();
      for (const c of allowList()) {
        const [net, bits] = c.split('/');
        list.addSubnet(net!, Number(bits), 'ipv4');
      }
      app.set('trust proxy', 'loopback');
      app.use(pinoHttp({ logger: pino(destination()), quietReqLogger: true }));
      app.use((req, res, next) => {
        const ip = req.ip ?? '';
        if (!list.check(ip, 'ipv4')) {
          res.status(403).send('forbidden');
          return;
        }
        (req as { geo?: unknown }).geo = reader.get(ip);
        next();
      });
      app.use(
        rateLimit({
          windowMs: 60_000,
          limit: HIGH,
          standardHeaders: 'draft-8',
          legacyHeaders: false,
          validate: false,
        }),
      );
    }
    if (kind === 'express-logonly') {
      // The floor under any stack with one access line per request: bare + that line, nothing else.
      const log = pino(destination());
      app.use((req, res, next) => {
        const t0 = performance.now();
        res.on('close', () =>
          log.info(
            {
              ip: req.headers['x-forwarded-for'],
              statusCode: res.statusCode,
              responseTime: performance.now() - t0,
            },
            'request completed',
          ),
        );
        next();
      });
    }
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as { port: number }).port;
  } else {
    const { default: Fastify } = await import('fastify');
    // Fastify's own logger stays off in all three: both stacks log through a root pino logger on
    // the same kind of destination (Fastify would otherwise build a child logger per request for
    // request.log, a cost neither stack needs for one line per request).
    const app = Fastify(kind === 'fastify-anchor' ? { trustProxy: '127.0.0.1' } : {});
    if (kind === 'fastify-realip') {
      const { realip } = await import('../src/fastify/index.js');
      await app.register(realip, { policy, options: { logger: pino(destination()) } });
    } else if (kind === 'fastify-anchor') {
      const log = pino(destination());
      const { BlockList } = await import('node:net');
      const maxmind = (await import('maxmind')).default;
      const frl = (await import('@fastify/rate-limit')).default;
      const reader = await maxmind.open(mmdb, { watchForUpdates: false });
      const list = new BlockList();
      for (const c of allowList()) {
        const [net, bits] = c.split('/');
        list.addSubnet(net!, Number(bits), 'ipv4');
      }
      app.addHook('onRequest', (request, reply, done) => {
        if (!list.check(request.ip, 'ipv4')) {
          reply.code(403).send('forbidden');
          return;
        }
        (request as { geo?: unknown }).geo = reader.get(request.ip);
        done();
      });
      await app.register(frl, { max: HIGH, timeWindow: 60_000 });
      app.addHook('onResponse', (request, reply, done) => {
        log.info(
          { ip: request.ip, statusCode: reply.statusCode, responseTime: reply.elapsedTime },
          'request completed',
        );
        done();
      });
    }
    if (kind === 'fastify-logonly') {
      const log = pino(destination());
      app.addHook('onResponse', (request, reply, done) => {
        log.info(
          {
            ip: request.headers['x-forwarded-for'],
            statusCode: reply.statusCode,
            responseTime: reply.elapsedTime,
          },
          'request completed',
        );
        done();
      });
    }
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  }
  process.stdout.write(`PORT ${port}\n`);
}

function runWrkOn(port: number, script: string, duration: number, connections: number): WrkResult {
  const r = runWrk(`http://127.0.0.1:${port}/`, { script, duration, connections });
  if (r.socketErrors) throw new Error(`wrk reported socket errors on port ${port}`);
  return r;
}

function startChild(kind: string, logFile: string): Promise<{ child: ChildProcess; port: number }> {
  const self = fileURLToPath(import.meta.url);
  return startServer(kind, [process.execPath, '--import', 'tsx', self, '--serve', kind, '--log', logFile]);
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

interface AutocannonResult {
  requests: { average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

async function main(): Promise<void> {
  const serveIdx = args.indexOf('--serve');
  if (serveIdx >= 0) {
    await serve(args[serveIdx + 1]!, opt('log', '/dev/null'));
    return;
  }
  if (CAN_PIN) {
    // The load generator on the other CPUs.
    spawnSync('taskset', ['-p', '-c', `1-${cpus().length - 1}`, String(process.pid)], { stdio: 'ignore' });
  }
  const useWrk = opt('load', has('wrk') ? 'wrk' : 'autocannon') === 'wrk';
  const runs = Number(opt('runs', '5'));
  const duration = Number(opt('duration', '10'));
  const connections = Number(opt('connections', '50'));
  const autocannon = useWrk ? undefined : ((await import('autocannon' as string)).default as Autocannon);
  const ips = clientIps();
  let n = 0;
  // `--framework express|fastify`: one framework only, so compared servers run closer in time.
  const framework = opt('framework', 'both');
  const kinds = [
    'express-bare',
    'express-logonly',
    'express-realip',
    'express-anchor',
    'fastify-bare',
    'fastify-logonly',
    'fastify-realip',
    'fastify-anchor',
  ].filter((k) => framework === 'both' || k.startsWith(framework + '-'));
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-stack-'));
  const servers = new Map<string, { child: ChildProcess; port: number }>();
  const rps = new Map<string, number[]>(kinds.map((k) => [k, []]));
  const cpuPerRequest = new Map<string, number[]>(kinds.map((k) => [k, []]));
  const script = join(dir, 'xff.lua');
  writeFileSync(script, STACK_WRK_SCRIPT);
  const forbidden = new Map<string, number>();
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}${CAN_PIN ? ' (servers on CPU 0)' : ''}`,
  );
  try {
    for (const k of kinds) servers.set(k, await startChild(k, join(dir, `${k}.log`)));
    for (let r = 0; r < runs; r++) {
      // Interleaved, alternating order, so drift in machine load hits every server alike.
      const order = r % 2 === 0 ? kinds : [...kinds].reverse();
      for (const k of order) {
        if (useWrk) {
          const { child, port } = servers.get(k)!;
          if (r === 0) runWrkOn(port, script, 2, connections); // warm-up (JIT), not recorded
          const c0 = cpuMicros(child.pid!);
          const load = runWrkOn(port, script, duration, connections);
          const cpu = (cpuMicros(child.pid!) - c0) / load.requests;
          rps.get(k)!.push(load.rps);
          cpuPerRequest.get(k)!.push(cpu);
          forbidden.set(k, load.non2xx);
          process.stderr.write(
            `  run ${r + 1} ${k}: ${Math.round(load.rps)} req/s, ${cpu.toFixed(1)} us CPU per request (${load.non2xx} non-2xx)\n`,
          );
          continue;
        }
        const res = await autocannon!({
          url: `http://127.0.0.1:${servers.get(k)!.port}/`,
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
        if (res.errors > 0 || res.timeouts > 0)
          throw new Error(`${k}: ${res.errors} errors, ${res.timeouts} timeouts`);
        rps.get(k)!.push(res.requests.average);
        forbidden.set(k, res.non2xx);
        process.stderr.write(
          `  run ${r + 1} ${k}: ${Math.round(res.requests.average)} req/s (${res.non2xx} non-2xx)\n`,
        );
      }
    }
  } finally {
    for (const s of servers.values()) s.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const m = (k: string) => median(rps.get(k)!);
  const c = (k: string) => median(cpuPerRequest.get(k)!);
  const f = (x: number) => x.toFixed(2);
  // Per-run ratios: both sides of a ratio ran seconds apart, so drift in machine speed cancels.
  const perRun = (a: string, b: string) => median(rps.get(a)!.map((x, i) => x / rps.get(b)![i]!));
  const byCpu = (a: string, b: string) => c(b) / c(a);
  const fw = (name: string, key: string, targetBare: string, targetAnchor: string) =>
    !kinds.includes(`${key}-bare`)
      ? []
      : [
          `${name}: realip / bare ${f(m(`${key}-realip`) / m(`${key}-bare`))} (per-run median ${f(perRun(`${key}-realip`, `${key}-bare`))}, by CPU ${f(byCpu(`${key}-realip`, `${key}-bare`))}; target >= ${targetBare}); ` +
            `anchor / bare ${f(m(`${key}-anchor`) / m(`${key}-bare`))}; ` +
            `realip / anchor ${f(m(`${key}-realip`) / m(`${key}-anchor`))} (per-run median ${f(perRun(`${key}-realip`, `${key}-anchor`))}, by CPU ${f(byCpu(`${key}-realip`, `${key}-anchor`))}; target >= ${targetAnchor}); ` +
            `log-only / bare ${f(m(`${key}-logonly`) / m(`${key}-bare`))} (by CPU ${f(byCpu(`${key}-logonly`, `${key}-bare`))}: the floor set by the one pino line)`,
        ];
  const lines = [
    '',
    `| server | median req/s | median server CPU per request |`,
    `| --- | ---: | ---: |`,
    ...kinds.map(
      (k) =>
        `| ${k} | ${Math.round(m(k))} | ${cpuPerRequest.get(k)!.length > 0 ? `${median(cpuPerRequest.get(k)!).toFixed(1)} us` : 'n/a'} |`,
    ),
    '',
    ...fw('Express', 'express', '0.85', '1.5'),
    ...fw('Fastify', 'fastify', '0.70', '2'),
    `(${useWrk ? 'wrk, server CPU from /proc' : 'autocannon'}; median of ${runs} interleaved runs of ${duration} s, ${connections} connections, 100,000 client IPs via a trusted hop, 95% allow-listed; non-2xx are the 5% outside the allow-list)`,
  ];
  console.log(lines.join('\n'));
}

await main();
