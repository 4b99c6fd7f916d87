/** Every ConfigError createResolver raises, with its path and code; and what valid options normalise to. */
import { describe, expect, it } from 'vitest';
import { ConfigError, createResolver, type ResolverOptions } from '../../src/index.js';

function issuesOf(options: unknown, settings?: { path?: string; extraKeys?: string[] }) {
  try {
    createResolver(options as ResolverOptions, settings);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => [i.path, i.code]);
  }
  throw new Error('expected a ConfigError');
}

describe('createResolver validation', () => {
  it.each<[string, unknown, [string, string][]]>([
    ['not an object', 'x', [['resolve', 'ERR_REALIP_OPTION_INVALID']]],
    [
      'unknown option',
      { trustedProxy: ['10.0.0.0/8'] },
      [['resolve.trustedProxy', 'ERR_REALIP_OPTION_UNKNOWN']],
    ],
    [
      'invalid CIDR',
      { trustedProxies: ['10.0.0.0/8', 'loopback', '10.0.0/8'] },
      [['resolve.trustedProxies[2]', 'ERR_REALIP_CIDR_INVALID']],
    ],
    [
      'trustedProxies not an array',
      { trustedProxies: '10.0.0.0/8' },
      [['resolve.trustedProxies', 'ERR_REALIP_OPTION_INVALID']],
    ],
    [
      'trust all IPv4',
      { trustedProxies: ['10.0.0.0/8', '0.0.0.0/0'] },
      [['resolve.trustedProxies[1]', 'ERR_REALIP_TRUST_ALL']],
    ],
    ['trust all IPv6', { trustedProxies: ['::/0'] }, [['resolve.trustedProxies[0]', 'ERR_REALIP_TRUST_ALL']]],
    [
      'trust all via a block',
      { trustedProxies: [{ cidr: '0.0.0.0/0' }] },
      [['resolve.trustedProxies[0]', 'ERR_REALIP_TRUST_ALL']],
    ],
    [
      'trust all by halves',
      { trustedProxies: ['0.0.0.0/1', '128.0.0.0/1'] },
      [['resolve.trustedProxies', 'ERR_REALIP_TRUST_ALL']],
    ],
    ['bad header name', { header: 'x forwarded' }, [['resolve.header', 'ERR_REALIP_HEADER_INVALID']]],
    ['header not a string', { header: 3 }, [['resolve.header', 'ERR_REALIP_HEADER_INVALID']]],
    [
      'x-original-forwarded-for',
      { header: 'X-Original-Forwarded-For' },
      [['resolve.header', 'ERR_REALIP_HEADER_INVALID']],
    ],
    ['x-azure-clientip', { header: 'x-azure-clientip' }, [['resolve.header', 'ERR_REALIP_HEADER_INVALID']]],
    ['hops zero', { hops: 0 }, [['resolve.hops', 'ERR_REALIP_HOPS_INVALID']]],
    ['hops fractional', { hops: 1.5 }, [['resolve.hops', 'ERR_REALIP_HOPS_INVALID']]],
    ['hops above maxEntries', { hops: 20 }, [['resolve.hops', 'ERR_REALIP_HOPS_INVALID']]],
    [
      'hops with a single-IP header',
      { hops: 1, header: 'x-real-ip' },
      [['resolve.hops', 'ERR_REALIP_HOPS_INVALID']],
    ],
    ['maxEntries', { maxEntries: 0 }, [['resolve.maxEntries', 'ERR_REALIP_OPTION_INVALID']]],
    ['maxHeaderBytes', { maxHeaderBytes: 10 }, [['resolve.maxHeaderBytes', 'ERR_REALIP_OPTION_INVALID']]],
    ['allowTrustAll', { allowTrustAll: 'yes' }, [['resolve.allowTrustAll', 'ERR_REALIP_OPTION_INVALID']]],
    ['onWarning', { onWarning: 'log' }, [['resolve.onWarning', 'ERR_REALIP_OPTION_INVALID']]],
    ['nodeCidrs', { nodeCidrs: ['nodes'] }, [['resolve.nodeCidrs[0]', 'ERR_REALIP_CIDR_INVALID']]],
    ['unknown preset', { preset: 'cloudflair' }, [['resolve.preset', 'ERR_REALIP_PRESET_UNKNOWN']]],
    [
      'unknown preset by object',
      { preset: { name: 'x' } },
      [['resolve.preset.name', 'ERR_REALIP_PRESET_UNKNOWN']],
    ],
    [
      'unknown preset option',
      { preset: { name: 'cloudflare', ranges: [] } },
      [['resolve.preset.ranges', 'ERR_REALIP_OPTION_UNKNOWN']],
    ],
    [
      'aws-alb needs trustedProxies',
      { preset: 'aws-alb' },
      [['resolve.trustedProxies', 'ERR_REALIP_PRESET_TRUST_REQUIRED']],
    ],
    [
      'akamai needs trustedProxies',
      { preset: 'akamai' },
      [['resolve.trustedProxies', 'ERR_REALIP_PRESET_TRUST_REQUIRED']],
    ],
    [
      'ingress-nginx needs trustedProxies',
      { preset: 'ingress-nginx', trustedProxies: [] },
      [['resolve.trustedProxies', 'ERR_REALIP_PRESET_TRUST_REQUIRED']],
    ],
    [
      'azure-front-door needs trustedProxies and a tenant check',
      { preset: 'azure-front-door' },
      [
        ['resolve.trustedProxies', 'ERR_REALIP_PRESET_TRUST_REQUIRED'],
        ['resolve.preset.requireHeader', 'ERR_REALIP_PRESET_TENANT_REQUIRED'],
      ],
    ],
    [
      'header with a preset',
      { preset: 'cloudflare', header: 'x-real-ip' },
      [['resolve.header', 'ERR_REALIP_PRESET_CONFLICT']],
    ],
    [
      'hops with a preset',
      { preset: 'cloudflare', hops: 1 },
      [['resolve.hops', 'ERR_REALIP_PRESET_CONFLICT']],
    ],
    [
      'hops outside the gcp-lb object',
      { preset: 'gcp-lb', hops: 3 },
      [['resolve.hops', 'ERR_REALIP_PRESET_CONFLICT']],
    ],
    [
      'preset hops where not allowed',
      { preset: { name: 'fastly', hops: 2 } },
      [['resolve.preset.hops', 'ERR_REALIP_PRESET_CONFLICT']],
    ],
    [
      'preset header not offered',
      { preset: { name: 'fastly', header: 'x-real-ip' } },
      [['resolve.preset.header', 'ERR_REALIP_PRESET_CONFLICT']],
    ],
    [
      'requireHeader without name',
      { preset: { name: 'cloudflare', requireHeader: { value: 'x' } } },
      [['resolve.preset.requireHeader.name', 'ERR_REALIP_HEADER_INVALID']],
    ],
    [
      'requireHeader empty value',
      { preset: { name: 'cloudflare', requireHeader: { name: 'x-secret', value: '' } } },
      [['resolve.preset.requireHeader.value', 'ERR_REALIP_OPTION_INVALID']],
    ],
    [
      'requireHeader value list with a comma',
      { preset: { name: 'cloudflare', requireHeader: { name: 'x-secret', value: ['a', 'b,c'] } } },
      [['resolve.preset.requireHeader.value', 'ERR_REALIP_OPTION_INVALID']],
    ],
    [
      'requireHeader not an object',
      { preset: { name: 'cloudflare', requireHeader: 'x' } },
      [['resolve.preset.requireHeader', 'ERR_REALIP_OPTION_INVALID']],
    ],
    [
      'requireHeader unknown key',
      { preset: { name: 'cloudflare', requireHeader: { name: 'x-s', value: 'v', values: [] } } },
      [['resolve.preset.requireHeader.values', 'ERR_REALIP_OPTION_UNKNOWN']],
    ],
  ])('%s', (_name, options, expected) => {
    expect(issuesOf(options)).toEqual(expected);
  });

  it('reports every problem at once, in one error', () => {
    const issues = issuesOf({ trustedProxies: ['x', '0.0.0.0/0'], header: 'a b', maxEntries: -1, bogus: 1 });
    expect(issues.map(([p]) => p).sort()).toEqual(
      [
        'resolve.bogus',
        'resolve.header',
        'resolve.maxEntries',
        'resolve.trustedProxies[0]',
        'resolve.trustedProxies[1]',
      ].sort(),
    );
  });

  it('the message names the path, the value and the fix', () => {
    expect(() => createResolver({ trustedProxies: ['10.0.0.0/8', 'loopback', '10.0.0/8'] })).toThrow(
      /resolve\.trustedProxies\[2\]: invalid address "10\.0\.0" in "10\.0\.0\/8"/,
    );
    expect(() => createResolver({ trustedProxies: ['0.0.0.0/0'] })).toThrow(/allowTrustAll/);
  });

  it('paths follow settings.path', () => {
    expect(issuesOf({ hops: 0 }, { path: 'sidecar.resolve' })).toEqual([
      ['sidecar.resolve.hops', 'ERR_REALIP_HOPS_INVALID'],
    ]);
  });

  it('extraKeys lets an adapter pass its own options through', () => {
    expect(() => createResolver({ setReqIp: false } as never, { extraKeys: ['setReqIp'] })).not.toThrow();
  });

  it('allowTrustAll accepts trust-everything', () => {
    expect(createResolver({ trustedProxies: ['0.0.0.0/0'], allowTrustAll: true }).trustsProxies).toBe(true);
  });
});

