/**
 * The resolve stage's options, defined once: `createResolver` (and every adapter that builds a
 * resolver from its options) validates through `resolverSpec`, the policy file's `resolve` section
 * is `resolvePolicy`, composed from the same fields, and the JSON Schema and the table in
 * docs/configuration.md are generated from their docs. Validator: zod/mini, bundled (why: see
 * src/spec/spec.ts); it runs once, in `createResolver()`, never per request.
 *
 * Cross-field rules (a preset and its conflicts, trust-all, hops against `maxEntries` and the
 * header's grammar) live here too, and run for the factory and the policy alike. They run even when
 * another option has a problem of its own (they read what they need defensively), so one pass
 * reports everything: a typo in `maxEntries` must not hide a rule that trusts the whole Internet.
 */
import { compileRanges, parseCidr, type IpRule } from '../core/cidr.js';
import { FORBIDDEN_HEADERS, PRESETS, PRESET_NAMES, type PresetSpec } from './presets.js';
import { IssueCollector } from '../errors.js';
import { ENV_NAME, HEADER_TOKEN, headerName, ipRules } from '../spec/common.js';
import { closest, type PathSegment } from '../spec/paths.js';
import * as z from 'zod/mini';
import { doc, isFunction, opt, rules, runtime, type Rule, type SameKeys } from '../spec/spec.js';
import type { PresetName, WarningHandler } from '../types.js';

/** Error codes of the resolve stage (docs/errors.md). */
export const ERR_HOPS = 'ERR_REALIP_HOPS_INVALID';
export const ERR_HEADER = 'ERR_REALIP_HEADER_INVALID';
export const ERR_TRUST_ALL = 'ERR_REALIP_TRUST_ALL';
export const ERR_PRESET_UNKNOWN = 'ERR_REALIP_PRESET_UNKNOWN';
export const ERR_PRESET_CONFLICT = 'ERR_REALIP_PRESET_CONFLICT';
export const ERR_PRESET_TRUST_REQUIRED = 'ERR_REALIP_PRESET_TRUST_REQUIRED';
export const ERR_PRESET_TENANT_REQUIRED = 'ERR_REALIP_PRESET_TENANT_REQUIRED';
const ERR_INVALID = 'ERR_REALIP_OPTION_INVALID';

/** Defaults and bounds (documented in docs/resolve.md). */
export const DEFAULT_MAX_ENTRIES = 16;
export const DEFAULT_MAX_HEADER_BYTES = 4096;
export const MAX_ENTRIES_LIMIT = 1024;
export const MIN_HEADER_BYTES = 64;
export const MAX_HEADER_BYTES_LIMIT = 1 << 20;
/**
 * `hops` at most: no real chain of proxies is this long, and a larger count only widens what a
 * misconfiguration believes. `hops` must also fit in `maxEntries` (the walk reads no further).
 */
export const MAX_HOPS = 64;

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** The preset a (possibly malformed) `preset` value names, if it names one. */
export function presetOf(preset: unknown): PresetSpec | undefined {
  const name = typeof preset === 'string' ? preset : isRec(preset) ? preset.name : undefined;
  return typeof name === 'string' && hasOwn(PRESETS, name) ? PRESETS[name as PresetName] : undefined;
}

/** True for the headers that carry a list the walk counts entries of. */
export const isListHeader = (h: string): boolean => h === 'x-forwarded-for' || h === 'forwarded';

// ---------------------------------------------------------------------------------------------
// Field shapes
// ---------------------------------------------------------------------------------------------

/** A header the resolver may believe: an HTTP token, and none of the known spoof paths. */
const trustedHeader = () =>
  headerName().check(
    z.superRefine((h, ctx) => {
      const lower = h.toLowerCase();
      if (hasOwn(FORBIDDEN_HEADERS, lower))
        ctx.addIssue({
          code: 'custom',
          message: `"${h}" must not be trusted: ${FORBIDDEN_HEADERS[lower]}`,
          input: h,
          params: { code: ERR_HEADER },
        });
    }),
  );

const hopsCount = () => z.int().check(z.minimum(1), z.maximum(MAX_HOPS));

