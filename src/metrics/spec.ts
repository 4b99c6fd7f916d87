/**
 * The metrics stage's options, defined once: `createRealipMetrics` and `createHeavyHitters`
 * validate through these schemas, the policy file's `metrics` section is composed from them, and the
 * JSON Schema and docs/configuration.md's table are generated from their docs. See src/spec/spec.ts.
 */
import type { Registry } from 'prom-client';
import { countryCode, exemptPaths, EXEMPT_DOC } from '../spec/common.js';
import * as z from 'zod/mini';
import { doc, opt, rules, runtime, isFunction } from '../spec/spec.js';

import type { HeavyHitters } from './heavy-hitters.js';
import type { Anonymizer, AnonymizeMode, AnonymizeOptions } from '../log/anonymize.js';
import type { SameKeys } from '../spec/spec.js';

/** Data options of the top-clients sketch (code and policy alike). */
const topClientsFields = {
  capacity: opt(z.int().check(z.minimum(1), z.maximum(1_000_000)), {
    description:
      'Counters in the sketch. Any client above `1 / capacity` of the traffic in a window is listed; about 150 bytes each.',
    default: 1000,
  }),
  top: opt(z.int().check(z.minimum(1), z.maximum(10_000)), {
    description: 'Clients reported (at most `capacity`).',
    default: 20,
  }),
  granularity: opt(z.enum(['ip', 'prefix']), {
    description:
      'Count single addresses (`ip`) or networks (`prefix`: IPv4 /24, IPv6 /48 by default, which catches IPv6 address rotation).',
    default: 'prefix',
  }),
  prefix: opt(
    z.strictObject({
      v4: opt(z.int().check(z.minimum(8), z.maximum(32)), {
        description: 'IPv4 prefix length.',
        default: 24,
      }),
      // 48 bits of an IPv6 prefix fit a number key exactly; longer prefixes would need strings.
      v6: opt(z.int().check(z.minimum(16), z.maximum(48)), {
        description: 'IPv6 prefix length.',
        default: 48,
      }),
    }),
    { description: 'Prefix lengths with `granularity: prefix`.' },
  ),
  windowMs: opt(z.int().check(z.minimum(0)), {
    description: 'Window after which counts start over; the last complete window is kept (0: never).',
    default: 60_000,
  }),
};

interface TopClientsShape {
  capacity?: number | undefined;
  top?: number | undefined;
}

/** `top` cannot exceed `capacity` (the sketch only knows `capacity` clients). */
const topWithinCapacity = rules<TopClientsShape>((o, report) => {
  const capacity = o.capacity ?? 1000;
  if (o.top !== undefined && o.top > capacity)
    report(['top'], `too large (got ${o.top}, expected at most capacity, ${capacity})`);
});

/** `createHeavyHitters(options)`. `anonymize` is checked by the anonymiser's own spec. */
export const heavyHittersSpec = z
  .strictObject({
    ...topClientsFields,
    anonymize: opt(z.unknown(), {
      description: "How client addresses appear in snapshots (share the access log's anonymiser).",
      default: 'none',
    }),
    now: opt(runtime<() => number>('a function returning milliseconds', isFunction), {
      description: 'Clock, for tests.',
    }),
  })
  .check(topWithinCapacity);

/** The policy's `metrics.topClients`. */
export const topClientsPolicy = doc(
  z
    .strictObject({
      enabled: opt(z.boolean(), {
        description: 'Track the heaviest clients (Space-Saving sketch, bounded memory).',
        default: false,
      }),
      ...topClientsFields,
    })
    .check(topWithinCapacity),
  {
    description:
      "Top clients view (JSON on the sidecar's admin listener, `/top-clients`), anonymised as `log.anonymize` says.",
  },
);

/** Options shared by `createRealipMetrics` and the policy's `metrics`. */
const metricsFields = {
  prefix: opt(
    z
      .string()
      .check(
        z.regex(
          /^[a-zA-Z_][a-zA-Z0-9_]*$/,
          'expected letters, digits and "_" (not starting with a digit), e.g. "realip_"',
        ),
      ),
    {
      description: 'Metric name prefix (no colons: those are for recording rules).',
      default: 'realip_',
    },
  ),
  countries: opt(z.union([z.boolean(), z.array(countryCode)]), {
    description:
      'Country label values: `true` for any ISO code (at most 676 values), a list to keep only those (others become `other`), `false` to drop the per-country counter.',
    default: true,
  }),
  maxLabelValues: opt(z.int().check(z.minimum(1), z.maximum(10_000)), {
    description:
      'Distinct values kept per free-form label (`reason`, `tier`, `store`, `database`) before further ones count as `other`: a guard against a misconfiguration exploding cardinality.',
    default: 64,
  }),
  exempt: opt(exemptPaths(), {
    description: `${EXEMPT_DOC} Not counted: the scrape itself, probes.`,
    default: ['/metrics'],
  }),
};

