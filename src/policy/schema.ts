/**
 * The policy file's schema: one object describing the whole stack, composed from the stages' specs
 * (src/<stage>/spec.ts), which are the only place an option is defined. Option names equal the
 * library's (`createResolver`, `ipFilter`, `rateLimit`, `geoTag`, `accessLog`, `metrics`), so a
 * policy section can be copied into code and back; a policy section adds only what a file needs
 * instead of objects (`{ list }` references, file paths, environment variable names).
 *
 * Every object is strict (an unknown key is an error: a typo such as `trustedProxy` must not
 * silently leave the proxy untrusted). Rules across sections (`{ list }` references, country rules
 * that need `geo`) are checked by ./validate.ts, and every problem is reported at once with its
 * file position by ./parse.ts. The JSON Schema (`realip schema`) and docs/configuration.md's
 * reference are generated from the specs' documentation.
 */
import * as z from 'zod/mini';
import { doc, opt } from '../spec/spec.js';
import { rateLimitPolicy } from '../rate-limit/spec.js';
import { metricsPolicy } from '../metrics/spec.js';
import { accessPolicy, listsSpec } from '../access/spec.js';
import { resolvePolicy } from '../resolve/spec.js';
import { logPolicy } from '../log/spec.js';
import { geoPolicy } from '../geo/spec.js';

// ---------------------------------------------------------------------------------------------
// lists
// ---------------------------------------------------------------------------------------------

/** The policy's `lists` section: composed from the access stage's spec. */
export const listsSchema = listsSpec;

// ---------------------------------------------------------------------------------------------
// resolve
// ---------------------------------------------------------------------------------------------

/** The policy's `resolve` section: composed from the resolve stage's spec. */
export const resolveSchema = resolvePolicy;

// ---------------------------------------------------------------------------------------------
// access
// ---------------------------------------------------------------------------------------------

/** The policy's `access` section: composed from the access stage's spec. */
export const accessSchema = accessPolicy;

// ---------------------------------------------------------------------------------------------
// geo
// ---------------------------------------------------------------------------------------------

export { EMBEDDED_GEO } from '../geo/spec.js';

/** The policy's `geo` section: composed from the geo stage's spec. */
export const geoSchema = geoPolicy;

// ---------------------------------------------------------------------------------------------
// rateLimit
// ---------------------------------------------------------------------------------------------

export { REDIS_TLS_FILES } from '../rate-limit/redis-spec.js';

/** The policy's `rateLimit` section: composed from the rate-limit stage's spec. */
export const rateLimitSchema = rateLimitPolicy;

// ---------------------------------------------------------------------------------------------
// log, metrics
// ---------------------------------------------------------------------------------------------

/** The policy's `log` section: composed from the log stage's spec. */
export const logSchema = logPolicy;

/** The policy's `metrics` section: composed from the metrics stage's spec. */
export const metricsSchema = metricsPolicy;

// ---------------------------------------------------------------------------------------------
// the policy
// ---------------------------------------------------------------------------------------------

export const policySchema = doc(
  z.strictObject({
    $schema: opt(z.string(), { description: 'JSON Schema reference for editors (ignored).' }),
    version: opt(z.literal(1), { description: 'Policy file format version.', default: 1 }),
    lists: z.optional(listsSchema),
    resolve: z.optional(resolveSchema),
    geo: z.optional(geoSchema),
    access: z.optional(accessSchema),
    rateLimit: z.optional(rateLimitSchema),
    log: z.optional(logSchema),
    metrics: z.optional(metricsSchema),
  }),
  {
    title: 'realip policy',
    description:
      'One file describing the whole realip stack: resolve -> geo -> access -> rate limit -> (app) -> log and metrics.',
  },
);

/** A validated policy (file paths resolved against the policy file's directory). */
export type Policy = z.output<typeof policySchema>;
/** What a policy file may contain. */
export type PolicyInput = z.input<typeof policySchema>;
export type ResolvePolicy = NonNullable<Policy['resolve']>;
export type AccessPolicy = NonNullable<Policy['access']>;
export type GeoPolicy = NonNullable<Policy['geo']>;
export type RateLimitPolicy = NonNullable<Policy['rateLimit']>;
export type RateLimitTierPolicy = RateLimitPolicy['tiers'][number];
export type LogPolicy = NonNullable<Policy['log']>;
export type MetricsPolicy = NonNullable<Policy['metrics']>;
export type ListsPolicy = NonNullable<Policy['lists']>;
