import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { rateLimitKey } from '../../src/rate-limit/keys.js';
import { rateLimitValue, retryAfterSeconds } from '../../src/rate-limit/headers.js';
import { createRateLimiter, type RateLimitDecision } from '../../src/rate-limit/limiter.js';
import { LruTable } from '../../src/rate-limit/stores/memory.js';
import { createIpMatcher } from '../../src/core/cidr.js';
import type { IpLists } from '../../src/types.js';
import { ctx, fakeClock } from './helpers.js';
import { configErrorOf } from '../support/config-error.js';

const one = (points: number, duration: number, burst?: number) => [
  { name: 'default', limits: [burst === undefined ? { points, duration } : { points, duration, burst }] },
];

describe('keys', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['2001:DB8::1', '2001:db8::/64'],
    ['not-an-ip', undefined],
  ])('%s -> %s', (ip, key) => {
    expect(rateLimitKey(ip)).toBe(key);
  });

  it.each([
    [56, '2001:db8:1:2ff::1', '2001:db8:1:200::/56'],
    [48, '2001:db8:1:2ff::1', '2001:db8:1::/48'],
    [128, '2001:db8::1', '2001:db8::1'],
    [1, 'ffff::1', '8000::/1'],
  ])('ipv6Prefix %i: %s -> %s', (prefix, ip, key) => {
    expect(rateLimitKey(ip, prefix)).toBe(key);
  });

  it('IPv6 clients of one /64 share a bucket; IPv4-mapped shares with IPv4', () => {
    const l = createRateLimiter({ tiers: one(2, 60) });
    expect((l.consume(ctx('2001:db8::1')) as RateLimitDecision).remaining).toBe(1);
    expect((l.consume(ctx('2001:db8::ffff')) as RateLimitDecision).remaining).toBe(0);
    expect((l.consume(ctx('2001:db8:0:1::1')) as RateLimitDecision).remaining).toBe(1);
    expect((l.consume(ctx('192.0.2.1')) as RateLimitDecision).remaining).toBe(1);
    expect((l.consume(ctx('::ffff:192.0.2.1')) as RateLimitDecision).limited).toBe(false);
    expect((l.consume(ctx('::ffff:192.0.2.1')) as RateLimitDecision).limited).toBe(true);
  });

  it('a custom key counts by it (tiers still match the IP); undefined falls back to the IP', () => {
    const l = createRateLimiter({
      tiers: one(1, 60),
      key: (_ip, _c, req) => (req as { apiKey?: string }).apiKey,
    });
    expect((l.consume(ctx('192.0.2.1'), { apiKey: 'a' }) as RateLimitDecision).key).toBe('a');
    expect((l.consume(ctx('192.0.2.2'), { apiKey: 'a' }) as RateLimitDecision).limited).toBe(true);
    expect((l.consume(ctx('192.0.2.2'), {}) as RateLimitDecision).limited).toBe(false);
  });
});

describe('tiers', () => {
  const lists: IpLists = {
    get: (name) => (name === 'partners' ? createIpMatcher(['198.51.100.0/24']) : undefined),
    names: () => ['partners'],
    close: () => undefined,
  };
  const l = createRateLimiter({
    lists,
    tiers: [
      {
        name: 'partners',
        match: [{ list: 'partners' }, '2001:db8:p::/48'.replace('p', 'a')],
        limits: [{ points: 5, duration: 1 }],
      },
      { name: 'internal', match: ['private', 'loopback'], limits: [{ points: 4, duration: 1 }] },
      { name: 'eu', countries: ['de', 'FR'], limits: [{ points: 3, duration: 1 }] },
      { name: 'default', limits: [{ points: 2, duration: 1 }] },
    ],
  });
  it.each([
    ['198.51.100.7', undefined, 'partners'],
    ['2001:db8:a:1::1', undefined, 'partners'],
    ['10.0.0.1', { country: 'DE' }, 'internal'],
    ['::ffff:10.0.0.1', undefined, 'internal'],
    ['203.0.113.1', { country: 'DE' }, 'eu'],
    ['203.0.113.1', { country: 'US' }, 'default'],
    ['203.0.113.1', undefined, 'default'],
  ])('%s (%o) -> %s (first match wins)', (ip, geo, tier) => {
    expect((l.consume(ctx(ip, geo)) as RateLimitDecision).tier).toBe(tier);
  });

  it('without a default tier, unmatched clients are not limited', () => {
    const only = createRateLimiter({
      tiers: [{ name: 'x', match: ['10.0.0.0/8'], limits: [{ points: 1, duration: 1 }] }],
    });
    expect(only.consume(ctx('203.0.113.1'))).toBeUndefined();
  });

  it('the policy header lists every limit of the tier', () => {
    const d = createRateLimiter({
      tiers: [
        {
          name: 'api',
          limits: [
            { points: 100, duration: 60 },
            { points: 10, duration: 1, burst: 20 },
            { points: 5000, duration: 86400, name: 'daily' },
          ],
        },
      ],
    }).consume(ctx('192.0.2.1')) as RateLimitDecision;
    expect(d.plan.policyHeader).toBe(
      '"api-100-per-60s";q=100;w=60, "api-10-per-1s-burst-20";q=30;w=1, "daily";q=5000;w=86400',
    );
  });
});

