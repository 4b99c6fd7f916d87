/**
 * realip/redis: a Redis store for the rate-limit stage, so every replica shares one limit.
 *
 * - Fixed windows run on rate-limiter-flexible's `RateLimiterRedis` (atomic `SET NX` + `INCRBY`).
 * - Burst limits (nginx `limit_req`) run as ONE atomic Lua script per request covering every
 *   burst limit of the tier (check all, then charge all), timed by the Redis server's `TIME`
 *   (so replicas with skewed clocks agree) or a clock you pass.
 * - Clients: ioredis (`Redis`, `Cluster`; Sentinel through ioredis' own options), node-redis v4+
 *   (`createClient`, `createCluster`), or a URL (an ioredis client is created and closed with
 *   the store). Keys of one request share a `{hash tag}`, so Cluster routes them to one slot.
 * - Each policy gets the key prefix `<prefix><limiter prefix><policy name>:`; two policies
 *   claiming one prefix on the same store is a configuration error.
 */
import { createHash } from 'node:crypto';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { joinPath } from '../errors.js';
import { parseOptions } from '../spec/spec.js';
import {
  redisClientFlavour,
  redisStoreSpec,
  wholeSecondsMessage,
  type RedisStoreOptions,
} from '../rate-limit/redis-spec.js';
import { reportGcra, reportWindow } from '../rate-limit/stores/store.js';
import type {
  BindContext,
  Outcome,
  PolicyPlan,
  RateLimitStore,
  StoreBinding,
  TierPlan,
} from '../rate-limit/stores/store.js';

export type { RateLimitStore } from '../rate-limit/stores/store.js';

/** Burst limits: nginx's arithmetic (see src/rate-limit/gcra.ts), all limits of a tier at once. */
const GCRA_LUA = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local ok = ARGV[2] == '1'
local n = #KEYS
local cand, lasts = {}, {}
for i = 1, n do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local st = redis.call('HMGET', KEYS[i], 'e', 'l')
  local c = 0
  local last = now
  if st[1] then
    local e = tonumber(st[1])
    local l = tonumber(st[2])
    local ms = now - l
    if ms < -60000 then ms = 1 elseif ms < 0 then ms = 0 end
    if ms == 0 then last = l end
    if ms <= (e + 1000) * 1000 / rate + 1 then
      c = e - math.floor(rate * ms / 1000) + 1000
      if c < 0 then c = 0 end
    end
  end
  if c > burst then ok = false end
  cand[i] = c
  lasts[i] = last
end
local out = { ok and 1 or 0 }
for i = 1, n do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local rej = 0
  if ok then
    redis.call('HSET', KEYS[i], 'e', cand[i], 'l', lasts[i], 'n', 0)
    redis.call('PEXPIRE', KEYS[i], math.ceil((cand[i] + 1000) * 1000 / rate) + 1000)
  elseif cand[i] > burst then
    rej = redis.call('HINCRBY', KEYS[i], 'n', 1)
  end
  out[2 * i] = cand[i]
  out[2 * i + 1] = rej