describe('normalised options', () => {
  it('defaults', () => {
    const r = createResolver();
    expect(r.header).toBe('x-forwarded-for');
    expect(r.trustsProxies).toBe(false);
    expect(r.options).toEqual({
      trustedProxies: [],
      header: 'x-forwarded-for',
      hops: 0,
      preset: undefined,
      presetRanges: [],
      requireHeader: undefined,
      maxEntries: 16,
      maxHeaderBytes: 4096,
      allowTrustAll: false,
      nodeCidrs: [],
    });
    expect(Object.isFrozen(r.options)).toBe(true);
  });

  it('a preset fills header, hops and ranges; the tenant secret is not exposed', () => {
    const r = createResolver({
      preset: { name: 'gcp-lb', hops: 3, requireHeader: { name: 'X-Secret', value: ['a', 'b'] } },
    });
    expect(r.options.header).toBe('x-forwarded-for');
    expect(r.options.hops).toBe(3);
    expect(r.options.presetRanges).toEqual(['35.191.0.0/16', '130.211.0.0/22']);
    expect(r.options.requireHeader).toEqual({ name: 'x-secret', valueCount: 2 });
    expect(JSON.stringify(r.options)).not.toMatch(/"a"|"b"/);
  });

  it("does not keep a reference to the caller's arrays", () => {
    const list = ['10.0.0.0/8'];
    const r = createResolver({ trustedProxies: list });
    list.push('0.0.0.0/0');
    expect(r.options.trustedProxies).toEqual(['10.0.0.0/8']);
    expect(r.resolve({ remoteAddress: '192.0.2.1', headers: { 'x-forwarded-for': '1.1.1.1' } }).ip).toBe(
      '192.0.2.1',
    );
  });
});
