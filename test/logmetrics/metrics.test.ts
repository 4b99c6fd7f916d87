import { describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { canonicalIp } from '../../src/core/ip.js';
import { ConfigError } from '../../src/errors.js';
import { createRealipMetrics } from '../../src/metrics/index.js';
import { createHeavyHitters } from '../../src/metrics/heavy-hitters.js';
import {
  ALLOWED,
  CLIENT_MAPPED_V4,
  CLIENT_V4,
  CLIENT_V6,
  DENIED,
  GEO_DE,
  GEO_PRIVATE,
  LIMITED,
  UNDER_LIMIT,
  context,
  resolution,
} from './fixtures.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

async function scrape(registry: Registry) {
  return parsePrometheusText(await registry.metrics());
}

function feed(metrics: ReturnType<typeof createRealipMetrics>) {
  metrics.observe(
    context({
      resolution: resolution({ ip: CLIENT_V4 }),
      geo: GEO_DE,
      access: ALLOWED,
      rateLimit: UNDER_LIMIT,
    }),
    '/a',
  );
  metrics.observe(
    context({
      resolution: resolution({ ip: CLIENT_V4 }),
      geo: GEO_DE,
      access: ALLOWED,
      rateLimit: UNDER_LIMIT,
    }),
    '/a',
  );
  metrics.observe(context({ resolution: resolution({ ip: CLIENT_V6 }), geo: GEO_DE, access: DENIED }), '/b');
  metrics.observe(
    context({
      resolution: resolution({ ip: CLIENT_MAPPED_V4, source: 'socket', reason: 'untrusted-peer' }),
      geo: GEO_PRIVATE,
      rateLimit: LIMITED,
    }),
    '/c',
  );
  metrics.observe(
    context({
      resolution: resolution({ ip: undefined, complete: false, reason: 'invalid-entry' }),
      access: { allowed: false, reason: 'undeterminable' },
    }),
    '/d',
  );
  metrics.observe(context({ resolution: resolution({ ip: CLIENT_V4 }), geo: { country: 'zz-bogus' } }), '/e');
  metrics.observe(context({ resolution: resolution({ ip: CLIENT_V4 }) }), '/metrics'); // exempt by default
  metrics.observe(undefined, '/f'); // no resolver mounted: nothing to count
}

describe('createRealipMetrics', () => {
  it('counts by decision/reason/tier, country/decision, source/reason/ip_version (text parsed back)', async () => {
    const registry = new Registry();
    const metrics = createRealipMetrics({ registry });
    feed(metrics);
    const p = await scrape(registry);
    expect(p.types.get('realip_requests_total')).toBe('counter');
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'allowed', reason: 'allow-list', tier: 'partners' }),
    ).toBe(2);
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'denied', reason: 'deny-list', tier: 'none' }),
    ).toBe(1);
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'limited', reason: 'ratelimit', tier: 'anonymous' }),
    ).toBe(1);
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'denied', reason: 'undeterminable', tier: 'none' }),
    ).toBe(1);
    expect(valueOf(p, 'realip_requests_total', { decision: 'allowed', reason: 'none', tier: 'none' })).toBe(
      1,
    );
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'DE', decision: 'allowed' })).toBe(2);
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'DE', decision: 'denied' })).toBe(1);
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'private', decision: 'limited' })).toBe(
      1,
    );
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'unknown', decision: 'denied' })).toBe(
      1,
    );
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'unknown', decision: 'allowed' })).toBe(
      1,
    );
    expect(
      valueOf(p, 'realip_resolutions_total', {
        source: 'header',
        reason: 'untrusted-entry',
        ip_version: '4',
      }),
    ).toBe(3);
    expect(
      valueOf(p, 'realip_resolutions_total', {
        source: 'header',
        reason: 'untrusted-entry',
        ip_version: '6',
      }),
    ).toBe(1);
    expect(
      valueOf(p, 'realip_resolutions_total', { source: 'socket', reason: 'untrusted-peer', ip_version: '4' }),
    ).toBe(1);
    // An undeterminable client is counted under the source the resolver reports for it: the socket.
    expect(
      valueOf(p, 'realip_resolutions_total', {
        source: 'socket',
        reason: 'invalid-entry',
        ip_version: 'none',
      }),
    ).toBe(1);
    // Scraping twice does not double count.
    const again = await scrape(registry);
    expect(
      valueOf(again, 'realip_requests_total', {
        decision: 'allowed',
        reason: 'allow-list',
        tier: 'partners',
      }),
    ).toBe(2);
    // Exempt /metrics and context-less requests are not counted.
    const total = p.samples
      .filter((s) => s.name === 'realip_requests_total')
      .reduce((a, s) => a + s.value, 0);
    expect(total).toBe(6);
  });

  it('expected label sets, and no label value is ever an IP address', async () => {
    const registry = new Registry();
    const metrics = createRealipMetrics({ registry });
    feed(metrics);
    metrics.hooks.storeHealth('redis', false);
    metrics.hooks.storeFallback('redis', true);
    metrics.hooks.storeError('redis');
    metrics.hooks.geoDatabase('country', 1_764_000_000);
    const text = await registry.metrics();
    const p = parsePrometheusText(text);
    const labelSets = new Map<string, string>();
    for (const s of p.samples) {
      labelSets.set(s.name, Object.keys(s.labels).sort().join(','));
      for (const v of Object.values(s.labels))
        expect(canonicalIp(v, { lenient: true }), `${s.name} ${v}`).toBeUndefined();
    }
    expect(Object.fromEntries(labelSets)).toEqual({
      realip_requests_total: 'decision,reason,tier',
      realip_requests_by_country_total: 'country,decision',
      realip_resolutions_total: 'ip_version,reason,source',
      realip_store_healthy: 'store',
      realip_store_fallback_active: 'store',
      realip_store_errors_total: 'store',
      realip_geoip_database_build_timestamp_seconds: 'database',
    });
    for (const raw of [CLIENT_V4, CLIENT_V6, CLIENT_MAPPED_V4]) expect(text).not.toContain(raw);
    expect(valueOf(p, 'realip_store_healthy', { store: 'redis' })).toBe(0);
    expect(valueOf(p, 'realip_store_fallback_active', { store: 'redis' })).toBe(1);
    expect(valueOf(p, 'realip_store_errors_total', { store: 'redis' })).toBe(1);
    expect(valueOf(p, 'realip_geoip_database_build_timestamp_seconds', { database: 'country' })).toBe(
      1_764_000_000,
    );
    metrics.hooks.storeHealth('redis', true);
    expect(valueOf(await scrape(registry), 'realip_store_healthy', { store: 'redis' })).toBe(1);
  });

  it('getSingleMetricAsString works on each metric', async () => {
    const registry = new Registry();
    const metrics = createRealipMetrics({ registry, prefix: 'edge_' });
    feed(metrics);
    const one = await registry.getSingleMetricAsString('edge_requests_total');
    expect(one).toContain('# TYPE edge_requests_total counter');
    expect(
      valueOf(parsePrometheusText(one), 'edge_requests_total', {
        decision: 'limited',
        reason: 'ratelimit',
        tier: 'anonymous',
      }),
    ).toBe(1);
  });

  it('creating the stack twice on one registry does not throw and both count', async () => {
    const registry = new Registry();
    const a = createRealipMetrics({ registry });
    const b = createRealipMetrics({ registry });
    const ctx = context({ resolution: resolution({ ip: CLIENT_V4 }), access: ALLOWED });
    a.observe(ctx);
    b.observe(ctx);
    b.observe(ctx);
    const p = await scrape(registry);
    expect(
      valueOf(p, 'realip_requests_total', { decision: 'allowed', reason: 'allow-list', tier: 'none' }),
    ).toBe(3);
    // A closed stack flushes and detaches; the other keeps counting.
    a.observe(ctx);
    a.close();
    a.observe(ctx);
    b.observe(ctx);
    const q = await scrape(registry);
    expect(
      valueOf(q, 'realip_requests_total', { decision: 'allowed', reason: 'allow-list', tier: 'none' }),
    ).toBe(5);
  });

  it('also on the global registry (default)', async () => {
    const { register } = await import('prom-client');
    const a = createRealipMetrics();
    expect(() => createRealipMetrics()).not.toThrow();
    expect(a.registry).toBe(register);
    register.clear();
  });

  it("a foreign metric with realip's name is a configuration error, not a silent merge", () => {
    const registry = new Registry();
    new Counter({ name: 'realip_requests_total', help: 'mine', registers: [registry] });
    expect(() => createRealipMetrics({ registry })).toThrow(
      expect.objectContaining({ code: 'ERR_REALIP_METRIC_CONFLICT' }),
    );
    expect(() => createRealipMetrics({ registry, prefix: 'realip2_' })).not.toThrow();
  });

  it('countries: a list keeps those codes and folds the rest into "other"; false drops the counter', async () => {
    const registry = new Registry();
    const m = createRealipMetrics({ registry, countries: ['FR'] });
    m.observe(context({ resolution: resolution({ ip: CLIENT_V4 }), geo: GEO_DE }));
    m.observe(context({ resolution: resolution({ ip: CLIENT_V4 }), geo: { country: 'FR' } }));
    const p = await scrape(registry);
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'other', decision: 'allowed' })).toBe(1);
    expect(valueOf(p, 'realip_requests_by_country_total', { country: 'FR', decision: 'allowed' })).toBe(1);
    const r2 = new Registry();
    createRealipMetrics({ registry: r2, countries: false }).observe(
      context({ resolution: resolution({ ip: CLIENT_V4 }), geo: GEO_DE }),
    );
    expect(await r2.metrics()).not.toContain('requests_by_country_total');
  });

  it('free-form label values are capped (a tier per client would not explode cardinality)', async () => {
    const registry = new Registry();
    const m = createRealipMetrics({ registry, maxLabelValues: 3 });
    for (let i = 0; i < 50; i++) {
      m.observe(
        context({
          resolution: resolution({ ip: CLIENT_V4 }),
          rateLimit: { ...UNDER_LIMIT, tier: `tier-${i}` },
        }),
      );
    }
    m.observe(
      context({ resolution: resolution({ ip: CLIENT_V4 }), rateLimit: { ...UNDER_LIMIT, tier: CLIENT_V4 } }),
    );
    const tiers = new Set(
      (await scrape(registry)).samples
        .filter((s) => s.name === 'realip_requests_total')
        .map((s) => s.labels['tier']),
    );
    expect(tiers).toEqual(new Set(['tier-0', 'tier-1', 'tier-2', 'other']));
  });

  it('feeds a top-clients sketch when given one', () => {
    const topClients = createHeavyHitters({ windowMs: 0 });
    const m = createRealipMetrics({ registry: new Registry(), topClients });
    feed(m);
    expect(topClients.snapshot().total).toBe(5); // undeterminable, exempt and context-less are not counted
  });

  it('validates every option at once', () => {
    try {
      createRealipMetrics({
        prefix: '1bad:',
        countries: ['d3', 'XXX'],
        maxLabelValues: 0,
        exempt: ['metrics'],
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.map((i) => i.path)).toEqual([
        'metrics.prefix',
        'metrics.countries[0]',
        'metrics.countries[1]',
        'metrics.maxLabelValues',
        'metrics.exempt[0]',
      ]);
    }
  });
});
