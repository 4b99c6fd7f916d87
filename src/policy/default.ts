/**
 * The built-in default policy: what `realip demo` and `realip sidecar` without `--config` run.
 *
 * Safe and unsurprising:
 * - Local mode: no proxy is trusted, so the socket peer is the client and every forwarding header
 *   is ignored (a spoofed `X-Forwarded-For` changes nothing). Right behind a balancer that
 *   preserves source IPs (`externalTrafficPolicy: Local`); behind a proxy you must say which.
 * - No allow or deny list; requests whose client IP cannot be determined are denied.
 * - One rate-limit tier for everyone, nginx's documented `limit_req` example: 10 requests per
 *   second per client IP with a burst of 20 (21 at once, then 10 per second), in memory. High
 *   enough that a person clicking never meets it, low enough that a script hammering one
 *   address does; IPv6 clients are keyed per /64.
 * - GeoIP from the embedded `@ip-location-db/geo-whois-asn-country-mmdb` country database when
 *   that package is installed (it is a development dependency of realip; CC BY 4.0 data by the
 *   NRO), otherwise no geo section.
 * - Access log at `info` with addresses in full (the point of the tool is to see them; set
 *   `log.anonymize` where your privacy rules require it), OpenTelemetry field names; metrics on.
 */
import { embeddedGeoDatabase } from './files.js';
import type { Policy } from './schema.js';

/** Builds the default policy; `geo: false` leaves GeoIP out even when the database is installed. */
export function defaultPolicy(options: { geo?: boolean } = {}): Policy {
  const geo = options.geo ?? embeddedGeoDatabase() !== undefined;
  const policy: Policy = {
    version: 1,
    resolve: { trustedProxies: [] },
    ...(geo ? { geo: { databases: ['embedded'] } } : {}),
    access: { undeterminable: 'deny' },
    rateLimit: {
      store: 'memory',
      tiers: [{ name: 'per-ip', limits: [{ points: 10, duration: 1, burst: 20 }] }],
    },
    log: { level: 'info', anonymize: 'none', fieldStyle: 'otel' },
    metrics: { enabled: true },
  };
  return deepFreeze(policy);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The built-in default policy (`defaultPolicy()` in this module); geo only when the embedded database is installed. */
export const DEFAULT_POLICY: Policy = defaultPolicy();
