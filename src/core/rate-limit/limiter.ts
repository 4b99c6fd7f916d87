/**
 * `createRateLimiter(options)`: the framework-free core of the `rateLimit` stage.
 *
 * Per request: derive the key from the resolved client IP (or the `key` function), pick the first
 * matching tier, count the request against each of the tier's limits in the store, and return a
 * {@link RateLimitDecision}. Adapters turn the decision into headers and a 429. Store errors go
 * through `storeFailure` and are never reported as 429s.
 */
import { IssueCollector, joinPath } from '../../errors.js';
import type { RealipMetricsHooks } from '../../types.js';
import { compileExemptPaths, type PathExemption } from '../paths.js';
import { problemBody } from '../problem.js';
import type {
  IpLists,
  RateLimitInfo,
  RateLimitTier,
  RealipContext,
  UndeterminablePolicy,
  WarningHandler,
} from '../../types.js';
import { Breaker, PROBE_STORE, SKIP_STORE, withTimeout } from './breaker.js';
import { leakRate } from './gcra.js';
import { retryAfterSeconds } from './headers.js';
import { KeyDeriver, UNDETERMINABLE_KEY, validateIpv6Prefix } from './keys.js';
import { MemoryBinding, createMemoryStore } from './memory.js';
import { Outcome, type PolicyPlan, type RateLimitStore, type StoreBinding } from './store.js';
import { compileTiers, selectTier, sfString, type CompiledTier } from './tiers.js';

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

/** What happens to requests while the store fails. */
export type StoreFailurePolicy = 'insurance' | 'open' | 'closed';

/** Options of `createRateLimiter()` and the `rateLimit` middlewares (policy file: `rateLimit`). */
export interface RateLimitOptions<Req = unknown> {
  /**
   * Tiers, first match wins; the tier without `match`/`countries` is the default and comes last.
   * Each limit needs `points` and `duration` (seconds); `burst` switches it to nginx `limit_req`
   * semantics. There is no implicit default limit.
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
   * Replicas sharing the remote store: the insurance limiter enforces `ceil(points / replicas)`
   * (and `floor(burst / replicas)`) per process, so the fleet stays near the configured limit.
   * @default 1
   */
  replicas?: number;
  /**
   * A store call unanswered after this many milliseconds is a store error (a hung Redis must not
   * hang requests). After 5 errors in a row the store is skipped and probed once per second.
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
   * IPv6 clients are keyed by this prefix length. Security: one subscriber usually holds a whole
   * /64 (or /56), so per-address keys would let a client rotate through 2^64 fresh buckets.
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
   * Most keys the memory store (and the insurance limiter) tracks; the least recently used is
   * evicted. Security: bounds memory under a flood of rotating addresses.
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
   * Prefix of every policy's store keys. Limiters sharing one store need distinct prefixes (or
   * distinct tier names); a clash is a configuration error.
   * @default ''
   */
  prefix?: string;
  /** Milliseconds clock (tests). @default Date.now */
  clock?: () => number;
  /** @default process.emitWarning once per code */
  onWarning?: WarningHandler;
}

/** Where a decision came from. */
export type RateLimitSource = 'store' | 'insurance' | 'open' | 'closed';

/** A decision for one request; also the `req.realip.rateLimit` object. */
export class RateLimitDecision implements RateLimitInfo {
  tier: string;
  limit = 0;
  remaining = 0;
  resetMs = 0;
  limited = false;
  source: RateLimitSource = 'store';
  /** `Retry-After` seconds when limited (0 otherwise). */
  retryAfter = 0;
  /** Names of the limits that rejected the request (empty when admitted). */
  violated: readonly string[] = NONE;
  /** The key the request was counted under. */
  readonly key: string;
  /** The client IP (undefined when undeterminable). */
  readonly ip: string | undefined;
  /** The compiled tier (for headers). */
  plan: CompiledTier;
  readonly outcome: Outcome;

