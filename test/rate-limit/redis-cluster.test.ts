/**
 * Redis store against a real Redis Cluster: three cluster nodes this test starts (redis-server with
 * cluster-enabled, joined by `redis-cli --cluster create`), two limiters on two ioredis `Cluster`
 * clients sharing one limit, keys spread over every node, and decisions identical to the memory
 * store's on random traffic with several limits per tier (one script call per request touches
 * several keys: their `{hash tag}` must keep them in one slot, or Redis answers CROSSSLOT).
 */
import { execFileSync } from 'node:child_process';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRateLimiter,
  type RateLimitDecision,
  type RateLimitOptions,
} from '../../src/rate-limit/limiter.js';
import { createRedisStore } from '../../src/redis/index.js';
import {
  redisToolsAvailable,
  startRedisCluster,
  until,
  type RedisCluster,
} from '../support/redis-servers.js';
import { ctx, fakeClock } from './helpers.js';

const runnable = redisToolsAvailable();

describe.skipIf(!runnable)('Redis store on a real Redis Cluster (3 nodes)', () => {
  const clients: Cluster[] = [];
  let redis: RedisCluster | undefined;
  let ports: number[] = [];

  beforeAll(async () => {
    redis = await startRedisCluster(3);
    ports = redis.ports;
  }, 40_000);

  afterAll(() => {
    for (const c of clients) c.disconnect();
    redis?.stop();
  });

  async function cluster(): Promise<Cluster> {
    const c = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], { enableOfflineQueue: true });
    clients.push(c);
    await until(() => c.status === 'ready', 10_000, 'the ioredis Cluster client');
    return c;
  }

  const TIERS: RateLimitOptions['tiers'] = [
    {
      name: 'two-limits',
      match: ['192.0.2.0/24'],
      limits: [
        { points: 4, duration: 60 },
        { points: 1, duration: 60, burst: 2 },
      ],
    },
    { name: 'default', limits: [{ points: 5, duration: 60 }] },
  ];

  it('two instances on two Cluster clients share one limit; keys land on every node', async () => {
    const prefix = `realip-cluster:${process.pid}:`;
    const a = createRateLimiter({
      store: createRedisStore({ client: await cluster(), prefix }),
      tiers: TIERS,
    });
    const b = createRateLimiter({
      store: createRedisStore({ client: await cluster(), prefix }),
      tiers: TIERS,
    });
    const take = async (ip: string, n: number) => {
      const out: boolean[] = [];
      for (let i = 0; i < n; i++) {
        const d = (await (i % 2 === 0 ? a : b).consume(ctx(ip))) as RateLimitDecision;
        expect(d.source).toBe('store'); // never the insurance limiter: no CROSSSLOT, no error
        out.push(d.limited);
      }
      return out;
    };
    // Default tier, fixed window of 5, alternating instances: 5 admitted in total.
    expect(await take('198.51.100.9', 7)).toEqual([false, false, false, false, false, true, true]);
    // Two limits in one script call (window of 4 and burst 2 at 1/min): the burst binds at 3.
    expect(await take('192.0.2.9', 5)).toEqual([false, false, false, true, true]);
    // Many clients: their keys spread over all three masters.
    for (let i = 0; i < 60; i++) await take(`203.0.113.${i}`, 1);
    const perNode = ports.map((p) =>
      Number(execFileSync('redis-cli', ['-p', String(p), 'dbsize'], { encoding: 'utf8' }).trim()),
    );
    expect(perNode.every((n) => n > 0)).toBe(true);
    await a.close();
    await b.close();
  });

  it('decides exactly as the memory store on random traffic (fake clock, several burst limits)', async () => {
    const clock = fakeClock();
    // Burst (GCRA) limits follow the injected clock on both sides (fixed windows run on Redis TIME).
    const tiers: RateLimitOptions['tiers'] = [
      {
        name: 'mix',
        match: ['192.0.2.0/24'],
        limits: [
          { points: 10, duration: 1, burst: 3 },
          { points: 1, duration: 1, burst: 0 },
        ],
      },
      { name: 'default', limits: [{ points: 10, duration: 60, burst: 2 }] },
    ];
    const mem = createRateLimiter({ clock: clock.fn, tiers });
    const red = createRateLimiter({
      store: createRedisStore({
        client: await cluster(),
        prefix: `realip-cluster-diff:${process.pid}:`,
        clock: clock.fn,
      }),
      tiers,
    });
    let seed = 11;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const ips = ['192.0.2.1', '192.0.2.77', '198.51.100.1', '2001:db8::1'];
    for (let i = 0; i < 200; i++) {
      clock.advance(rnd(4) === 0 ? rnd(2000) : rnd(120));
      const ip = ips[rnd(ips.length)]!;
      const x = mem.consume(ctx(ip)) as RateLimitDecision;
      const y = (await red.consume(ctx(ip))) as RateLimitDecision;
      expect([y.source, y.limited, y.remaining, y.resetMs]).toEqual([
        'store',
        x.limited,
        x.remaining,
        x.resetMs,
      ]);
    }
    await red.close();
  });
});
