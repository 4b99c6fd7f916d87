/**
 * The contract between the limiter and its stores (memory here, Redis in `realip/redis`).
 *
 * The limiter compiles tiers into {@link TierPlan}s; a store binds to them once (validating what it
 * can honour and claiming each policy's key prefix), then answers `consume()` per request by
 * filling an {@link Outcome}. Stores never decide the HTTP response.
 */
import type { IssueCollector } from '../../errors.js';
import { msToDrain, msUntilAdmitted, remainingAfter } from '../gcra.js';

/** One compiled limit of a tier. */
export interface PolicyPlan {
  /** Policy name as advertised in `RateLimit-Policy` (unique within the limiter). */
  readonly name: string;
  /** The name as an SF String (`"name"`), ready for header values. */
  readonly quoted: string;
  /** Requests per `duration` (leak rate with `burst`). */
  readonly points: number;
  /** Seconds. */
  readonly duration: number;
  readonly durationMs: number;
  /** Extra requests admitted at once; `undefined` for a fixed window. */
  readonly burst: number | undefined;
  /** True for nginx `limit_req` semantics (`burst` set). */
  readonly gcra: boolean;
  /** Leak rate in milli-requests per second (`floor(points * 1000 / duration)`), GCRA only. */
  readonly rate: number;
  /** `burst * 1000`, GCRA only. */
  readonly burstMilli: number;
  /** Key prefix of this policy inside the store (limiter prefix + policy name + `:`). */
  readonly prefix: string;
  /** Option path, for configuration errors. */
  readonly path: string;
}

/** One compiled tier: its limits in order. */
export interface TierPlan {
  readonly index: number;
  readonly name: string;
  readonly policies: readonly PolicyPlan[];
  /** True when at least one policy is a fixed window / a GCRA limit. */
  readonly hasWindow: boolean;
  readonly hasGcra: boolean;
}

/** What a store reports for one request, per policy of the tier (same order as `tier.policies`). */
export class Outcome {
  /** True when every policy admitted the request. */
  admitted = true;
  /** Requests still admitted now, per policy. */
  readonly remaining: number[];
  /** Milliseconds until the policy's quota resets / until it admits again when over. */
  readonly resetMs: number[];
  /** True for each policy that rejected the request. */
  readonly over: boolean[];
  /** True for each policy that rejected it for the first time in its window (for `onLimited`). */
  readonly first: boolean[];

  constructor(n: number) {
    // Packed literals (not `new Array(n)`, which starts holey); one policy is the common case.
    if (n === 1) {
      this.remaining = [0];
      this.resetMs = [0];
      this.over = [false];
      this.first = [false];
      return;
    }
    this.remaining = [];
    this.resetMs = [];
    this.over = [];
    this.first = [];
    for (let i = 0; i < n; i++) {
      this.remaining.push(0);
      this.resetMs.push(0);
      this.over.push(false);
      this.first.push(false);
    }
  }
}

/** What `bind()` gets besides the tiers. */
export interface BindContext {
  /** Option path of the limiter (`rateLimit`), for issues. */
  readonly path: string;
  readonly issues: IssueCollector;
  /** The limiter's `maxKeys` (memory stores). */
  readonly maxKeys: number;
  /** The limiter's clock (ms); stores with their own clock may ignore it. */
  readonly clock: () => number;
}

/** A store bound to one limiter's tiers. */
export interface StoreBinding {
  /**
   * Counts one request of `key` against every policy of `tier` and fills `out`. Memory stores
   * answer synchronously; remote stores return a promise that rejects on a store error.
   */
  consume(tier: TierPlan, key: string, out: Outcome): void | Promise<void>;
  /** Releases the prefixes this binding claimed (and timers, connections it owns). */
  close(): Promise<void>;
}

/** A rate-limit store: `'memory'` is built in; `createRedisStore()` comes from `realip/redis`. */
export interface RateLimitStore {
  /** `'memory'`, `'redis'`, ... (for logs and metrics). */
  readonly kind: string;
  /** True for stores that can fail (network): the limiter then applies `storeFailure`. */
  readonly remote: boolean;
  /**
   * Whether a remote store's client says it is connected now; the limiter reports it as the store's
   * health (metrics) until the first answer or error. Omit when unknown.
   */
  connected?(): boolean;
  /**
   * Validates the tiers against what the store can honour (reporting into `context.issues`) and
   * claims each policy's prefix; two policies with one prefix are a configuration error.
   */
  bind(tiers: readonly TierPlan[], context: BindContext): StoreBinding;
}

/**
 * Fills policy `i` of `out` for a burst (GCRA) limit, given the candidate excess `c` nginx computed
 * for this request, whether the request was admitted overall, and the key's rejection count.
 */
export function reportGcra(
  out: Outcome,
  i: number,
  p: PolicyPlan,
  c: number,
  admitted: boolean,
  rejections: number,
): void {
  if (admitted) {
    out.remaining[i] = remainingAfter(c, p.burstMilli);
    out.resetMs[i] = msToDrain(c, p.rate);
    out.over[i] = false;
    out.first[i] = false;
  } else if (c > p.burstMilli) {
    out.remaining[i] = 0;
    out.resetMs[i] = msUntilAdmitted(c, p.burstMilli, p.rate);
    out.over[i] = true;
    out.first[i] = rejections === 1;
  } else {
    // This limit would admit it; another one did not, so nothing was charged here.
    out.remaining[i] = remainingAfter(c, p.burstMilli) + 1;
    out.resetMs[i] = msToDrain(c - 1000, p.rate);
    out.over[i] = false;
    out.first[i] = false;
  }
}

/** Fills policy `i` of `out` for a fixed window, from the count after this request and the ms left. */
export function reportWindow(out: Outcome, i: number, p: PolicyPlan, count: number, msLeft: number): boolean {
  const over = count > p.points;
  out.remaining[i] = over ? 0 : p.points - count;
  out.resetMs[i] = msLeft > 0 ? msLeft : 0;
  out.over[i] = over;
  out.first[i] = count === p.points + 1;
  return over;
}