/** `preset: name`: a string checked against the presets, so a typo gets "did you mean". */
const presetName = z.string().check(
  z.superRefine((name, ctx) => {
    if (hasOwn(PRESETS, name)) return;
    const hint = closest(name, PRESET_NAMES);
    ctx.addIssue({
      code: 'custom',
      message: `unknown preset (got ${JSON.stringify(name)}, expected one of ${PRESET_NAMES.join(', ')}, or { name, ... })${hint ? `; did you mean "${hint}"?` : ''}`,
      input: name,
      params: { code: ERR_PRESET_UNKNOWN },
    });
  }),
);
// The JSON Schema lists the names (editors complete them); the check above gives the message.
z.globalRegistry.add(presetName, { description: 'A preset by name.', enum: [...PRESET_NAMES] });

/** The tenant value(s): non-blank, no commas (a list header would split them). */
const tenantValue = z
  .union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' })
  .check(
    z.superRefine((v, ctx) => {
      const values = typeof v === 'string' ? [v] : v;
      if (values.length === 0 || values.some((x) => x.trim() === '' || x.includes(',')))
        ctx.addIssue({
          code: 'custom',
          // The values are secrets: never shown.
          message:
            'expected a non-empty string, or a list of them (several values allow rotating a secret); values cannot be blank or contain commas',
          input: '(not shown)',
        });
    }),
  );

const requireHeaderFields = {
  name: opt(trustedHeader(), {
    description:
      "The header the proxy sets (default: the preset's tenant header, e.g. `x-azure-fdid`; required for presets without one).",
    code: ERR_HEADER,
  }),
  value: opt(tenantValue, {
    description:
      'The value required, or several (to rotate a secret). Surrounding spaces are trimmed; values cannot contain commas.',
    code: ERR_INVALID,
  }),
};

const REQUIRE_HEADER_DOC =
  "Tenant check for shared CDNs: headers are believed only when this header has this value (e.g. Azure Front Door `X-Azure-FDID`), because the provider's ranges are shared by every customer.";

/** `requireHeader` in code: the value itself. */
const requireHeaderSpec = doc(
  z.strictObject(requireHeaderFields).check(
    rules((o, report) => {
      if (o.value === undefined)
        report(['value'], 'missing (expected the value, or a list of values to rotate a secret)');
    }),
  ),
  { description: REQUIRE_HEADER_DOC },
);

/** `requireHeader` in a policy file: the value, or the environment variable that holds it. */
const requireHeaderPolicy = doc(
  z
    .strictObject({
      ...requireHeaderFields,
      valueEnv: opt(z.string().check(z.regex(ENV_NAME, 'expected an environment variable name')), {
        description: 'Read the value from this environment variable (keeps secrets out of the file).',
      }),
    })
    .check(
      rules((o, report) => {
        if ((o.value === undefined) === (o.valueEnv === undefined))
          report(
            [],
            `needs exactly one of value or valueEnv (got ${o.value !== undefined ? 'both' : 'neither'})`,
          );
      }),
    ),
  { description: REQUIRE_HEADER_DOC },
);

/** What the preset object allows: its documented alternative headers, hops where it has them. */
const presetObjectRules = rules<Rec>((o, report) => {
  const spec = presetOf(o);
  if (!spec) return;
  const h = o.header;
  if (typeof h === 'string') {
    const lower = h.toLowerCase();
    const valid = HEADER_TOKEN.test(h) && !hasOwn(FORBIDDEN_HEADERS, lower);
    if (valid && lower !== spec.header && !spec.headerChoices.includes(lower))
      report(
        ['header'],
        spec.headerChoices.length > 0
          ? `preset "${spec.name}" reads ${spec.header} or ${spec.headerChoices.join(', ')} (got "${h}")`
          : `preset "${spec.name}" always reads ${spec.header} (got "${h}"); drop the preset to read another header`,
        ERR_PRESET_CONFLICT,
      );
  }
  if (o.hops !== undefined && !spec.hopsOverride)
    report(['hops'], `preset "${spec.name}" walks by trust and takes no hops`, ERR_PRESET_CONFLICT);
  const rh = o.requireHeader;
  if (isRec(rh) && rh.name === undefined && spec.tenantHeader === undefined)
    report(
      ['requireHeader', 'name'],
      `missing (expected the header's name: preset "${spec.name}" has no tenant header of its own)`,
      ERR_HEADER,
    );
});

