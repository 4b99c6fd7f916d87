/**
 * Access-log overhead through HTTP: realip's access log vs pino-http on Express, and vs Fastify's
 * own request logging reduced to one line per request.
 *
 *   node --expose-gc --import tsx bench/log.ts [--runs 5] [--duration 4] [--connections 32] [--autocannon]
 *     [--only fastify-realip-controller,fastify-own-one-line] [--reuse]
 *   Every run starts fresh server processes (one process can sit a few per cent off another of the
 *   same code for its whole life); `--reuse` keeps the first run's processes for all runs.
 *   BENCH_LOG_SINK=null ... : every variant logs to a stream that drops the lines (pino still builds
 *     and serialises them): separates the cost of the line from the cost of writing it to a file.
 *   node --expose-gc --import tsx bench/log.ts --pair fastify-realip-controller,fastify-floor
 *     [--runs 7] [--duration 5] [--connections 16]: the two servers at the same time, both on CPU 0,
 *     each with its own wrk on CPU 1; compares CPU per request (the steadiest statistic here).
 *   node --expose-gc --import tsx bench/log.ts --micro [--runs 5] [--lines 200000]
 *
 * Load: wrk on CPU 1 with every server pinned to CPU 0 when wrk and taskset exist (else, or with
 * `--autocannon`, autocannon from this process); the server's CPU time per request is reported too.
 * Every server runs in its own child process (so the load generator does not share its event loop) and
 * writes one line per request to its own async pino file destination
 * (`pino.destination({ dest, sync: false })`, the same kind for every variant). Every app mounts the
 * same stub resolver stage that fills `req.realip`, so only the logging differs. Runs are
 * interleaved (variant order rotates per run); the script prints the median requests/second per
 * variant and the ratio realip / anchor (median of the per-run ratios and ratio of the medians).
 * The per-run ratio is the better statistic on a shared machine: both sides ran seconds apart.
 *
 * Fastify's own logging writes two lines per request ("incoming request" and "request
 * completed"). The "one line per request" anchor keeps Fastify's own logging and switches the
 * incoming line off through Fastify 5's `logController` (a `LogController` subclass whose
 * `incomingRequest()` does nothing), so Fastify writes only its "request completed" line. The
 * realip variant turns Fastify's lines off (`new LogController({ disableRequestLogging: true })`)
 * and logs through `request.log`. `fastify-own-default` (two lines) is shown for reference.
 * `fastify-own-one-line-req` is Fastify's logging in one line with both lines' content (its `req`
 * serializer next to `res` and `responseTime`), for an equal-content comparison.
 * `fastify-floor` writes realip's default fields from a hand-written object literal through the
 * same `request.log`: what that content costs through pino with no library at all (the floor).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PINNED_WRK, cpuMicros, pinnedTo, runWrk } from './_wrk.js';

type Variant =
  | 'express-nolog'
  | 'express-realip'
  | 'express-pino-http'
  | 'fastify-nolog'
  | 'fastify-realip'
  | 'fastify-realip-controller'
  | 'fastify-realip-controller-omit'
  | 'fastify-own-one-line'
  | 'fastify-own-default'
  | 'fastify-own-one-line-req'
  | 'fastify-floor';

const ALL_VARIANTS: Variant[] = [
  'express-nolog',
  'express-realip',
  'express-pino-http',
  'fastify-nolog',
  'fastify-realip',
  'fastify-realip-controller',
  'fastify-realip-controller-omit',
  'fastify-own-one-line',
  'fastify-own-default',
  'fastify-own-one-line-req',
  'fastify-floor',
];

// `--only a,b`: run just these variants (closer pairing on a noisy machine).
const onlyAt = process.argv.indexOf('--only');
const VARIANTS: Variant[] =
  onlyAt >= 0 ? ALL_VARIANTS.filter((v) => process.argv[onlyAt + 1]!.split(',').includes(v)) : ALL_VARIANTS;

/**
 * `fastify-realip-controller-omit`: realip's line cut to Fastify's content (status and duration)
 * plus the client address and the decision, through the `omit` option.
 */
const LIKE_FASTIFY = [
  'network.peer.address',
  'http.request.method',
  'http.route',
  'url.path',
  'geo.country.iso_code',
  'realip.source',
];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// ---------------------------------------------------------------------------------------------
// Child: one server
// ---------------------------------------------------------------------------------------------

