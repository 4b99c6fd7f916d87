/**
 * Option shapes several stages share: IP rules, exempt paths, header names, country codes. Each is
 * defined here once; rules that need the library (CIDR syntax, path safety) are checked with the
 * library's own compilers, so a spec reports exactly what the stage would, with the same codes.
 */
import { IssueCollector } from '../errors.js';
import { compileRanges, type IpRule } from '../core/cidr.js';
import { compileExemptPaths } from '../core/paths.js';
import { parsePath } from './paths.js';
import type { IpLists } from '../types.js';
import * as z from 'zod/mini';
import { doc, runtime } from './spec.js';

/** An HTTP header name (RFC 9110 token). */
export const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An ISO 3166-1 alpha-2 country code, any case (normalised to upper case by the stages). */
export const COUNTRY_CODE = /^[A-Za-z]{2}$/;
/** An environment variable name. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A name of a list under `lists`. */
export const LIST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** What a list name may hold (the message of a name that does not match {@link LIST_NAME}). */
export const LIST_NAME_MESSAGE =
  'list names use letters, digits, ".", "_", ":" and "-", starting with a letter or digit (at most 128)';

/**
 * The message of a `{ list: name }` reference to a list that is not defined: one wording for the
 * policy file (`lists` section) and the factories (`lists` option). `none` says where lists are
 * defined when there are none.
 */
export function unknownListMessage(
  name: string,
  known: readonly string[],
  none = 'a name defined under lists',
): string {
  return `unknown list (got ${JSON.stringify(name)}, expected ${known.length > 0 ? `one of ${known.join(', ')}` : none})`;
}

/** True when `value` is an `IpLists` (from `createIpLists()`) rather than list definitions. */
export function isIpLists(value: unknown): value is IpLists {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as IpLists).get === 'function' &&
    typeof (value as IpLists).names === 'function'
  );
}

/** A factory's `lists` option holding lists built by `createIpLists()` (access, rate limit). */
export const ipListsInstance = (): z.ZodMiniCustom<IpLists, IpLists> =>
  runtime<IpLists>('lists from createIpLists()', isIpLists);

/** A header name. */
export const headerName = (): z.ZodMiniString<string> =>
  z.string().check(z.regex(HEADER_TOKEN, 'expected an HTTP header name such as "x-forwarded-for"'));

/** A country code. */
export const countryCode = doc(
  z.string().check(z.regex(COUNTRY_CODE, 'expected an ISO 3166-1 alpha-2 country code such as "DE"')),
  { description: 'ISO 3166-1 alpha-2 code (`US`, `DE`), any case.' },
);

const cidrString = doc(z.string().check(z.minLength(1)), {
  description:
    'An IP (`203.0.113.7`), a CIDR (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `2001:db8::/32`) or a named range (`loopback`, `linklocal`, `uniquelocal`, `private`, `ula`, `cgnat`).',
  examples: ['10.0.0.0/8', '2001:db8::/32', 'loopback'],
});

const ipBlock = doc(
  z.strictObject({
    cidr: doc(z.string().check(z.minLength(1)), { description: 'The block, e.g. `10.0.0.0/8`.' }),
    except: doc(z.optional(z.array(z.string().check(z.minLength(1)))), {
      description:
        'Sub-ranges of `cidr` left out of the block (each must lie inside `cidr`, as in Kubernetes).',
    }),
  }),
  { description: 'A NetworkPolicy-style block: everything in `cidr` except the listed sub-ranges.' },
);

/**
 * Checks a rule with the library's own compiler, so a spec reports exactly what `createIpMatcher`
 * would, with the same codes (ERR_REALIP_CIDR_INVALID, ERR_REALIP_EXCEPT_OUTSIDE).
 */
function checkRule(rule: IpRule | { list: string }, ctx: z.core.$RefinementCtx): void {
  if (typeof rule === 'object' && 'list' in rule) return;
  const issues = new IssueCollector();
  compileRanges([rule], '', issues);
  for (const issue of issues.issues) {
    ctx.addIssue({
      code: 'custom',
      path: parsePath(issue.path).slice(1),
      message: issue.message,
      params: issue.code ? { code: issue.code } : {},
      input: rule,
    });
  }
}

/** An IP rule: a string or a `{ cidr, except }` block. */
export const ipRule = doc(
  z
    .union([cidrString, ipBlock], {
      error: 'expected an IP, a CIDR, a named range or a { cidr, except } block',
    })
    .check(z.superRefine(checkRule)),
  { id: 'IpRule', description: 'An IP, a CIDR, a named range or a `{ cidr, except }` block.' },
);

const listRef = doc(
  z.strictObject({
    list: doc(z.string().check(z.regex(LIST_NAME, LIST_NAME_MESSAGE)), {
      description: 'The name of a list defined under `lists`.',
    }),
  }),
  { description: 'A reference to a named list: `{ list: partners }`.' },
);

/** A rule or a reference to a named list (policy files). */
export const ipRuleOrList = doc(
  z
    .union([cidrString, ipBlock, listRef], {
      error: 'expected an IP, a CIDR, a named range, a { cidr, except } block or a { list: name } reference',
    })
    .check(z.superRefine(checkRule)),
  { id: 'IpRuleOrList', description: 'An IP rule or a `{ list: name }` reference.' },
);

/** Rules in code: `IpRule[]` (a list of strings or blocks). */
export const ipRules = (): z.ZodMiniArray<typeof ipRule> => z.array(ipRule);
/** Rules in a policy file: rules or `{ list }` references. */
export const ipRulesOrLists = (): z.ZodMiniArray<typeof ipRuleOrList> => z.array(ipRuleOrList);

/** Paths a stage skips, checked with the stage's own compiler. */
export const exemptPaths = (): z.ZodMiniArray<z.ZodMiniString<string>> =>
  z.array(z.string().check(z.minLength(1))).check(
    z.superRefine((list, ctx) => {
      const issues = new IssueCollector();
      compileExemptPaths(list, '', issues);
      for (const issue of issues.issues)
        ctx.addIssue({ code: 'custom', path: parsePath(issue.path), message: issue.message, input: list });
    }),
  );

/** The documentation every `exempt` option shares. */
export const EXEMPT_DOC =
  'Paths this stage skips: exact (`/healthz`) or a prefix ending in `/` that matches whole segments (`/static/`). Paths with dot-segments, empty segments, `;` or encoded `.`, `/`, `\\` are never exempt.';

/** What happens to a request whose client IP cannot be determined. */
export const undeterminable = (): z.ZodMiniEnum<{ deny: 'deny'; allow: 'allow' }> =>
  z.enum(['deny', 'allow']);
export const UNDETERMINABLE_DOC =
  'What happens to a request whose client IP cannot be determined (closed socket, Unix socket, a header walk that found no IP). Never a silent allow unless set here.';
