/**
 * Tiers: which clients get which limits. Tiers are tried in order and the first match wins; a
 * tier without `match` and `countries` is the default and must be last (anything after it could
 * never match). `match` takes IPs, CIDRs, named ranges and `{ list: 'name' }` references resolved
 * through the `lists` option (live: a reloaded list applies on the next request). With both
 * `match` and `countries`, a client must satisfy both.
 */
import { IssueCollector, joinPath } from '../../errors.js';
import { compileRanges, matcherFromRanges, type IpRule } from '../cidr.js';
import type { IpKind } from '../ip.js';
import type { IpLists, IpLookup, IpRuleOrList, RateLimitSpec, RateLimitTier } from '../../types.js';
import { leakRate } from './gcra.js';
import type { PolicyPlan, TierPlan } from './store.js';

/** A compiled tier: its plan plus how to recognise its clients. */
export interface CompiledTier extends TierPlan {
  /** Lookups that must contain the client (any of them), or undefined for no IP condition. */
  readonly lookups: readonly IpLookup[] | undefined;
  readonly countries: ReadonlySet<string> | undefined;
  /** `RateLimit-Policy` value for this tier (constant). */
  readonly policyHeader: string;
}

/** Largest duration accepted: 2^31-1 ms, so no timer anywhere can overflow. */
export const MAX_DURATION_S = Math.floor(2147483647 / 1000);
/** Largest points / burst accepted (keeps nginx arithmetic exact in doubles). */
export const MAX_POINTS = 1_000_000_000;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** SF String serialisation of a policy name (names are validated printable ASCII). */
export function sfString(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function policyName(tier: string, spec: RateLimitSpec): string {
  const base = `${tier}-${spec.points}-per-${spec.duration}s`;
  return spec.burst === undefined ? base : `${base}-burst-${spec.burst}`;
}

function checkInteger(
  value: unknown,
  min: number,
  max: number,
  path: string,
  what: string,
  issues: IssueCollector,
): boolean {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    issues.add(path, `${what}: expected an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return false;
  }
  return true;
}

/** Policy header of one policy: `"name";q=…;w=…` (with burst, q counts the burst; see docs). */
function policyItem(p: PolicyPlan): string {
  const q = p.gcra ? p.points + (p.burst ?? 0) : p.points;
  return `${sfString(p.name)};q=${q};w=${p.duration}`;
}

/**
 * Validates and compiles `tiers`. `prefix` is the limiter's key prefix; each policy's store prefix
 * is `prefix + name + ':'`.
 */
export function compileTiers(
  tiers: readonly RateLimitTier[] | undefined,
  lists: IpLists | undefined,
  prefix: string,
  path: string,
  issues: IssueCollector,
): CompiledTier[] {
  const at = joinPath(path, 'tiers');
  if (!Array.isArray(tiers) || tiers.length === 0) {
    issues.add(
      at,
      'expected at least one tier, e.g. [{ name: "default", limits: [{ points: 100, duration: 60 }] }]',
    );
    return [];
  }
  if (tiers.length > 1000) {
    issues.add(at, `at most 1000 tiers (got ${tiers.length}); put addresses in lists instead`);
    return [];
  }
  const out: CompiledTier[] = [];
  const tierNames = new Set<string>();
  const policyNames = new Set<string>();
  let defaultAt = -1;
  (tiers as readonly RateLimitTier[]).forEach((tier, ti) => {
    const tp = joinPath(at, ti);
    if (tier === null || typeof tier !== 'object') {
      issues.add(tp, 'expected a tier object { name, match?, countries?, limits }');
      return;
    }
    if (typeof tier.name !== 'string' || !NAME.test(tier.name)) {
      issues.add(
        joinPath(tp, 'name'),
        `expected a name of letters, digits, ".", "_" or "-" (got ${JSON.stringify(tier.name)})`,
      );
    } else if (tierNames.has(tier.name)) {
      issues.add(joinPath(tp, 'name'), `duplicate tier name "${tier.name}"`);
    }
    tierNames.add(String(tier.name));
    if (defaultAt >= 0) {
      issues.add(
        tp,
        `unreachable: the default tier (tiers[${defaultAt}], no match or countries) must be last`,
      );
    }
    // match
    let lookups: IpLookup[] | undefined;
    if (tier.match !== undefined) {
      const mp = joinPath(tp, 'match');
      if (!Array.isArray(tier.match) || tier.match.length === 0) {
        issues.add(mp, 'expected a non-empty array of IPs, CIDRs, named ranges or { list: "name" }');
      } else {
        lookups = [];
        const rules: IpRule[] = [];
        const rulePaths: number[] = [];
        (tier.match as readonly IpRuleOrList[]).forEach((r, ri) => {
          if (r !== null && typeof r === 'object' && 'list' in r) {
            const name = (r as { list: unknown }).list;
            const lookup = typeof name === 'string' && lists !== undefined ? lists.get(name) : undefined;
            if (lookup === undefined) {
              issues.add(
                joinPath(mp, ri),
                lists === undefined
                  ? `list reference ${JSON.stringify(name)} needs the "lists" option (createIpLists())`
                  : `unknown list ${JSON.stringify(name)} (known: ${lists.names().join(', ') || 'none'})`,
                'ERR_REALIP_LIST_UNKNOWN',
              );
            } else {
              lookups!.push(lookup);
            }
          } else {
            rules.push(r as IpRule);
            rulePaths.push(ri);
          }
        });
        if (rules.length > 0) {
          // Report rule problems at their position in `match`.
          const sub = new IssueCollector();
          const ranges = compileRanges(rules, mp, sub);
          for (const issue of sub.issues) {
            const m = /\[(\d+)\]/.exec(issue.path.slice(mp.length));
            const fixed = m
              ? mp + `[${rulePaths[Number(m[1])]}]` + issue.path.slice(mp.length + m[0].length)
              : issue.path;
            issues.add(fixed, issue.message, issue.code);
          }
          lookups.push(matcherFromRanges(ranges));
        }
      }
    }
    // countries
    let countries: Set<string> | undefined;
    if (tier.countries !== undefined) {
      const cp = joinPath(tp, 'countries');
      if (!Array.isArray(tier.countries) || tier.countries.length === 0) {
        issues.add(cp, 'expected a non-empty array of ISO 3166-1 alpha-2 codes such as "DE"');
      } else {
        countries = new Set();
        tier.countries.forEach((c, ci) => {
          if (typeof c !== 'string' || !/^[A-Za-z]{2}$/.test(c)) {
            issues.add(
              joinPath(cp, ci),
              `expected an ISO 3166-1 alpha-2 code such as "DE" (got ${JSON.stringify(c)})`,
            );
          } else countries!.add(c.toUpperCase());
        });
      }
    }
    if (tier.match === undefined && tier.countries === undefined && defaultAt < 0) defaultAt = ti;
    // limits
    const lp = joinPath(tp, 'limits');
    const policies: PolicyPlan[] = [];
    if (!Array.isArray(tier.limits) || tier.limits.length === 0) {
      issues.add(lp, 'expected at least one limit { points, duration } (there is no default limit)');
    } else {
      tier.limits.forEach((spec, li) => {
        const sp = joinPath(lp, li);
        if (spec === null || typeof spec !== 'object') {
          issues.add(sp, 'expected { points, duration, burst? }');
          return;
        }
        let ok = checkInteger(spec.points, 1, MAX_POINTS, joinPath(sp, 'points'), 'required', issues);
        if (
          typeof spec.duration !== 'number' ||
          !Number.isFinite(spec.duration) ||
          spec.duration <= 0 ||
          spec.duration > MAX_DURATION_S
        ) {
          issues.add(
            joinPath(sp, 'duration'),
            `required: seconds, a number above 0 and at most ${MAX_DURATION_S} (got ${JSON.stringify(spec.duration)})`,
          );
          ok = false;
        }
        if (
          spec.burst !== undefined &&
          !checkInteger(spec.burst, 0, MAX_POINTS, joinPath(sp, 'burst'), 'burst', issues)
        )
          ok = false;
        if (spec.name !== undefined && (typeof spec.name !== 'string' || !NAME.test(spec.name))) {
          issues.add(
            joinPath(sp, 'name'),
            `expected letters, digits, ".", "_" or "-" (got ${JSON.stringify(spec.name)})`,
          );
          ok = false;
        }
        if (!ok) return;
        const gcra = spec.burst !== undefined;
        const rate = gcra ? leakRate(spec.points, spec.duration) : 0;
        if (gcra && rate < 1) {
          issues.add(
            sp,
            `points/duration is below 0.001 requests per second, the resolution of burst limits`,
          );
          return;
        }
        const name = spec.name ?? policyName(String(tier.name), spec);
        if (policyNames.has(name)) {
          issues.add(
            sp,
            `duplicate policy name "${name}" (two identical limits, or set distinct "name"s)`,
            'ERR_REALIP_RATELIMIT_PREFIX_REUSE',
          );
          return;
        }
        policyNames.add(name);
        policies.push({
          name,
          quoted: sfString(name),
          points: spec.points,
          duration: spec.duration,
          durationMs: Math.round(spec.duration * 1000),
          burst: spec.burst,
          gcra,
          rate,
          burstMilli: gcra ? spec.burst! * 1000 : 0,
          prefix: prefix + name + ':',
          path: sp,
        });
      });
    }
    out.push({
      index: ti,
      name: String(tier.name),
      policies,
      hasWindow: policies.some((p) => !p.gcra),
      hasGcra: policies.some((p) => p.gcra),
      lookups,
      countries,
      policyHeader: policies.map(policyItem).join(', '),
    });
  });
  return out;
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
