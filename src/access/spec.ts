/**
 * The access stage's options, defined once: `createAccessPolicy` (and `ipFilter`) and
 * `createIpLists` validate through these schemas, the policy file's `access` and `lists` sections
 * are composed from them, and the JSON Schema and docs/configuration.md's tables are generated from
 * their docs. See src/spec/spec.ts.
 *
 * Policy-only: nothing in `access` (the policy's lists are a section of their own, `lists`; the
 * `{ list }` references of a policy are resolved against it by src/policy/validate.ts, across
 * sections). Code-only: `access.lists` (lists from `createIpLists()` or definitions) and
 * `createIpLists`'s reload callbacks and timings.
 */
import {
  countryCode,
  EXEMPT_DOC,
  exemptPaths,
  ipRules,
  ipRulesOrLists,
  isIpLists,
  LIST_NAME,
  LIST_NAME_MESSAGE,
  undeterminable,
  UNDETERMINABLE_DOC,
  unknownListMessage,
} from '../spec/common.js';
import * as z from 'zod/mini';
import { doc, isFunction, opt, rules, runtime } from '../spec/spec.js';

import type { IpRule } from '../core/cidr.js';
import type { IpListReloadError, IpListReloadEvent } from './lists.js';
import type { SameKeys } from '../spec/spec.js';
import type { IpLists, IpRuleOrList, UndeterminablePolicy } from '../types.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// lists
// ---------------------------------------------------------------------------------------------

/** `{ file }`: a list read from a file. */
const fileList = doc(
  z.strictObject({
    file: doc(z.string().check(z.minLength(1)), {
      description:
        'A file with one rule per line (`#` starts a comment), relative to the policy file (in code: to the working directory). Reloaded on change (ConfigMap-safe); a file that does not parse keeps the previous list.',
      examples: ['lists/partners.txt'],
    }),
    watch: opt(z.boolean(), { description: 'Reload the file when it changes.', default: true }),
    allowEmpty: opt(z.boolean(), {
      description:
        'Accept a file with no rules. Off because a truncated or half-written file looks exactly like an empty one, and an empty deny list lets everyone in.',
      default: false,
    }),
  }),
  { description: 'A list read from a file.' },
);

/** `{ rules }`: an inline list. */
const inlineList = doc(z.strictObject({ rules: doc(ipRules(), { description: 'The rules.' }) }), {
  description: 'An inline list written as `{ rules: [...] }`.',
});

/** One list: an array of rules, `{ rules }` or `{ file }`. */
export const listDefinition = doc(
  z.union([ipRules(), inlineList, fileList], {
    error: 'expected an array of rules, { rules: [...] } or { file: path }',
  }),
  { description: 'A list: an array of rules, `{ rules }`, or `{ file }`.' },
);

/**
 * Named list definitions: `createIpLists(definitions)` and the policy's `lists` section. Names
 * and inline rules are checked here; files are read by `createIpLists` (and by `realip check`).
 */
export const listsSpec = doc(
  z.record(z.string().check(z.regex(LIST_NAME, LIST_NAME_MESSAGE)), listDefinition),
  {
    description:
      'Named IP lists shared by `access` (allow/deny) and rate-limit tiers (`match`), referenced as `{ list: name }`. Each is an inline array of rules, `{ rules }` or `{ file }`.',
    examples: [{ partners: ['203.0.113.0/24'], office: { file: 'lists/office.txt' } }],
  },
);

/** True when a definition is valid (the list can be built). */
export const isValidListDefinition = (def: unknown): boolean => z.safeParse(listDefinition, def).success;

/** `createIpLists(definitions, options)`: the options (code only). */
export const ipListsOptionsSpec = z.strictObject({
  onReloadError: opt(runtime<(event: IpListReloadError) => void>('a function', isFunction), {
    description:
      'Called when a file-backed list could not be reloaded; the previous version stays in use. Default: a process warning `WRN_REALIP_LIST_RELOAD_FAILED`, once per list until it reloads again.',
  }),
  onReload: opt(runtime<(event: IpListReloadEvent) => void>('a function', isFunction), {
    description: 'Called after a file-backed list was reloaded and swapped in.',
  }),
  pollMs: opt(z.int().check(z.minimum(1)), {
    description: 'Backstop poll interval for file-backed lists (directory events trigger reloads sooner).',
    default: 2000,
  }),
  debounceMs: opt(z.int().check(z.minimum(0)), {
    description: 'Coalesces bursts of file events (a ConfigMap swap is several).',
    default: 100,
  }),
  path: opt(z.string(), {
    description: 'Option path used in configuration errors (`lists.partners.file: line 3: ...`).',
    default: 'lists',
  }),
});