  /** The limiter that decided (marks the request as counted by it). */
  readonly owner: object;
  /** The decision of an earlier limiter on the same request, if any. */
  readonly previous: RateLimitInfo | undefined;

  constructor(
    plan: CompiledTier,
    key: string,
    ip: string | undefined,
    owner: object,
    previous: RateLimitInfo | undefined,
  ) {
    this.owner = owner;
    this.previous = previous;
    this.tier = plan.name;
    this.plan = plan;
    this.key = key;
    this.ip = ip;
    this.outcome = new Outcome(plan.policies.length);
  }

  /** The public fields only (logs serialise `req.realip`; the compiled plan stays out). */
  toJSON(): RateLimitInfo & { retryAfter?: number; violated?: readonly string[] } {
    const { tier, limit, remaining, resetMs, limited, source } = this;
    return limited
      ? {
          tier,
          limit,
          remaining,
          resetMs,
          limited,
          source,
          retryAfter: this.retryAfter,
          violated: this.violated,
        }
      : { tier, limit, remaining, resetMs, limited, source };
  }
}

const NONE: readonly string[] = Object.freeze([]);

/** Counters for metrics. */
export interface RateLimitStats {
  /** Requests rejected with 429. */
  limited: number;
  /** `onLimited` events (first rejection per key per window). */
  limitedFirst: number;
  storeErrors: number;
  /** Requests decided by the insurance limiter / let through open / refused closed. */
  insurance: number;
  open: number;
  closed: number;
  /** True while the breaker skips the remote store. */
  breakerOpen: boolean;
  /** Keys in the memory store (0 for remote stores) and keys evicted from it. */
  keys: number;
  evictions: number;
}

/** The compiled limiter. */
export interface RateLimiter {
  /**
   * Counts one request and stores the decision in `context.rateLimit` (chained to any earlier
   * limiter's decision). Returns undefined when it is not limited at all (no tier matched, an
   * undeterminable client with `undeterminable: 'allow'`, or this limiter already counted this
   * request: a request is never counted twice by the same policies); otherwise the decision,
   * synchronously for the memory store, as a promise for remote stores (it never rejects).
   */
  consume(
    context: RealipContext,
    request?: unknown,
  ): RateLimitDecision | Promise<RateLimitDecision> | undefined;
  /** True when the path is exempt (`exempt` option). */
  isExempt(url: string): boolean;
  /** Header switches. */
  readonly headers: boolean;
  readonly legacyHeaders: boolean;
  /** The 429 problem body (RFC 9457, `violated-policies`). */
  problem(decision: RateLimitDecision): string;
  /** The 503 problem body for `storeFailure: 'closed'`. */
  unavailableProblem(): string;
  stats(): RateLimitStats;
  close(): Promise<void>;
}

const STATUS_TEXT = 'https://iana.org/assignments/http-problem-types#';

function scaleTiers(tiers: readonly CompiledTier[], replicas: number): CompiledTier[] {
  if (replicas === 1) return tiers as CompiledTier[];
  return tiers.map((t) => {
    const policies = t.policies.map((p): PolicyPlan => {
      const points = Math.max(1, Math.ceil(p.points / replicas));
      const burst = p.burst === undefined ? undefined : Math.floor(p.burst / replicas);
      return {
        ...p,
        points,
        burst,
        rate: p.gcra ? Math.max(1, leakRate(points, p.duration)) : 0,
        burstMilli: burst === undefined ? 0 : burst * 1000,
      };
    });
    const policyHeader = policies
      .map((p) => `${sfString(p.name)};q=${p.gcra ? p.points + (p.burst ?? 0) : p.points};w=${p.duration}`)
      .join(', ');
    return { ...t, policies, policyHeader };
  });
}

function defaultWarning(code: string, message: string): void {
  process.emitWarning(message, { code });
}

