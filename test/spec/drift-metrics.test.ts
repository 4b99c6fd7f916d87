import { Registry } from 'prom-client';
import { createHeavyHitters } from '../../src/metrics/heavy-hitters.js';
import { createRealipMetrics } from '../../src/metrics/metrics.js';
import { heavyHittersSpec, metricsSpec } from '../../src/metrics/spec.js';
import { driftSuite } from './drift.js';

driftSuite({
  name: 'metrics',
  spec: metricsSpec,
  base: { prefix: 'app_', countries: ['DE'], maxLabelValues: 10, exempt: ['/metrics'] },
  skip: ['registry', 'topClients'],
  factory: (o) => createRealipMetrics({ ...o, registry: new Registry() }).close(),
  policy: (o) => ({ version: 1, metrics: o }),
  factoryPath: 'metrics',
  policyPath: 'metrics',
});

driftSuite({
  name: 'metrics.topClients',
  spec: heavyHittersSpec,
  base: { capacity: 100, top: 10, granularity: 'prefix', prefix: { v4: 24, v6: 48 }, windowMs: 1000 },
  skip: ['anonymize', 'now'],
  factory: (o) => createHeavyHitters(o, 'metrics.topClients'),
  policy: (o) => ({ version: 1, metrics: { topClients: { enabled: true, ...o } } }),
  factoryPath: 'metrics.topClients',
  policyPath: 'metrics.topClients',
});
