/**
 * Response fields: IETF RateLimit / RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers-11),
 * legacy `X-RateLimit-*`, and `Retry-After`.
 *
 *     RateLimit-Policy: "api-100-per-60s";q=100;w=60
 *     RateLimit: "api-100-per-60s";r=63;t=23
 *
 * One item per limit of the tier, in the tier's order. `t` and `Retry-After` are seconds rounded
 * up (a client that waits `t` seconds never arrives early); `Retry-After` is at least 1.
 */
import type { Outcome } from './stores/store.js';
import type { TierPlan } from './stores/store.js';

/** Seconds for `ms`, rounded up. */
export function ceilSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/** `Retry-After` delay-seconds for a wait of `ms`: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  const s = Math.ceil(ms / 1000);
  return s >= 1 ? s : 1;
}

/** The `RateLimit` field value: `"name";r=<remaining>;t=<seconds>` per policy. */
export function rateLimitValue(tier: TierPlan, out: Outcome): string {
  const policies = tier.policies;
  let v = '';
  for (let i = 0; i < policies.length; i++) {
    if (i > 0) v += ', ';
    v += policies[i]!.quoted + ';r=' + out.remaining[i] + ';t=' + ceilSeconds(out.resetMs[i]!);
  }
  return v;
}

/** Joins a field value onto one already set by an earlier limiter (an SF List may span members). */
export function appendListValue(existing: unknown, value: string): string {
  if (existing === undefined || existing === null || existing === '') return value;
  return (Array.isArray(existing) ? existing.join(', ') : String(existing)) + ', ' + value;
}

/** Where rate-limit fields are written: Node's `ServerResponse` (and so Express's `res`) fits. */
export interface HeaderTarget {
  getHeader(name: string): unknown;
  setHeader(name: string, value: string | number): unknown;
}

/** What a decision contributes to the response fields. */
export interface HeaderFacts {
  readonly plan: TierPlan & { readonly policyHeader: string };
  readonly outcome: Outcome;
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
}

/**
 * Writes the IETF `RateLimit-Policy` / `RateLimit` fields (appended to any an earlier limiter set)
 * and, when asked, the legacy `X-RateLimit-*` fields.
 */
export function setRateLimitHeaders(
  res: HeaderTarget,
  d: HeaderFacts,
  standard: boolean,
  legacy: boolean,
): void {
  if (standard) {
    res.setHeader(
      'RateLimit-Policy',
      appendListValue(res.getHeader('RateLimit-Policy'), d.plan.policyHeader),
    );
    res.setHeader(
      'RateLimit',
      appendListValue(res.getHeader('RateLimit'), rateLimitValue(d.plan, d.outcome)),
    );
  }
  if (legacy) {
    res.setHeader('X-RateLimit-Limit', d.limit);
    res.setHeader('X-RateLimit-Remaining', d.remaining);
    res.setHeader('X-RateLimit-Reset', ceilSeconds(d.resetMs));
  }
}
