/**
 * The rate-limit stage's options, defined once: `createRateLimiter` (and the Express/Fastify
 * `rateLimit` middlewares) and `createRedisStore` validate through these schemas, the policy file's
 * `rateLimit` section is composed from the same fields (plus what only a policy file says: `store:
 * redis` and the Redis connection), and the JSON Schema and docs/configuration.md's table are
 * generated from their docs. See src/spec/spec.ts.
 *
 * `{ list }` references in `match` are resolved against the `lists` option here (factory); in a
 * policy file they name the `lists` section, which src/policy/validate.ts checks. The Redis options
 * (`createRedisStore`, the policy's connection) are in ./redis-spec.ts.
 *
 * Size: about 600 lines, over the guide's 500, because the options interfaces users read (about 200
 * lines of TSDoc) sit next to the schemas the compiler holds them equal to.
 */
import { redisConnection, redisConnectionPolicy, wholeSecondsMessage } from './redis-spec.js';
import {
  countryCode,
  EXEMPT_DOC,
  exemptPaths,
  ipListsInstance,
  ipRulesOrLists,
  isIpLists,
  undeterminable,
  unknownListMessage,
} from '../spec/common.js';
import * as z from 'zod/mini';
import { doc, isFunction, opt, rules, runtime, type Rule, type SameKeys } from '../spec/spec.js';
import type { Problem } from '../spec/issues.js';
import { leakRate } from './gcra.js';

import type { RateLimitStore } from './stores/store.js';
import type {
  IpLists,
  IpRuleOrList,
  RealipContext,
  RealipMetricsHooks,
  UndeterminablePolicy,
  WarningHandler,
} from '../types.js';

/** Largest duration accepted: 2^31-1 ms, so no timer anywhere can overflow. */
export const MAX_DURATION_S = Math.floor(2147483647 / 1000);
/** Largest points / burst accepted (keeps nginx arithmetic exact in doubles). */
export const MAX_POINTS = 1_000_000_000;
/** Tiers per limiter: tiers are tried in order on every request, and each is a metrics label value. */
export const MAX_TIERS = 64;
/** Limits per tier: each is a store operation per request and an item of `RateLimit-Policy`. */
export const MAX_LIMITS = 8;
/** Tier and limit names: at most 64 characters (a metrics label value, a store key part). */
export const MAX_NAME = 64;

// Empty names are reported by the length check alone.
const NAME_CHARS = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const NAME_MESSAGE = 'expected letters, digits, ".", "_" or "-", starting with a letter or digit';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined;
const arr = (v: unknown): unknown[] | undefined => (Array.isArray(v) ? v : undefined);

/**
 * The cross-field rules (tier names and order, policy names, list references, the store and its
 * Redis connection) read the options as given, not as parsed: zod skips a refinement once a value
 * below it has the wrong type, and a broken limit must not hide a duplicate tier name (every
 * problem is reported at once). The factory runs them as parseOptions' delegated check, the policy
 * file from src/policy/validate.ts; they read defensively.
 */
function problemsOf(value: unknown, list: readonly Rule<unknown>[]): Problem[] {
  const out: Problem[] = [];
  for (const rule of list)
    rule(value, (path, message, code) => out.push({ path, message, ...(code ? { code } : {}) }));
  return out;
}

/** Runs a rule on a child of the value (`tiers`, `redis`). */
const at =
  (key: string, rule: Rule<unknown>): Rule<unknown> =>
  (value, report) =>
    rule(rec(value)?.[key], (path, message, code) => report([key, ...path], message, code));

const name = () => z.string().check(z.minLength(1), z.maxLength(MAX_NAME), z.regex(NAME_CHARS, NAME_MESSAGE));

/** The default policy name of a limit: `<tier>-<points>-per-<duration>s`, plus `-burst-<burst>`. */
export function policyName(
  tier: string,
  spec: { points: number; duration: number; burst?: number | undefined },
): string {
  const base = `${tier}-${spec.points}-per-${spec.duration}s`;
  return spec.burst === undefined ? base : `${base}-burst-${spec.burst}`;
}

/** A burst limit's rate must be representable: GCRA counts in milli-requests per second. */
const burstResolution = rules<{ points: number; duration: number; burst?: number | undefined }>(
  (l, report) => {
    if (l.burst !== undefined && leakRate(l.points, l.duration) < 1)
      report(
        [],
        `too slow for a burst limit (got ${l.points} per ${l.duration} s, expected at least 0.001 requests per second, the resolution of burst limits)`,
      );
  },
);

