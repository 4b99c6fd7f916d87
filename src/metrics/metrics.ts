/**
 * Prometheus metrics on prom-client: bounded label sets only (decision, reason, tier, country, IP
 * version, resolution source), never an address. Creating the stack twice against one registry
 * reuses the metrics already there instead of throwing prom-client's duplicate-name error.
 *
 * Request counters are kept in plain numbers per label combination and handed to prom-client in
 * `collect()` at scrape time, so a request costs a few Map lookups instead of prom-client's
 * per-call label hashing.
 */
import { Counter, Gauge, register as globalRegistry } from 'prom-client';
import type { Registry } from 'prom-client';
import { ConfigError, IssueCollector } from '../errors.js';
import { parseOptions } from '../spec/spec.js';
import { metricsSpec } from './spec.js';
import type { ConfigIssue } from '../errors.js';
import type { RealipContext, RealipMetricsHooks } from '../types.js';
import { compileExemptPaths } from '../core/paths.js';
import type { PathExemption } from '../core/paths.js';
import type { HeavyHitters } from './heavy-hitters.js';

export type { RealipMetricsOptions } from './spec.js';
import type { RealipMetricsOptions } from './spec.js';

/** The metrics stack. */
export interface RealipMetrics {
  readonly registry: Registry;
  /** Counts one finished request from its context (`url` is checked against `exempt`). */
  observe(ctx: RealipContext | undefined, url?: string): void;
  /** Hooks for the rate-limit and GeoIP stages (store health, fallback, database build time). */
  readonly hooks: RealipMetricsHooks;
  readonly topClients: HeavyHitters | undefined;
  /** Detaches this stack from shared metrics (its pending counts are flushed first). */
  close(): void;
}

const FLUSHERS = Symbol.for('realip.metrics.flushers');
const COUNTRY = /^[A-Z]{2}$/;
const LABEL_VALUE = /^[A-Za-z0-9_.:-]{1,64}$/;

type Flusher = () => void;

/** Every metric realip registers: kind, name (after the prefix), labels. */
const SPECS: readonly (readonly ['counter' | 'gauge', string, readonly string[]])[] = [
  ['counter', 'requests_total', ['decision', 'reason', 'tier']],
  ['counter', 'requests_by_country_total', ['country', 'decision']],
  ['counter', 'resolutions_total', ['source', 'reason', 'ip_version']],
  ['gauge', 'store_healthy', ['store']],
  ['gauge', 'store_fallback_active', ['store']],
  ['counter', 'store_errors_total', ['store']],
  ['gauge', 'geoip_database_build_timestamp_seconds', ['database']],
];
interface Owned {
  [FLUSHERS]?: Set<Flusher>;
  type?: string;
  labelNames?: readonly string[];
}

/** Per-label-combination pending increment. */
class Cell {
  readonly labels: Record<string, string>;
  pending = 0;
  constructor(labels: Record<string, string>) {
    this.labels = labels;
  }
}

/** Label values from requests or hooks, capped at `max` distinct values, then `other`. */
class BoundedValues {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  of(value: string | undefined, fallback: string): string {
    if (value === undefined) return fallback;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max || !LABEL_VALUE.test(value)) return 'other';
    this.seen.add(value);
    return value;
  }
}

