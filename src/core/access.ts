/**
 * The access decision: CIDR and country allow/deny lists, path exemptions and the undeterminable
 * policy, compiled once into a function of (client IP, geo facts, URL).
 *
 * Order of evaluation (first step that decides wins):
 *   1. exempt path                          -> allow (`exempt`)
 *   2. client IP undefined or not an IP     -> `undeterminable` policy, default deny (`undeterminable`)
 *   3. deny rules (CIDRs, lists)            -> deny  (`deny-list`, rule `deny[i]` or `list:name`)
 *   4. deny countries                       -> deny  (`country-deny`, rule `country:XX`)
 *   5. country unknown, deny countries set, `unknownCountry: 'deny'` -> deny (`country-unknown`)
 *   6. allow rules (CIDRs, lists)           -> allow (`allow-list`, rule `allow[i]` or `list:name`)
 *   7. allow countries                      -> allow (`country-allow`, rule `country:XX`)
 *   8. no allow rules and no allow countries -> allow (`no-allow-list`)
 *   9. country unknown, allow countries set -> `unknownCountry` policy (`country-unknown`)
 *  10. otherwise                            -> deny  (`not-allowed`; `country-not-allowed` when only
 *                                              countries are allow-listed)
 * A country is unknown when `geo.country` is missing and `geo.network` (private, loopback, ...)
 * is not set. Deny always wins over allow; the two allow lists are alternatives (an address passes if either
 * admits it).
 */
import { ConfigError, IssueCollector, joinPath } from '../errors.js';
import type {
  AccessDecision,
  GeoInfo,
  IpLists,
  IpLookup,
  IpRuleOrList,
  ListRef,
  UndeterminablePolicy,
} from '../types.js';
import {
  compileLabelledRanges,
  labelledMatcherFromRanges,
  type IpRule,
  type LabelledIpMatcher,
} from './cidr.js';
import { NOT_IP, parseIpInto } from './ip.js';
import { createIpLists, isIpLists, type IpListDefinitions } from './lists.js';
import { compileExemptPaths, type PathExemption } from './paths.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem.js';

/** Country allow/deny lists (ISO 3166-1 alpha-2 codes, any case). Needs the geo stage before access. */
export interface CountryRules {
  /** Countries admitted (in addition to the `allow` CIDRs). @default [] */
  allow?: readonly string[];
  /** Countries refused; wins over every allow. @default [] */
  deny?: readonly string[];
}

/** Options of the access stage (policy file: `access`). Framework adapters add `onDenied`. */
export interface AccessOptions {
  /**
   * Addresses admitted: IPs, CIDRs, named ranges, `{ cidr, except }` blocks and `{ list }`
   * references. When empty (and no `countries.allow`), everything not denied is admitted.
   * @default []
   */
  allow?: readonly IpRuleOrList[];
  /**
   * Addresses refused, in the same forms as `allow`. Deny wins over allow.
   * @default []
   */
  deny?: readonly IpRuleOrList[];
  /**
   * Named lists for `{ list: 'name' }` references: an `IpLists` instance shared with other stages,
   * or definitions (the stage then creates and owns them, and `close()` stops their watchers).
   * A reference to a name that is not defined is a configuration error.
   * @default no lists
   */
  lists?: IpLists | IpListDefinitions;
  /** Country allow/deny lists, decided from `req.realip.geo.country`. @default none */
  countries?: CountryRules;
  /**
   * What to do when countries are configured and matter for a request but its country is unknown
   * (no geo stage mounted, or the address is not in the database). Private, loopback and other
   * special networks (`geo.network` set) are known to have no country and are never "unknown".
   * Default deny, because an unknown country cannot be proven not to be a denied one.
   * @default 'deny'
   */
  unknownCountry?: 'deny' | 'allow';
  /**
   * Paths that skip the check: exact (`/healthz`) or whole-segment prefixes ending in `/`
   * (`/static/`). A path with dot-segments, empty segments, `;`, or encoded `.`, `/` or `\` is
   * never exempt, so `/healthz/../admin` cannot ride an exemption.
   * @default []
   */
  exempt?: readonly string[];
  /**
   * Requests whose client IP could not be determined. Default deny: a request that hides its
   * address must not pass an allow-list by default.
   * @default 'deny'
   */
  undeterminable?: UndeterminablePolicy;
  /**
   * Put the client IP into the 403 body (`ip` member). Off by default: echoing addresses helps
   * attackers probe what the proxy chain believes, and the body may end up in shared caches or logs.
   * @default false
   */
  exposeIp?: boolean;
  /**
   * Put the deciding reason and rule (`reason`, `rule` members) into the 403 body. Off by default:
   * rule positions and list names describe your policy to whoever is refused.
   * @default false
   */
  exposeReason?: boolean;
  /**
   * The problem `type` URI of the 403 body (RFC 9457).
   * @default 'about:blank'
   */
  problemType?: string;
}