/** One limit (code and policy alike). */
export const limitSpec = doc(
  z
    .strictObject({
      points: doc(z.int().check(z.minimum(1), z.maximum(MAX_POINTS)), {
        description: 'Requests allowed per `duration` (required: there is no default limit).',
        examples: [100],
      }),
      duration: doc(z.number().check(z.positive(), z.maximum(MAX_DURATION_S)), {
        description: `Window in seconds, above 0 and at most ${MAX_DURATION_S} (2^31-1 ms, so no timer overflows); with \`burst\`: the rate is \`points\` per \`duration\`.`,
        examples: [60],
      }),
      burst: opt(z.int().check(z.minimum(0), z.maximum(MAX_POINTS)), {
        description:
          'Switches to nginx `limit_req` semantics (`rate=points/duration burst=N nodelay`): N extra requests admitted at once, then the steady rate (at least 0.001 requests per second).',
      }),
      name: opt(name(), {
        description:
          'Policy name in `RateLimit-Policy` and the store key (default: `<tier>-<points>-per-<duration>s`, plus `-burst-<burst>`). Names are unique within a limiter.',
      }),
    })
    .check(burstResolution),
  { description: 'One limit. Each is advertised as its own `RateLimit-Policy` item.' },
);

/** A tier (code and policy alike: `match` takes `{ list }` references in both). */
export const tierSpec = doc(
  z.strictObject({
    name: doc(name(), {
      description:
        'Tier name, at most 64 characters (shown in `RateLimit-Policy`, logs and metrics; keeps its limiter state across reloads).',
    }),
    match: opt(ipRulesOrLists().check(z.minLength(1)), {
      description:
        'Clients in this tier: IPs, CIDRs, named ranges, `{ cidr, except }` blocks, `{ list }` references. A tier without `match` and `countries` is the default tier and must be last.',
    }),
    countries: opt(z.array(countryCode).check(z.minLength(1)), {
      description:
        'Clients from these countries (needs the geo stage). With both `match` and `countries`, a client must satisfy both.',
    }),
    limits: doc(z.array(limitSpec).check(z.minLength(1), z.maxLength(MAX_LIMITS)), {
      description: `The limits (1 to ${MAX_LIMITS}); a request must pass all of them.`,
    }),
  }),
  { description: 'A tier: which clients, and their limits. First match wins.' },
);

/**
 * Tier names are unique, the default tier (no `match`, no `countries`) is last, and policy names
 * (which key the store) are unique within the limiter.
 */
const tierOrder: Rule<unknown> = (tiers, report) => {
  const names = new Map<string, number>();
  const policies = new Set<string>();
  let defaultAt = -1;
  arr(tiers)?.forEach((t, i) => {
    const tier = rec(t);
    if (!tier) return;
    const tierName = typeof tier.name === 'string' ? tier.name : undefined;
    // A duplicate tier repeats the other's default policy names: reported once, as the tier name.
    let duplicate = false;
    if (tierName !== undefined) {
      const first = names.get(tierName);
      duplicate = first !== undefined;
      if (first !== undefined)
        report(
          [i, 'name'],
          `duplicate tier name (got ${JSON.stringify(tierName)}, expected a name not used by tiers[${first}])`,
        );
      else names.set(tierName, i);
    }
    if (defaultAt >= 0)
      report(
        [i, 'name'],
        `unreachable tier (got a tier after the default tier tiers[${defaultAt}], expected the tier without match or countries to be last)`,
      );
    else if (tier.match === undefined && tier.countries === undefined) defaultAt = i;
    arr(tier.limits)?.forEach((l, j) => {
      const limit = rec(l);
      if (!limit) return;
      const { points, duration, burst } = limit;
      let policy: string | undefined;
      if (typeof limit.name === 'string') policy = limit.name;
      else if (
        tierName !== undefined &&
        !duplicate &&
        typeof points === 'number' &&
        typeof duration === 'number' &&
        (burst === undefined || typeof burst === 'number')
      )
        policy = policyName(tierName, { points, duration, burst });
      if (policy === undefined) return;
      if (policies.has(policy))
        report(
          [i, 'limits', j],
          `duplicate policy name (got ${JSON.stringify(policy)}, expected two different limits, or distinct "name"s)`,
          'ERR_REALIP_RATELIMIT_PREFIX_REUSE',
        );
      else policies.add(policy);
    });
  });
};