const isRegistry = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as Registry).getSingleMetric === 'function';
const isSketch = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as HeavyHitters).add === 'function';

/** `createRealipMetrics(options)`. */
export const metricsSpec = z.strictObject({
  ...metricsFields,
  registry: opt(runtime<Registry>('a prom-client Registry', isRegistry), {
    description:
      "The registry to register in (share the application's). Default: prom-client's global registry.",
  }),
  topClients: opt(runtime<HeavyHitters>('a sketch from createHeavyHitters()', isSketch), {
    description: 'A top-clients sketch fed with each counted request’s client address.',
  }),
});

/** The policy's `metrics` section. */
export const metricsPolicy = doc(
  z.strictObject({
    enabled: opt(z.boolean(), {
      description:
        'Prometheus counters by decision, reason, tier, country, IP version and resolution source (never by IP).',
      default: true,
    }),
    ...metricsFields,
    topClients: z.optional(topClientsPolicy),
  }),
  { description: 'Prometheus metrics (the sidecar serves `/metrics` on its admin listener only).' },
);

export type TopClientsGranularity = 'ip' | 'prefix';

/** Options of `createHeavyHitters` (policy file: `metrics.topClients`). */
export interface HeavyHittersOptions {
  /**
   * Counters kept. Any client above `1 / capacity` of the traffic in a window is guaranteed to be
   * listed. Memory is about 150 bytes per counter.
   * @default 1000
   */
  capacity?: number;
  /**
   * Entries returned by `snapshot()`.
   * @default 20
   */
  top?: number;
  /**
   * `'ip'` counts single addresses; `'prefix'` counts networks (IPv4 /24, IPv6 /48 by default),
   * which catches IPv6 address rotation within one allocation.
   * @default 'prefix'
   */
  granularity?: TopClientsGranularity;
  /**
   * Prefix lengths for `granularity: 'prefix'`.
   * @default { v4: 24, v6: 48 }
   */
  prefix?: { v4?: number; v6?: number };
  /**
   * Window length in milliseconds; the sketch restarts each window and the last complete window is
   * kept for reading. 0 keeps counting forever.
   * @default 60000
   */
  windowMs?: number;
  /**
   * How client addresses appear in `snapshot()` (share the access log's anonymiser so every
   * output agrees).
   * @default 'none'
   */
  anonymize?: Anonymizer | AnonymizeMode | AnonymizeOptions;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Options of `createRealipMetrics` (policy file: `metrics`). */
export interface RealipMetricsOptions {
  /**
   * The registry to register in (share the application's).
   * @default prom-client's global registry
   */
  registry?: Registry;
  /**
   * Metric name prefix: `[a-zA-Z_][a-zA-Z0-9_]*` (no colons; those are for recording rules).
   * @default 'realip_'
   */
  prefix?: string;
  /**
   * Country label values: `true` for any ISO 3166-1 alpha-2 code (at most 676 values), a list to
   * keep only those (others become `other`), or `false` to drop the per-country counter.
   * @default true
   */
  countries?: boolean | readonly string[];
  /**
   * Distinct values kept per free-form label (`reason`, `tier`, `store`, `database`) before further
   * values are counted as `other`: a guard against a misconfiguration exploding cardinality.
   * @default 64
   */
  maxLabelValues?: number;
  /**
   * Paths not counted (the scrape itself, probes).
   * @default ['/metrics']
   */
  exempt?: readonly string[];
  /**
   * A top-clients sketch to feed with each counted request's client address (serve it with
   * `expressTopClientsEndpoint` / `fastifyTopClientsEndpoint`). Feed a sketch from one stage only.
   */
  topClients?: HeavyHitters;
}

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the specs' (a missing or extra option is a type error here).
const _metricsKeys: SameKeys<RealipMetricsOptions, z.input<typeof metricsSpec>> = true;
const _heavyHittersKeys: SameKeys<HeavyHittersOptions, z.input<typeof heavyHittersSpec>> = true;
void _metricsKeys;
void _heavyHittersKeys;