// ---------------------------------------------------------------------------------------------
// access
// ---------------------------------------------------------------------------------------------

interface CountriesShape {
  allow?: readonly string[] | undefined;
  deny?: readonly string[] | undefined;
}

/** A country both allowed and denied is a mistake: deny would always win. */
const countriesDisjoint = rules<CountriesShape>((c, report) => {
  const denied = new Set((c.deny ?? []).map((code) => code.toUpperCase()));
  const both = new Set((c.allow ?? []).map((code) => code.toUpperCase()).filter((code) => denied.has(code)));
  for (const code of both) {
    report(
      ['allow'],
      `country ${code} is both allowed and denied (deny always wins; expected it in one of the lists)`,
    );
  }
});

/** A country code; an invalid one is ERR_REALIP_COUNTRY_INVALID (docs/errors.md). */
const countryEntry = doc(countryCode.check(), {
  description: 'ISO 3166-1 alpha-2 code (`US`, `DE`), any case.',
  code: 'ERR_REALIP_COUNTRY_INVALID',
});

const countries = doc(
  z
    .strictObject({
      allow: opt(z.array(countryEntry), {
        description:
          'Countries admitted (ISO 3166-1 alpha-2, any case), in addition to the `allow` rules: an address passes if either admits it.',
        default: [],
      }),
      deny: opt(z.array(countryEntry), {
        description: 'Countries refused (ISO 3166-1 alpha-2, any case); wins over every allow.',
        default: [],
      }),
    })
    .check(countriesDisjoint),
  {
    description:
      "Country allow/deny, decided from the geo stage's `country` (needs `geo`, mounted before access). Private, loopback and other special networks have no country and are neither allowed nor denied by it.",
  },
);

/** Options shared by `createAccessPolicy` and the policy's `access`. */
const accessFields = {
  allow: opt(ipRulesOrLists(), {
    description:
      'Clients admitted: IPs, CIDRs, named ranges, `{ cidr, except }` blocks and `{ list }` references. Empty or absent (and no `countries.allow`): everyone not denied is admitted.',
    default: [],
    examples: [['203.0.113.0/24', { list: 'partners' }]],
  }),
  deny: opt(ipRulesOrLists(), {
    description: 'Clients refused, in the same forms as `allow`. Deny wins over allow.',
    default: [],
    examples: [[{ cidr: '198.51.100.0/24', except: ['198.51.100.7'] }]],
  }),
  countries: z.optional(countries),
  unknownCountry: opt(z.enum(['deny', 'allow']), {
    description:
      'When country rules matter for a request but its country is unknown (no geo stage, or the address is not in the database). Private and other special networks are never "unknown". Default deny: an unknown country cannot be proven not to be a denied one.',
    default: 'deny',
  }),
  exempt: opt(exemptPaths(), {
    description: EXEMPT_DOC,
    default: [],
    examples: [['/healthz', '/static/']],
  }),
  undeterminable: opt(undeterminable(), {
    description: `${UNDETERMINABLE_DOC} Default deny: a request that hides its address must not pass an allow-list.`,
    default: 'deny',
  }),
  exposeIp: opt(z.boolean(), {
    description:
      'Put the client IP into the 403 problem body (`ip`). Off: echoing addresses helps attackers probe what the proxy chain believes, and the body may end up in shared caches or logs.',
    default: false,
  }),
  exposeReason: opt(z.boolean(), {
    description:
      'Put the deciding reason and rule into the 403 body (`reason`, `rule`). Off: rule positions and list names describe your policy to whoever is refused.',
    default: false,
  }),
  problemType: opt(z.string().check(z.minLength(1)), {
    description: 'The problem `type` URI of the 403 body (RFC 9457).',
    default: 'about:blank',
  }),
};

/** The names a `lists` option defines, or undefined when it is malformed (reported there). */
function listNames(lists: unknown): string[] | undefined {
  if (lists === undefined) return [];
  if (isIpLists(lists)) return lists.names();
  return isRec(lists) ? Object.keys(lists) : undefined;
}