const tiers = doc(z.array(tierSpec).check(z.minLength(1), z.maxLength(MAX_TIERS)), {
  description: `Tiers in order (1 to ${MAX_TIERS}; put addresses in lists rather than tiers); the first that matches a client applies. Clients that match none are not limited unless a default tier (no \`match\`, no \`countries\`) ends the list.`,
});

/** What happens to requests while the store fails. */
export type StoreFailurePolicy = 'insurance' | 'open' | 'closed';

/** Options the factory and the policy file share. */
const rateLimitFields = {
  prefix: opt(z.string().check(z.maxLength(1024)), {
    description:
      "Prefix of this limiter's store keys; limiters sharing one store need distinct prefixes (or distinct policy names). At most 1024 characters: it is part of every store key, and the Fastify adapter's per-route default, `<prefix><METHOD> <url>:`, must fit.",
    default: '',
  }),
  storeFailure: opt(z.enum(['insurance', 'open', 'closed']), {
    description:
      'What requests get while a remote store fails or times out: `insurance` limits in memory with points divided by `replicas`, `open` lets requests through, `closed` answers 503. Store errors are never 429s.',
    default: 'insurance',
  }),
  replicas: opt(z.int().check(z.minimum(1), z.maximum(10_000)), {
    description:
      'Replicas sharing the remote store: the insurance limiter enforces `ceil(points / replicas)` (and `floor(burst / replicas)`) per process, so the fleet stays near the configured limit.',
    default: 1,
  }),
  storeTimeoutMs: opt(z.int().check(z.minimum(1), z.maximum(60_000)), {
    description:
      'A store call unanswered after this many milliseconds is a store error (a hung Redis must not hang requests). After 5 errors in a row the store is skipped and probed once per second.',
    default: 100,
  }),
  ipv6Prefix: opt(z.int().check(z.minimum(1), z.maximum(128)), {
    description:
      'IPv6 clients are keyed by this prefix length. Security: one subscriber usually holds a whole /64 (or /56), so per-address keys would let a client rotate through 2^64 fresh buckets; 128 disables aggregation.',
    default: 64,
  }),
  maxKeys: opt(z.int().check(z.minimum(1000), z.maximum(100_000_000)), {
    description:
      'Most keys the memory store (and the insurance limiter) tracks; the least recently used is evicted. Security: bounds memory under a flood of rotating addresses. At least 1000: a smaller table evicts active clients, which resets their counts and so lifts their limits, and 1000 keys cost only kilobytes.',
    default: 100_000,
  }),
  headers: opt(z.boolean(), { description: 'Send `RateLimit-Policy` and `RateLimit`.', default: true }),
  legacyHeaders: opt(z.boolean(), {
    description:
      'Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds).',
    default: false,
  }),
  exposeIp: opt(z.boolean(), {
    description:
      'Put the client IP in the 429 problem body. Privacy: off, so bodies never carry personal data.',
    default: false,
  }),
  exempt: opt(exemptPaths(), {
    description: EXEMPT_DOC,
    default: [],
  }),
  undeterminable: opt(undeterminable(), {
    description:
      'Requests whose client IP cannot be determined (closed socket, Unix socket, a header walk that found no IP): `deny` counts them all in ONE shared bucket of the last tier (limited together, never silently unlimited); `allow` skips limiting them.',
    default: 'deny',
  }),
};

const isStore = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as RateLimitStore).bind === 'function';
const isMetricsHooks = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  ['storeHealth', 'storeFallback', 'storeError'].every((f) => typeof (v as Rec)[f] === 'function');

/** Factory only: `{ list }` references resolve against the `lists` option. */
const listReferences: Rule<unknown> = (value, report) => {
  const o = rec(value);
  if (!o || (o.lists !== undefined && !isIpLists(o.lists))) return; // a bad `lists` is reported itself
  const lists = o.lists as IpLists | undefined;
  arr(o.tiers)?.forEach((t, i) => {
    arr(rec(t)?.match)?.forEach((r, j) => {
      const ref = rec(r);
      if (!ref || typeof ref.list !== 'string') return;
      if (lists?.get(ref.list) !== undefined) return;
      report(
        ['tiers', i, 'match', j, 'list'],
        lists === undefined
          ? unknownListMessage(ref.list, [], 'a list of the "lists" option (createIpLists())')
          : unknownListMessage(ref.list, lists.names(), 'a list of the "lists" option'),
        'ERR_REALIP_LIST_UNKNOWN',
      );
    });
  });
};

