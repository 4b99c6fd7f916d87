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
import { IssueCollector, joinPath } from '../errors.js';
import { accessSpec } from './spec.js';
import { isIpLists } from '../spec/common.js';
import { parseOptions } from '../spec/spec.js';
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
} from '../core/cidr.js';
import { NOT_IP, parseIpInto } from '../core/ip.js';
import { createIpLists } from './lists.js';
import { compileExemptPaths, type PathExemption } from '../core/paths.js';
import { PROBLEM_CONTENT_TYPE, problemBody, type ProblemResponse } from '../http/problem.js';

export type { AccessOptions, CountryRules } from './spec.js';
import type { AccessOptions, IpListDefinitions } from './spec.js';

/** The response a denial gets by default (written by `sendProblemResponse`). */
export interface AccessDenial extends ProblemResponse {
  readonly status: 403;
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

/** Builds one side from validated rules (list references were resolved by the spec). */
function compileSide(
  side: 'allow' | 'deny',
  rules: readonly IpRuleOrList[],
  lists: IpLists | undefined,
): RuleSet {
  const allowed = side === 'allow';
  const reason = allowed ? 'allow-list' : 'deny-list';
  const entries: [number, IpRule][] = [];
  const lookups: IpLookup[] = [];
  const positions: number[] = [];
  const listDecisions: AccessDecision[] = [];
  rules.forEach((rule, i) => {
    if (!isListRef(rule)) {
      entries.push([i, rule]);
      return;
    }
    lookups.push(lists!.get(rule.list)!);
    positions.push(i);
    listDecisions.push(decision(allowed, reason, `list:${rule.list}`));
  });
  const ranges = compileLabelledRanges(entries, side, new IssueCollector());
  return new RuleSet(
    side,
    labelledMatcherFromRanges(ranges),
    lookups,
    Int32Array.from(positions),
    listDecisions,
    rules.length,
    allowed,
    reason,
  );
}

/** Country decisions by upper-case code (the geo stage reports upper case). */
function compileCountries(
  list: readonly string[] | undefined,
  allowed: boolean,
  reason: string,
): Map<string, AccessDecision> {
  const out = new Map<string, AccessDecision>();
  for (const code of list ?? []) {
    const upper = code.toUpperCase();
    out.set(upper, decision(allowed, reason, `country:${upper}`));
  }
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
  // An adapter's own options (`onDenied`) are its business, not the spec's.
  let input: unknown = options;
  if (config.extraKeys?.length && options !== null && typeof options === 'object') {
    const own: Record<string, unknown> = { ...options };
    for (const key of config.extraKeys) delete own[key];
    input = own;
  }
  // Definitions given in `lists` are built (files read) by createIpLists, whose problems are
  // reported together with the spec's.
  let lists: IpLists | undefined;
  let ownsLists = false;
  const given = (input as { lists?: unknown } | null | undefined)?.lists;
  let o;
  try {
    o = parseOptions(accessSpec, input, path, () => {
      if (isIpLists(given)) lists = given;
      else if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
        lists = createIpLists(given as IpListDefinitions, { path: joinPath(path, 'lists') });
        ownsLists = true;
      }
    });
  } catch (error) {
    if (ownsLists) lists?.close();
    throw error;
  }
  const countries = o.countries;
  return new Policy(
    compileExemptPaths(o.exempt, joinPath(path, 'exempt'), new IssueCollector()),
    compileSide('deny', o.deny ?? [], lists),
    compileSide('allow', o.allow ?? [], lists),
    compileCountries(countries?.deny, false, 'country-deny'),
    compileCountries(countries?.allow, true, 'country-allow'),
    o.undeterminable as UndeterminablePolicy,
    o.unknownCountry as 'deny' | 'allow',
    o.exposeIp as boolean,
    o.exposeReason as boolean,
    o.problemType as string,
    lists,
    ownsLists,
  );
}
