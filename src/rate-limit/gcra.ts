/**
 * nginx `limit_req` arithmetic (a leaky bucket, equivalent to GCRA), reproduced exactly.
 *
 * nginx keeps, per key, `excess` in milli-requests and `last`, the time in ms of the last accounted
 * request. A request at `now` computes
 *
 *     ms     = now - last            (ms < -60000 -> 1, ms < 0 -> 0: clock steps)
 *     excess = prev - floor(rate * ms / 1000) + 1000, then max(excess, 0)
 *
 * where `rate` is requests per second times 1000 (`10r/s` -> 10000, `10r/m` -> floor(10000 / 60)).
 * The request is rejected when `excess > burst * 1000`, and a rejected request changes nothing. An
 * admitted one stores `excess` (and `last = now` only when `ms !== 0`). A key seen for the first
 * time is admitted with `excess = 0`, so `rate=10r/s burst=20 nodelay` admits 21 requests at once,
 * then one every 100 ms. These functions are pure: the caller supplies the clock.
 */

/** Sentinel for "no state": the key was never seen (or its state expired). */
export const NO_STATE = -1;

/**
 * Drain rate in milli-requests per second, as nginx computes it: `floor(points * 1000 / duration)`.
 * `points` per `duration` seconds; exact for `r/s` (duration 1) and `r/m` (duration 60).
 */
export function leakRate(points: number, duration: number): number {
  return Math.floor((points * 1000) / duration);
}

/**
 * The excess a request at `now` would leave: nginx's formula on the previous state. For a key
 * without state (`prevExcess === NO_STATE`) it is 0, as for a new nginx node.
 */
export function candidateExcess(prevExcess: number, last: number, now: number, rate: number): number {
  if (prevExcess === NO_STATE) return 0;
  let ms = now - last;
  if (ms < -60000) ms = 1;
  else if (ms < 0) ms = 0;
  // Past the point where the bucket is certainly empty, skip the product (keeps it exact in doubles).
  if (ms > ((prevExcess + 1000) * 1000) / rate + 1) return 0;
  const e = prevExcess - Math.floor((rate * ms) / 1000) + 1000;
  return e < 0 ? 0 : e;
}

/** True when nginx rejects a request whose candidate excess is `excess` (`burst` in requests). */
export function isOverBurst(excess: number, burstMilli: number): boolean {
  return excess > burstMilli;
}

/** The `last` nginx stores when it admits a request: unchanged when no time passed. */
export function nextLast(prevExcess: number, last: number, now: number): number {
  if (prevExcess === NO_STATE) return now;
  let ms = now - last;
  if (ms < -60000) ms = 1;
  else if (ms < 0) ms = 0;
  return ms === 0 ? last : now;
}

/**
 * Requests that would still be admitted right now after a request left `excess` (not counting
 * that request): `floor((burst*1000 - excess) / 1000)`, never negative.
 */
export function remainingAfter(excess: number, burstMilli: number): number {
  return excess > burstMilli ? 0 : Math.floor((burstMilli - excess) / 1000);
}

/** Milliseconds of draining needed before `floor(rate * ms / 1000) >= amount`. */
export function msToDrain(amount: number, rate: number): number {
  if (amount <= 0) return 0;
  return Math.ceil((amount * 1000) / rate);
}

/**
 * Milliseconds until a request is admitted again, given the current stored state (the request
 * that was just rejected had candidate `excess > burst`): enough drain to bring it to `burst`.
 */
export function msUntilAdmitted(candidate: number, burstMilli: number, rate: number): number {
  return msToDrain(candidate - burstMilli, rate);
}