end
return out
`;

const GCRA_SHA = createHash('sha1').update(GCRA_LUA).digest('hex');

/** The subset of ioredis (`Redis`, `Cluster`) the store uses. */
export interface IoredisLike {
  status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  quit(): Promise<unknown>;
}

/** The subset of node-redis v4+ (`createClient()`, `createCluster()`) the store uses. */
export interface NodeRedisLike {
  isReady?: boolean;
  isOpen?: boolean;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export type { RedisStoreOptions } from '../rate-limit/redis-spec.js';

/** A Redis store (pass as `rateLimit({ store })`). */
export interface RedisStore extends RateLimitStore {
  readonly kind: 'redis';
  /** Closes the client when the store created it from a URL (a passed client stays yours). */
  close(): Promise<void>;
}

type Flavour = 'ioredis' | 'node-redis';

interface ClientHandle {
  flavour: Flavour;
  client: IoredisLike | NodeRedisLike;
  owned: boolean;
}

function notReady(h: ClientHandle): boolean {
  if (h.flavour === 'ioredis') return (h.client as IoredisLike).status !== 'ready';
  const c = h.client as NodeRedisLike;
  return c.isReady === false || (c.isReady === undefined && c.isOpen === false);
}

class RedisBinding implements StoreBinding {
  private readonly windows = new Map<PolicyPlan, RateLimiterRedis>();
  /** The client once the window limiters exist (requests wait for this quick, local step). */
  private readonly handle: Promise<ClientHandle>;

  constructor(
    client: Promise<ClientHandle>,
    tiers: readonly TierPlan[],
    private readonly fullPrefix: string,
    private readonly clock: (() => number) | undefined,
    private readonly release: () => void,
  ) {
    this.handle = client.then((h) => {
      for (const t of tiers) {
        for (const p of t.policies) {
          if (p.gcra) continue;
          this.windows.set(
            p,
            new RateLimiterRedis({
              storeClient: h.client,
              useRedisPackage: h.flavour === 'node-redis',
              rejectIfRedisNotReady: true,
              points: p.points,
              duration: p.duration,
              keyPrefix: (this.fullPrefix + p.prefix).slice(0, -1),
            }),
          );
        }
      }
      return h;
    });
    // A failure surfaces per request as a store error (storeFailure applies).
    this.handle.catch(() => undefined);
  }

  async consume(tier: TierPlan, key: string, out: Outcome): Promise<void> {
    const h = await this.handle;
    let admitted = true;
    const policies = tier.policies;
    if (tier.hasWindow) {
      const pending: Promise<RateLimiterRes>[] = [];
      for (let i = 0; i < policies.length; i++) {
        const p = policies[i]!;
        if (p.gcra) continue;
        pending.push(
          this.windows
            .get(p)!
            .consume(key)
            .catch((rej: unknown) => {
              // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, an Error on failure.
              if (rej instanceof RateLimiterRes) return rej;
              throw rej instanceof Error ? rej : new Error(String(rej));
            }),
        );
      }
      const results = await Promise.all(pending);
      let j = 0;
      for (let i = 0; i < policies.length; i++) {
        const p = policies[i]!;
        if (p.gcra) continue;
        const r = results[j++]!;
        if (reportWindow(out, i, p, r.consumedPoints, r.msBeforeNext)) admitted = false;
      }
    }
    if (tier.hasGcra) {
      if (notReady(h)) throw new Error('Redis connection is not ready');
      const keys: string[] = [];
      const args: string[] = [
        this.clock === undefined ? '-1' : String(Math.floor(this.clock())),
        admitted ? '1' : '0',
      ];
      const tag = '{' + key + '}';
      for (let i = 0; i < policies.length; i++) {
        const p = policies[i]!;
        if (!p.gcra) continue;
        keys.push(this.fullPrefix + p.prefix + tag);
        args.push(String(p.rate), String(p.burstMilli));
      }
      const reply = (await runScript(h, keys, args)) as (number | string)[];
      const ok = Number(reply[0]) === 1;
      let j = 0;
      for (let i = 0; i < policies.length; i++) {
        const p = policies[i]!;
        if (!p.gcra) continue;
        j++;
        reportGcra(out, i, p, Number(reply[2 * j - 1]), ok, Number(reply[2 * j]));
      }
      admitted = ok;
    }
    out.admitted = admitted;
  }

  close(): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

async function runScript(h: ClientHandle, keys: string[], args: string[]): Promise<unknown> {
  if (h.flavour === 'ioredis') {
    // defineCommand: EVALSHA, falling back to EVAL on NOSCRIPT (ioredis does it).
    const c = h.client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
    return c.realipGcra!(keys.length, ...keys, ...args);
  }
  const c = h.client as NodeRedisLike;
  try {
    return await c.evalSha(GCRA_SHA, { keys, arguments: args });
  } catch (err) {
    if (err instanceof Error && /NOSCRIPT/.test(err.message))
      return c.eval(GCRA_LUA, { keys, arguments: args });
    throw err;
  }
}

/**
 * Creates a Redis store for `rateLimit({ store })`. Throws a `ConfigError` for an unusable client
 * or options; what a store cannot honour (sub-second or fractional windows) is rejected when a
 * limiter binds to it.
 *
 * @example
 * import Redis from 'ioredis';
 * const store = createRedisStore({ client: new Redis({ enableOfflineQueue: false }) });
 * app.use(rateLimit({ store, replicas: 3, tiers: [{ name: 'default', limits: [{ points: 100, duration: 60 }] }] }));
 */
export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const o = parseOptions(redisStoreSpec, options, 'store');
  const prefix = o.prefix as string;
  const clock = o.clock as 'redis' | (() => number);
  let owned: Promise<ClientHandle> | undefined;
  let handle: Promise<ClientHandle>;
  if (typeof o.client === 'string') {
    const href = o.client;
    owned = import('ioredis').then((m) => {
      const Redis = m.default as unknown as new (url: string, o: object) => IoredisLike;
      return {
        flavour: 'ioredis' as const,
        client: new Redis(href, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }),
        owned: true,
      };
    });
    handle = owned;
  } else {
    handle = Promise.resolve({ flavour: redisClientFlavour(o.client)!, client: o.client, owned: false });
  }
  let current: IoredisLike | NodeRedisLike | undefined;
  const ready = handle.then((h) => {
    current = h.client;
    if (h.flavour === 'ioredis') {
      const c = h.client as IoredisLike & Record<string, unknown>;
      if (typeof c.realipGcra !== 'function') c.defineCommand('realipGcra', { lua: GCRA_LUA });
    }
    return h;
  });
  // A failed URL import surfaces per request as a store error (storeFailure applies); keep it handled here.
  ready.catch(() => undefined);
  const claimed = new Set<string>();
  return {
    kind: 'redis',
    remote: true,
    connected(): boolean {
      const c = (typeof o.client === 'object' ? o.client : current) as
        { status?: unknown; isReady?: unknown } | null | undefined;
      return c !== null && c !== undefined && (c.status === 'ready' || c.isReady === true);
    },
    bind(tiers: readonly TierPlan[], context: BindContext): StoreBinding {
      const mine: string[] = [];
      for (const t of tiers) {
        for (const p of t.policies) {
          if (!p.gcra && !Number.isInteger(p.duration)) {
            context.issues.add(
              joinPath(p.path, 'duration'),
              wholeSecondsMessage(p.duration),
              'ERR_REALIP_RATELIMIT_STORE_UNSUPPORTED',
            );
          }
          const full = prefix + p.prefix;
          if (claimed.has(full) || mine.includes(full)) {
            context.issues.add(
              p.path,
              `key prefix "${full}" is already used by another policy on this store; set a distinct "prefix" on the limiter`,
              'ERR_REALIP_RATELIMIT_PREFIX_REUSE',
            );
          } else {
            mine.push(full);
          }
        }
      }
      if (!context.issues.ok)
        return { consume: () => Promise.reject(new Error('unbound')), close: () => Promise.resolve() };
      for (const m of mine) claimed.add(m);
      return new RedisBinding(ready, tiers, prefix, typeof clock === 'function' ? clock : undefined, () => {
        for (const m of mine) claimed.delete(m);
      });
    },
    async close(): Promise<void> {
      if (owned !== undefined) {
        const h = await owned.catch(() => undefined);
        if (h !== undefined) await (h.client as IoredisLike).quit().catch(() => undefined);
      }
    },
  };
}
