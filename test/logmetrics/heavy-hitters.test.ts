import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../../src/errors.js';
import { SpaceSaving, createHeavyHitters } from '../../src/metrics/heavy-hitters.js';
import { CLIENT_V4, CLIENT_V6, leaks } from './fixtures.js';

function trueCounts<K>(stream: readonly K[]): Map<K, number> {
  const m = new Map<K, number>();
  for (const k of stream) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

describe("SpaceSaving: the paper's guarantees on any stream", () => {
  const streams = fc.record({
    k: fc.integer({ min: 1, max: 12 }),
    // Skewed alphabets produce heavy hitters; wide ones produce churn.
    stream: fc.oneof(
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 400 }),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 400 }),
      fc.array(fc.oneof(fc.constant(7), fc.integer({ min: 0, max: 1000 })), { maxLength: 400 }),
    ),
  });

  it('every item with true count > N/k is monitored; count - error <= true <= count; error <= min', () => {
    fc.assert(
      fc.property(streams, ({ k, stream }) => {
        const s = new SpaceSaving<number>(k);
        for (const x of stream) s.add(x);
        const truth = trueCounts(stream);
        const entries = s.entries();
        const monitored = new Map(entries.map((e) => [e.key, e]));
        expect(s.n).toBe(stream.length);
        expect(entries.length).toBe(Math.min(k, truth.size));
        // Sum of counts equals N (Space-Saving invariant).
        expect(entries.reduce((a, e) => a + e.count, 0)).toBe(stream.length);
        for (const [key, c] of truth) if (c > stream.length / k) expect(monitored.has(key)).toBe(true);
        const min = s.minCount;
        for (const e of entries) {
          const t = truth.get(e.key) ?? 0;
          expect(e.count).toBeGreaterThanOrEqual(t);
          expect(e.count - e.error).toBeLessThanOrEqual(t);
          expect(e.error).toBeLessThanOrEqual(min);
        }
        // Unmonitored items occurred at most `min` times.
        for (const [key, c] of truth) if (!monitored.has(key)) expect(c).toBeLessThanOrEqual(min);
        // Sorted by count, descending.
        for (let i = 1; i < entries.length; i++)
          expect(entries[i - 1]!.count).toBeGreaterThanOrEqual(entries[i]!.count);
      }),
      { numRuns: 300 },
    );
  });

  it('weighted adds keep the bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 5 })), {
          maxLength: 200,
        }),
        (k, stream) => {
          const s = new SpaceSaving<number>(k);
          const truth = new Map<number, number>();
          for (const [x, w] of stream) {
            s.add(x, w);
            truth.set(x, (truth.get(x) ?? 0) + w);
          }
          for (const e of s.entries()) {
            const t = truth.get(e.key) ?? 0;
            expect(e.count).toBeGreaterThanOrEqual(t);
            expect(e.count - e.error).toBeLessThanOrEqual(t);
          }
        },
      ),
    );
  });

  it('worked example: a a b b b c d d d d e with k = 3', () => {
    const s = new SpaceSaving<string>(3);
    for (const x of 'aabbbcdddde') s.add(x);
    expect(s.entries()).toEqual([
      { key: 'd', count: 5, error: 1 },
      { key: 'b', count: 3, error: 0 },
      { key: 'e', count: 3, error: 2 },
    ]);
  });
});