class Limiter implements RateLimiter {
  readonly headers: boolean;
  readonly legacyHeaders: boolean;
  private readonly tiers: CompiledTier[];
  private readonly insuranceTiers: CompiledTier[];
  private readonly last: CompiledTier;
  private readonly deriver: KeyDeriver;
  private readonly keyFn: RateLimitKeyFunction | undefined;
  private readonly allowUndeterminable: boolean;
  private readonly exemption: PathExemption;
  private readonly binding: StoreBinding;
  private readonly remote: boolean;
  private readonly storeKind: string;
  private readonly insurance: MemoryBinding | undefined;
  private readonly failure: StoreFailurePolicy;
  private readonly timeoutMs: number;
  private readonly breaker: Breaker;
  private readonly onStoreError: ((error: Error, event: RateLimitStoreErrorEvent) => void) | undefined;
  private readonly onStoreHealth: ((healthy: boolean) => void) | undefined;
  private readonly metrics: RateLimitOptions['metrics'];
  /** The remote store's last known state (undefined until its first answer or error). */
  private storeHealthy: boolean | undefined = undefined;
  private readonly onLimited: ((event: RateLimitedEvent) => void) | undefined;
  private readonly warn: (code: string, message: string) => void;
  private readonly exposeIp: boolean;
  private warnedStore = false;
  private readonly counters = {
    limited: 0,
    limitedFirst: 0,
    storeErrors: 0,
    insurance: 0,
    open: 0,
    closed: 0,
  };