const fn = <F>(what: string) => runtime<F>(what, isFunction);
type Opts = RateLimitOptions;

/** `createRateLimiter(options)` and the `rateLimit` middlewares. */
export const rateLimitSpec = z.strictObject({
  tiers,
  store: opt(
    z.union(
      [
        z.literal('memory'),
        runtime<RateLimitStore>('"memory" or a store from realip/redis (createRedisStore())', isStore),
      ],
      {
        error: 'expected "memory" or a store from realip/redis (createRedisStore())',
      },
    ),
    {
      description:
        "Where counters live: `'memory'` (per process, bounded by `maxKeys`) or a store from `realip/redis` so all replicas share one limit.",
      default: 'memory',
    },
  ),
  ...rateLimitFields,
  onStoreError: opt(fn<NonNullable<Opts['onStoreError']>>('a function (error, event) => void'), {
    description: 'Called on every store error (timeouts included). Default: a warning, once.',
  }),
  onStoreHealth: opt(fn<NonNullable<Opts['onStoreHealth']>>('a function (healthy) => void'), {
    description:
      "Called when a remote store's state changes: `false` at the first error, `true` when it answers again.",
  }),
  metrics: opt(
    runtime<Pick<RealipMetricsHooks, 'storeHealth' | 'storeFallback' | 'storeError'>>(
      'an object with storeHealth, storeFallback and storeError (createRealipMetrics().hooks)',
      isMetricsHooks,
    ),
    { description: 'Store health into metrics: `createRealipMetrics().hooks`.' },
  ),
  onLimited: opt(fn<NonNullable<Opts['onLimited']>>('a function (event) => void'), {
    description: 'Called the first time a key is limited in a window.',
  }),
  key: opt(fn<RateLimitKeyFunction>('a function (ip, context, request) => string | undefined'), {
    description: 'Custom key; undefined falls back to the IP key.',
  }),
  lists: opt(ipListsInstance(), { description: 'Named lists for `{ list: name }` in `match`.' }),
  clock: opt(fn<() => number>('a function returning milliseconds'), {
    description: 'Milliseconds clock (tests).',
  }),
  onWarning: opt(fn<WarningHandler>('a function (warning) => void'), {
    description: 'Receives `WRN_REALIP_*` warnings. Default: `process.emitWarning`, once per code.',
  }),
});

/** `store: redis` needs `redis`, `redis` needs `store: redis`, and Redis windows are whole seconds. */
const policyStore: Rule<unknown> = (value, report) => {
  const rl = rec(value);
  if (!rl) return;
  const redis = rl.store === 'redis';
  if (redis && rec(rl.redis) === undefined) {
    report(
      ['store'],
      'store: redis needs a connection (got no redis section, expected redis.url, urlEnv, sentinels or cluster)',
    );
  }
  if (rl.redis !== undefined && !redis) {
    report(
      ['redis'],
      `is set but unused (got store ${JSON.stringify(rl.store ?? 'memory')}, expected store: redis)`,
    );
  }
  if (!redis) return;
  arr(rl.tiers)?.forEach((t, i) => {
    arr(rec(t)?.limits)?.forEach((l, j) => {
      const limit = rec(l);
      const d = limit?.duration;
      // Burst limits run in Lua with millisecond resolution: any duration works.
      if (limit?.burst === undefined && typeof d === 'number' && d > 0 && !Number.isInteger(d))
        report(
          ['tiers', i, 'limits', j, 'duration'],
          wholeSecondsMessage(d),
          'ERR_REALIP_RATELIMIT_STORE_UNSUPPORTED',
        );
    });
  });
};

/** The cross-field problems of `createRateLimiter`'s options (paths relative to them). */
export function rateLimitProblems(options: unknown): Problem[] {
  return problemsOf(options, [at('tiers', tierOrder), listReferences]);
}

/**
 * The cross-field problems of the policy's `rateLimit` section (paths relative to it). `{ list }`
 * references and countries (which need other sections) are checked by src/policy/validate.ts.
 */
