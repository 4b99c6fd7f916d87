import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { candidateExcess, leakRate, NO_STATE, nextLast } from '../../src/rate-limit/gcra.js';
import { createRateLimiter, type RateLimitDecision } from '../../src/rate-limit/limiter.js';
import { ctx, fakeClock, nginxModel, pattern } from './helpers.js';

/** The seed's example: trusted networks 10 r/s burst 20, the internet 10 r/s burst 5. */
function seedLimiter(clock: () => number) {
  return createRateLimiter({
    clock,
    tiers: [
      {
        name: 'trusted',
        match: ['10.0.0.0/8', '192.168.0.0/16'],
        limits: [{ points: 10, duration: 1, burst: 20 }],
      },
      { name: 'internet', limits: [{ points: 10, duration: 1, burst: 5 }] },
    ],
  });
}

function run(clock: ReturnType<typeof fakeClock>, ip: string, steps: [number, number][]): string {
  const limiter = seedLimiter(clock.fn);
  const out: boolean[] = [];
  for (const [advance, count] of steps) {
    clock.advance(advance);
    for (let i = 0; i < count; i++) out.push(!(limiter.consume(ctx(ip)) as RateLimitDecision).limited);
  }
  return pattern(out);
}

describe('nginx limit_req arithmetic', () => {
  it.each([
    [1, 1000],
    [10, 10000],
    [{ perMinute: 10 }, 166],
    [{ perMinute: 1 }, 16],
  ])('rate %o is %i milli-requests per second, as nginx rounds it', (r, expected) => {
    const points = typeof r === 'number' ? r : r.perMinute;
    const duration = typeof r === 'number' ? 1 : 60;
    expect(leakRate(points, duration)).toBe(expected);
  });

  it('a new key is admitted with excess 0; the next one at the same ms adds 1000', () => {
    expect(candidateExcess(NO_STATE, 0, 5, 10000)).toBe(0);
    expect(candidateExcess(0, 5, 5, 10000)).toBe(1000);
    // 150 ms at 10 r/s drains 1500: 2000 - 1500 + 1000
    expect(candidateExcess(2000, 0, 150, 10000)).toBe(1500);
    // clock stepped back less than 60 s: no drain; more: treated as 1 ms
    expect(candidateExcess(2000, 1000, 500, 10000)).toBe(3000);
    expect(candidateExcess(2000, 100000, 1000, 10000)).toBe(2990);
    expect(nextLast(2000, 1000, 1000)).toBe(1000);
    expect(nextLast(2000, 1000, 1001)).toBe(1001);
  });
});

describe("seed example on a fake clock (nginx's decisions written from its arithmetic)", () => {
  // Each case: steps of [ms to advance, requests at that instant] and nginx's verdicts.
  it.each<[string, string, [number, number][], string]>([
    // burst=20: 21 at once (the first sets excess 0, then 1000..20000), then nothing until 100 ms drained.
    ['trusted 30 at once', '10.1.2.3', [[0, 30]], '.'.repeat(21) + 'x'.repeat(9)],
    // After 100 ms exactly one more (excess 20000 - 1000 + 1000); at +50 ms: 20000 - 500 + 1000 > 20000.
    [
      'trusted refill 10/s',
      '10.1.2.3',
      [
        [0, 21],
        [100, 2],
        [50, 1],
        [50, 1],
      ],
      '.'.repeat(21) + '.x' + 'x' + '.',
    ],
    // burst=5: 6 at once.
    ['internet 10 at once', '203.0.113.9', [[0, 10]], '......xxxx'],
    // Steady 10 r/s (every 100 ms) is always admitted once the burst is spent.
    [
      'internet steady 100 ms',
      '203.0.113.9',
      [
        [0, 6],
        [100, 1],
        [100, 1],
        [100, 1],
        [100, 1],
      ],
      '......' + '....',
    ],
    // 99 ms is 990 milli-requests of drain: still over.
    [
      'internet 99 ms is too early',
      '203.0.113.9',
      [
        [0, 6],
        [99, 1],
        [1, 1],
      ],
      '......' + 'x.',
    ],
    // A full second drains 10000: burst available again (5 + the one that set excess back to 0... see docs).
    [
      'internet after 1 s',
      '203.0.113.9',
      [
        [0, 6],
        [1000, 7],
      ],
      '......' + '......x',
    ],
    // Rejections are not charged: hammering at 50 ms does not push the client further back.
    [
      'internet rejects are free',
      '203.0.113.9',
      [
        [0, 6],
        [50, 1],
        [50, 1],
        [50, 1],
      ],
      '......' + 'x.x',
    ],
  ])('%s', (_name, ip, steps, expected) => {
    expect(run(fakeClock(), ip, steps)).toBe(expected);
  });

  it('10r/m burst=0: nginx admits the next request only at 6025 ms (rate 166 milli-req/s)', () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({
      clock: clock.fn,
      tiers: [{ name: 'm', limits: [{ points: 10, duration: 60, burst: 0 }] }],
    });
    const ok = () => !(limiter.consume(ctx('198.51.100.1')) as RateLimitDecision).limited;
    expect(ok()).toBe(true);
    clock.advance(6000);
    expect(ok()).toBe(false);
    clock.advance(24);
    expect(ok()).toBe(false);
    clock.advance(1);
    expect(ok()).toBe(true);
  });

  it('agrees with an independent nginx model on random traffic (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(1, 2, 10, 100), fc.record({ perMinute: fc.constantFrom(1, 10, 30, 600) })),
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.integer({ min: -100, max: 400 }), { minLength: 1, maxLength: 200 }),
        (r, burst, gaps) => {
          const clock = fakeClock();
          const points = typeof r === 'number' ? r : r.perMinute;
          const limiter = createRateLimiter({
            clock: clock.fn,
            tiers: [{ name: 't', limits: [{ points, duration: typeof r === 'number' ? 1 : 60, burst }] }],
          });
          const model = nginxModel(r, burst);
          for (const g of gaps) {
            clock.advance(g);
            const ours = !(limiter.consume(ctx('192.0.2.1')) as RateLimitDecision).limited;
            if (ours !== model(clock.now)) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports remaining, reset and Retry-After from the bucket', () => {
    const clock = fakeClock();
    const limiter = seedLimiter(clock.fn);
    const first = limiter.consume(ctx('203.0.113.9')) as RateLimitDecision;
    expect(first).toMatchObject({ tier: 'internet', limit: 15, remaining: 5, resetMs: 0, limited: false });
    let d = first;
    for (let i = 0; i < 5; i++) d = limiter.consume(ctx('203.0.113.9')) as RateLimitDecision;
    expect(d).toMatchObject({ remaining: 0, resetMs: 500, limited: false });
    d = limiter.consume(ctx('203.0.113.9')) as RateLimitDecision;
    // excess would be 6000 > 5000: 1000 to drain = 100 ms -> Retry-After 1 (ceil, at least 1)
    expect(d).toMatchObject({
      limited: true,
      resetMs: 100,
      retryAfter: 1,
      violated: ['internet-10-per-1s-burst-5'],
    });
  });
});
