/**
 * Checks across sections: `{ list }` references resolve to a list under `lists`, and country rules
 * need a `geo` section. A stage's own cross-field rules are in its spec; the rate-limit spec's
 * (tier names and order, the store and its Redis connection) run here on the raw section.
 *
 * These run on the raw data, next to the schema, with defensive reads: a typo elsewhere in a
 * section must not hide a broken reference, so every problem is reported in one pass. Pure:
 * referenced files are checked by ./files.ts.
 */
import type { PathSegment } from './errors.js';
import { LIST_NAME, unknownListMessage } from '../spec/common.js';
import type { Problem } from '../spec/issues.js';
import { rateLimitPolicyProblems } from '../rate-limit/spec.js';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined;
const arr = (v: unknown): unknown[] | undefined => (Array.isArray(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function checkRefs(
  rules: unknown,
  base: PathSegment[],
  lists: Set<string> | undefined,
  out: Problem[],
): void {
  if (!lists) return;
  arr(rules)?.forEach((r, i) => {
    const name = str(rec(r)?.list);
    // A name that is not a list name at all is reported by the schema.
    if (name !== undefined && LIST_NAME.test(name) && !lists.has(name)) {
      const known = [...lists];
      out.push({
        path: [...base, i, 'list'],
        message: unknownListMessage(name, known),
        code: 'ERR_REALIP_POLICY_REFERENCE',
      });
    }
  });
}

const hasEntries = (v: unknown) => (arr(v)?.length ?? 0) > 0;

/** Semantic checks over the raw policy data. */
export function validatePolicyData(data: Rec): Problem[] {
  const out: Problem[] = [];
  const listsRec = data.lists === undefined ? {} : rec(data.lists);
  // With a malformed `lists` section, references cannot be judged: the schema reports it.
  const lists = listsRec ? new Set(Object.keys(listsRec)) : undefined;
  const geoPresent = data.geo !== undefined;

  // resolve: trust-all and the tenant check's value/valueEnv are rules of its spec (src/resolve/spec.ts).

  // access: its own options (exempt paths, country codes, allow and deny both naming a country)
  // are checked by its spec (src/access/spec.ts); references to lists and the need for geo here.
  const access = rec(data.access);
  if (access) {
    checkRefs(access.allow, ['access', 'allow'], lists, out);
    checkRefs(access.deny, ['access', 'deny'], lists, out);
    const c = rec(access.countries);
    if (c && (hasEntries(c.allow) || hasEntries(c.deny)) && !geoPresent) {
      out.push({
        path: ['access', 'countries'],
        message:
          'country rules need a GeoIP database (got no geo section, expected geo.databases, e.g. [embedded])',
      });
    }
  }

  // rateLimit: tier names and order, the store and its Redis connection are rules of its spec
  // (src/rate-limit/spec.ts, run here on the raw section); what needs other sections is checked here.
  const rl = rec(data.rateLimit);
  if (rl) {
    for (const p of rateLimitPolicyProblems(rl)) out.push({ ...p, path: ['rateLimit', ...p.path] });
    arr(rl.tiers)?.forEach((t, i) => {
      const tier = rec(t);
      if (!tier) return;
      const base: PathSegment[] = ['rateLimit', 'tiers', i];
      checkRefs(tier.match, [...base, 'match'], lists, out);
      if (tier.countries !== undefined && !geoPresent) {
        out.push({
          path: [...base, 'countries'],
          message:
            'country tiers need a GeoIP database (got no geo section, expected geo.databases, e.g. [embedded])',
        });
      }
    });
  }

  // log: its checks (the HMAC key options) live in the log stage's spec (src/log/spec.ts).
  return out;
}