export function rateLimitPolicyProblems(section: unknown): Problem[] {
  return problemsOf(section, [at('tiers', tierOrder), policyStore, at('redis', redisConnection)]);
}

/** The policy's `rateLimit` section. */
export const rateLimitPolicy = doc(
  z.strictObject({
    tiers,
    store: opt(z.enum(['memory', 'redis']), {
      description:
        'Where counters live. `memory` is per process (N replicas allow N times the limit); `redis` is shared.',
      default: 'memory',
    }),
    redis: z.optional(redisConnectionPolicy),
    ...rateLimitFields,
  }),
  {
    description: 'Tiered per-client rate limits (429 with `RateLimit`, `RateLimit-Policy`, `Retry-After`).',
  },
);

// ---------------------------------------------------------------------------------------------
// the interfaces (their TSDoc is what users see)
// ---------------------------------------------------------------------------------------------

/** One limit: `points` requests per `duration` seconds; `burst` switches to nginx limit_req semantics. */
export interface RateLimitSpec {
  /** Requests per `duration`: an integer from 1 to 1e9. */
  points: number;
  /** Seconds: above 0, at most 2147483. */
  duration: number;
  /** Extra requests admitted at once (nginx `burst=N nodelay`): an integer from 0 to 1e9. */
  burst?: number;
  /**
   * Policy name in `RateLimit-Policy` and the store key prefix (letters, digits, `.`, `_`, `-`; at
   * most 64 characters; unique within the limiter).
   * @default `<tier>-<points>-per-<duration>s` (plus `-burst-<burst>`)
   */
  name?: string;
}

/** A tier: which clients (`match`), and their limits. First match wins; a tier without `match` is the default. */
export interface RateLimitTier {
  /** Letters, digits, `.`, `_`, `-`; at most 64 characters; unique within the limiter. */
  name: string;
  /** CIDRs, named ranges or `{ list }` references; omitted for the default tier. */
  match?: readonly IpRuleOrList[];
  /** ISO country codes (needs the geo stage). */
  countries?: readonly string[];
  /** 1 to 8 limits; a request must pass all of them. */
  limits: readonly RateLimitSpec[];
}

/** Custom key: return a string to count the request under it, or undefined for the IP key. */
export type RateLimitKeyFunction<Req = unknown> = (
  ip: string | undefined,
  context: RealipContext,
  request: Req,
) => string | undefined;

/** Passed to `onLimited`: the first rejection of a key in a window (later ones are only counted). */
export interface RateLimitedEvent {
  readonly key: string;
  readonly tier: string;
  /** Names of the limits that rejected the request. */
  readonly policies: readonly string[];
  /** Seconds until the client may retry. */
  readonly retryAfter: number;
  /** The client IP (undefined when undeterminable). */
  readonly ip: string | undefined;
}

/** Passed to `onStoreError`. */
export interface RateLimitStoreErrorEvent {
  readonly store: string;
  /** What the request got instead: `insurance`, `open` or `closed`. */
  readonly fallback: StoreFailurePolicy;
  /** Consecutive errors so far (the breaker opens at 5). */
  readonly consecutive: number;
  /** True when this error opened the breaker (Redis is skipped, probed every second). */
  readonly breakerOpened: boolean;
}

