/** Every preset: its header, its trust rule, its required options and its range data. */
import { describe, expect, it } from 'vitest';
import { ConfigError, createResolver } from '../../src/index.js';
import { parseCidr } from '../../src/core/cidr.js';
import { PRESET_NAMES, PRESETS } from '../../src/resolve/presets.js';
import { CLOUDFLARE } from '../../src/core/data/cloudflare.js';
import { CLOUDFRONT } from '../../src/core/data/cloudfront.js';
import { FASTLY } from '../../src/core/data/fastly.js';
import { GCP_GFE } from '../../src/core/data/gcp.js';
import { make, run } from './helpers.js';

describe('range data', () => {
  it.each([
    ['cloudflare', CLOUDFLARE],
    ['cloudfront', CLOUDFRONT],
    ['fastly', FASTLY],
    ['gcp', GCP_GFE],
  ] as const)('%s: every range parses, with a source URL and a date', (_name, data) => {
    expect(data.source).toMatch(/^https:\/\//);
    expect(data.retrieved).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(data.ranges.length).toBeGreaterThan(0);
    for (const r of data.ranges) {
      const c = parseCidr(r);
      expect(typeof c, r).toBe('object');
      // Written in canonical network form, so the list reads like the provider's.
      expect(typeof c === 'object' && c.text).toBe(r);
    }
    expect(new Set(data.ranges).size).toBe(data.ranges.length);
  });

  it('every preset is documented by its spec', () => {
    expect([...PRESET_NAMES].sort()).toEqual(
      [
        'akamai',
        'aws-alb',
        'azure-front-door',
        'cloudflare',
        'cloudfront',
        'fastly',
        'gcp-lb',
        'ingress-nginx',
      ].sort(),
    );
    for (const name of PRESET_NAMES) {
      const s = PRESETS[name];
      // A preset either ships ranges or requires the deployment's own.
      expect(s.ranges.length > 0 || s.requiresTrustedProxies !== undefined, name).toBe(true);
    }
  });
});

describe('cloudflare', () => {
  it.each([
    ['173.245.48.1', { 'cf-connecting-ip': '198.51.100.7' }, '198.51.100.7'],
    ['2606:4700::1', { 'cf-connecting-ip': '2001:db8::9' }, '2001:db8::9'],
    ['::ffff:104.16.0.1', { 'cf-connecting-ip': '198.51.100.7' }, '198.51.100.7'],
    ['203.0.113.9', { 'cf-connecting-ip': '198.51.100.7' }, '203.0.113.9'],
    ['173.245.48.1', { 'x-forwarded-for': '198.51.100.7' }, '173.245.48.1'],
  ])('peer %s %j -> %s', (peer, headers, ip) => {
    expect(run({ preset: 'cloudflare' }, peer, headers).ip).toBe(ip);
  });

  it('trustedProxies adds to the published ranges (e.g. a load balancer behind Cloudflare)', () => {
    const r = run({ preset: 'cloudflare', trustedProxies: ['10.0.0.0/8'] }, '10.1.1.1', {
      'cf-connecting-ip': '198.51.100.7',
    });
    expect(r.ip).toBe('198.51.100.7');
  });
});

describe('cloudfront', () => {
  it.each([
    ['198.51.100.10:46532', '198.51.100.10'],
    ['2001:db8:85a3::8a2e:370:7334:46532', '2001:db8:85a3::8a2e:370:7334'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['198.51.100.10', '198.51.100.10'],
    ['garbage:1', '13.32.0.1'],
  ])('cloudfront-viewer-address %s -> %s', (value, ip) => {
    expect(run({ preset: 'cloudfront' }, '13.32.0.1', { 'cloudfront-viewer-address': value }).ip).toBe(ip);
  });

  it('peers outside CloudFront are the client', () => {
    expect(
      run({ preset: 'cloudfront' }, '203.0.113.9', { 'cloudfront-viewer-address': '1.1.1.1:1' }).ip,
    ).toBe('203.0.113.9');
  });
});

describe('gcp-lb', () => {
  it('the client is second from the right (the rightmost is the load balancer)', () => {
    const r = run({ preset: 'gcp-lb' }, '35.191.3.4', {
      'x-forwarded-for': '6.6.6.6, 198.51.100.7, 34.120.1.1',
    });
    expect([r.ip, r.reason]).toEqual(['198.51.100.7', 'hops']);
  });

  it('a GFE peer is required: direct traffic is the client', () => {
    expect(run({ preset: 'gcp-lb' }, '203.0.113.9', { 'x-forwarded-for': '6.6.6.6, 7.7.7.7' }).ip).toBe(
      '203.0.113.9',
    );
  });

  it('130.211.0.0/22 is a GFE range too', () => {
    expect(run({ preset: 'gcp-lb' }, '130.211.1.1', { 'x-forwarded-for': '198.51.100.7, 34.1.1.1' }).ip).toBe(
      '198.51.100.7',
    );
  });

  it('a shorter list is undeterminable', () => {
    expect(run({ preset: 'gcp-lb' }, '35.191.3.4', { 'x-forwarded-for': '34.120.1.1' }).reason).toBe(
      'hops-short',
    );
  });

  it('hops can be raised for an extra proxy (and the extra proxy trusted)', () => {
    const r = run({ preset: { name: 'gcp-lb', hops: 3 }, trustedProxies: ['10.0.0.0/8'] }, '10.8.0.1', {
      'x-forwarded-for': '198.51.100.7, 34.120.1.1, 35.191.3.4',
    });
    expect(r.ip).toBe('198.51.100.7');
  });
});

describe('aws-alb', () => {
  const opts = { preset: 'aws-alb', trustedProxies: ['10.0.0.0/16'] } as const;
  it.each([
    ['198.51.100.7', '198.51.100.7'],
    ['6.6.6.6, 198.51.100.7', '198.51.100.7'],
    ['198.51.100.7:53211', '198.51.100.7'],
    ['[2001:db8::5]:53211', '2001:db8::5'],
  ])('x-forwarded-for %s -> %s', (xff, ip) => {
    expect(run(opts, '10.0.1.10', { 'x-forwarded-for': xff }).ip).toBe(ip);
  });

  it('requires trustedProxies', () => {
    expect(() => createResolver({ preset: 'aws-alb' })).toThrow(/subnets of your Application Load Balancer/);
  });
});

describe('azure-front-door', () => {
  const opts = {
    preset: { name: 'azure-front-door', requireHeader: { value: 'a1b2c3d4-0000-4000-8000-000000000001' } },
    trustedProxies: ['147.243.0.0/16', '2a01:111:2050::/44'],
  } as const;

  it('reads x-azure-socketip when the Front Door ID matches', () => {
    const r = run(opts, '147.243.0.10', {
      'x-azure-fdid': 'a1b2c3d4-0000-4000-8000-000000000001',
      'x-azure-socketip': '198.51.100.7',
      'x-azure-clientip': '6.6.6.6',
      'x-forwarded-for': '6.6.6.6',
    });
    expect([r.ip, r.header]).toEqual(['198.51.100.7', 'x-azure-socketip']);
  });

  it.each([
    [{}],
    [{ 'x-azure-fdid': 'a1b2c3d4-0000-4000-8000-000000000002' }],
    [{ 'x-azure-fdid': 'a1b2c3d4-0000-4000-8000-00000000000' }],
    [{ 'x-azure-fdid': 'a1b2c3d4-0000-4000-8000-000000000001, a1b2c3d4-0000-4000-8000-000000000001' }],
    [{ 'x-azure-fdid': ['a1b2c3d4-0000-4000-8000-000000000001', 'a1b2c3d4-0000-4000-8000-000000000001'] }],
  ])('another Front Door instance (%j) is not believed', (fdid) => {
    const { r, warnings } = make(opts);
    const res = r.resolve({
      remoteAddress: '147.243.0.10',
      headers: { ...fdid, 'x-azure-socketip': '6.6.6.6' },
    });
    expect([res.ip, res.reason, res.complete]).toEqual(['147.243.0.10', 'tenant-mismatch', false]);
    expect(warnings).toEqual(['WRN_REALIP_TENANT_MISMATCH']);
    expect(res.explain()).toContain('tenant check failed');
  });

  it('accepts several IDs (rotation) and raw header pairs', () => {
    const o = {
      ...opts,
      preset: { name: 'azure-front-door', requireHeader: { value: ['old-id', 'new-id'] } },
    } as const;
    const r = run(o, '147.243.0.10', ['X-Azure-FDID', 'old-id', 'X-Azure-SocketIP', '198.51.100.7']);
    expect(r.ip).toBe('198.51.100.7');
  });

  it('requires a tenant check and trustedProxies', () => {
    expect(() => createResolver({ preset: 'azure-front-door', trustedProxies: ['147.243.0.0/16'] })).toThrow(
      ConfigError,
    );
  });
});

describe('akamai', () => {
  it('reads true-client-ip from the configured ranges only', () => {
    const opts = { preset: 'akamai', trustedProxies: ['23.32.0.0/11'] } as const;
    expect(run(opts, '23.33.0.1', { 'true-client-ip': '198.51.100.7' }).ip).toBe('198.51.100.7');
    expect(run(opts, '203.0.113.9', { 'true-client-ip': '198.51.100.7' }).ip).toBe('203.0.113.9');
  });
});

describe('fastly', () => {
  it('walks x-forwarded-for over the Fastly ranges (shielding adds a Fastly hop)', () => {
    const r = run({ preset: 'fastly' }, '151.101.1.1', {
      'x-forwarded-for': '6.6.6.6, 198.51.100.7, 151.101.2.2',
    });
    expect(r.ip).toBe('198.51.100.7');
  });
  it('ignores traffic from outside Fastly', () => {
    expect(run({ preset: 'fastly' }, '203.0.113.9', { 'x-forwarded-for': '6.6.6.6' }).ip).toBe('203.0.113.9');
  });
});

describe('ingress-nginx', () => {
  const opts = { preset: 'ingress-nginx', trustedProxies: ['10.244.0.0/16'] } as const;
  it('reads x-forwarded-for from the ingress pods', () => {
    expect(run(opts, '10.244.3.7', { 'x-forwarded-for': '198.51.100.7' }).ip).toBe('198.51.100.7');
  });
  it('with compute-full-forwarded-for: walks the ingress and its load balancer', () => {
    const o = { ...opts, trustedProxies: ['10.244.0.0/16', '10.0.0.0/24'] } as const;
    expect(run(o, '10.244.3.7', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.0.0.4' }).ip).toBe(
      '198.51.100.7',
    );
  });
  it('pods outside the CIDR are clients', () => {
    expect(run(opts, '10.245.0.1', { 'x-forwarded-for': '6.6.6.6' }).ip).toBe('10.245.0.1');
  });
});