function sameLabels(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Creates (or reattaches to) realip's metrics in a registry. Validates every option at once.
 * @throws ConfigError `ERR_REALIP_METRIC_CONFLICT` when a metric with one of realip's names exists
 * in the registry but was not made by realip (or has other labels).
 */
export function createRealipMetrics(options: RealipMetricsOptions = {}): RealipMetrics {
  const o = parseOptions(metricsSpec, options, 'metrics');
  const registry = o.registry ?? (globalRegistry as Registry);
  const prefix = o.prefix as string;
  const countriesOpt = o.countries as boolean | string[];
  const countryList = Array.isArray(countriesOpt)
    ? new Set(countriesOpt.map((c) => c.toUpperCase()))
    : undefined;
  const maxLabelValues = o.maxLabelValues as number;
  const exempt: PathExemption = compileExemptPaths(
    o.exempt as string[],
    'metrics.exempt',
    new IssueCollector(),
  );
  const topClients = o.topClients;

  // Check every name before creating anything, so a conflict leaves the registry untouched.
  const conflicts: ConfigIssue[] = [];
  for (const [kind, name, labels] of SPECS) {
    if (countriesOpt === false && name === 'requests_by_country_total') continue;
    const full = prefix + name;
    const existing = registry.getSingleMetric(full) as Owned | undefined;
    if (
      existing !== undefined &&
      (existing[FLUSHERS] === undefined || existing.type !== kind || !sameLabels(existing.labelNames, labels))
    ) {
      conflicts.push({
        path: 'metrics.prefix',
        message: `the registry already has a metric "${full}" that realip did not create (or with other labels); choose another prefix`,
        code: 'ERR_REALIP_METRIC_CONFLICT',
      });
    }
  }
  if (conflicts.length > 0) throw new ConfigError(conflicts);

  const flushers: Flusher[] = [];
  const attached: Set<Flusher>[] = [];

  /** Gets realip's metric from the registry, or creates it with a collect() that runs every attached stack's flusher. */
  function metric<M extends Counter<string> | Gauge<string>>(
    kind: 'counter' | 'gauge',
    name: string,
    help: string,
    labelNames: readonly string[],
    flusher: Flusher | undefined,
  ): M {
    const full = prefix + name;
    const existing = registry.getSingleMetric(full) as (M & Owned) | undefined;
    let m: M & Owned;
    if (existing !== undefined) {
      m = existing;
    } else {
      const set = new Set<Flusher>();
      const config = {
        name: full,
        help,
        labelNames: [...labelNames],
        registers: [registry],
        collect() {
          for (const f of set) f();
        },
      };
      m = (kind === 'counter' ? new Counter(config) : new Gauge(config)) as M & Owned;
      m[FLUSHERS] = set;
    }
    if (flusher !== undefined) {
      m[FLUSHERS]!.add(flusher);
      attached.push(m[FLUSHERS]!);
      flushers.push(flusher);
    }
    return m;
  }

  const reasons = new BoundedValues(maxLabelValues);
  const tiers = new BoundedValues(maxLabelValues);
  const stores = new BoundedValues(maxLabelValues);
  const databases = new BoundedValues(maxLabelValues);

  // requests_total{decision, reason, tier}
  const requestCells = new Map<string, Map<string, Map<string, Cell>>>();
  const requests: Counter<string> = metric(
    'counter',
    'requests_total',
    'Requests by realip policy decision (allowed, denied, limited), reason and rate-limit tier.',
    ['decision', 'reason', 'tier'],
    () => flushCells3(requestCells, requests),
  );
  // requests_by_country_total{country, decision}
  const countryCells = new Map<string, Map<string, Cell>>();
  const byCountry: Counter<string> | undefined =
    countriesOpt === false
      ? undefined
      : metric(
          'counter',
          'requests_by_country_total',
          'Requests by client country (ISO 3166-1 alpha-2; private, loopback, linklocal, cgnat, ula, unknown, other) and decision.',
          ['country', 'decision'],
          () => flushCells2(countryCells, byCountry!),
        );
  // resolutions_total{source, reason, ip_version}
  const resolutionCells = new Map<string, Map<string, Map<string, Cell>>>();
  const resolutions: Counter<string> = metric(
    'counter',
    'resolutions_total',
    'Client-IP resolutions by source (socket, header, proxy-protocol), resolver reason and IP version (4, 6, none).',
    ['source', 'reason', 'ip_version'],
    () => flushCells3(resolutionCells, resolutions),
  );
  const storeHealthy: Gauge<string> = metric(
    'gauge',
    'store_healthy',
    'Rate-limit store health: 1 healthy, 0 failing.',
    ['store'],
    undefined,
  );
  const storeFallback: Gauge<string> = metric(
    'gauge',
    'store_fallback_active',
    'Rate limiting runs on its storeFailure fallback (insurance, open or closed) because the store fails: 1 yes, 0 no.',
    ['store'],
    undefined,
  );
  const storeErrors: Counter<string> = metric(
    'counter',
    'store_errors_total',
    'Rate-limit store operations that failed.',
    ['store'],
    undefined,
  );
  const geoBuild: Gauge<string> = metric(
    'gauge',
    'geoip_database_build_timestamp_seconds',
    'Build time of the loaded GeoIP database (seconds since the epoch).',
    ['database'],
    undefined,
  );

  function cell2(root: Map<string, Map<string, Cell>>, a: string, b: string, na: string, nb: string): Cell {
    let m = root.get(a);
    if (m === undefined) root.set(a, (m = new Map()));
    let c = m.get(b);
    if (c === undefined) m.set(b, (c = new Cell({ [na]: a, [nb]: b })));
    return c;
  }

  function cell3(
    root: Map<string, Map<string, Map<string, Cell>>>,
    a: string,
    b: string,
    c: string,
    names: readonly [string, string, string],
  ): Cell {
    let m = root.get(a);
    if (m === undefined) root.set(a, (m = new Map()));
    let n = m.get(b);
    if (n === undefined) m.set(b, (n = new Map()));
    let cell = n.get(c);
    if (cell === undefined) n.set(c, (cell = new Cell({ [names[0]]: a, [names[1]]: b, [names[2]]: c })));
    return cell;
  }

  function flushCells2(root: Map<string, Map<string, Cell>>, counter: Counter<string>): void {
    for (const m of root.values())
      for (const cell of m.values()) {
        if (cell.pending > 0) {
          counter.inc(cell.labels, cell.pending);
          cell.pending = 0;
        }
      }
  }

  function flushCells3(root: Map<string, Map<string, Map<string, Cell>>>, counter: Counter<string>): void {
    for (const m of root.values()) flushCells2(m, counter);
  }

  const REQ = ['decision', 'reason', 'tier'] as const;
  const RES = ['source', 'reason', 'ip_version'] as const;

  function countryOf(ctx: RealipContext): string {
    const geo = ctx.geo;
    if (geo === undefined) return 'unknown';
    const c = geo.country;
    if (c !== undefined && COUNTRY.test(c)) {
      if (countryList === undefined || countryList.has(c)) return c;
      return 'other';
    }
    return geo.network ?? 'unknown';
  }

  function observe(ctx: RealipContext | undefined, url?: string): void {
    if (ctx === undefined || ctx === null) return;
    if (url !== undefined && exempt(url)) return;
    const access = ctx.access;
    const rl = ctx.rateLimit;
    let decision: string;
    let reason: string;
    if (access !== undefined && !access.allowed) {
      decision = 'denied';
      reason = reasons.of(access.reason, 'none');
    } else if (rl !== undefined && rl.limited) {
      decision = 'limited';
      reason = 'ratelimit';
    } else {
      decision = 'allowed';
      reason = access !== undefined ? reasons.of(access.reason, 'none') : 'none';
    }
    const tier = rl !== undefined ? tiers.of(rl.tier, 'none') : 'none';
    cell3(requestCells, decision, reason, tier, REQ).pending++;
    if (byCountry !== undefined)
      cell2(countryCells, countryOf(ctx), decision, 'country', 'decision').pending++;
    const r = ctx.resolution;
    if (r !== undefined) {
      const ip = r.ip;
      const version = ip === undefined ? 'none' : ip.indexOf(':') >= 0 ? '6' : '4';
      cell3(resolutionCells, r.source, r.reason, version, RES).pending++;
      if (topClients !== undefined) topClients.add(ip);
    }
  }

  const hooks: RealipMetricsHooks = {
    storeHealth(store: string, healthy: boolean) {
      storeHealthy.set({ store: stores.of(store, 'default') }, healthy ? 1 : 0);
    },
    storeFallback(store: string, active: boolean) {
      storeFallback.set({ store: stores.of(store, 'default') }, active ? 1 : 0);
    },
    storeError(store: string) {
      storeErrors.inc({ store: stores.of(store, 'default') });
    },
    geoDatabase(database: string, buildEpochSeconds: number) {
      if (typeof buildEpochSeconds !== 'number' || !Number.isFinite(buildEpochSeconds)) return;
      geoBuild.set({ database: databases.of(database, 'default') }, buildEpochSeconds);
    },
  };

  return {
    registry,
    observe,
    hooks,
    topClients,
    close() {
      for (const f of flushers) f();
      for (const set of attached) for (const f of flushers) set.delete(f);
    },
  };
}
