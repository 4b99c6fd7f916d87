import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/rate-limit/limiter.js';
import { rateLimitSpec } from '../../src/rate-limit/spec.js';
import { createRedisStore } from '../../src/redis/index.js';
import { driftSuite, factoryVerdict, policyVerdict, type DriftStage } from './drift.js';

type Rec = Record<string, unknown>;

const stage: DriftStage = {
  name: 'rateLimit',
  spec: rateLimitSpec,
  base: {
    tiers: [
      {
        name: 'office',
        match: ['10.0.0.0/8'],
        countries: ['DE'],
        limits: [{ points: 10, duration: 60, name: 'office-minute' }],
      },
      { name: 'everyone', limits: [{ points: 100, duration: 60 }] },
    ],
    prefix: 'app:',
    storeFailure: 'insurance',
    replicas: 2,
    storeTimeoutMs: 100,
    ipv6Prefix: 64,
    maxKeys: 100_000,
    headers: true,
    legacyHeaders: false,
    exposeIp: false,
    exempt: ['/healthz'],
    undeterminable: 'deny',
  },
  // Runtime-only values (functions, stores, lists) have no policy spelling.
  skip: [
    'store',
    'onStoreError',
    'onStoreHealth',
    'metrics',
    'onLimited',
    'key',
    'lists',
    'clock',
    'onWarning',
  ],
  factory: (o) => void createRateLimiter(o as never).close(),
  // Country tiers need a GeoIP database in a policy file (a cross-section rule).
  policy: (o) => ({ version: 1, geo: { databases: ['embedded'] }, rateLimit: o }),
  factoryPath: 'rateLimit',
  policyPath: 'rateLimit',
};

driftSuite(stage);

const tiers = [{ name: 'default', limits: [{ points: 100, duration: 60 }] }];
const verdicts = (options: Rec) => [factoryVerdict(stage, options), policyVerdict(stage, options)];

describe('rateLimit: values the factory and the policy file used to judge differently', () => {
  it('maxKeys: 500 is refused both ways (the factory accepted it; the floor is 1000)', () => {
    expect(verdicts({ tiers, maxKeys: 500 })).toEqual([['rateLimit.maxKeys'], ['rateLimit.maxKeys']]);
    expect(verdicts({ tiers, maxKeys: 1000 })).toEqual([undefined, undefined]);
  });

  it('a 64-character tier name is accepted both ways (the policy file stopped at 63)', () => {
    const name = 'a'.repeat(64);
    expect(verdicts({ tiers: [{ ...tiers[0], name }] })).toEqual([undefined, undefined]);
  });

  it('65 tiers are refused both ways (the factory allowed 1000)', () => {
    const many = Array.from({ length: 65 }, (_, i) => ({
      name: `t${i}`,
      match: [`10.0.${i}.0/24`],
      limits: [{ points: 1, duration: 1 }],
    }));
    expect(verdicts({ tiers: many })).toEqual([['rateLimit.tiers'], ['rateLimit.tiers']]);
  });

  it('9 limits in a tier are refused both ways (the factory had no bound)', () => {
    const limits = Array.from({ length: 9 }, (_, i) => ({ points: i + 1, duration: 60 }));
    expect(verdicts({ tiers: [{ name: 'a', limits }] })).toEqual([
      ['rateLimit.tiers[0].limits'],
      ['rateLimit.tiers[0].limits'],
    ]);
  });

  it('a prefix longer than 64 characters (a Fastify route prefix) is accepted both ways', () => {
    const prefix = `GET /api/v1/organizations/:organizationId/projects/:projectId/members:`;
    expect(prefix.length).toBeGreaterThan(64);
    expect(verdicts({ tiers, prefix })).toEqual([undefined, undefined]);
  });

  it('storeTimeoutMs: 1.5 is refused both ways (the factory accepted fractions)', () => {
    expect(verdicts({ tiers, storeTimeoutMs: 1.5 })).toEqual([
      ['rateLimit.storeTimeoutMs'],
      ['rateLimit.storeTimeoutMs'],
    ]);
  });

  it('empty match or countries lists are refused both ways (the policy file accepted them)', () => {
    const empty = (k: string) => ({ tiers: [{ name: 'a', [k]: [], limits: [{ points: 1, duration: 1 }] }] });
    expect(verdicts(empty('match'))).toEqual([['rateLimit.tiers[0].match'], ['rateLimit.tiers[0].match']]);
    expect(verdicts(empty('countries'))).toEqual([
      ['rateLimit.tiers[0].countries'],
      ['rateLimit.tiers[0].countries'],
    ]);
  });

  it('a burst limit slower than 0.001 requests per second is refused both ways (the policy file accepted it)', () => {
    const slow = { tiers: [{ name: 'a', limits: [{ points: 1, duration: 3600, burst: 0 }] }] };
    expect(verdicts(slow)).toEqual([['rateLimit.tiers[0].limits[0]'], ['rateLimit.tiers[0].limits[0]']]);
  });

  it('duplicate policy names are refused both ways (the policy file accepted them)', () => {
    const dup = {
      tiers: [
        {
          name: 'a',
          limits: [
            { points: 1, duration: 1 },
            { points: 1, duration: 1 },
          ],
        },
      ],
    };
    expect(verdicts(dup)).toEqual([['rateLimit.tiers[0].limits[1]'], ['rateLimit.tiers[0].limits[1]']]);
  });

  it('tier order and duplicate names are reported at the same paths both ways', () => {
    const bad = {
      tiers: [
        { name: 'a', limits: [{ points: 1, duration: 1 }] },
        { name: 'a', match: ['private'], limits: [{ points: 2, duration: 1 }] },
      ],
    };
    expect(verdicts(bad)).toEqual([
      ['rateLimit.tiers[1].name', 'rateLimit.tiers[1].name'],
      ['rateLimit.tiers[1].name', 'rateLimit.tiers[1].name'],
    ]);
  });

  it('with Redis, a fractional duration is refused for fixed windows only, both ways (the policy file refused burst limits too)', () => {
    // An ioredis-like client that is never connected: binding checks what the store can honour.
    const client = { status: 'wait', defineCommand: () => {}, quit: () => Promise.resolve() };
    const redis = (limit: Rec) => {
      const tiers = [{ name: 'a', limits: [limit] }];
      let factory: string[] | undefined;
      try {
        void createRateLimiter({ tiers, store: createRedisStore({ client }) } as never).close();
      } catch (error) {
        factory = (error as { issues: { path: string; code: string }[] }).issues.map(
          (i) => `${i.path} ${i.code}`,
        );
      }
      const policy = policyVerdict(
        {
          ...stage,
          policy: (o) => ({ version: 1, rateLimit: { ...o, store: 'redis', redis: { url: 'redis://x' } } }),
        },
        { tiers },
      );
      return [factory, policy];
    };
    expect(redis({ points: 1, duration: 0.5, burst: 2 })).toEqual([undefined, undefined]);
    expect(redis({ points: 1, duration: 0.5 })).toEqual([
      ['rateLimit.tiers[0].limits[0].duration ERR_REALIP_RATELIMIT_STORE_UNSUPPORTED'],
      ['rateLimit.tiers[0].limits[0].duration'],
    ]);
  });
});
