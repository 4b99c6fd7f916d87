/**
 * `createRateLimiter(options)`: the framework-free core of the `rateLimit` stage.
 *
 * Per request: derive the key from the resolved client IP (or the `key` function), pick the first
 * matching tier, count the request against each of the tier's limits in the store, and return a
 * {@link RateLimitDecision}. Adapters turn the decision into headers and a 429. Store errors go
 * through `storeFailure` and are never reported as 429s.
 *
 * Size: about 530 lines, just over the guide's 500: the decision and its response headers; its
 * options moved to src/rate-limit/spec.ts.
 */
import { ConfigError, IssueCollector, joinPath } from '../errors.js';
import { configIssues, parseOptions } from '../spec/spec.js';
import { rateLimitProblems, rateLimitSpec } from './spec.js';
import { compileExemptPaths, type PathExemption } from '../core/paths.js';
import { WarningEmitter } from '../core/warnings.js';
import { PROBLEM_CONTENT_TYPE, problemBody, type ProblemResponse } from '../http/problem.js';
import type { RateLimitInfo, RealipContext } from '../types.js';
import { Breaker, PROBE_STORE, SKIP_STORE, withTimeout } from './breaker.js';
import { leakRate } from './gcra.js';
import { retryAfterSeconds, setRateLimitHeaders, type HeaderTarget } from './headers.js';
import { KeyDeriver, UNDETERMINABLE_KEY } from './keys.js';
import { MemoryBinding, createMemoryStore } from './stores/memory.js';
import { Outcome, type PolicyPlan, type RateLimitStore, type StoreBinding } from './stores/store.js';
import { compileTiers, selectTier, sfString, type CompiledTier } from './tiers.js';

export type {
  RateLimitKeyFunction,
  RateLimitOptions,
  RateLimitedEvent,
  RateLimitStoreErrorEvent,
  StoreFailurePolicy,
} from './spec.js';
import type {
  RateLimitKeyFunction,
  RateLimitOptions,
  RateLimitedEvent,
  RateLimitStoreErrorEvent,
  StoreFailurePolicy,
} from './spec.js';

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

/** The store failed (docs/errors.md); once per limiter, then counted. */
const WRN_STORE_ERROR = 'WRN_REALIP_RATELIMIT_STORE_ERROR';

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
  private readonly warnings: WarningEmitter;
  private readonly exposeIp: boolean;
  private readonly counters = {
    limited: 0,
    limitedFirst: 0,
    storeErrors: 0,
    insurance: 0,
    open: 0,
    closed: 0,
  };

  constructor(options: RateLimitOptions, path: string) {
    const o = parseOptions(rateLimitSpec, options, path, () => {
      const problems = rateLimitProblems(options);
      if (problems.length > 0) throw new ConfigError(configIssues(rateLimitSpec, problems, path));
    });
    const clock = o.clock ?? Date.now;
    this.tiers = compileTiers(o.tiers, o.lists, o.prefix as string, path);
    this.last = this.tiers[this.tiers.length - 1]!;
    this.deriver = new KeyDeriver(o.ipv6Prefix as number);
    this.keyFn = o.key;
    this.allowUndeterminable = o.undeterminable === 'allow';
    this.exemption = compileExemptPaths(o.exempt as string[], joinPath(path, 'exempt'), new IssueCollector());
    const maxKeys = o.maxKeys as number;
    const failure = o.storeFailure as StoreFailurePolicy;
    this.failure = failure;
    const replicas = o.replicas as number;
    this.timeoutMs = o.storeTimeoutMs as number;
    this.headers = o.headers as boolean;
    this.legacyHeaders = o.legacyHeaders as boolean;
    this.exposeIp = o.exposeIp as boolean;
    this.onStoreError = o.onStoreError;
    this.onStoreHealth = o.onStoreHealth;
    this.metrics = o.metrics;
    this.onLimited = o.onLimited;
    this.warnings = new WarningEmitter(o.onWarning);
    const store: RateLimitStore = o.store === 'memory' ? createMemoryStore() : (o.store as RateLimitStore);
    this.storeKind = store.kind;
    this.remote = store.remote;
    this.breaker = new Breaker(5, 1000, clock);
    // What the store can honour (whole-second windows on Redis) and its key prefixes, checked
    // before anything is claimed.
    const issues = new IssueCollector();
    const context = { path, issues, maxKeys, clock };
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
        ? new MemoryBinding(this.insuranceTiers, context.maxKeys, clock)
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
    } else if (!this.warnings.bump(WRN_STORE_ERROR)) {
      this.warnings.emit(
        WRN_STORE_ERROR,
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

const UNAVAILABLE_HEADERS = Object.freeze({ 'retry-after': '1', 'content-type': PROBLEM_CONTENT_TYPE });

/**
 * What a decision does to the response, for every adapter and the composed stack: sets the
 * `RateLimit` / `RateLimit-Policy` (and legacy `X-RateLimit-*`) fields on `res` unless the store
 * failed open or closed, and returns the response that ends the request (429 when limited, 503
 * with `storeFailure: 'closed'`), or undefined when it goes on.
 */
export function rateLimitResponse(
  limiter: RateLimiter,
  res: HeaderTarget,
  d: RateLimitDecision,
): ProblemResponse | undefined {
  const source = d.source;
  if (source === 'closed') {
    return { status: 503, headers: UNAVAILABLE_HEADERS, body: limiter.unavailableProblem() };
  }
  if (source !== 'open') setRateLimitHeaders(res, d, limiter.headers, limiter.legacyHeaders);
  if (!d.limited) return undefined;
  return {
    status: 429,
    headers: { 'retry-after': String(d.retryAfter), 'content-type': PROBLEM_CONTENT_TYPE },
    body: limiter.problem(d),
  };
}