describe('configuration errors (all at once, with paths)', () => {
  it('reports every problem', () => {
    const err = configErrorOf(() => {
      createRateLimiter({
        tiers: [
          { name: 'default', limits: [{ points: 0, duration: 60 }] },
          {
            name: 'x y',
            match: ['10.0.0.0/33', { list: 'nope' }],
            limits: [{ duration: 1 } as never, { points: 1, duration: -1, burst: 1.5 }],
          },
          { name: 'default', limits: [] },
        ],
        ipv6Prefix: 129,
        maxKeys: 0,
        storeFailure: 'maybe' as never,
        undeterminable: 'skip' as never,
        exempt: ['relative'],
        bogus: 1,
      } as never);
    });
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'rateLimit.bogus',
        'rateLimit.tiers[0].limits[0].points',
        'rateLimit.tiers[1].name',
        'rateLimit.tiers[1].match[0]',
        'rateLimit.tiers[1].match[1].list',
        'rateLimit.tiers[1].limits[0].points',
        'rateLimit.tiers[1].limits[1].duration',
        'rateLimit.tiers[1].limits[1].burst',
        'rateLimit.tiers[2].name',
        'rateLimit.tiers[2].limits',
        'rateLimit.ipv6Prefix',
        'rateLimit.maxKeys',
        'rateLimit.storeFailure',
        'rateLimit.undeterminable',
        'rateLimit.exempt[0]',
      ]),
    );
  });

  it.each([
    [{ tiers: [] }, 'rateLimit.tiers'],
    [
      {
        tiers: [
          {
            name: 'a',
            limits: [
              { points: 1, duration: 1 },
              { points: 1, duration: 1 },
            ],
          },
        ],
      },
      'rateLimit.tiers[0].limits[1]',
    ],
    [
      { tiers: [{ name: 'a', limits: [{ points: 1, duration: 3600, burst: 0 }] }] },
      'rateLimit.tiers[0].limits[0]',
    ],
    [
      { tiers: [{ name: 'a', limits: [{ points: 1, duration: 3e6 }] }] },
      'rateLimit.tiers[0].limits[0].duration',
    ],
  ])('%j -> %s', (options, path) => {
    expect(() => createRateLimiter(options as never)).toThrow(ConfigError);
    try {
      createRateLimiter(options as never);
    } catch (e) {
      expect((e as ConfigError).issues.map((i) => i.path)).toContain(path);
    }
  });
});

describe('fixed windows', () => {
  it('counts from the first hit for `duration`, then starts over', () => {
    const clock = fakeClock();
    const l = createRateLimiter({ clock: clock.fn, tiers: one(3, 10) });
    const seq = () => {
      const d = l.consume(ctx('192.0.2.1')) as RateLimitDecision;
      return [d.limited, d.remaining, d.resetMs];
    };
    expect(seq()).toEqual([false, 2, 10000]);
    clock.advance(4000);
    expect(seq()).toEqual([false, 1, 6000]);
    expect(seq()).toEqual([false, 0, 6000]);
    expect(seq()).toEqual([true, 0, 6000]);
    clock.advance(5999);
    expect(seq()).toEqual([true, 0, 1]);
    clock.advance(1);
    expect(seq()).toEqual([false, 2, 10000]);
  });

  it('several limits: all must admit; a rejected request charges no burst limit', () => {
    const clock = fakeClock();
    const l = createRateLimiter({
      clock: clock.fn,
      tiers: [
        {
          name: 't',
          limits: [
            { points: 3, duration: 60 },
            { points: 10, duration: 1, burst: 1 },
          ],
        },
      ],
    });
    const r: string[] = [];
    for (let i = 0; i < 5; i++) {
      const d = l.consume(ctx('192.0.2.1')) as RateLimitDecision;
      r.push(d.limited ? d.violated.join('+') : 'ok');
      clock.advance(200);
    }
    expect(r).toEqual(['ok', 'ok', 'ok', 't-3-per-60s', 't-3-per-60s']);
    const d = l.consume(ctx('192.0.2.1')) as RateLimitDecision;
    // The burst limit was not charged by the rejected ones: 2 available now (burst 1 + this one).
    expect(d.outcome.remaining[1]).toBe(2);
    expect(d.remaining).toBe(0);
    expect(d.limit).toBe(3);
  });
});

