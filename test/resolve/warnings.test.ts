/** Every resolver warning: when it fires, that it fires once, then counts. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createResolver, type RealipWarning, type ResolverOptions } from '../../src/index.js';
import { make } from './helpers.js';

const T10 = { trustedProxies: ['10.0.0.0/8'] };

type Case = [
  code: string,
  options: ResolverOptions,
  peer: string,
  headers: Record<string, string | string[]> | string[],
];

const CASES: Case[] = [
  ['WRN_REALIP_UNTRUSTED_FORWARDED', T10, '203.0.113.9', { 'x-forwarded-for': '1.1.1.1' }],
  ['WRN_REALIP_UNTRUSTED_FORWARDED', {}, '203.0.113.9', ['X-Forwarded-For', '1.1.1.1']],
  [
    'WRN_REALIP_BOTH_FORWARDED_HEADERS',
    T10,
    '10.0.0.1',
    { 'x-forwarded-for': '1.1.1.1', forwarded: 'for=1.1.1.1' },
  ],
  [
    'WRN_REALIP_BOTH_FORWARDED_HEADERS',
    { ...T10, header: 'forwarded' },
    '10.0.0.1',
    ['Forwarded', 'for=1.1.1.1', 'X-Forwarded-For', '2.2.2.2'],
  ],
  [
    'WRN_REALIP_AMBIGUOUS_HEADER',
    { ...T10, header: 'x-real-ip' },
    '10.0.0.1',
    { 'x-real-ip': '1.1.1.1, 2.2.2.2' },
  ],
  [
    'WRN_REALIP_TENANT_MISMATCH',
    { preset: { name: 'cloudflare', requireHeader: { name: 'x-s', value: 'v' } } },
    '173.245.48.1',
    { 'cf-connecting-ip': '1.1.1.1', 'x-s': 'w' },
  ],
  ['WRN_REALIP_INVALID_ENTRY', T10, '10.0.0.1', { 'x-forwarded-for': '1.1.1.1, unknown' }],
  [
    'WRN_REALIP_HEADER_CAP',
    { ...T10, maxEntries: 1 },
    '10.0.0.1',
    { 'x-forwarded-for': '1.1.1.1, 10.0.0.2' },
  ],
];

describe('warnings', () => {
  it.each(CASES)('%s', (code, options, peer, headers) => {
    const { r, warnings } = make(options);
    r.resolve({ remoteAddress: peer, headers });
    r.resolve({ remoteAddress: peer, headers });
    r.resolve({ remoteAddress: peer, headers });
    expect(warnings).toEqual([code]);
    const w = r.warnings().find((x) => x.code === code)!;
    expect(w.count).toBe(3);
    expect(w.help).toBe(`docs/errors.md#${code.toLowerCase().replace(/_/g, '-')}`);
    expect(w.message.length).toBeGreaterThan(20);
  });

  it.each<[string, Record<string, string>]>([
    ['trusted peer, one list header', { 'x-forwarded-for': '1.1.1.1' }],
    ['untrusted peer without forwarding headers', { 'x-real-ip': '1.1.1.1' }],
    ['single-IP header from a trusted peer', { 'cf-connecting-ip': '1.1.1.1' }],
  ])('no warning: %s', (_name, headers) => {
    const { r, warnings } = make(T10);
    r.resolve({ remoteAddress: '10.0.0.1', headers });
    r.resolve({ remoteAddress: '192.0.2.1', headers: { 'x-real-ip': '1.1.1.1' } });
    expect(warnings).toEqual([]);
  });

  it('WRN_REALIP_HOPS_WITHOUT_TRUST at construction', () => {
    expect(make({ hops: 2 }).warnings).toEqual(['WRN_REALIP_HOPS_WITHOUT_TRUST']);
    expect(make({ hops: 2, ...T10 }).warnings).toEqual([]);
  });

  describe('WRN_REALIP_SNAT_SUSPECTED', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    function feed(r: ReturnType<typeof make>['r'], node: number, other: number): void {
      for (let i = 0; i < node; i++) r.resolve({ remoteAddress: `10.0.0.${(i % 250) + 1}`, headers: {} });
      for (let i = 0; i < other; i++)
        r.resolve({ remoteAddress: `198.51.100.${(i % 250) + 1}`, headers: {} });
    }

    it('fires when more than half of a minute comes from nodeCidrs', () => {
      vi.useFakeTimers({ now: 0 });
      const { r, warnings } = make({ nodeCidrs: ['10.0.0.0/24'] });
      feed(r, 11, 10);
      vi.advanceTimersByTime(10_000);
      feed(r, 0, 1);
      expect(warnings).toEqual(['WRN_REALIP_SNAT_SUSPECTED']);
    });

    it('does not fire at exactly half, or with too few requests', () => {
      vi.useFakeTimers({ now: 0 });
      const { r, warnings } = make({ nodeCidrs: ['10.0.0.0/24'] });
      feed(r, 10, 10);
      vi.advanceTimersByTime(10_000);
      feed(r, 5, 30);
      vi.advanceTimersByTime(10_000);
      feed(r, 0, 1);
      expect(warnings).toEqual([]);
      const small = make({ nodeCidrs: ['10.0.0.0/24'] });
      feed(small.r, 19, 0);
      vi.advanceTimersByTime(10_000);
      feed(small.r, 1, 0);
      expect(small.warnings).toEqual([]);
    });

    it('is a rolling minute: old buckets fall out', () => {
      vi.useFakeTimers({ now: 0 });
      const { r, warnings } = make({ nodeCidrs: ['10.0.0.0/24'] });
      feed(r, 15, 0); // bucket 0: node-heavy but too few on its own
      vi.advanceTimersByTime(70_000); // a minute and more later, bucket 0 has expired
      feed(r, 10, 10); // exactly half on its own; more than half if bucket 0 still counted
      vi.advanceTimersByTime(10_000);
      feed(r, 0, 1);
      expect(warnings).toEqual([]);
    });

    it('counts every bucket of the last minute', () => {
      vi.useFakeTimers({ now: 0 });
      const { r, warnings } = make({ nodeCidrs: ['10.0.0.0/24'] });
      for (let b = 0; b < 5; b++) {
        feed(r, 3, 2); // 5 requests per bucket: 15 node of 25 after five buckets
        vi.advanceTimersByTime(10_000);
      }
      feed(r, 0, 1);
      expect(warnings).toEqual(['WRN_REALIP_SNAT_SUSPECTED']);
    });

    it('is off when a proxy is trusted', () => {
      vi.useFakeTimers({ now: 0 });
      const { r, warnings } = make({ nodeCidrs: ['10.0.0.0/24'], trustedProxies: ['192.0.2.0/24'] });
      feed(r, 30, 0);
      vi.advanceTimersByTime(10_000);
      feed(r, 1, 0);
      expect(warnings).toEqual([]);
    });
  });

  it('warn() routes an adapter warning through the same handler, once', () => {
    const { r, warnings } = make({});
    r.warn('WRN_REALIP_EXPRESS_TRUST_PROXY', 'Express trust proxy is also set');
    r.warn('WRN_REALIP_EXPRESS_TRUST_PROXY', 'Express trust proxy is also set');
    expect(warnings).toEqual(['WRN_REALIP_EXPRESS_TRUST_PROXY']);
    expect(r.warnings()).toEqual([
      expect.objectContaining({ code: 'WRN_REALIP_EXPRESS_TRUST_PROXY', count: 2 }),
    ]);
  });

  it('a throwing onWarning does not break requests', () => {
    const r = createResolver({
      ...T10,
      onWarning: () => {
        throw new Error('boom');
      },
    });
    expect(r.resolve({ remoteAddress: '192.0.2.1', headers: { 'x-forwarded-for': '1.1.1.1' } }).ip).toBe(
      '192.0.2.1',
    );
  });

  it('defaults to process.emitWarning with the code', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const r = createResolver(T10);
      r.resolve({ remoteAddress: '192.0.2.1', headers: { 'x-forwarded-for': '1.1.1.1' } });
      r.resolve({ remoteAddress: '192.0.2.1', headers: { 'x-forwarded-for': '1.1.1.1' } });
      expect(spy).toHaveBeenCalledTimes(1);
      const [message, opts] = spy.mock.calls[0]! as [string, { code: string }];
      expect(message).toContain('not a trusted proxy');
      expect(opts.code).toBe('WRN_REALIP_UNTRUSTED_FORWARDED');
    } finally {
      spy.mockRestore();
    }
  });

  it('onWarning receives a full warning object', () => {
    const got: RealipWarning[] = [];
    const r = createResolver({ ...T10, onWarning: (w) => got.push(w) });
    r.resolve({ remoteAddress: '192.0.2.1', headers: { 'x-forwarded-for': '1.1.1.1' } });
    expect(got).toEqual([
      {
        code: 'WRN_REALIP_UNTRUSTED_FORWARDED',
        message: expect.stringContaining('192.0.2.1'),
        help: 'docs/errors.md#wrn-realip-untrusted-forwarded',
        count: 1,
      },
    ]);
  });
});