describe('createHeavyHitters', () => {
  it('prefix granularity groups /24 and /48 and formats them', () => {
    const hh = createHeavyHitters({ capacity: 10, top: 5, windowMs: 0 });
    for (let i = 1; i <= 5; i++) hh.add(`203.0.113.${i}`);
    for (let i = 1; i <= 3; i++) hh.add(`2001:db8:abcd:${i}::1`);
    hh.add('::ffff:198.51.100.1');
    hh.add('garbage');
    hh.add(undefined);
    const snap = hh.snapshot();
    expect(snap.total).toBe(9);
    expect(snap.clients).toEqual([
      { rank: 1, client: '203.0.113.0/24', count: 5, error: 0 },
      { rank: 2, client: '2001:db8:abcd::/48', count: 3, error: 0 },
      { rank: 3, client: '198.51.100.0/24', count: 1, error: 0 },
    ]);
  });

  it('ip granularity with truncate merges addresses that anonymise alike', () => {
    const hh = createHeavyHitters({ granularity: 'ip', anonymize: 'truncate', windowMs: 0 });
    hh.add('203.0.113.1');
    hh.add('203.0.113.2');
    hh.add('203.0.113.2');
    const snap = hh.snapshot();
    expect(snap.clients).toEqual([{ rank: 1, client: '203.0.113.0', count: 3, error: 0 }]);
    expect(snap.anonymize).toBe('truncate');
  });

  it.each(['truncate', 'hmac', 'drop'] as const)('%s: JSON output holds no raw address', (mode) => {
    for (const granularity of ['ip', 'prefix'] as const) {
      const hh = createHeavyHitters({
        granularity,
        windowMs: 0,
        anonymize: { anonymize: mode, hmacKey: { id: 'k1', secret: 'a-32-byte-secret-for-tests-only!' } },
      });
      for (const ip of [CLIENT_V4, CLIENT_V6, '::ffff:' + CLIENT_V4]) hh.add(ip);
      const json = JSON.stringify(hh.toJSON());
      expect(leaks(json, [CLIENT_V4, CLIENT_V6])).toEqual([]);
      // The network part must not survive hmac either.
      if (mode !== 'truncate') expect(json).not.toContain('203.0.113');
      if (mode === 'hmac') expect(hh.snapshot().keyId).toBe('k1');
      if (mode === 'drop') expect(hh.snapshot().clients.every((c) => c.client === undefined)).toBe(true);
    }
  });

  it('rotates per window: previous() is the last complete window; idle windows age out', () => {
    let t = 1_000_000;
    const hh = createHeavyHitters({ windowMs: 60_000, granularity: 'ip', now: () => t });
    expect(hh.previous()).toBeUndefined();
    hh.add('192.0.2.1');
    hh.add('192.0.2.1');
    t += 60_000;
    hh.add('192.0.2.2');
    const prev = hh.previous()!;
    expect(prev.clients).toEqual([{ rank: 1, client: '192.0.2.1', count: 2, error: 0 }]);
    expect(Date.parse(prev.windowEnd) - Date.parse(prev.windowStart)).toBe(60_000);
    expect(hh.snapshot().clients.map((c) => c.client)).toEqual(['192.0.2.2']);
    t += 5 * 60_000;
    expect(hh.previous()!.clients).toEqual([]);
    expect(hh.snapshot().total).toBe(0);
    expect(hh.toJSON().previous).not.toBeNull();
  });

  it('memory stays bounded under a distributed flood', () => {
    const hh = createHeavyHitters({ capacity: 50, top: 10, granularity: 'ip', windowMs: 0 });
    for (let i = 0; i < 20_000; i++) hh.add(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    for (let i = 0; i < 5_000; i++) hh.add('198.51.100.7');
    const snap = hh.snapshot();
    expect(snap.clients[0]!.client).toBe('198.51.100.7');
    expect(snap.clients.length).toBe(10);
    expect(snap.total).toBe(25_000);
  });

  it('validates every option at once', () => {
    try {
      createHeavyHitters(
        {
          capacity: 0,
          top: -1,
          granularity: 'x' as never,
          prefix: { v4: 4, v6: 64 },
          windowMs: -5,
          anonymize: 'hmac',
        },
        'metrics.topClients',
      );
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.map((i) => i.path)).toEqual([
        'metrics.topClients.capacity',
        'metrics.topClients.top',
        'metrics.topClients.granularity',
        'metrics.topClients.prefix.v4',
        'metrics.topClients.prefix.v6',
        'metrics.topClients.windowMs',
        'metrics.topClients.anonymize',
      ]);
    }
  });
});