describe('undeterminable clients', () => {
  it("'deny' (default): all share ONE bucket of the last tier", () => {
    const l = createRateLimiter({
      tiers: [{ name: 'lan', match: ['10.0.0.0/8'], limits: [{ points: 9, duration: 60 }] }, ...one(2, 60)],
    });
    const a = l.consume(ctx(undefined)) as RateLimitDecision;
    expect(a.tier).toBe('default');
    expect(a.key).toBe('!undeterminable');
    l.consume(ctx(undefined));
    expect((l.consume(ctx(undefined)) as RateLimitDecision).limited).toBe(true);
  });
  it("'allow': not limited", () => {
    const l = createRateLimiter({ tiers: one(1, 60), undeterminable: 'allow' });
    expect(l.consume(ctx(undefined))).toBeUndefined();
  });
});

describe('onLimited and stats', () => {
  it('fires the first time per key per window, then only counts', () => {
    const clock = fakeClock();
    const onLimited = vi.fn();
    const l = createRateLimiter({ clock: clock.fn, tiers: one(1, 10), onLimited });
    for (let i = 0; i < 5; i++) l.consume(ctx('192.0.2.1'));
    for (let i = 0; i < 3; i++) l.consume(ctx('192.0.2.2'));
    expect(onLimited).toHaveBeenCalledTimes(2);
    expect(onLimited.mock.calls[0]![0]).toEqual({
      key: '192.0.2.1',
      tier: 'default',
      policies: ['default-1-per-10s'],
      retryAfter: 10,
      ip: '192.0.2.1',
    });
    clock.advance(10000);
    l.consume(ctx('192.0.2.1'));
    l.consume(ctx('192.0.2.1'));
    expect(onLimited).toHaveBeenCalledTimes(3);
    expect(l.stats()).toMatchObject({ limited: 7, limitedFirst: 3, keys: 2, evictions: 0 });
  });

  it('a throwing hook does not change the decision', () => {
    const l = createRateLimiter({
      tiers: one(1, 10),
      onLimited: () => {
        throw new Error('boom');
      },
    });
    l.consume(ctx('192.0.2.1'));
    expect((l.consume(ctx('192.0.2.1')) as RateLimitDecision).limited).toBe(true);
  });
});

