/**
 * Tiers: which clients get which limits. Tiers are tried in order and the first match wins; a
 * tier without `match` and `countries` is the default and must be last (anything after it could
 * never match). `match` takes IPs, CIDRs, named ranges and `{ list: 'name' }` references resolved
 * through the `lists` option (live: a reloaded list applies on the next request). With both
 * `match` and `countries`, a client must satisfy both.
 */
import { IssueCollector, joinPath } from '../errors.js';
import { compileRanges, matcherFromRanges, type IpRule } from '../core/cidr.js';
import type { IpKind } from '../core/ip.js';
import type { IpLists, IpLookup, IpRuleOrList } from '../types.js';
import { policyName, type RateLimitTier } from './spec.js';
import { leakRate } from './gcra.js';
import type { PolicyPlan, TierPlan } from './stores/store.js';

/** A compiled tier: its plan plus how to recognise its clients. */
export interface CompiledTier extends TierPlan {
  /** Lookups that must contain the client (any of them), or undefined for no IP condition. */
  readonly lookups: readonly IpLookup[] | undefined;
  readonly countries: ReadonlySet<string> | undefined;
  /** `RateLimit-Policy` value for this tier (constant). */
  readonly policyHeader: string;
}

/** SF String serialisation of a policy name (names are validated printable ASCII). */
export function sfString(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Policy header of one policy: `"name";q=…;w=…` (with burst, q counts the burst; see docs). */
function policyItem(p: PolicyPlan): string {
  const q = p.gcra ? p.points + (p.burst ?? 0) : p.points;
  return `${sfString(p.name)};q=${q};w=${p.duration}`;
}

/**
 * Compiles `tiers`, validated by the spec (src/rate-limit/spec.ts: bounds, names, order, list
 * references). `prefix` is the limiter's key prefix; each policy's store prefix is
 * `prefix + name + ':'`.
 */
export function compileTiers(
  tiers: readonly RateLimitTier[],
  lists: IpLists | undefined,
  prefix: string,
  path: string,
): CompiledTier[] {
  const at = joinPath(path, 'tiers');
  return tiers.map((tier, ti): CompiledTier => {
    const tp = joinPath(at, ti);
    let lookups: IpLookup[] | undefined;
    if (tier.match !== undefined) {
      lookups = [];
      const rules: IpRule[] = [];
      for (const r of tier.match as readonly IpRuleOrList[]) {
        if (typeof r === 'object' && 'list' in r) lookups.push(lists!.get(r.list)!);
        else rules.push(r);
      }
      if (rules.length > 0)
        lookups.push(matcherFromRanges(compileRanges(rules, joinPath(tp, 'match'), new IssueCollector())));
    }
    const countries =
      tier.countries === undefined ? undefined : new Set(tier.countries.map((c) => c.toUpperCase()));
    const policies = tier.limits.map((spec, li): PolicyPlan => {
      const gcra = spec.burst !== undefined;
      const name = spec.name ?? policyName(tier.name, spec);
      return {
        name,
        quoted: sfString(name),
        points: spec.points,
        duration: spec.duration,
        durationMs: Math.round(spec.duration * 1000),
        burst: spec.burst,
        gcra,
        rate: gcra ? leakRate(spec.points, spec.duration) : 0,
        burstMilli: gcra ? spec.burst! * 1000 : 0,
        prefix: prefix + name + ':',
        path: joinPath(joinPath(tp, 'limits'), li),
      };
    });
    return {
      index: ti,
      name: tier.name,
      policies,
      hasWindow: policies.some((p) => !p.gcra),
      hasGcra: policies.some((p) => p.gcra),
      lookups,
      countries,
      policyHeader: policies.map(policyItem).join(', '),
    };
  });
}

/** The first tier that matches, or undefined. `kind`/`words` from the key deriver (kind 0: no IP). */
export function selectTier(
  tiers: readonly CompiledTier[],
  kind: IpKind,
  words: Uint32Array,
  country: string | undefined,
): CompiledTier | undefined {
  for (let i = 0; i < tiers.length; i++) {
    const t = tiers[i]!;
    if (t.countries !== undefined && (country === undefined || !t.countries.has(country))) continue;
    if (t.lookups !== undefined) {
      if (kind === 0) continue;
      let hit = false;
      for (let j = 0; j < t.lookups.length; j++) {
        if (t.lookups[j]!.hasParsed(kind, words)) {
          hit = true;
          break;
        }
      }
      if (!hit) continue;
    }
    return t;
  }
  return undefined;
}