/** The response a denial gets by default. */
export interface AccessDenial {
  readonly status: 403;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A compiled access policy. */
export interface AccessPolicy {
  /**
   * Decides one request. `ip` is the resolver's canonical client IP (`undefined` when
   * undeterminable); `url` is the request target (path and query) for exemptions.
   */
  decide(ip: string | undefined, geo: GeoInfo | undefined, url?: string): AccessDecision;
  /** The default 403 response for a denial (RFC 9457 problem details). */
  denial(decision: AccessDecision, ip: string | undefined): AccessDenial;
  /** The lists the policy uses (the instance passed in, or the one it created). */
  readonly lists: IpLists | undefined;
  /** True when `countries` are configured (the policy reads `geo`). */
  readonly usesCountries: boolean;
  /** Stops list file watchers the policy created itself (not those of a shared `IpLists`). */
  close(): void;
}

const OPTION_KEYS = new Set([
  'allow',
  'deny',
  'lists',
  'countries',
  'unknownCountry',
  'exempt',
  'undeterminable',
  'exposeIp',
  'exposeReason',
  'problemType',
]);

/** Option keys of {@link AccessOptions}, for adapters that add their own. */
export const ACCESS_OPTION_KEYS: ReadonlySet<string> = OPTION_KEYS;

function decision(allowed: boolean, reason: string, rule?: string): AccessDecision {
  return Object.freeze(rule === undefined ? { allowed, reason, rule: undefined } : { allowed, reason, rule });
}

function isListRef(rule: unknown): rule is ListRef {
  return typeof rule === 'object' && rule !== null && 'list' in rule;
}

/** One side (allow or deny) compiled: static rules in a labelled matcher, list references aside. */
class RuleSet {
  /** Decision per static rule position, created on first use. */
  private readonly byLabel: (AccessDecision | undefined)[];
  readonly size: number;

  constructor(
    private readonly side: 'allow' | 'deny',
    private readonly matcher: LabelledIpMatcher,
    /** List lookups, with their positions in the user's array (ascending). */
    private readonly lists: readonly IpLookup[],
    private readonly listPositions: Int32Array,
    private readonly listDecisions: readonly AccessDecision[],
    size: number,
    private readonly allowed: boolean,
    private readonly reason: string,
  ) {
    this.size = size;
    this.byLabel = new Array<AccessDecision | undefined>(size).fill(undefined);
  }