describe('bounded memory (LRU)', () => {
  it('evicts the least recently used key, keeping an active abuser tracked', () => {
    const l = createRateLimiter({ tiers: one(3, 60), maxKeys: 1000 });
    for (let i = 0; i < 3; i++) l.consume(ctx('203.0.113.66'));
    for (let i = 0; i < 10_000; i++) {
      l.consume(ctx(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
      if (i % 50 === 0) expect((l.consume(ctx('203.0.113.66')) as RateLimitDecision).limited).toBe(true);
    }
    expect(l.stats().keys).toBe(1000);
    expect(l.stats().evictions).toBeGreaterThan(8_900);
  });

  it('LruTable keeps order across growth', () => {
    const t = new LruTable(3000, 3);
    for (let i = 0; i < 3000; i++) t.acquire(`k${i}`);
    t.acquire('k0'); // refresh
    t.acquire('new');
    expect(t.peek('k0')).toBeGreaterThanOrEqual(0);
    expect(t.peek('k1')).toBe(-1);
    expect(t.size).toBe(3000);
    expect(t.evictions).toBe(1);
  });
});

describe('headers', () => {
  it('draft-11 test vector: q=100 w=60, 37 used, 23 s left', () => {
    const clock = fakeClock();
    const l = createRateLimiter({
      clock: clock.fn,
      tiers: [{ name: 'ip', limits: [{ points: 100, duration: 60, name: 'ip-per-min' }] }],
    });
    for (let i = 0; i < 36; i++) l.consume(ctx('192.0.2.1'));
    clock.advance(37_000);
    const d = l.consume(ctx('192.0.2.1')) as RateLimitDecision;
    expect(d.plan.policyHeader).toBe('"ip-per-min";q=100;w=60');
    expect(rateLimitValue(d.plan, d.outcome)).toBe('"ip-per-min";r=63;t=23');
  });
  it.each([
    [1, 1],
    [0, 1],
    [-5, 1],
    [1000, 1],
    [1001, 2],
    [22_001, 23],
  ])('Retry-After for %i ms is %i', (ms, s) => {
    expect(retryAfterSeconds(ms)).toBe(s);
  });
  it('problem body: quota-exceeded with violated-policies, IP only with exposeIp', () => {
    for (const exposeIp of [false, true]) {
      const l = createRateLimiter({ tiers: one(1, 60), exposeIp });
      l.consume(ctx('192.0.2.1'));
      const body = JSON.parse(l.problem(l.consume(ctx('192.0.2.1')) as RateLimitDecision));
      expect(body).toMatchObject({
        type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
        status: 429,
        'violated-policies': ['default-1-per-60s'],
      });
      expect(body.ip).toBe(exposeIp ? '192.0.2.1' : undefined);
    }
  });
});

describe('exemptions and double counting', () => {
  const l = createRateLimiter({ tiers: one(1, 60), exempt: ['/healthz', '/static/'] });
  it.each([
    ['/healthz', true],
    ['/healthz?x=1', true],
    ['/healthzz', false],
    ['/static/a.css', true],
    ['/static/../admin', false],
  ])('%s exempt: %s', (url, exempt) => {
    expect(l.isExempt(url)).toBe(exempt);
  });
  it('never counts one request twice by the same limiter (decisions chain on the context)', () => {
    const other = createRateLimiter({ tiers: one(5, 60) });
    const c = ctx('192.0.2.50');
    const first = l.consume(c) as RateLimitDecision;
    expect(first.remaining).toBe(0);
    expect(c.rateLimit).toBe(first);
    const second = other.consume(c) as RateLimitDecision;
    expect(second.previous).toBe(first);
    expect(l.consume(c)).toBeUndefined(); // after another limiter: still recognised
    expect(other.consume(c)).toBeUndefined();
    // A new request of the same client is counted (and limited: 1 per 60 s).
    expect((l.consume(ctx('192.0.2.50')) as RateLimitDecision).limited).toBe(true);
  });
});

describe('metrics option (store health)', () => {
  const tiers = [{ name: 'default', limits: [{ points: 1, duration: 60 }] }];

  it('reports the memory store healthy at construction, once', () => {
    const calls: unknown[][] = [];
    const record =
      (name: string) =>
      (...args: unknown[]) =>
        calls.push([name, ...args]);
    const limiter = createRateLimiter({
      tiers,
      metrics: {
        storeHealth: record('storeHealth'),
        storeFallback: record('storeFallback'),
        storeError: record('storeError'),
      },
    });
    limiter.consume(ctx('192.0.2.1'));
    limiter.consume(ctx('192.0.2.1'));
    expect(calls).toEqual([
      ['storeHealth', 'memory', true],
      ['storeFallback', 'memory', false],
    ]);
  });

  it('rejects an object without the three hooks, naming the option', () => {
    expect(() => createRateLimiter({ tiers, metrics: { storeHealth: () => {} } as never })).toThrow(
      /metrics: expected an object with storeHealth, storeFallback and storeError/,
    );
  });
});

describe('warnings (once per code, then counted, as types.ts documents for onWarning)', () => {
  const broken = {
    kind: 'broken',
    remote: true,
    bind: () => ({ consume: () => Promise.reject(new Error('down')), close: async () => undefined }),
  };

  it('a failing store reports WRN_REALIP_RATELIMIT_STORE_ERROR to onWarning once', async () => {
    const onWarning = vi.fn();
    const l = createRateLimiter({ tiers: one(5, 60), store: broken, storeFailure: 'open', onWarning });
    for (let i = 0; i < 3; i++) expect((await l.consume(ctx('192.0.2.1')))!.source).toBe('open');
    expect(l.stats().storeErrors).toBe(3);
    expect(onWarning).toHaveBeenCalledTimes(1);
    expect(onWarning.mock.calls[0]![0]).toMatchObject({
      code: 'WRN_REALIP_RATELIMIT_STORE_ERROR',
      count: 1,
      help: 'docs/errors.md#wrn-realip-ratelimit-store-error',
    });
    expect(onWarning.mock.calls[0]![0].message).toContain('down');
    await l.close();
  });

  it('a throwing onWarning does not fail the request', async () => {
    const l = createRateLimiter({
      tiers: one(5, 60),
      store: broken,
      storeFailure: 'open',
      onWarning: () => {
        throw new Error('handler bug');
      },
    });
    expect((await l.consume(ctx('192.0.2.1')))!.source).toBe('open');
    await l.close();
  });
});