/**
 * Every `{ list }` reference names a list of the `lists` option (code; a policy's references are
 * resolved against its `lists` section by validate.ts, with the same message). Runs even when other
 * options are malformed, so every problem is reported at once.
 */
const listReferences = rules<unknown>((value, report) => {
  if (!isRec(value)) return;
  const known = listNames(value.lists);
  if (known === undefined) return;
  for (const side of ['allow', 'deny'] as const) {
    const list = value[side];
    if (!Array.isArray(list)) continue;
    list.forEach((rule: unknown, i) => {
      const name = isRec(rule) ? rule.list : undefined;
      if (typeof name !== 'string' || !LIST_NAME.test(name) || known.includes(name)) return;
      report(
        [side, i, 'list'],
        unknownListMessage(name, known, 'a list of the "lists" option (none is defined)'),
        'ERR_REALIP_LIST_UNKNOWN',
      );
    });
  }
});

const isListsOption = (v: unknown): boolean => isIpLists(v) || isRec(v);

/** `createAccessPolicy(options)`. List definitions given in `lists` are checked by `createIpLists`. */
export const accessSpec = z
  .strictObject({
    ...accessFields,
    lists: opt(
      runtime<IpLists | IpListDefinitions>(
        'lists from createIpLists() or list definitions ({ name: rules | { file } })',
        isListsOption,
      ),
      {
        description:
          'Named lists for `{ list: name }` references: lists from `createIpLists()` (shared with other stages), or definitions (the stage creates and owns them; `close()` stops their watchers).',
      },
    ),
  })
  .check(listReferences);

/** The policy's `access` section. */
export const accessPolicy = doc(z.strictObject(accessFields), {
  description: 'CIDR and country allow/deny. Denied requests get 403 with an RFC 9457 problem body.',
});

// ---------------------------------------------------------------------------------------------
// the options types (their TSDoc is what users see)
// ---------------------------------------------------------------------------------------------

/** A list read from a file: one IP, CIDR or named range a line; `#` starts a comment. */
export interface IpListFile {
  /** Path of the list file (relative paths resolve against the working directory). */
  file: string;
  /**
   * Reload the file when it changes.
   * @default true
   */
  watch?: boolean;
  /**
   * Accept a file with no rules. Off by default because a truncated or half-written file looks
   * exactly like an empty one, and an empty deny list silently lets everyone in.
   * @default false
   */
  allowEmpty?: boolean;
}

/** An inline list: the rules themselves, or `{ rules }`. */
export type IpListInline = readonly IpRule[] | { rules: readonly IpRule[] };

/** One list definition. */
export type IpListDefinition = IpListInline | IpListFile;

/** Named list definitions: `{ partners: ['203.0.113.0/24'], blocked: { file: '/etc/realip/blocked.txt' } }`. */
export type IpListDefinitions = Readonly<Record<string, IpListDefinition>>;

/** Options of `createIpLists`. */
export interface IpListsOptions {
  /**
   * Called when a file-backed list could not be reloaded; the previous version stays in use.
   * @default a process warning `WRN_REALIP_LIST_RELOAD_FAILED`, once per list until it reloads again
   */
  onReloadError?: (event: IpListReloadError) => void;
  /** Called after a file-backed list was reloaded and swapped in. */
  onReload?: (event: IpListReloadEvent) => void;
  /**
   * Backstop poll interval for file-backed lists, in ms (directory events trigger reloads sooner).
   * @default 2000
   */
  pollMs?: number;
  /**
   * Coalesces bursts of file events (a ConfigMap swap is several), in ms.
   * @default 100
   */
  debounceMs?: number;
  /**
   * Option path used in configuration errors (`lists.partners.file: line 3: ...`).
   * @default 'lists'
   */
  path?: string;
}

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

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the specs' (a missing or extra option is a type error here).
const _accessKeys: SameKeys<AccessOptions, z.input<typeof accessSpec>> = true;
const _countryKeys: SameKeys<CountryRules, z.input<typeof countries>> = true;
const _fileKeys: SameKeys<IpListFile, z.input<typeof fileList>> = true;
const _listsOptionKeys: SameKeys<IpListsOptions, z.input<typeof ipListsOptionsSpec>> = true;
void _accessKeys;
void _countryKeys;
void _fileKeys;
void _listsOptionKeys;
