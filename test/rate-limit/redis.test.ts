/**
 * Redis store against a real Redis (127.0.0.1:6379): two app instances sharing one limit (one on
 * ioredis, one on node-redis), and failures injected through a TCP proxy this test owns (cut,
 * stall, restore): the insurance limiter takes over, nothing answers 5xx, every request settles
 * within storeTimeoutMs + 1 s, and the store is used again after recovery.
 */
import type { Server } from 'node:http';
import { createServer, connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { clientIp } from '../../src/express/index.js';
import { rateLimit, type RateLimitMiddleware } from '../../src/express/rate-limit.js';
import {
  createRateLimiter,
  type RateLimitDecision,
  type RateLimitOptions,
} from '../../src/rate-limit/limiter.js';
import { createRedisStore } from '../../src/redis/index.js';
import { requireRedis } from '../support/env.js';
import { ctx, fakeClock, httpGet } from './helpers.js';
import { configErrorOf } from '../support/config-error.js';

const hasRedis = await requireRedis();
const PREFIX = `realip-test:${process.pid}:${Math.random().toString(36).slice(2)}:`;

/** A TCP proxy in front of Redis that can cut (destroy and refuse), stall (stop forwarding) and restore. */
class FaultProxy {
  private server: NetServer;
  private pairs = new Set<[Socket, Socket]>();
  mode: 'pass' | 'cut' | 'stall' = 'pass';
  port = 0;

  constructor(upstreamPort: number) {
    this.server = createServer((client) => {
      if (this.mode === 'cut') {
        client.destroy();
        return;
      }
      const upstream = connect(upstreamPort, '127.0.0.1');
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      if (this.mode === 'stall') {
        client.pause();
        upstream.pause();
      }
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.mode = 'cut';
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  stall(): void {
    this.mode = 'stall';
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
      a.unpipe(b);
      b.unpipe(a);
    }
  }

  restore(): void {
    this.mode = 'pass';
    for (const [a, b] of this.pairs) {
      a.pipe(b);
      b.pipe(a);
      a.resume();
      b.resume();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

async function startApp(mw: RateLimitMiddleware): Promise<{ port: number; server: Server }> {
  const app = express();
  app.use(clientIp(), mw);
  app.get('/', (req, res) => {
    res.json(req.realip.rateLimit ?? null);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { port: (server.address() as AddressInfo).port, server };
}

async function waitReady(client: Redis): Promise<void> {
  if (client.status !== 'ready') await new Promise((r) => client.once('ready', r));
}

const TIERS: RateLimitOptions['tiers'] = [
  { name: 'burst', match: ['127.0.0.2', '127.0.0.12'], limits: [{ points: 1, duration: 60, burst: 3 }] },
  { name: 'small', match: ['127.0.0.7', '127.0.0.17'], limits: [{ points: 4, duration: 60 }] },
  { name: 'default', limits: [{ points: 1000, duration: 60 }] },
];

describe.skipIf(!hasRedis)('Redis store (real Redis)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let io: Redis;

  beforeAll(async () => {
    io = new Redis({ enableOfflineQueue: false, lazyConnect: false });
    await waitReady(io);
  });

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    const keys = await io.keys(`${PREFIX}*`);
    if (keys.length > 0) await io.del(...keys);
    io.disconnect();
  });

  it('two app instances (ioredis and node-redis) share one limit, both algorithms', async () => {
    const nr = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
    cleanup.push(() => nr.quit());
    const prefix = PREFIX + 'shared:';
    const a = rateLimit({ store: createRedisStore({ client: io, prefix }), tiers: TIERS });
    const b = rateLimit({ store: createRedisStore({ client: nr, prefix }), tiers: TIERS });
    const A = await startApp(a);
    const B = await startApp(b);
    cleanup.push(
      () => new Promise((r) => A.server.close(r)),
      () => new Promise((r) => B.server.close(r)),
    );
    const statuses = async (ip: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await httpGet(i % 2 === 0 ? A.port : B.port, '/', ip)).status);
      return out;
    };
    // Fixed window of 4, alternating instances: 4 admitted in total.
    expect(await statuses('127.0.0.7', 6)).toEqual([200, 200, 200, 200, 429, 429]);
    // nginx burst 3 (1 r/min): 4 admitted at once in total.
    expect(await statuses('127.0.0.2', 6)).toEqual([200, 200, 200, 200, 429, 429]);
    const info = JSON.parse((await httpGet(B.port, '/', '127.0.0.3')).body);
    expect(info).toMatchObject({ tier: 'default', limit: 1000, remaining: 999, source: 'store' });
  });

  it('rejects at construction what Redis cannot honour, and prefix reuse on one store', () => {
    const store = createRedisStore({ client: io, prefix: PREFIX + 'cfg:' });
    expect(() =>
      createRateLimiter({ store, tiers: [{ name: 'a', limits: [{ points: 1, duration: 0.5 }] }] }),
    ).toThrow(/whole seconds/);
    const first = createRateLimiter({ store, tiers: [{ name: 'a', limits: [{ points: 1, duration: 1 }] }] });
    const err = configErrorOf(() => {
      createRateLimiter({ store, tiers: [{ name: 'a', limits: [{ points: 1, duration: 1 }] }] });
    });
    expect(err.code).toBe('ERR_REALIP_RATELIMIT_PREFIX_REUSE');
    // A distinct limiter prefix is fine; closing the first releases its prefix.
    createRateLimiter({
      store,
      prefix: 'login:',
      tiers: [{ name: 'a', limits: [{ points: 1, duration: 1 }] }],
    });
    return first.close().then(() => {
      createRateLimiter({ store, tiers: [{ name: 'a', limits: [{ points: 1, duration: 1 }] }] });
    });
  });

  it.each(['ioredis', 'node-redis'])(
    'the GCRA script loads after SCRIPT FLUSH (%s: EVALSHA -> EVAL)',
    async (kind) => {
      const client =
        kind === 'ioredis' ? io : await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
      if (client !== io) cleanup.push(() => (client as { quit(): Promise<unknown> }).quit());
      const l = createRateLimiter({
        store: createRedisStore({ client: client as never, prefix: `${PREFIX}flush-${kind}:` }),
        tiers: [{ name: 'b', limits: [{ points: 1, duration: 60, burst: 1 }] }],
      });
      await l.consume(ctx('192.0.2.1'));
      await io.script('FLUSH');
      const d = await l.consume(ctx('192.0.2.1'));
      expect(d).toMatchObject({ source: 'store', limited: false, remaining: 0 });
      expect(await l.consume(ctx('192.0.2.1'))).toMatchObject({ source: 'store', limited: true });
    },
  );

  it('the Lua script decides exactly as the memory store on random traffic (fake clock, several limits)', async () => {
    const clock = fakeClock();
    const tiers: RateLimitOptions['tiers'] = [
      {
        name: 'mix',
        limits: [
          { points: 10, duration: 1, burst: 3 },
          { points: 1, duration: 1, burst: 0 },
        ],
      },
      { name: 'm', match: ['192.0.2.0/24'], limits: [{ points: 10, duration: 60, burst: 2 }] },
    ];
    const mem = createRateLimiter({ clock: clock.fn, tiers: [...tiers].reverse() as never });
    const red = createRateLimiter({
      store: createRedisStore({ client: io, prefix: PREFIX + 'diff:', clock: clock.fn }),
      tiers: [...tiers].reverse() as never,
    });
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const ips = ['192.0.2.1', '198.51.100.1', '2001:db8::1'];
    for (let i = 0; i < 300; i++) {
      clock.advance(rnd(4) === 0 ? rnd(2000) : rnd(120));
      const ip = ips[rnd(ips.length)]!;
      const a = mem.consume(ctx(ip)) as RateLimitDecision;
      const b = (await red.consume(ctx(ip))) as RateLimitDecision;
      expect([b.limited, b.remaining, b.resetMs, b.outcome.remaining, b.outcome.over]).toEqual([
        a.limited,
        a.remaining,
        a.resetMs,
        a.outcome.remaining,
        a.outcome.over,
      ]);
    }
    await red.close();
  });

  describe('failure injection through a TCP proxy', () => {
    let proxy: FaultProxy;
    let viaProxy: Redis;
    let app: { port: number; server: Server };
    let mw: RateLimitMiddleware;
    const errors: string[] = [];
    const health: boolean[] = [];
    const STORE_TIMEOUT = 100;

    beforeAll(async () => {
      proxy = new FaultProxy(6379);
      await proxy.start();
      viaProxy = new Redis({
        port: proxy.port,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 300,
        retryStrategy: () => 50,
      });
      viaProxy.on('error', () => undefined);
      await waitReady(viaProxy);
      mw = rateLimit({
        store: createRedisStore({ client: viaProxy, prefix: PREFIX + 'fault:' }),
        storeTimeoutMs: STORE_TIMEOUT,
        replicas: 2,
        tiers: TIERS,
        onStoreError: (e) => errors.push(e.message),
        onStoreHealth: (healthy) => health.push(healthy),
      });
      app = await startApp(mw);
    });

    afterAll(async () => {
      await new Promise((r) => app.server.close(r));
      viaProxy.disconnect();
      await proxy.close();
    });

    /** One request with the liveness deadline; returns status and the decision. */
    async function timed(ip: string) {
      const t0 = performance.now();
      const r = await httpGet(app.port, '/', ip);
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(STORE_TIMEOUT + 1000);
      expect([200, 429]).toContain(r.status);
      return {
        status: r.status,
        source: r.status === 200 ? (JSON.parse(r.body).source as string) : 'limited',
        body: r.body,
      };
    }

    async function untilStore(ip: string): Promise<number> {
      const t0 = Date.now();
      for (;;) {
        const r = await timed(ip);
        if (r.source === 'store') return Date.now() - t0;
        if (Date.now() - t0 > 8000) throw new Error('store did not recover');
        await new Promise((res) => setTimeout(res, 100));
      }
    }

    it.each(['cut', 'stall'] as const)(
      '%s: insurance takes over (limits / replicas), no 5xx, then recovery',
      async (fault) => {
        const ip = fault === 'cut' ? '127.0.0.17' : '127.0.0.12';
        expect((await timed('127.0.0.3')).source).toBe('store');
        expect(health.at(-1)).toBe(true);
        errors.length = 0;
        health.length = 0;
        if (fault === 'cut') proxy.cut();
        else proxy.stall();
        const seen: string[] = [];
        for (let i = 0; i < 8; i++) seen.push((await timed(ip)).source);
        // Insurance: "small" 4/60 s over 2 replicas -> 2 per process; "burst" 1/min burst 3 -> burst 1: 2 at once.
        expect(seen.slice(0, 2)).toEqual(['insurance', 'insurance']);
        expect(seen.slice(2).every((s) => s === 'limited')).toBe(true);
        expect(errors.length).toBeGreaterThanOrEqual(5);
        if (fault === 'stall') expect(errors.some((e) => /did not answer within 100 ms/.test(e))).toBe(true);
        expect(mw.limiter.stats().breakerOpen).toBe(true);
        // While open, requests skip the store: fast, and counted as insurance.
        const before = mw.limiter.stats().insurance;
        for (let i = 0; i < 5; i++) await timed('127.0.0.3');
        expect(mw.limiter.stats().insurance).toBeGreaterThanOrEqual(before + 4);
        proxy.restore();
        await untilStore('127.0.0.3');
        expect(mw.limiter.stats().breakerOpen).toBe(false);
        // One call per change of state, not per error: failing once, then healthy again.
        expect(health).toEqual([false, true]);
      },
    );
  });

  it.each([
    ['open', 200],
    ['closed', 503],
  ] as const)('storeFailure %s: Redis down -> %i, never 429', async (storeFailure, status) => {
    const proxy = new FaultProxy(6379);
    await proxy.start();
    const client = new Redis({
      port: proxy.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    client.on('error', () => undefined);
    await waitReady(client);
    const mw = rateLimit({
      store: createRedisStore({ client, prefix: `${PREFIX}${storeFailure}:` }),
      storeFailure,
      onStoreError: () => undefined,
      tiers: [{ name: 'one', limits: [{ points: 1, duration: 60 }] }],
    });
    const app = await startApp(mw);
    try {
      proxy.cut();
      for (let i = 0; i < 3; i++) {
        const r = await httpGet(app.port, '/', '127.0.0.21');
        expect(r.status).toBe(status);
        expect(r.headers['ratelimit']).toBeUndefined();
        if (status === 503) {
          expect(r.headers['retry-after']).toBe('1');
          expect(JSON.parse(r.body).type).toMatch(/#temporary-reduced-capacity$/);
        }
      }
    } finally {
      await new Promise((r) => app.server.close(r));
      client.disconnect();
      await proxy.close();
    }
  });

  it('a redis:// URL creates (and closes) its own client', async () => {
    const store = createRedisStore({ client: 'redis://127.0.0.1:6379', prefix: PREFIX + 'url:' });
    const l = createRateLimiter({
      store,
      onStoreError: () => undefined,
      tiers: [{ name: 'u', limits: [{ points: 2, duration: 60 }] }],
    });
    // The client connects in the background; early requests may be insurance, then the store answers.
    let source = '';
    for (let i = 0; i < 50 && source !== 'store'; i++) {
      source = (await l.consume(ctx(`192.0.2.${i + 1}`)))!.source;
      if (source !== 'store') await new Promise((r) => setTimeout(r, 50));
    }
    expect(source).toBe('store');
    await l.close();
    await store.close();
  });

  it('rejects unusable clients and URLs at construction', () => {
    expect(() => createRedisStore({ client: {} as never })).toThrow(ConfigError);
    expect(() => createRedisStore({ client: 'http://x' })).toThrow(/redis:\/\//);
    expect(() => createRedisStore({ client: io, prefix: 'a{b}' })).toThrow(/braces/);
  });
});