const presetFields = {
  name: doc(z.enum(PRESET_NAMES as readonly PresetName[] as [PresetName, ...PresetName[]]), {
    description: 'The preset.',
    code: ERR_PRESET_UNKNOWN,
  }),
  header: opt(trustedHeader(), {
    description:
      'One of the alternative headers the preset documents (`fastly-client-ip` with `fastly`); other presets fix their header.',
    code: ERR_HEADER,
  }),
  hops: opt(hopsCount(), {
    description: `Override the hop count where the preset allows it (\`gcp-lb\`: 2 by default, 3 with one more proxy of yours in front). At most ${MAX_HOPS} and at most \`maxEntries\`.`,
    code: ERR_HOPS,
  }),
};

const PRESET_OBJECT_DOC = { description: 'A preset with options.' };
const requireHeaderDoc = { description: REQUIRE_HEADER_DOC, code: ERR_INVALID };

/** `preset: { name, ... }` in code. */
const presetObjectSpec = doc(
  z
    .strictObject({ ...presetFields, requireHeader: opt(requireHeaderSpec, requireHeaderDoc) })
    .check(presetObjectRules),
  PRESET_OBJECT_DOC,
);

/** `preset: { name, ... }` in a policy file (`requireHeader.valueEnv`). */
const presetObjectPolicy = doc(
  z
    .strictObject({ ...presetFields, requireHeader: opt(requireHeaderPolicy, requireHeaderDoc) })
    .check(presetObjectRules),
  PRESET_OBJECT_DOC,
);

const PRESET_DOC = {
  description:
    'A provider preset: fixes the header and the walk, adds the ranges the provider publishes. Presets whose ranges belong to your deployment (`aws-alb`, `akamai`, `azure-front-door`, `ingress-nginx`) need `trustedProxies`; `azure-front-door` needs `requireHeader` too. See docs/presets.md.',
  code: ERR_PRESET_UNKNOWN,
};
const PRESET_ERROR = `expected a preset name (${PRESET_NAMES.join(', ')}) or { name, ... }`;

// ---------------------------------------------------------------------------------------------
// Cross-field rules
// ---------------------------------------------------------------------------------------------

/** A rule set that covers every IPv4 or every IPv6 address lets any client choose its IP. */
const trustAll: Rule<Rec> = (o, report) => {
  if (o.allowTrustAll === true || !Array.isArray(o.trustedProxies)) return;
  const rules = o.trustedProxies as unknown[];
  let flagged = false;
  rules.forEach((rule, i) => {
    const text = typeof rule === 'string' ? rule : isRec(rule) ? rule.cidr : undefined;
    const hasExcept = isRec(rule) && Array.isArray(rule.except) && rule.except.length > 0;
    if (typeof text !== 'string' || hasExcept) return;
    const c = parseCidr(text);
    if (typeof c !== 'string' && c.prefix === 0) {
      flagged = true;
      report(
        ['trustedProxies', i],
        `trusts every address (got "${text}"), so any client could forge the header; list your proxies, or set allowTrustAll: true if the app is unreachable except through them`,
        ERR_TRUST_ALL,
      );
    }
  });
  if (flagged) return;
  const issues = new IssueCollector();
  const ranges = compileRanges(rules as IpRule[], '', issues);
  if (!issues.ok) return;
  const all4 = ranges.v4.length === 1 && ranges.v4[0]![0] === 0n && ranges.v4[0]![1] === 0xffffffffn;
  const all6 = ranges.v6.length === 1 && ranges.v6[0]![0] === 0n && ranges.v6[0]![1] === (1n << 128n) - 1n;
  if (all4 || all6)
    report(
      ['trustedProxies'],
      `together the rules cover every ${all4 ? 'IPv4' : 'IPv6'} address, so any client could forge the header; list your proxies, or set allowTrustAll: true`,
      ERR_TRUST_ALL,
    );
};

const validCount = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * A preset fixes the header and the walk; the deployment-specific presets need the deployment's
 * addresses and, for shared CDNs, a tenant check.
 */