  /** The decision of the first rule (by position) that matches, or undefined. */
  match(kind: 4 | 6, words: Uint32Array): AccessDecision | undefined {
    const label = this.matcher.labelOfParsed(kind, words);
    const lists = this.lists;
    for (let i = 0; i < lists.length; i++) {
      if (label >= 0 && this.listPositions[i]! > label) break;
      if (lists[i]!.hasParsed(kind, words)) return this.listDecisions[i];
    }
    if (label < 0) return undefined;
    let d = this.byLabel[label];
    if (d === undefined) {
      d = decision(this.allowed, this.reason, `${this.side}[${label}]`);
      this.byLabel[label] = d;
    }
    return d;
  }
}

function compileSide(
  side: 'allow' | 'deny',
  rules: readonly IpRuleOrList[] | undefined,
  path: string,
  lists: IpLists | undefined,
  allIssues: IssueCollector,
): RuleSet {
  // Collected apart, then reported in rule order (list references are checked before CIDRs).
  const issues = new IssueCollector();
  const at = joinPath(path, side);
  const allowed = side === 'allow';
  const reason = allowed ? 'allow-list' : 'deny-list';
  const entries: [number, IpRule][] = [];
  const lookups: IpLookup[] = [];
  const positions: number[] = [];
  const listDecisions: AccessDecision[] = [];
  if (rules !== undefined && !Array.isArray(rules)) {
    issues.add(
      at,
      'expected an array of IPs, CIDRs, named ranges, { cidr, except } blocks or { list } references',
    );
  } else if (rules !== undefined) {
    rules.forEach((rule, i) => {
      if (!isListRef(rule)) {
        entries.push([i, rule]);
        return;
      }
      const name = rule.list;
      const keys = Object.keys(rule).filter((k) => k !== 'list');
      if (keys.length > 0) issues.add(joinPath(at, i), `unexpected key "${keys[0]}" in a { list } reference`);
      if (typeof name !== 'string') {
        issues.add(joinPath(at, i), 'expected { list: "name" }', 'ERR_REALIP_LIST_UNKNOWN');
        return;
      }
      const lookup = lists?.get(name);
      if (lookup === undefined) {
        const known = lists?.names() ?? [];
        issues.add(
          joinPath(at, i),
          `unknown list "${name}" (${known.length > 0 ? `defined: ${known.join(', ')}` : 'no lists are defined; pass them in `lists`'})`,
          'ERR_REALIP_LIST_UNKNOWN',
        );
        return;
      }
      lookups.push(lookup);
      positions.push(i);
      listDecisions.push(decision(allowed, reason, `list:${name}`));
    });
  }
  const ranges = compileLabelledRanges(entries, at, issues);
  const position = (p: string) => Number(/^\[(\d+)\]/.exec(p.slice(at.length))?.[1] ?? -1);
  const sorted = issues.issues.map((issue, i) => ({ issue, i, pos: position(issue.path) }));
  sorted.sort((a, b) => a.pos - b.pos || a.i - b.i);
  for (const { issue } of sorted) allIssues.add(issue.path, issue.message, issue.code);
  return new RuleSet(
    side,
    labelledMatcherFromRanges(ranges),
    lookups,
    Int32Array.from(positions),
    listDecisions,
    rules?.length ?? 0,
    allowed,
    reason,
  );
}

function compileCountries(
  list: readonly string[] | undefined,
  at: string,
  issues: IssueCollector,
  allowed: boolean,
  reason: string,
): Map<string, AccessDecision> {
  const out = new Map<string, AccessDecision>();
  if (list === undefined) return out;
  if (!Array.isArray(list)) {
    issues.add(at, 'expected an array of ISO 3166-1 alpha-2 country codes such as "DE"');
    return out;
  }
  list.forEach((code, i) => {
    if (typeof code !== 'string' || !/^[A-Za-z]{2}$/.test(code)) {
      issues.add(
        joinPath(at, i),
        `invalid country code ${JSON.stringify(code)} (expected ISO 3166-1 alpha-2, e.g. "DE")`,
        'ERR_REALIP_COUNTRY_INVALID',
      );
      return;
    }
    const upper = code.toUpperCase();
    out.set(upper, decision(allowed, reason, `country:${upper}`));
  });
  return out;
}

class Policy implements AccessPolicy {
  readonly usesCountries: boolean;
  private readonly scratch = new Uint32Array(4);
  private readonly exemptDecision = decision(true, 'exempt');
  private readonly undeterminableDecision: AccessDecision;
  private readonly unknownCountryDecision: AccessDecision | undefined;
  private readonly noAllowListDecision = decision(true, 'no-allow-list');
  private readonly notAllowedDecision: AccessDecision;
  private readonly hasAllow: boolean;
  private readonly denyUnknownFirst: boolean;
  private readonly deniedHeaders = Object.freeze({
    'content-type': PROBLEM_CONTENT_TYPE,
    // A denial depends on the client address: no shared cache may store it for others.
    'cache-control': 'no-store',
  });
  private readonly staticBody: string;

