/**
 * What each stage of the composed stack costs through HTTP: the bench/stack.ts load against the
 * full realip stack and against the same stack with one stage left out, plus bare and log-only.
 *
 *   node --import tsx bench/stack-stages.ts [--framework express|fastify] [--runs 5] [--duration 8]
 *
 * Each variant is its own server process on CPU 0 (wrk on CPU 1); runs are interleaved with the
 * order rotated each run, and the report is the server's CPU time per request (median) and what
 * removing each stage saves against the full stack (median of the per-run differences).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PINNED_WRK, cpuMicros, runWrk, startServer } from './_wrk.js';
import { HIGH, STACK_WRK_SCRIPT, allowList } from './_stack-load.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};

const VARIANTS = ['bare', 'logonly', 'full', 'no-log', 'no-ratelimit', 'no-geo', 'no-access', 'resolve-only'];

async function serve(framework: string, variant: string, logFile: string): Promise<void> {
  const { parsePolicy } = await import('../src/policy/index.js');
  const { embeddedGeoDatabase } = await import('../src/policy/files.js');
  const pino = (await import('pino')).default;
  const logger = pino(pino.destination({ dest: logFile, sync: false }));
  const sections: Record<string, unknown> = {
    resolve: { trustedProxies: ['loopback'] },
    access: { allow: allowList() },
    geo: { databases: [embeddedGeoDatabase()], watch: false },
    rateLimit: { tiers: [{ name: 'default', limits: [{ points: HIGH, duration: 60 }] }] },
    log: { fieldStyle: 'otel' },
    metrics: { enabled: false },
  };
  if (variant === 'no-log' || variant === 'resolve-only') sections['log'] = { enabled: false };
  if (variant === 'no-ratelimit' || variant === 'resolve-only') delete sections['rateLimit'];
  if (variant === 'no-geo' || variant === 'resolve-only') delete sections['geo'];
  if (variant === 'no-access' || variant === 'resolve-only') delete sections['access'];
  const policy = parsePolicy(JSON.stringify(sections));
  let port: number;
  if (framework === 'express') {
    const express = (await import('express')).default;
    const app = express();
    app.set('etag', false);
    app.set('x-powered-by', false);
    if (variant === 'logonly') {
      app.use((req, res, next) => {
        const t0 = performance.now();
        res.on('close', () =>
          logger.info(
            {
              'client.address': req.headers['x-forwarded-for'],
              status: res.statusCode,
              ms: performance.now() - t0,
            },
            'request completed',
          ),
        );
        next();
      });
    } else if (variant !== 'bare') {
      const { realip } = await import('../src/express/index.js');
      const mw = realip(policy, { logger });
      await mw.ready;
      app.use(mw);
    }
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    port = await new Promise<number>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
    });
  } else {
    const Fastify = (await import('fastify')).default;
    const app = Fastify();
    if (variant === 'logonly') {
      app.addHook('onResponse', (request, reply, done) => {
        logger.info(
          {
            'client.address': request.headers['x-forwarded-for'],
            status: reply.statusCode,
            ms: reply.elapsedTime,
          },
          'request completed',
        );
        done();
      });
    } else if (variant !== 'bare') {
      const { realip } = await import('../src/fastify/index.js');
      await app.register(realip, { policy, options: { logger } });
    }
    app.get('/', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  }
  process.stdout.write(`PORT ${port}\n`);
}

function start(
  framework: string,
  variant: string,
  logFile: string,
): Promise<{ child: ChildProcess; port: number }> {
  const self = fileURLToPath(import.meta.url);
  return startServer(variant, [
    process.execPath,
    '--import',
    'tsx',
    self,
    '--serve',
    framework,
    variant,
    logFile,
  ]);
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  if (!PINNED_WRK) throw new Error('needs wrk and taskset with two CPUs');
  const framework = opt('framework', 'express');
  const runs = Number(opt('runs', '5'));
  const duration = Number(opt('duration', '8'));
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-stages-'));
  const script = join(dir, 'xff.lua');
  writeFileSync(script, STACK_WRK_SCRIPT);
  const servers = new Map<string, { child: ChildProcess; port: number }>();
  const cpu = new Map<string, number[]>(VARIANTS.map((v) => [v, []]));
  try {
    for (const v of VARIANTS) servers.set(v, await start(framework, v, join(dir, `${v}.log`)));
    for (const v of VARIANTS)
      runWrk(`http://127.0.0.1:${servers.get(v)!.port}/`, { script, duration: 2, connections: 50 });
    for (let r = 0; r < runs; r++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
      for (const v of order) {
        const { child, port } = servers.get(v)!;
        const c0 = cpuMicros(child.pid!);
        const w = runWrk(`http://127.0.0.1:${port}/`, { script, duration, connections: 50 });
        cpu.get(v)!.push((cpuMicros(child.pid!) - c0) / w.requests);
      }
      process.stderr.write(
        `run ${r + 1}: ${VARIANTS.map((v) => `${v} ${cpu.get(v)!.at(-1)!.toFixed(1)}`).join(', ')}\n`,
      );
    }
  } finally {
    for (const s of servers.values()) s.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\n${framework}: server CPU per request (median of ${runs} runs of ${duration} s), and what leaving a stage out saves`,
  );
  console.log('| variant | CPU per request | full minus this (median of per-run differences) |');
  console.log('| --- | ---: | ---: |');
  const full = cpu.get('full')!;
  for (const v of VARIANTS) {
    const diff = median(cpu.get(v)!.map((x, i) => full[i]! - x));
    console.log(
      `| ${v} | ${median(cpu.get(v)!).toFixed(1)} µs | ${v === 'full' ? '' : `${diff.toFixed(1)} µs`} |`,
    );
  }
}

const serveAt = args.indexOf('--serve');
if (serveAt >= 0) await serve(args[serveAt + 1]!, args[serveAt + 2]!, args[serveAt + 3]!);
else await main();