  constructor(options: RateLimitOptions, path: string) {
    const issues = new IssueCollector();
    const o = (options ?? {}) as RateLimitOptions;
    if (options === null || typeof options !== 'object')
      issues.add(path, 'expected an options object with "tiers"');
    const known = new Set([
      'tiers',
      'store',
      'storeFailure',
      'replicas',
      'storeTimeoutMs',
      'onStoreError',
      'onStoreHealth',
      'metrics',
      'onLimited',
      'ipv6Prefix',
      'key',
      'maxKeys',
      'undeterminable',
      'exempt',
      'headers',
      'legacyHeaders',
      'exposeIp',
      'lists',
      'prefix',
      'clock',
      'onWarning',
    ]);
    for (const k of Object.keys(o))
      if (!known.has(k)) issues.add(joinPath(path, k), `unknown option (known: ${[...known].join(', ')})`);
    const clock = o.clock ?? Date.now;
    if (typeof clock !== 'function')
      issues.add(joinPath(path, 'clock'), 'expected a function returning milliseconds');
    const prefix = o.prefix ?? '';
    if (typeof prefix !== 'string') issues.add(joinPath(path, 'prefix'), 'expected a string');
    this.tiers = compileTiers(o.tiers, o.lists, String(prefix), path, issues);
    this.last = this.tiers[this.tiers.length - 1]!;
    this.deriver = new KeyDeriver(validateIpv6Prefix(o.ipv6Prefix, joinPath(path, 'ipv6Prefix'), issues));
    if (o.key !== undefined && typeof o.key !== 'function')
      issues.add(joinPath(path, 'key'), 'expected a function (ip, context, request) => string | undefined');
    this.keyFn = o.key;
    const und = o.undeterminable ?? 'deny';
    if (und !== 'deny' && und !== 'allow')
      issues.add(joinPath(path, 'undeterminable'), `expected "deny" or "allow" (got ${JSON.stringify(und)})`);
    this.allowUndeterminable = und === 'allow';
    this.exemption = compileExemptPaths(o.exempt, joinPath(path, 'exempt'), issues);
    const maxKeys = o.maxKeys ?? 100_000;
    if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 100_000_000) {
      issues.add(
        joinPath(path, 'maxKeys'),
        `expected an integer from 1 to 100000000 (got ${JSON.stringify(maxKeys)})`,
      );
    }
    const failure = o.storeFailure ?? 'insurance';
    if (failure !== 'insurance' && failure !== 'open' && failure !== 'closed') {
      issues.add(
        joinPath(path, 'storeFailure'),
        `expected "insurance", "open" or "closed" (got ${JSON.stringify(failure)})`,
      );
    }
    this.failure = failure;
    const replicas = o.replicas ?? 1;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1 || replicas > 10000) {
      issues.add(
        joinPath(path, 'replicas'),
        `expected an integer from 1 to 10000 (got ${JSON.stringify(replicas)})`,
      );
    }
    const timeoutMs = o.storeTimeoutMs ?? 100;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 60000) {
      issues.add(
        joinPath(path, 'storeTimeoutMs'),
        `expected milliseconds from 1 to 60000 (got ${JSON.stringify(timeoutMs)})`,
      );
    }
    this.timeoutMs = timeoutMs;
    for (const k of ['onStoreError', 'onStoreHealth', 'onLimited', 'onWarning'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'function')
        issues.add(joinPath(path, k), 'expected a function');
    }
    for (const k of ['headers', 'legacyHeaders', 'exposeIp'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean')
        issues.add(joinPath(path, k), 'expected true or false');
    }
    this.headers = o.headers ?? true;
    this.legacyHeaders = o.legacyHeaders ?? false;
    this.exposeIp = o.exposeIp ?? false;
    this.onStoreError = o.onStoreError;
    this.onStoreHealth = o.onStoreHealth;
    const m = o.metrics as Record<string, unknown> | undefined;
    if (
      m !== undefined &&
      (m === null ||
        typeof m !== 'object' ||
        !['storeHealth', 'storeFallback', 'storeError'].every((f) => typeof m[f] === 'function'))
    ) {
      issues.add(
        joinPath(path, 'metrics'),
        'expected an object with storeHealth, storeFallback and storeError (createRealipMetrics().hooks)',
      );
    }
    this.metrics = o.metrics;
    this.onLimited = o.onLimited;
    const onWarning = o.onWarning;
    const warnCounts = new Map<string, number>();
    this.warn = onWarning
      ? (code, message) => {
          const count = (warnCounts.get(code) ?? 0) + 1;
          warnCounts.set(code, count);
          onWarning({
            code,
            message,
            help: `docs/errors.md#${code.toLowerCase().replace(/_/g, '-')}`,
            count,
          });
        }
      : defaultWarning;
    let store: RateLimitStore;
    if (o.store === undefined || o.store === 'memory') store = createMemoryStore();
    else if (
      o.store !== null &&
      typeof o.store === 'object' &&
      typeof (o.store as RateLimitStore).bind === 'function'
    )
      store = o.store;
    else {
      issues.add(
        joinPath(path, 'store'),
        `expected "memory" or a store from realip/redis (got ${JSON.stringify(o.store)})`,
      );
      store = createMemoryStore();
    }
    this.storeKind = store.kind;
    this.remote = store.remote;
    const safeClock = typeof clock === 'function' ? clock : Date.now;
    this.breaker = new Breaker(5, 1000, safeClock);
    // Validate everything (including what the store can honour) before anything is claimed.
    const context = { path, issues, maxKeys: Number(maxKeys) || 100_000, clock: safeClock };
    if (!issues.ok) issues.throwIfAny();
    this.binding = store.bind(this.tiers, context);
    if (!issues.ok) {
      void this.binding.close();
      issues.throwIfAny();
    }
    // Until the first answer or error: the memory store is healthy, a remote one as connected as
    // its client says (metrics only; `onStoreHealth` waits for the first answer or error).
    const initial = this.remote ? store.connected?.() : true;
    if (this.metrics !== undefined && initial !== undefined) this.reportHealth(initial);
    this.insuranceTiers = scaleTiers(this.tiers, replicas);
    this.insurance =
      this.remote && failure === 'insurance'
        ? new MemoryBinding(this.insuranceTiers, context.maxKeys, safeClock)
        : undefined;
  }

  isExempt(url: string): boolean {
    return this.exemption(url);
  }

  consume(
    context: RealipContext,
    request?: unknown,
  ): RateLimitDecision | Promise<RateLimitDecision> | undefined {
    // Already counted by this limiter (mounted twice, or a router re-entered it)? Walk the chain.
    for (let p = context.rateLimit; p !== undefined; p = (p as RateLimitDecision).previous) {
      if (!(p instanceof RateLimitDecision)) break;
      if (p.owner === this) return undefined;
    }
    const ip = context.resolution === undefined ? undefined : context.resolution.ip;
    let tier: CompiledTier | undefined;
    let key: string | undefined;
    if (ip === undefined) {
      if (this.allowUndeterminable) return undefined;
      tier = this.last;
      key = UNDETERMINABLE_KEY;
    } else {
      key = this.deriver.derive(ip);
      if (key === undefined) {
        // Not an IP (a resolver would never produce this): treat as undeterminable, never as a free pass.
        if (this.allowUndeterminable) return undefined;
        tier = this.last;
        key = UNDETERMINABLE_KEY;
      } else {
        const geo = context.geo;
        tier = selectTier(
          this.tiers,
          this.deriver.kind,
          this.deriver.words,
          geo === undefined ? undefined : geo.country,
        );
        if (tier === undefined) return undefined;
      }
    }
    if (this.keyFn !== undefined) {
      const custom = this.keyFn(ip, context, request);
      if (typeof custom === 'string' && custom.length > 0) key = custom;
    }
    const decision = new RateLimitDecision(tier, key, ip, this, context.rateLimit);
    context.rateLimit = decision;
    if (!this.remote) {
      (this.binding as MemoryBinding).consume(tier, key, decision.outcome);
      return this.decide(decision);
    }
    const route = this.breaker.route();
    if (route === SKIP_STORE) return this.fallback(decision);
    let pending: Promise<void>;
    try {
      pending = this.binding.consume(tier, key, decision.outcome) as Promise<void>;
    } catch (err) {
      pending = Promise.reject(err);
    }
    return withTimeout(pending, this.timeoutMs).then(
      () => {
        this.breaker.success();
        if (this.storeHealthy !== true) this.setStoreHealth(true);
        return this.decide(decision);
      },
      (err: Error) => this.storeError(err, decision, route === PROBE_STORE),
    );
  }

  private setStoreHealth(healthy: boolean): void {
    this.storeHealthy = healthy;
    this.reportHealth(healthy);
    try {
      if (this.onStoreHealth !== undefined) this.onStoreHealth(healthy);
    } catch {
      // A throwing callback must not fail a request.
    }
  }

  private reportHealth(healthy: boolean): void {
    if (this.metrics === undefined) return;
    try {
      this.metrics.storeHealth(this.storeKind, healthy);
      this.metrics.storeFallback(this.storeKind, !healthy);
    } catch {
      // as above
    }
  }

  private storeError(err: Error, decision: RateLimitDecision, _probe: boolean): RateLimitDecision {
    this.counters.storeErrors++;
    if (this.storeHealthy !== false) this.setStoreHealth(false);
    if (this.metrics !== undefined) {
      try {
        this.metrics.storeError(this.storeKind);
      } catch {
        // as above
      }
    }
    const opened = this.breaker.failure();
    const event: RateLimitStoreErrorEvent = {
      store: this.storeKind,
      fallback: this.failure,
      consecutive: this.breaker.consecutive,
      breakerOpened: opened,
    };
    if (this.onStoreError !== undefined) {
      try {
        this.onStoreError(err, event);
      } catch {
        // A throwing callback must not turn a store error into a failed request.
      }
    } else if (!this.warnedStore) {
      this.warnedStore = true;
      this.warn(
        'WRN_REALIP_RATELIMIT_STORE_ERROR',
        `rate-limit store (${this.storeKind}) failed: ${err.message}; using storeFailure "${this.failure}"`,
      );
    }
    return this.fallback(decision);
  }

  private fallback(decision: RateLimitDecision): RateLimitDecision {
    if (this.failure === 'insurance') {
      this.counters.insurance++;
      const plan = this.insuranceTiers[decision.plan.index]!;
      decision.plan = plan;
      this.insurance!.consume(plan, decision.key, decision.outcome);
      this.decide(decision);
      decision.source = 'insurance';
      return decision;
    }
    if (this.failure === 'open') {
      this.counters.open++;
      decision.source = 'open';
    } else {
      this.counters.closed++;
      decision.source = 'closed';
    }
    decision.limited = false;
    return decision;
  }

  private decide(d: RateLimitDecision): RateLimitDecision {
    const out = d.outcome;
    const policies = d.plan.policies;
    let pick = 0;
    if (out.admitted) {
      for (let i = 1; i < policies.length; i++) {
        if (
          out.remaining[i]! < out.remaining[pick]! ||
          (out.remaining[i] === out.remaining[pick] && out.resetMs[i]! > out.resetMs[pick]!)
        )
          pick = i;
      }
    } else {
      let first = false;
      let wait = 0;
      const violated: string[] = [];
      pick = -1;
      for (let i = 0; i < policies.length; i++) {
        if (!out.over[i]) continue;
        violated.push(policies[i]!.name);
        if (out.first[i]) first = true;
        if (pick < 0 || out.resetMs[i]! > wait) {
          pick = i;
          wait = out.resetMs[i]!;
        }
      }
      if (pick < 0) pick = 0;
      d.limited = true;
      d.violated = violated;
      d.retryAfter = retryAfterSeconds(wait);
      this.counters.limited++;
      if (first) {
        this.counters.limitedFirst++;
        if (this.onLimited !== undefined) {
          try {
            this.onLimited({
              key: d.key,
              tier: d.tier,
              policies: violated,
              retryAfter: d.retryAfter,
              ip: d.ip,
            });
          } catch {
            // A throwing hook must not change the response.
          }
        }
      }
    }
    const p = policies[pick]!;
    d.limit = p.gcra ? p.points + (p.burst ?? 0) : p.points;
    d.remaining = out.remaining[pick]!;
    d.resetMs = out.resetMs[pick]!;
    return d;
  }

  problem(d: RateLimitDecision): string {
    const body: Record<string, unknown> = {
      type: STATUS_TEXT + 'quota-exceeded',
      title: 'Too Many Requests',
      status: 429,
      detail: `Rate limit exceeded (tier "${d.tier}"); retry in ${d.retryAfter} s.`,
      'violated-policies': d.violated,
    };
    if (this.exposeIp && d.ip !== undefined) body.ip = d.ip;
    return problemBody(body as { title: string; status: number });
  }

  unavailableProblem(): string {
    return problemBody({
      type: STATUS_TEXT + 'temporary-reduced-capacity',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The rate-limit store is unavailable and storeFailure is "closed".',
    });
  }

  stats(): RateLimitStats {
    const table = this.remote ? this.insurance?.table : (this.binding as MemoryBinding).table;
    return {
      ...this.counters,
      breakerOpen: this.breaker.open,
      keys: table === undefined ? 0 : table.size,
      evictions: table === undefined ? 0 : table.evictions,
    };
  }

  close(): Promise<void> {
    return Promise.all([this.binding.close(), this.insurance?.close()]).then(() => undefined);
  }
}

/**
 * Compiles rate-limit options; throws one `ConfigError` listing every problem
 * (`rateLimit.tiers[1].limits[0].points: required: ...`).
 *
 * @example
 * const limiter = createRateLimiter({
 *   tiers: [
 *     { name: 'trusted', match: ['10.0.0.0/8'], limits: [{ points: 10, duration: 1, burst: 20 }] },
 *     { name: 'internet', limits: [{ points: 10, duration: 1, burst: 5 }, { points: 1000, duration: 3600 }] },
 *   ],
 * });
 */
export function createRateLimiter<Req = unknown>(
  options: RateLimitOptions<Req>,
  path = 'rateLimit',
): RateLimiter {
  return new Limiter(options as RateLimitOptions, path);
}