const presetRules: Rule<Rec> = (o, report) => {
  if (o.preset === undefined) return;
  const spec = presetOf(o.preset);
  if (o.header !== undefined)
    report(
      ['header'],
      `the preset fixes the header${spec ? ` (${spec.header})` : ''}; remove header, or choose it inside the preset object where the preset allows it`,
      ERR_PRESET_CONFLICT,
    );
  if (o.hops !== undefined)
    report(
      ['hops'],
      spec?.hopsOverride
        ? `set hops inside the preset object: preset: { name: '${spec.name}', hops: ${JSON.stringify(o.hops)} }`
        : 'the preset fixes the walk; remove hops',
      ERR_PRESET_CONFLICT,
    );
  if (!spec) return;
  const tp = o.trustedProxies;
  if (
    spec.requiresTrustedProxies !== undefined &&
    (tp === undefined || (Array.isArray(tp) && tp.length === 0))
  )
    report(
      ['trustedProxies'],
      `preset "${spec.name}" needs the addresses of your own deployment: ${spec.requiresTrustedProxies}`,
      ERR_PRESET_TRUST_REQUIRED,
    );
  if (spec.requiresTenantCheck && !(isRec(o.preset) && o.preset.requireHeader !== undefined))
    report(
      ['preset', 'requireHeader'],
      `preset "${spec.name}" needs a tenant check: { value: '<your ${spec.tenantHeader} value>' }, because its ranges are shared by every customer`,
      ERR_PRESET_TENANT_REQUIRED,
    );
};

/** hops counts entries of a list header, and the walk reads at most `maxEntries` of them. */
const hopsRules: Rule<Rec> = (o, report) => {
  const maxEntries =
    o.maxEntries === undefined
      ? DEFAULT_MAX_ENTRIES
      : validCount(o.maxEntries, 1, MAX_ENTRIES_LIMIT)
        ? o.maxEntries
        : undefined;
  const within = (hops: unknown, path: PathSegment[]) => {
    if (maxEntries !== undefined && validCount(hops, 1, MAX_HOPS) && hops > maxEntries)
      report(path, `too large (got ${hops}, expected at most maxEntries, ${maxEntries})`, ERR_HOPS);
  };
  if (o.preset === undefined) {
    within(o.hops, ['hops']);
    const header = o.header === undefined ? 'x-forwarded-for' : o.header;
    if (validCount(o.hops, 1, MAX_HOPS) && typeof header === 'string' && !isListHeader(header.toLowerCase()))
      report(
        ['hops'],
        `hops counts entries of a list header (x-forwarded-for or forwarded), but header is ${header.toLowerCase()}`,
        ERR_HOPS,
      );
  } else if (isRec(o.preset) && presetOf(o.preset)?.hopsOverride) {
    within(o.preset.hops, ['preset', 'hops']);
  }
};

const resolveRules = rules<Rec>(trustAll, presetRules, hopsRules);

// ---------------------------------------------------------------------------------------------
// The specs
// ---------------------------------------------------------------------------------------------

const trustedProxies = opt(ipRules(), {
  description:
    'Proxies whose forwarding header is believed: IPs, CIDRs, named ranges. Empty or absent trusts nobody: the socket peer is the client (Kubernetes `externalTrafficPolicy: Local` behind a balancer that preserves source IPs). Trust only addresses you operate or your provider publishes: anyone else could write the header. A rule set covering every address is refused unless `allowTrustAll`.',
  default: [],
  examples: [['10.0.0.0/8', 'loopback']],
});

const header = opt(trustedHeader(), {
  description:
    'The ONE header the trusted proxies write (`x-forwarded-for`, `forwarded`, `x-real-ip`, `cf-connecting-ip`, ...), any case. Never a list: a second header is a spoof path. Headers clients can set past a proxy (`x-original-forwarded-for`, underscore look-alikes, `x-azure-clientip`) are refused.',
  default: 'x-forwarded-for',
  code: ERR_HEADER,
});

const hops = opt(hopsCount(), {
  description: `The client is the N-th entry from the right of a list header (\`x-forwarded-for\`, \`forwarded\`; the socket is hop 0), at most ${MAX_HOPS} and at most \`maxEntries\`. Absent: walk from the right past trusted proxies. Without \`trustedProxies\` anyone who reaches the app directly can spoof it, so it warns.`,
  code: ERR_HOPS,
});

const dataFields = {
  maxEntries: opt(z.int().check(z.minimum(1), z.maximum(MAX_ENTRIES_LIMIT)), {
    description: 'Header entries examined at most (from the right); the walk stops there (`cap`).',
    default: DEFAULT_MAX_ENTRIES,
  }),
  maxHeaderBytes: opt(z.int().check(z.minimum(MIN_HEADER_BYTES), z.maximum(MAX_HEADER_BYTES_LIMIT)), {
    description: 'Header bytes examined at most (from the right); the walk stops there (`cap`).',
    default: DEFAULT_MAX_HEADER_BYTES,
  }),
  allowTrustAll: opt(z.boolean(), {
    description:
      'Allow `trustedProxies` to cover every address (`0.0.0.0/0`, `::/0`, or rules that add up to it). Then every client can choose its address: only for an app unreachable except through the proxies.',
    default: false,
  }),
  nodeCidrs: opt(ipRules(), {
    description:
      'Node / balancer addresses, for the SNAT diagnostic (warns when most requests come from them while no proxy is trusted).',
    default: [],
  }),
};

