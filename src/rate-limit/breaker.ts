/**
 * A circuit breaker for a remote store. After `threshold` consecutive errors (a timeout is an
 * error) it opens: calls skip the store (the limiter uses its `storeFailure` fallback at once) and
 * one call per `probeIntervalMs` is let through as a probe. A successful call closes it again.
 */

/** What to do with the next call. */
export const USE_STORE = 0;
export const SKIP_STORE = 1;
export const PROBE_STORE = 2;

export class Breaker {
  /** Consecutive errors so far. */
  consecutive = 0;
  open = false;
  /** Times the breaker opened (monotonic). */
  opened = 0;
  private lastProbe = 0;
  private probing = false;

  constructor(
    private readonly threshold: number,
    private readonly probeIntervalMs: number,
    private readonly clock: () => number,
  ) {}

  /** Routes one call: use the store, skip it, or probe it. */
  route(): number {
    if (!this.open) return USE_STORE;
    const now = this.clock();
    if (!this.probing && now - this.lastProbe >= this.probeIntervalMs) {
      this.probing = true;
      this.lastProbe = now;
      return PROBE_STORE;
    }
    return SKIP_STORE;
  }

  success(): void {
    this.consecutive = 0;
    this.open = false;
    this.probing = false;
  }

  /** Records an error; returns true when this error opened the breaker. */
  failure(): boolean {
    this.probing = false;
    this.consecutive++;
    if (!this.open && this.consecutive >= this.threshold) {
      this.open = true;
      this.opened++;
      this.lastProbe = this.clock();
      return true;
    }
    return false;
  }
}

/** The error a store call gets when it does not settle within `storeTimeoutMs`. */
export class StoreTimeoutError extends Error {
  readonly code = 'ERR_REALIP_RATELIMIT_STORE_TIMEOUT';
  constructor(ms: number) {
    super(`rate-limit store did not answer within ${ms} ms`);
    this.name = 'StoreTimeoutError';
  }
}

/** Settles with `promise`, or rejects with a StoreTimeoutError after `ms`. */
export function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreTimeoutError(ms)), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