/** Options of `createRateLimiter()` and the `rateLimit` middlewares (policy file: `rateLimit`). */
export interface RateLimitOptions<Req = unknown> {
  /**
   * Tiers (1 to 64), first match wins; the tier without `match`/`countries` is the default and
   * comes last. Each limit needs `points` and `duration` (seconds); `burst` switches it to nginx
   * `limit_req` semantics. There is no implicit default limit.
   * @example [{ name: 'internal', match: ['private'], limits: [{ points: 10, duration: 1, burst: 20 }] },
   *           { name: 'internet', limits: [{ points: 10, duration: 1, burst: 5 }] }]
   */
  tiers: readonly RateLimitTier[];
  /**
   * Where counters live: `'memory'` (per process, bounded by `maxKeys`) or a store from
   * `realip/redis` so all replicas share one limit.
   * @default 'memory'
   */
  store?: 'memory' | RateLimitStore;
  /**
   * What requests get while a remote store fails or times out: `insurance` (a per-process memory
   * limiter with limits divided by `replicas`), `open` (not limited) or `closed` (503). Never 429.
   * @default 'insurance'
   */
  storeFailure?: StoreFailurePolicy;
  /**
   * Replicas sharing the remote store (1 to 10000): the insurance limiter enforces
   * `ceil(points / replicas)` (and `floor(burst / replicas)`) per process, so the fleet stays near
   * the configured limit.
   * @default 1
   */
  replicas?: number;
  /**
   * A store call unanswered after this many milliseconds (an integer from 1 to 60000) is a store
   * error (a hung Redis must not hang requests). After 5 errors in a row the store is skipped and
   * probed once per second.
   * @default 100
   */
  storeTimeoutMs?: number;
  /** Called on every store error (timeouts included). @default a warning, once */
  onStoreError?: (error: Error, event: RateLimitStoreErrorEvent) => void;
  /**
   * Called when a remote store's state changes: `false` at the first error (requests are then
   * decided by `storeFailure`), `true` when it answers again; also at the first answer or error
   * after construction. Not called for the memory store.
   * @default undefined (no callback)
   */
  onStoreHealth?: (healthy: boolean) => void;
  /**
   * Store health into metrics: `createRealipMetrics().hooks` from `realip/metrics` (or your own
   * object with these three methods) sets `realip_store_healthy`, `realip_store_fallback_active`
   * (1 while requests are decided by `storeFailure`) and counts `realip_store_errors_total`. The
   * memory store is reported healthy at construction, a remote store at its first answer or error.
   */
  metrics?: Pick<RealipMetricsHooks, 'storeHealth' | 'storeFallback' | 'storeError'>;
  /**
   * Called the first time a key is limited in a window; later rejections are only counted
   * (`stats()`), so a flood does not flood your logs.
   * @default undefined (no callback)
   */
  onLimited?: (event: RateLimitedEvent) => void;
  /**
   * IPv6 clients are keyed by this prefix length (1 to 128). Security: one subscriber usually holds
   * a whole /64 (or /56), so per-address keys would let a client rotate through 2^64 fresh buckets.
   * @default 64
   */
  ipv6Prefix?: number;
  /**
   * Custom key (e.g. per API key); return undefined to fall back to the IP key. Tiers still match
   * on the IP. Security: a key taken from request data the client controls lets it pick fresh
   * buckets; derive it from authenticated data.
   * @default undefined (the IP key)
   */
  key?: RateLimitKeyFunction<Req>;
  /**
   * Most keys the memory store (and the insurance limiter) tracks, from 1000 to 1e8; the least
   * recently used is evicted. Security: bounds memory under a flood of rotating addresses; the
   * floor keeps a small table from evicting (and so un-limiting) active clients.
   * @default 100000
   */
  maxKeys?: number;
  /**
   * Requests whose client IP is undeterminable: `deny` counts them all in ONE shared bucket of the
   * last tier (so they are limited together, never silently unlimited); `allow` skips limiting
   * for them.
   * @default 'deny'
   */
  undeterminable?: UndeterminablePolicy;
  /** Paths never counted: exact (`/healthz`) or whole-segment prefixes (`/static/`). @default [] */
  exempt?: readonly string[];
  /** Send `RateLimit-Policy` and `RateLimit`. @default true */
  headers?: boolean;
  /** Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds). @default false */
  legacyHeaders?: boolean;
  /** Put the client IP in the 429 problem body. Privacy: off so bodies never carry personal data. @default false */
  exposeIp?: boolean;
  /**
   * Named lists for `{ list: 'name' }` in `match` (see `createIpLists()`).
   * @default undefined (list references are a configuration error)
   */
  lists?: IpLists;
  /**
   * Prefix of every policy's store keys (at most 1024 characters). Limiters sharing one store need
   * distinct prefixes (or distinct tier names); a clash is a configuration error.
   * @default ''
   */
  prefix?: string;
  /** Milliseconds clock (tests). @default Date.now */
  clock?: () => number;
  /** @default process.emitWarning once per code */
  onWarning?: WarningHandler;
}

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the specs' (a missing or extra option is a type error here).
const _rateLimitKeys: SameKeys<RateLimitOptions, z.input<typeof rateLimitSpec>> = true;
const _tierKeys: SameKeys<RateLimitTier, z.input<typeof tierSpec>> = true;
const _limitKeys: SameKeys<RateLimitSpec, z.input<typeof limitSpec>> = true;
void _rateLimitKeys;
void _tierKeys;
void _limitKeys;
