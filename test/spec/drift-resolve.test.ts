import { describe, expect, it } from 'vitest';
import { createResolver } from '../../src/resolve/resolver.js';
import { ConfigError } from '../../src/errors.js';
import { checkPolicyText } from '../../src/policy/parse.js';
import { resolverSpec } from '../../src/resolve/spec.js';
import { driftSuite, factoryVerdict, policyVerdict, type DriftStage } from './drift.js';

const common = {
  spec: resolverSpec,
  skip: ['onWarning'],
  factory: (o: Record<string, unknown>) => createResolver({ ...o, onWarning: () => {} }),
  policy: (o: Record<string, unknown>) => ({ version: 1, resolve: o }),
  factoryPath: 'resolve',
  policyPath: 'resolve',
};

/** Without a preset: header, hops and the bounds of the walk. */
const plain: DriftStage = {
  ...common,
  name: 'resolve',
  base: {
    trustedProxies: ['10.0.0.0/8', { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] }],
    header: 'x-forwarded-for',
    hops: 2,
    maxEntries: 16,
    maxHeaderBytes: 4096,
    allowTrustAll: false,
    nodeCidrs: ['10.1.0.0/16'],
  },
};

/** With a preset object: its name, hops and tenant check. */
const preset: DriftStage = {
  ...common,
  name: 'resolve.preset',
  // With a preset, top-level hops is a conflict whatever its value (the plain suite walks it).
  skip: ['onWarning', 'hops'],
  base: {
    trustedProxies: ['10.0.0.0/8'],
    preset: { name: 'gcp-lb', hops: 3, requireHeader: { name: 'x-tenant', value: ['a', 'b'] } },
    maxEntries: 16,
  },
};

driftSuite(plain);
driftSuite(preset);

/** Values one side accepted and the other refused, before the spec: now the same verdict, same path. */
describe('resolve: former disagreements between createResolver and the policy file', () => {
  const both = (stage: DriftStage, options: Record<string, unknown>) => ({
    factory: factoryVerdict(stage, options),
    policy: policyVerdict(stage, options),
  });

  it.each<[string, Record<string, unknown>, string[] | undefined]>([
    // The factory took hops up to maxEntries (1024); the policy file at most 64.
    ['hops 80 with maxEntries 100', { trustedProxies: ['10.0.0.0/8'], hops: 80, maxEntries: 100 }, ['hops']],
    // The policy file took hops up to 64 whatever maxEntries; the walk never reads past maxEntries.
    ['hops 20 with the default maxEntries', { trustedProxies: ['10.0.0.0/8'], hops: 20 }, ['hops']],
    [
      'hops with a single-IP header',
      { trustedProxies: ['10.0.0.0/8'], hops: 1, header: 'x-real-ip' },
      ['hops'],
    ],
    ['preset hops above maxEntries', { preset: { name: 'gcp-lb', hops: 20 } }, ['preset.hops']],
    ['preset hops where the preset takes none', { preset: { name: 'fastly', hops: 2 } }, ['preset.hops']],
    ['a forbidden header', { header: 'x-original-forwarded-for' }, ['header']],
    [
      'a forbidden preset header',
      { preset: { name: 'fastly', header: 'x_forwarded_for' } },
      ['preset.header'],
    ],
    [
      'a header the preset does not offer',
      { preset: { name: 'cloudflare', header: 'x-real-ip' } },
      ['preset.header'],
    ],
    ['header next to a preset', { preset: 'cloudflare', header: 'cf-connecting-ip' }, ['header']],
    ['a preset without the deployment addresses', { preset: 'ingress-nginx' }, ['trustedProxies']],
    [
      'a preset that needs a tenant check',
      { preset: 'azure-front-door', trustedProxies: ['10.0.0.0/8'] },
      ['preset.requireHeader'],
    ],
    [
      'a tenant check without a header name',
      { preset: { name: 'cloudflare', requireHeader: { value: 'x' } } },
      ['preset.requireHeader.name'],
    ],
    [
      'a tenant value with a comma',
      { preset: { name: 'cloudflare', requireHeader: { name: 'x-t', value: ['a', 'b,c'] } } },
      ['preset.requireHeader.value'],
    ],
    // The policy file only saw a /0 rule; rules adding up to every address passed it.
    ['trust-all by halves', { trustedProxies: ['0.0.0.0/1', '128.0.0.0/1'] }, ['trustedProxies']],
    ['trust-all allowed', { trustedProxies: ['0.0.0.0/1', '128.0.0.0/1'], allowTrustAll: true }, undefined],
    [
      'a /0 block with an exception',
      { trustedProxies: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }] },
      undefined,
    ],
  ])('%s', (_name, options, paths) => {
    const v = both(plain, options);
    const expected = paths?.map((p) => `resolve.${p}`);
    expect(v.factory).toEqual(expected);
    expect(v.policy).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['trust-all', { trustedProxies: ['0.0.0.0/0'] }, 'ERR_REALIP_TRUST_ALL'],
    ['deployment addresses', { preset: 'ingress-nginx' }, 'ERR_REALIP_PRESET_TRUST_REQUIRED'],
    [
      'tenant check',
      { preset: 'azure-front-door', trustedProxies: ['10.0.0.0/8'] },
      'ERR_REALIP_PRESET_TENANT_REQUIRED',
    ],
    ['preset conflict', { preset: 'gcp-lb', hops: 3 }, 'ERR_REALIP_PRESET_CONFLICT'],
    ['hops and maxEntries', { hops: 20 }, 'ERR_REALIP_HOPS_INVALID'],
    ['forbidden header', { header: 'x-azure-clientip' }, 'ERR_REALIP_HEADER_INVALID'],
    ['unknown preset', { preset: 'cloudflair' }, 'ERR_REALIP_PRESET_UNKNOWN'],
  ])('a rule reports the same code both ways: %s', (_name, options, code) => {
    let factory: (string | undefined)[] = [];
    try {
      createResolver({ ...options, onWarning: () => {} });
    } catch (e) {
      factory = (e as ConfigError).issues.map((i) => i.code);
    }
    const policy = checkPolicyText(JSON.stringify({ resolve: options })).issues.map((i) => i.code);
    expect(factory).toEqual([code]);
    expect(policy).toEqual([code]);
  });
});