async function serve(variant: Variant, dest: string): Promise<void> {
  const pino = (await import('pino')).default;
  const { createContext } = await import('../src/http/context.js');
  const { PROXY_A, PROXY_B, CLIENT_V4 } = {
    PROXY_A: '10.1.2.3',
    PROXY_B: '172.16.5.4',
    CLIENT_V4: '203.0.113.77',
  };
  const resolution = {
    ip: CLIENT_V4,
    source: 'header' as const,
    header: 'x-forwarded-for',
    peer: PROXY_A,
    chain: [CLIENT_V4, PROXY_B, PROXY_A],
    complete: true,
    reason: 'untrusted-entry' as const,
    explain: () => 'stub',
  };
  const access = { allowed: true, reason: 'no-allow-list' };
  const rateLimit = {
    tier: 'default',
    limit: 1000,
    remaining: 999,
    resetMs: 60_000,
    limited: false,
    source: 'store' as const,
  };
  const fill = (ctx: ReturnType<typeof createContext>) => {
    ctx.resolution = resolution;
    ctx.access = access;
    ctx.rateLimit = rateLimit;
    return ctx;
  };
  const stream =
    process.env.BENCH_LOG_SINK === 'null'
      ? ({ write: () => true, flush: (cb: () => void) => cb() } as unknown as ReturnType<
          typeof pino.destination
        >)
      : pino.destination({ dest, sync: false });
  const logger = pino({}, stream);
  let port: number;
  if (variant.startsWith('express')) {
    const express = (await import('express')).default;
    const app = express();
    if (variant === 'express-realip') {
      const { accessLog } = await import('../src/express/index.js');
      app.use(accessLog({ logger }));
    } else if (variant === 'express-pino-http') {
      const { pinoHttp } = await import('pino-http');
      app.use(pinoHttp({ logger }));
    }
    app.use((req, _res, next) => {
      const ctx = fill(createContext());
      req.realip = ctx;
      req.clientIp = ctx.resolution!.ip;
      next();
    });
    app.get('/users/:id', (_req, res) => {
      res.json({ ok: true });
    });
    port = await new Promise<number>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
    });
  } else {
    const { default: Fastify, LogController } = await import('fastify');
    const fp = (await import('fastify-plugin')).default;
    // Fastify's own request logging with its "incoming request" line switched off: exactly one
    // line per request, Fastify's "request completed" ({ res, responseTime } plus reqId).
    class OneLine extends LogController {
      override incomingRequest(): void {}
    }
    type Req = import('fastify').FastifyRequest;
    type Reply = import('fastify').FastifyReply;
    // A controller with no "incoming request" line that writes `line()` where Fastify writes its
    // "request completed" line.
    const onCompletion = (line: (request: Req, reply: Reply) => void) =>
      new (class extends LogController {
        override incomingRequest(): void {}
        override requestCompleted(_error: unknown, request: Req, reply: Reply): void {
          line(request, reply);
        }
      })();
    // Fastify's own request logging in one line with both of its lines' content: its `req`
    // serializer (method, url, host, remote address and port) next to `res` and `responseTime`.
    const oneLineWithRequest = () =>
      onCompletion((request, reply) =>
        reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed'),
      );
    // The floor for realip's content: the default line's fields written by hand, straight from the
    // request, as one object literal (no options, no anonymiser, no suppression, no exemptions).
    // No implementation of that content through pino can cost less.
    const floor = () =>
      onCompletion((request, reply) => {
        const r = request.realip!.resolution!;
        request.log.info(
          {
            'client.address': r.ip,
            'network.peer.address': r.peer,
            'http.request.method': request.method,
            'http.route': request.routeOptions.url,
            'url.path': request.url,
            'http.response.status_code': reply.statusCode,
            'http.server.request.duration': Math.round(reply.elapsedTime * 1000) / 1e6,
            'realip.source': r.source,
            'realip.decision': 'allowed',
          },
          'request completed',
        );
      });
    const { accessLogController } = await import('../src/fastify/index.js');
    const logController =
      variant === 'fastify-own-default'
        ? new LogController()
        : variant === 'fastify-own-one-line'
          ? new OneLine()
          : variant === 'fastify-floor'
            ? floor()
            : variant === 'fastify-own-one-line-req'
              ? oneLineWithRequest()
              : variant === 'fastify-realip-controller'
                ? accessLogController(LogController)
                : variant === 'fastify-realip-controller-omit'
                  ? accessLogController(LogController, { omit: LIKE_FASTIFY })
                  : new LogController({ disableRequestLogging: true });
    const app = Fastify({ loggerInstance: logger, logController });
    await app.register(
      fp(
        (f, _o, done) => {
          f.decorateRequest('clientIp', undefined);
          f.decorateRequest('realip', null as never);
          f.addHook('onRequest', (request, _reply, next) => {
            const ctx = fill(createContext());
            request.realip = ctx;
            request.clientIp = ctx.resolution!.ip;
            next();
          });
          done();
        },
        { name: 'realip-client-ip', fastify: '5.x' },
      ),
    );
    if (variant === 'fastify-realip') {
      const { accessLog } = await import('../src/fastify/index.js');
      await app.register(accessLog);
    }
    app.get('/users/:id', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  }
  process.send!({ port });
  process.on('message', (m) => {
    if (m === 'flush') stream.flush(() => process.send!({ flushed: true }));
    if (m === 'exit') stream.flush(() => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------
// Parent: interleaved autocannon runs
// ---------------------------------------------------------------------------------------------

interface Server {
  variant: Variant;
  child: ChildProcess;
  port: number;
  dest: string;
  run: number;
  /** Requests answered, to check one line per request. */
  requests: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function start(variant: Variant, dir: string, pin: boolean, run: number): Promise<Server> {
  const dest = join(dir, `${variant}-${run}.log`);
  const node = [
    process.execPath,
    '--import',
    'tsx',
    fileURLToPath(import.meta.url),
    '--serve',
    variant,
    dest,
  ];
  const [cmd, ...argv] = pin ? pinnedTo(0, node) : node;
  const child = spawn(cmd!, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${variant} exited with ${code}`)));
  });
  return { variant, child, port, dest, run, requests: 0 };
}

async function main(): Promise<void> {
  const runs = arg('runs', 5);
  const duration = arg('duration', 4);
  const connections = arg('connections', 32);
  type Hit = { requests: { average: number; total: number }; errors: number; non2xx: number; cpu: number };
  const useWrk = PINNED_WRK && process.argv.includes('--autocannon') === false;
  // autocannon ships no types; only the fields used here are declared.
  const autocannon = useWrk
    ? undefined
    : ((await import('autocannon' as string)).default as (opts: object) => Promise<Omit<Hit, 'cpu'>>);
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-log-'));
  // Fresh server processes for every run (unless --reuse): one process of a variant can sit a few
  // per cent above or below another process of the same variant for its whole life (heap and code
  // layout, JIT decisions), a bias interleaving cannot remove; new processes per run turn it into
  // noise the per-run median absorbs.
  const fresh = !process.argv.includes('--reuse');
  let servers: Server[] = [];
  const startAll = async (run: number): Promise<void> => {
    servers = [];
    for (const v of VARIANTS) servers.push(await start(v, dir, useWrk, run));
  };
  const rps = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const cpuPerRequest = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  const hit = async (s: Server, seconds: number): Promise<Hit> => {
    const c0 = cpuMicros(s.child.pid!);
    if (useWrk) {
      const w = runWrk(`http://127.0.0.1:${s.port}/users/42`, {
        duration: seconds,
        connections,
        headers: ['x-forwarded-for: 203.0.113.77, 172.16.5.4', 'user-agent: wrk'],
      });
      return {
        requests: { average: w.rps, total: w.requests },
        errors: w.socketErrors ? 1 : 0,
        non2xx: w.non2xx,
        cpu: (cpuMicros(s.child.pid!) - c0) / w.requests,
      };
    }
    const r = await autocannon!({
      url: `http://127.0.0.1:${s.port}/users/42`,
      connections,
      duration: seconds,
      headers: { 'x-forwarded-for': '203.0.113.77, 172.16.5.4', 'user-agent': 'autocannon' },
    });
    return { ...r, cpu: (cpuMicros(s.child.pid!) - c0) / r.requests.total };
  };
  // Check the one-line-per-request premise from the files themselves, then stop the servers.
  const checkAndStop = async (): Promise<void> => {
    for (const s of servers) {
      await new Promise<void>((resolve) => {
        s.child.once('message', () => resolve());
        s.child.send('flush');
      });
      if (!s.variant.endsWith('nolog') && process.env.BENCH_LOG_SINK !== 'null') {
        const text = readFileSync(s.dest, 'utf8').split('\n');
        const lines = text.filter((l) => l.includes('"msg":"request completed"'));
        const perLine = Math.round(lines.reduce((n, l) => n + l.length + 1, 0) / Math.max(lines.length, 1));
        // wrk counts responses it read; requests in flight when it stops may still be logged.
        if (Math.abs(lines.length - s.requests) > s.requests / 100)
          console.warn(`${s.variant}: ${lines.length} request lines for ~${s.requests} requests`);
        if (!fresh || s.run === 0)
          console.log(
            `${s.variant}: ${lines.length} request lines for ~${s.requests} requests, ${perLine} bytes/line`,
          );
      }
      s.child.send('exit');
      await new Promise((r) => s.child.once('exit', r));
      rmSync(s.dest, { force: true });
    }
    servers = [];
  };
  try {
    for (let run = 0; run < runs; run++) {
      if (run === 0 || fresh) {
        await startAll(run);
        // Warm-up: JIT every server.
        for (const s of servers) s.requests += (await hit(s, fresh ? 2 : 1)).requests.total;
      }
      // Compared variants run back to back (one framework at a time), in an order rotated each run,
      // so a ratio's two sides see the same machine load as far as possible.
      const order: Server[] = [];
      for (const prefix of ['express-', 'fastify-']) {
        const group = servers.filter((x) => x.variant.startsWith(prefix));
        for (let i = 0; i < group.length; i++) order.push(group[(i + run) % group.length]!);
      }
      for (const s of order) {
        const r = await hit(s, duration);
        rps.get(s.variant)!.push(r.requests.average);
        cpuPerRequest.get(s.variant)!.push(r.cpu);
        s.requests += r.requests.total;
        if (r.errors || r.non2xx) console.warn(`${s.variant}: ${r.errors} errors, ${r.non2xx} non-2xx`);
      }
      console.log(
        `run ${run + 1}/${runs}: ` +
          VARIANTS.map((v) => `${v} ${Math.round(rps.get(v)!.at(-1)!)}`).join(', '),
      );
      if (fresh || run === runs - 1) await checkAndStop();
    }
    const pairs: [Variant, Variant][] = [
      ['express-realip', 'express-pino-http'],
      ['fastify-realip', 'fastify-own-one-line'],
      ['fastify-realip-controller', 'fastify-own-one-line'],
      ['fastify-realip-controller-omit', 'fastify-own-one-line'],
      ['fastify-realip-controller', 'fastify-floor'],
      ['fastify-floor', 'fastify-own-one-line'],
      ['fastify-realip-controller', 'fastify-own-one-line-req'],
      ['fastify-realip', 'fastify-own-default'],
      ['express-realip', 'express-nolog'],
      ['express-pino-http', 'express-nolog'],
      ['fastify-realip', 'fastify-nolog'],
      ['fastify-own-one-line', 'fastify-nolog'],
    ];
    console.log(
      `\nnode ${process.version}, ${runs} interleaved runs x ${duration}s, ${connections} connections`,
    );
    console.log('variant                  median req/s   runs');
    for (const v of VARIANTS) {
      console.log(
        `${v.padEnd(24)} ${String(Math.round(median(rps.get(v)!))).padStart(12)}   ${rps.get(v)!.map(Math.round).join(' ')}`,
      );
    }
    console.log('\nvariant                  median server CPU per request');
    for (const v of VARIANTS)
      console.log(`${v.padEnd(24)} ${median(cpuPerRequest.get(v)!).toFixed(1).padStart(8)} us`);
    console.log(
      '\nratio (a / b)                                   median of per-run ratios   ratio of medians   by CPU (b / a)',
    );
    for (const [a, b] of pairs) {
      if (!VARIANTS.includes(a) || !VARIANTS.includes(b)) continue;
      const ra = rps.get(a)!;
      const rb = rps.get(b)!;
      const perRun = median(ra.map((x, i) => x / rb[i]!));
      const byCpu = median(cpuPerRequest.get(b)!) / median(cpuPerRequest.get(a)!);
      console.log(
        `${(a + ' / ' + b).padEnd(48)} ${perRun.toFixed(3).padStart(24)}   ${(median(ra) / median(rb)).toFixed(3).padStart(16)}   ${byCpu.toFixed(3).padStart(14)}`,
      );
    }
    console.log(useWrk ? '(wrk on CPU 1, servers on CPU 0)' : '(autocannon, unpinned)');
  } finally {
    for (const s of servers) s.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// --micro: the cost of one line in-process (less sensitive to a loaded machine than HTTP)
// ---------------------------------------------------------------------------------------------

async function micro(): Promise<void> {
  const pino = (await import('pino')).default;
  const { createAccessLog, AccessLogInput } = await import('../src/log/access-log.js');
  const { createContext } = await import('../src/http/context.js');
  const runs = arg('runs', 5);
  const n = arg('lines', 200_000);
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-log-micro-'));
  try {
    const file = pino.destination({ dest: join(dir, 'micro.log'), sync: false });
    // BENCH_LOG_SINK=null: lines are built and serialised by pino, then dropped (the line alone).
    const dest =
      process.env.BENCH_LOG_SINK === 'null' ? ({ write: () => true } as unknown as typeof file) : file;
    // Fastify's logger: its res serializer, and a per-request child with reqId (made once here).
    const root = pino(
      { serializers: { res: (r: { statusCode: number }) => ({ statusCode: r.statusCode }) } },
      dest,
    );
    const child = root.child({ reqId: 'req-1a' });
    const httpLogger = pino({ serializers: pino.stdSerializers }, dest);
    const ctx = createContext();
    ctx.resolution = {
      ip: '203.0.113.77',
      source: 'header',
      header: 'x-forwarded-for',
      peer: '10.1.2.3',
      chain: ['203.0.113.77', '172.16.5.4', '10.1.2.3'],
      complete: true,
      reason: 'untrusted-entry',
      explain: () => '',
    };
    ctx.access = { allowed: true, reason: 'no-allow-list' };
    ctx.rateLimit = {
      tier: 'default',
      limit: 1000,
      remaining: 999,
      resetMs: 60_000,
      limited: false,
      source: 'store' as const,
    };
    const headers = {
      host: '127.0.0.1:3000',
      'user-agent': 'autocannon',
      'x-forwarded-for': '203.0.113.77, 172.16.5.4',
    };
    const input = new AccessLogInput();
    Object.assign(input, {
      method: 'GET',
      route: '/users/:id',
      url: '/users/42',
      statusCode: 200,
      durationMs: 0.412,
      remoteAddress: '10.1.2.3',
      remotePort: 51234,
      context: ctx,
      headers,
    });
    const realip = createAccessLog();
    const reply = { statusCode: 200 };
    const req = {
      id: 1,
      method: 'GET',
      url: '/users/42',
      headers,
      socket: { remoteAddress: '10.1.2.3', remotePort: 51234 },
    };
    const res = {
      statusCode: 200,
      getHeaders: () => ({ 'content-type': 'application/json', 'content-length': '11' }),
    };
    const cases: [string, () => void][] = [
      ['realip (Fastify request.log child)', () => realip.write(input, child)],
      [
        // realip's default fields as one hand-written literal: the floor for that content.
        'the same fields, hand-written',
        () => {
          const r = ctx.resolution!;
          child.info(
            {
              'client.address': r.ip,
              'network.peer.address': r.peer,
              'http.request.method': input.method,
              'http.route': input.route,
              'url.path': input.url,
              'http.response.status_code': input.statusCode,
              'http.server.request.duration': Math.round(input.durationMs * 1000) / 1e6,
              'realip.source': r.source,
              'realip.decision': 'allowed',
            },
            'request completed',
          );
        },
      ],
      [
        "Fastify's completed line",
        () => child.info({ res: reply, responseTime: 0.412 }, 'request completed'),
      ],
      [
        "pino-http's line (std serializers)",
        () => httpLogger.info({ req, res, responseTime: 0 }, 'request completed'),
      ],
    ];
    const ns = new Map<string, number[]>(cases.map(([k]) => [k, []]));
    for (const [, fn] of cases) for (let i = 0; i < 20_000; i++) fn();
    for (let run = 0; run < runs; run++) {
      for (let c = 0; c < cases.length; c++) {
        const [name, fn] = cases[(c + run) % cases.length]!;
        (globalThis as { gc?: () => void }).gc?.();
        const t = process.hrtime.bigint();
        for (let i = 0; i < n; i++) fn();
        ns.get(name)!.push(Number(process.hrtime.bigint() - t) / n);
        await new Promise<void>((r) => file.flush(() => r()));
      }
    }
    console.log(
      `node ${process.version}, ${runs} interleaved runs x ${n} lines, ` +
        (process.env.BENCH_LOG_SINK === 'null' ? 'lines dropped after pino' : 'async pino file destination'),
    );
    for (const [name, xs] of ns)
      console.log(
        `${name.padEnd(40)} ${median(xs).toFixed(0).padStart(6)} ns/line   ${xs.map((x) => x.toFixed(0)).join(' ')}`,
      );
    await new Promise<void>((r) => file.flush(() => r()));
    file.end();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// --pair a,b: both servers at once on CPU 0, each loaded by its own wrk on CPU 1
// ---------------------------------------------------------------------------------------------

/**
 * The two servers share CPU 0 for the same seconds, so the VM's drift falls on both alike; each
 * one's CPU time per request is compared (the scheduler splits the core, so throughput follows CPU
 * per request). Fresh processes each run.
 */
async function pair(a: Variant, b: Variant): Promise<void> {
  if (!PINNED_WRK) throw new Error('--pair needs wrk and taskset on a machine with two or more CPUs');
  const runs = arg('runs', 7);
  const duration = arg('duration', 5);
  const connections = arg('connections', 16);
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-log-pair-'));
  const load = (port: number, seconds: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const argv = pinnedTo(1, [
        'wrk',
        '-t1',
        `-c${connections}`,
        `-d${seconds}s`,
        '-H',
        'x-forwarded-for: 203.0.113.77, 172.16.5.4',
        `http://127.0.0.1:${port}/users/42`,
      ]);
      const p = spawn(argv[0]!, argv.slice(1));
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', () => {
        const m = /(\d+) requests in/.exec(out);
        if (m === null) reject(new Error(`wrk printed no request count: ${out}`));
        else resolve(Number(m[1]));
      });
    });
  const ratios: number[] = [];
  const cpuA: number[] = [];
  const cpuB: number[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const servers = [await start(a, dir, true, run), await start(b, dir, true, run)];
      try {
        await Promise.all(servers.map((s) => load(s.port, 2)));
        const c0 = servers.map((s) => cpuMicros(s.child.pid!));
        const n = await Promise.all(servers.map((s) => load(s.port, duration)));
        const [pa, pb] = servers.map((s, i) => (cpuMicros(s.child.pid!) - c0[i]!) / n[i]!) as [
          number,
          number,
        ];
        cpuA.push(pa);
        cpuB.push(pb);
        ratios.push(pb / pa);
        console.log(
          `run ${run + 1}/${runs}: ${a} ${pa.toFixed(1)} us/request, ${b} ${pb.toFixed(1)} us/request, ` +
            `${a} / ${b} ${(pb / pa).toFixed(3)} (requests ${(n[0]! / n[1]!).toFixed(3)})`,
        );
      } finally {
        for (const s of servers) {
          s.child.send('exit');
          await new Promise((r) => s.child.once('exit', r));
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nnode ${process.version}, ${runs} runs x ${duration}s, both at once on CPU 0, ${connections} connections each\n` +
      `${a} / ${b}: ${median(ratios).toFixed(3)} (median of per-run CPU-per-request ratios; ` +
      `medians ${median(cpuA).toFixed(1)} vs ${median(cpuB).toFixed(1)} us per request)`,
  );
}

const serveAt = process.argv.indexOf('--serve');
const pairAt = process.argv.indexOf('--pair');
if (serveAt >= 0) {
  await serve(process.argv[serveAt + 1] as Variant, process.argv[serveAt + 2]!);
} else if (pairAt >= 0) {
  const [a, b] = process.argv[pairAt + 1]!.split(',') as [Variant, Variant];
  if (!ALL_VARIANTS.includes(a) || !ALL_VARIANTS.includes(b))
    throw new Error(`--pair a,b: expected two of ${ALL_VARIANTS.join(', ')}`);
  await pair(a, b);
} else if (process.argv.includes('--micro')) {
  await micro();
} else {
  await main();
}