  constructor(
    private readonly exempt: PathExemption,
    private readonly denyRules: RuleSet,
    private readonly allowRules: RuleSet,
    private readonly denyCountries: Map<string, AccessDecision>,
    private readonly allowCountries: Map<string, AccessDecision>,
    undeterminable: UndeterminablePolicy,
    unknownCountry: 'deny' | 'allow',
    private readonly exposeIp: boolean,
    private readonly exposeReason: boolean,
    private readonly problemType: string,
    readonly lists: IpLists | undefined,
    private readonly ownsLists: boolean,
  ) {
    this.undeterminableDecision = decision(undeterminable === 'allow', 'undeterminable');
    this.usesCountries = denyCountries.size > 0 || allowCountries.size > 0;
    this.hasAllow = allowRules.size > 0 || allowCountries.size > 0;
    // With a country deny-list, an unknown country could be a denied one: under the default
    // policy that is decided before any allow rule, since deny wins over allow.
    this.denyUnknownFirst = denyCountries.size > 0 && unknownCountry === 'deny';
    this.unknownCountryDecision = this.usesCountries
      ? decision(unknownCountry === 'allow', 'country-unknown')
      : undefined;
    this.notAllowedDecision = decision(
      false,
      allowRules.size === 0 && allowCountries.size > 0 ? 'country-not-allowed' : 'not-allowed',
    );
    this.staticBody = problemBody(this.problem(undefined, undefined));
  }

  decide(ip: string | undefined, geo: GeoInfo | undefined, url?: string): AccessDecision {
    if (url !== undefined && this.exempt(url)) return this.exemptDecision;
    if (typeof ip !== 'string') return this.undeterminableDecision;
    const w = this.scratch;
    const kind = parseIpInto(ip, 0, ip.length, w, 0);
    if (kind === NOT_IP) return this.undeterminableDecision;
    const denied = this.denyRules.match(kind, w);
    if (denied !== undefined) return denied;
    let country: string | undefined;
    let unknown = false;
    if (this.usesCountries) {
      country = geo?.country;
      if (country === undefined) {
        unknown = geo?.network === undefined;
      } else {
        const d = this.denyCountries.get(country);
        if (d !== undefined) return d;
      }
    }
    // A deny-listed country cannot be ruled out for an unknown country: decide before any allow.
    if (unknown && this.denyUnknownFirst) return this.unknownCountryDecision!;
    const allowed = this.allowRules.match(kind, w);
    if (allowed !== undefined) return allowed;
    if (country !== undefined) {
      const d = this.allowCountries.get(country);
      if (d !== undefined) return d;
    }
    if (!this.hasAllow) return this.noAllowListDecision;
    // Only the country allow-list could still admit it: the unknown-country policy decides.
    if (unknown && this.allowCountries.size > 0) return this.unknownCountryDecision!;
    return this.notAllowedDecision;
  }

  private problem(decision: AccessDecision | undefined, ip: string | undefined) {
    const p: {
      type: string;
      title: string;
      status: number;
      detail: string;
      ip?: string;
      reason?: string;
      rule?: string;
    } = {
      type: this.problemType,
      title: 'Forbidden',
      status: 403,
      detail: 'Access from your network is not allowed.',
    };
    if (this.exposeIp && ip !== undefined) p.ip = ip;
    if (this.exposeReason && decision !== undefined) {
      p.reason = decision.reason;
      if (decision.rule !== undefined) p.rule = decision.rule;
    }
    return p;
  }

  denial(decision: AccessDecision, ip: string | undefined): AccessDenial {
    const body =
      this.exposeIp || this.exposeReason ? problemBody(this.problem(decision, ip)) : this.staticBody;
    return { status: 403, headers: this.deniedHeaders, body };
  }