/** `createResolver(options)`. */
export const resolverSpec = z
  .strictObject({
    trustedProxies,
    header,
    hops,
    preset: opt(z.union([presetName, presetObjectSpec], { error: PRESET_ERROR }), PRESET_DOC),
    ...dataFields,
    onWarning: opt(runtime<WarningHandler>('a function', isFunction), {
      description: 'Receives each warning (once per code, then counted).',
    }),
  })
  .check(resolveRules);

/** The policy's `resolve` section. */
export const resolvePolicy = doc(
  z
    .strictObject({
      trustedProxies,
      header,
      hops,
      preset: opt(z.union([presetName, presetObjectPolicy], { error: PRESET_ERROR }), PRESET_DOC),
      ...dataFields,
    })
    .check(resolveRules),
  { description: 'Who is the client: which proxies are trusted and which header they write.' },
);

// ---------------------------------------------------------------------------------------------
// The options, as users see them
// ---------------------------------------------------------------------------------------------

/** A preset's tenant check (`preset.requireHeader`). */
export interface RequireHeaderOptions {
  /**
   * The header the proxy sets, any case.
   * @default the preset's tenant header (`x-azure-fdid` for `azure-front-door`); required otherwise
   */
  name?: string;
  /**
   * The value required, or several (to rotate a secret). Surrounding spaces are trimmed; values
   * cannot contain commas.
   */
  value: string | readonly string[];
}

/** A preset with options (`preset: { name, ... }`). */
export interface PresetOptions {
  name: PresetName;
  /** One of the alternative headers the preset documents (`fastly-client-ip` with `fastly`). */
  header?: string;
  /** The hop count, where the preset allows it (`gcp-lb`). At most 64 and at most `maxEntries`. */
  hops?: number;
  /**
   * Tenant check for shared CDNs: headers are believed only when this header has this value.
   * Required by `azure-front-door`.
   */
  requireHeader?: RequireHeaderOptions;
}

/** Options of `createResolver()` (policy file: `resolve`). */
export interface ResolverOptions {
  /**
   * Proxies whose headers are believed: IPs, CIDRs, named ranges, `{ cidr, except }` blocks. Rules
   * that cover every address are refused (ERR_REALIP_TRUST_ALL) unless `allowTrustAll`.
   * @default [] (trust nobody: the socket peer is the client, as under externalTrafficPolicy: Local)
   */
  trustedProxies?: readonly IpRule[];
  /**
   * The ONE header the trusted proxies write, any case. Never a list: reading a second header is a
   * spoof path. Not with `preset` (the preset fixes it).
   * @default 'x-forwarded-for'
   */
  header?: string;
  /**
   * The client is the N-th entry from the right of a list header (the socket is hop 0): 1 to 64,
   * and at most `maxEntries`. Not with `preset` (set it inside the preset object where allowed).
   */
  hops?: number;
  /** A provider preset: fixes the header and the walk, adds published ranges. */
  preset?: PresetName | PresetOptions;
  /** Header entries examined at most (1 to 1024). @default 16 */
  maxEntries?: number;
  /** Header bytes examined at most (64 to 1 MiB). @default 4096 */
  maxHeaderBytes?: number;
  /** Allow rules that cover every address (`0.0.0.0/0`, `::/0`). @default false (ERR_REALIP_TRUST_ALL) */
  allowTrustAll?: boolean;
  /** Node/LB addresses, for the SNAT diagnostic. @default [] */
  nodeCidrs?: readonly IpRule[];
  /** @default process.emitWarning once per code */
  onWarning?: WarningHandler;
}

type PresetObjectInput = Extract<NonNullable<z.input<typeof resolverSpec>['preset']>, object>;

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the spec's (a missing or extra option is a type error here).
const _resolverKeys: SameKeys<ResolverOptions, z.input<typeof resolverSpec>> = true;
const _presetKeys: SameKeys<PresetOptions, PresetObjectInput> = true;
const _requireHeaderKeys: SameKeys<
  RequireHeaderOptions,
  NonNullable<PresetObjectInput['requireHeader']>
> = true;
void _resolverKeys;
void _presetKeys;
void _requireHeaderKeys;
