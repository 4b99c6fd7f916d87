/**
 * Checks a policy needs beyond its shape: `{ list }` references, tier names and order, trust-all,
 * sections that need another section (country rules need `geo`), and options that only make
 * sense together. CIDRs themselves are checked in the schema (`ipRuleSchema`, with the library's
 * own compiler).
 *
 * These run on the raw data, next to the schema, with defensive reads: a typo elsewhere in a
 * section must not hide a broken reference, so every problem is reported in one pass. Pure:
 * referenced files are checked by ./files.ts.
 */
import { IssueCollector } from '../errors.js';
import { compileRanges, type IpRule } from '../core/cidr.js';
import { compileExemptPaths } from '../core/paths.js';
import { parsePath, type PathSegment } from './errors.js';
import type { Problem } from '../spec/issues.js';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined;
const arr = (v: unknown): unknown[] | undefined => (Array.isArray(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const isRule = (r: unknown): r is IpRule =>
  typeof r === 'string' || (rec(r) !== undefined && typeof rec(r)!.cidr === 'string');

function checkRefs(
  rules: unknown,
  base: PathSegment[],
  lists: Set<string> | undefined,
  out: Problem[],
): void {
  if (!lists) return;
  arr(rules)?.forEach((r, i) => {
    const name = str(rec(r)?.list);
    if (name !== undefined && !lists.has(name)) {
      const known = [...lists];
      out.push({
        path: [...base, i, 'list'],
        message: `unknown list (got ${JSON.stringify(name)}, expected ${known.length ? `one of ${known.join(', ')}` : 'a name defined under lists'})`,
        code: 'ERR_REALIP_POLICY_REFERENCE',
      });
    }
  });
}

function checkExempt(paths: unknown, base: PathSegment[], out: Problem[]): void {
  const list = arr(paths);
  if (!list || !list.every((p) => typeof p === 'string')) return; // the schema reports the shape
  const issues = new IssueCollector();
  compileExemptPaths(list as string[], '', issues);
  for (const issue of issues.issues)
    out.push({ path: [...base, ...parsePath(issue.path)], message: issue.message });
}

const REDIS_MODES = ['url', 'urlEnv', 'sentinels', 'cluster'] as const;
/** Options that belong to one connection mode (the others reject them). */
const REDIS_MODE_OPTIONS: Record<string, readonly string[]> = {
  name: ['sentinels'],
  db: ['sentinels'],
  sentinelUsername: ['sentinels'],
  sentinelPasswordEnv: ['sentinels'],
  username: ['sentinels', 'cluster'],
  passwordEnv: ['sentinels', 'cluster'],
};

/** `rateLimit.redis`: exactly one connection mode, and only that mode's options. */
function checkRedisConnection(conn: Rec, out: Problem[]): void {
  const base: PathSegment[] = ['rateLimit', 'redis'];
  const modes = REDIS_MODES.filter((m) => conn[m] !== undefined);
  if (modes.length !== 1) {
    out.push({
      path: base,
      message:
        modes.length === 0
          ? 'needs a connection (got none of url, urlEnv, sentinels, cluster; expected exactly one)'
          : `needs exactly one connection (got ${modes.join(' and ')}; expected one of url, urlEnv, sentinels, cluster)`,
    });
  }
  if (conn.sentinels !== undefined && conn.name === undefined) {
    out.push({
      path: [...base, 'name'],
      message: 'sentinels need the master group name (got none, expected e.g. name: mymaster)',
    });
  }
  const tls = rec(conn.tls);
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    out.push({
      path: [...base, 'tls', tls.certFile === undefined ? 'certFile' : 'keyFile'],
      message: 'a client certificate needs both certFile and keyFile (got one of them)',
    });
  }
  const mode = modes.length === 1 ? modes[0]! : undefined;
  for (const [key, modesOf] of Object.entries(REDIS_MODE_OPTIONS)) {
    if (conn[key] === undefined || mode === undefined || modesOf.includes(mode)) continue;
    const why =
      (mode === 'url' || mode === 'urlEnv') && (key === 'username' || key === 'passwordEnv' || key === 'db')
        ? 'a URL carries its own user, password and database'
        : `it applies to ${modesOf.join(' or ')} only`;
    out.push({
      path: [...base, key],
      message: `is not used with ${mode} (${why}; remove it)`,
    });
  }
}

const hasEntries = (v: unknown) => (arr(v)?.length ?? 0) > 0;

/** Semantic checks over the raw policy data. */
export function validatePolicyData(data: Rec): Problem[] {
  const out: Problem[] = [];
  const listsRec = data.lists === undefined ? {} : rec(data.lists);
  // With a malformed `lists` section, references cannot be judged: the schema reports it.
  const lists = listsRec ? new Set(Object.keys(listsRec)) : undefined;
  const geoPresent = data.geo !== undefined;

  const resolve = rec(data.resolve);
  if (resolve) {
    const trusted = arr(resolve.trustedProxies);
    if (trusted) {
      const { matchAll } = compileRanges(trusted.filter(isRule), '', new IssueCollector());
      if (matchAll.length > 0 && resolve.allowTrustAll !== true) {
        const at = trusted.findIndex((r) =>
          /\/0\s*$/.test(typeof r === 'string' ? r : (str(rec(r)?.cidr) ?? '')),
        );
        out.push({
          path: ['resolve', 'trustedProxies', Math.max(at, 0)],
          message: `trusts every address, so any client could choose its own IP (got ${matchAll.join(', ')}, expected the proxies' own ranges; set allowTrustAll: true only if every path to the app goes through them)`,
          code: 'ERR_REALIP_TRUST_ALL',
        });
      }
    }
    const rh = rec(rec(resolve.preset)?.requireHeader);
    if (rh && (rh.value === undefined) === (rh.valueEnv === undefined)) {
      out.push({
        path: ['resolve', 'preset', 'requireHeader'],
        message: `needs exactly one of value or valueEnv (got ${rh.value !== undefined ? 'both' : 'neither'})`,
      });
    }
  }

  const access = rec(data.access);
  if (access) {
    checkRefs(access.allow, ['access', 'allow'], lists, out);
    checkRefs(access.deny, ['access', 'deny'], lists, out);
    checkExempt(access.exempt, ['access', 'exempt'], out);
    const c = rec(access.countries);
    if (c && (hasEntries(c.allow) || hasEntries(c.deny)) && !geoPresent) {
      out.push({
        path: ['access', 'countries'],
        message:
          'country rules need a GeoIP database (got no geo section, expected geo.databases, e.g. [embedded])',
      });
    }
  }

  const rl = rec(data.rateLimit);
  if (rl) {
    const redis = rl.store === 'redis';
    const seen = new Map<string, number>();
    let defaultAt = -1;
    arr(rl.tiers)?.forEach((t, i) => {
      const tier = rec(t);
      if (!tier) return;
      const base: PathSegment[] = ['rateLimit', 'tiers', i];
      const name = str(tier.name);
      if (name !== undefined) {
        const first = seen.get(name);
        if (first !== undefined) {
          out.push({
            path: [...base, 'name'],
            message: `duplicate tier name (got ${JSON.stringify(name)}, expected a name not used by tiers[${first}])`,
          });
        } else seen.set(name, i);
      }
      checkRefs(tier.match, [...base, 'match'], lists, out);
      if (tier.countries !== undefined && !geoPresent) {
        out.push({
          path: [...base, 'countries'],
          message:
            'country tiers need a GeoIP database (got no geo section, expected geo.databases, e.g. [embedded])',
        });
      }
      if (defaultAt >= 0) {
        out.push({
          path: [...base, 'name'],
          message: `unreachable tier (got a tier after the default tier tiers[${defaultAt}], expected the tier without match or countries to be last)`,
        });
      } else if (tier.match === undefined && tier.countries === undefined) defaultAt = i;
      if (redis) {
        arr(tier.limits)?.forEach((l, j) => {
          const d = rec(l)?.duration;
          if (typeof d === 'number' && d > 0 && !Number.isInteger(d)) {
            out.push({
              path: [...base, 'limits', j, 'duration'],
              message: `not a whole number of seconds (got ${d}, expected an integer: Redis expiry has 1 s resolution)`,
            });
          }
        });
      }
    });
    const conn = rec(rl.redis);
    if (redis && !conn) {
      out.push({
        path: ['rateLimit', 'store'],
        message:
          'store: redis needs a connection (got no redis section, expected redis.url, urlEnv, sentinels or cluster)',
      });
    }
    if (rl.redis !== undefined && !redis) {
      out.push({
        path: ['rateLimit', 'redis'],
        message: `is set but unused (got store ${JSON.stringify(rl.store ?? 'memory')}, expected store: redis)`,
      });
    }
    if (conn) checkRedisConnection(conn, out);
    checkExempt(rl.exempt, ['rateLimit', 'exempt'], out);
  }

  const log = rec(data.log);
  if (log) {
    const hasKey = log.hmacKeyEnv !== undefined || log.hmacKeyFile !== undefined;
    if (log.anonymize === 'hmac' && !hasKey) {
      out.push({
        path: ['log', 'anonymize'],
        message: 'hmac needs a key (got no hmacKeyEnv or hmacKeyFile, expected one of them)',
      });
    }
    if (log.hmacKeyEnv !== undefined && log.hmacKeyFile !== undefined) {
      out.push({
        path: ['log', 'hmacKeyFile'],
        message: 'needs one of hmacKeyEnv or hmacKeyFile (got both)',
      });
    }
    if (hasKey && log.anonymize !== 'hmac') {
      out.push({
        path: ['log', log.hmacKeyEnv !== undefined ? 'hmacKeyEnv' : 'hmacKeyFile'],
        message: `is only used with anonymize: hmac (got anonymize ${JSON.stringify(log.anonymize ?? 'none')})`,
      });
    }
  }
  return out;
}