  close(): void {
    if (this.ownsLists) this.lists?.close();
  }
}

/**
 * Compiles an access policy. Every option is validated at once; problems are thrown together as
 * one {@link ConfigError} with paths such as `access.allow[2]` or `access.countries.deny[0]`.
 *
 * @example
 * const policy = createAccessPolicy({ allow: ['10.0.0.0/8'], deny: [{ list: 'blocked' }], lists });
 * policy.decide('10.1.2.3', undefined, '/'); // { allowed: true, reason: 'allow-list', rule: 'allow[0]' }
 */
export function createAccessPolicy(
  options: AccessOptions = {},
  config: { path?: string; extraKeys?: readonly string[] } = {},
): AccessPolicy {
  const path = config.path ?? 'access';
  const issues = new IssueCollector();
  if (options === null || typeof options !== 'object') {
    issues.add(path, 'expected an object');
    issues.throwIfAny();
  }
  const extra = new Set(config.extraKeys ?? []);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key) && !extra.has(key)) {
      issues.add(
        joinPath(path, key),
        `unknown option (expected one of ${[...OPTION_KEYS, ...extra].join(', ')})`,
      );
    }
  }

  let lists: IpLists | undefined;
  let ownsLists = false;
  if (options.lists !== undefined) {
    if (isIpLists(options.lists)) {
      lists = options.lists;
    } else {
      try {
        lists = createIpLists(options.lists, { path: joinPath(path, 'lists') });
        ownsLists = true;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const issue of error.issues) issues.add(issue.path, issue.message, issue.code);
      }
    }
  }

  const allow = compileSide('allow', options.allow, path, lists, issues);
  const deny = compileSide('deny', options.deny, path, lists, issues);

  const countries = options.countries;
  let denyCountries = new Map<string, AccessDecision>();
  let allowCountries = new Map<string, AccessDecision>();
  if (countries !== undefined) {
    const at = joinPath(path, 'countries');
    if (countries === null || typeof countries !== 'object' || Array.isArray(countries)) {
      issues.add(at, 'expected { allow?: [...], deny?: [...] }');
    } else {
      for (const key of Object.keys(countries)) {
        if (key !== 'allow' && key !== 'deny')
          issues.add(joinPath(at, key), 'unknown option (expected allow, deny)');
      }
      denyCountries = compileCountries(countries.deny, joinPath(at, 'deny'), issues, false, 'country-deny');
      allowCountries = compileCountries(
        countries.allow,
        joinPath(at, 'allow'),
        issues,
        true,
        'country-allow',
      );
      for (const code of allowCountries.keys()) {
        if (denyCountries.has(code)) {
          issues.add(
            joinPath(at, 'allow'),
            `country ${code} is both allowed and denied (deny would always win)`,
          );
        }
      }
    }
  }

  const exempt = compileExemptPaths(options.exempt, joinPath(path, 'exempt'), issues);
  const enumOption = <T extends string>(key: string, value: unknown, allowed: readonly T[], dflt: T): T => {
    if (value === undefined) return dflt;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    issues.add(
      joinPath(path, key),
      `expected ${allowed.map((a) => `"${a}"`).join(' or ')} (got ${JSON.stringify(value)})`,
    );
    return dflt;
  };
  const undeterminable = enumOption(
    'undeterminable',
    options.undeterminable,
    ['deny', 'allow'] as const,
    'deny',
  );
  const unknownCountry = enumOption(
    'unknownCountry',
    options.unknownCountry,
    ['deny', 'allow'] as const,
    'deny',
  );
  const boolOption = (key: string, value: unknown): boolean => {
    if (value === undefined) return false;
    if (typeof value === 'boolean') return value;
    issues.add(joinPath(path, key), `expected true or false (got ${JSON.stringify(value)})`);
    return false;
  };
  const exposeIp = boolOption('exposeIp', options.exposeIp);
  const exposeReason = boolOption('exposeReason', options.exposeReason);
  let problemType = 'about:blank';
  if (options.problemType !== undefined) {
    if (typeof options.problemType === 'string' && options.problemType !== '')
      problemType = options.problemType;
    else issues.add(joinPath(path, 'problemType'), 'expected a URI reference string');
  }

  if (!issues.ok) {
    if (ownsLists) lists?.close();
    throw new ConfigError(issues.issues);
  }
  return new Policy(
    exempt,
    deny,
    allow,
    denyCountries,
    allowCountries,
    undeterminable,
    unknownCountry,
    exposeIp,
    exposeReason,
    problemType,
    lists,
    ownsLists,
  );
}
