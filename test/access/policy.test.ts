import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  createAccessPolicy,
  createIpLists,
  type AccessDecision,
  type AccessOptions,
} from '../../src/index.js';
import type { GeoInfo } from '../../src/types.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const pick = (d: AccessDecision) => [d.allowed, d.reason, d.rule];

describe('precedence', () => {
  const lists = createIpLists({
    partners: ['198.51.100.0/24', '2001:db8:beef::/48'],
    blocked: ['198.51.100.66', '203.0.113.0/25'],
  });
  const policy = createAccessPolicy({
    lists,
    allow: [
      '10.0.0.0/8', // 0
      { list: 'partners' }, // 1
      { cidr: '192.168.0.0/16', except: ['192.168.1.0/24', '192.168.2.128/25'] }, // 2
      'loopback', // 3
      '2001:db8::/32', // 4
      '203.0.113.0/24', // 5
    ],
    deny: [
      '10.66.0.0/16', // 0
      { list: 'blocked' }, // 1
      '2001:db8:dead::/48', // 2
      '10.66.6.0/24', // 3 (inside 0: 0 decides)
      { cidr: '172.16.0.0/12', except: ['172.16.5.0/24'] }, // 4
    ],
  });

  it.each<[string, boolean, string, string | undefined]>([
    // deny wins over allow
    ['10.66.1.1', false, 'deny-list', 'deny[0]'],
    ['10.66.6.6', false, 'deny-list', 'deny[0]'],
    ['::ffff:10.66.1.1', false, 'deny-list', 'deny[0]'],
    ['198.51.100.66', false, 'deny-list', 'list:blocked'],
    ['203.0.113.5', false, 'deny-list', 'list:blocked'],
    ['203.0.113.200', true, 'allow-list', 'allow[5]'],
    ['2001:db8:dead::1', false, 'deny-list', 'deny[2]'],
    ['2001:DB8:DEAD:0:0::1', false, 'deny-list', 'deny[2]'],
    ['172.20.0.1', false, 'deny-list', 'deny[4]'],
    // except carves out of a deny block: not denied, and not allowed either
    ['172.16.5.1', false, 'not-allowed', undefined],
    // allow rules, first by position
    ['10.1.2.3', true, 'allow-list', 'allow[0]'],
    ['::ffff:10.1.2.3', true, 'allow-list', 'allow[0]'],
    ['::ffff:a01:203', true, 'allow-list', 'allow[0]'],
    ['198.51.100.1', true, 'allow-list', 'list:partners'],
    ['2001:db8:beef::1', true, 'allow-list', 'list:partners'],
    ['2001:db8:1::1', true, 'allow-list', 'allow[4]'],
    ['192.168.0.1', true, 'allow-list', 'allow[2]'],
    ['192.168.1.1', false, 'not-allowed', undefined],
    ['192.168.2.127', true, 'allow-list', 'allow[2]'],
    ['192.168.2.128', false, 'not-allowed', undefined],
    ['127.0.0.1', true, 'allow-list', 'allow[3]'],
    ['::1', true, 'allow-list', 'allow[3]'],
    ['8.8.8.8', false, 'not-allowed', undefined],
    ['2001:db9::1', false, 'not-allowed', undefined],
  ])('%s -> allowed=%s %s %s', (ip, allowed, reason, rule) => {
    expect(pick(policy.decide(ip, undefined, '/'))).toEqual([allowed, reason, rule]);
  });

  it('an empty allow-list allows everything not denied', () => {
    const p = createAccessPolicy({ deny: ['10.0.0.0/8'] });
    expect(pick(p.decide('8.8.8.8', undefined))).toEqual([true, 'no-allow-list', undefined]);
    expect(pick(p.decide('10.0.0.1', undefined))).toEqual([false, 'deny-list', 'deny[0]']);
    expect(pick(createAccessPolicy({}).decide('2001:db8::1', undefined))).toEqual([
      true,
      'no-allow-list',
      undefined,
    ]);
  });

  it('an allow-list that only references an empty list still denies (it is not "no allow-list")', () => {
    const l = createIpLists({ empty: [] });
    const p = createAccessPolicy({ lists: l, allow: [{ list: 'empty' }] });
    expect(pick(p.decide('8.8.8.8', undefined))).toEqual([false, 'not-allowed', undefined]);
  });

  it('a list earlier in the array wins over a later static rule, and vice versa', () => {
    const l = createIpLists({ a: ['10.0.0.0/8'] });
    const p1 = createAccessPolicy({ lists: l, deny: [{ list: 'a' }, '10.1.0.0/16'] });
    const p2 = createAccessPolicy({ lists: l, deny: ['10.1.0.0/16', { list: 'a' }] });
    expect(p1.decide('10.1.0.1', undefined).rule).toBe('list:a');
    expect(p2.decide('10.1.0.1', undefined).rule).toBe('deny[0]');
    expect(p2.decide('10.2.0.1', undefined).rule).toBe('list:a');
  });

  it('named ranges and netmask rules', () => {
    const p = createAccessPolicy({ allow: ['private', 'cgnat', '198.51.100.0/255.255.255.0', 'ula'] });
    expect(p.decide('172.31.255.255', undefined).rule).toBe('allow[0]');
    expect(p.decide('100.64.0.1', undefined).rule).toBe('allow[1]');
    expect(p.decide('198.51.100.7', undefined).rule).toBe('allow[2]');
    expect(p.decide('fd00::1', undefined).rule).toBe('allow[3]');
    expect(p.decide('100.128.0.1', undefined).allowed).toBe(false);
  });

  it('reuses the same decision object for the same rule (no per-request allocation)', () => {
    expect(policy.decide('10.1.2.3', undefined)).toBe(policy.decide('10.9.9.9', undefined));
    expect(Object.isFrozen(policy.decide('10.1.2.3', undefined))).toBe(true);
  });
});

describe('undeterminable', () => {
  it.each<[AccessOptions['undeterminable'], boolean]>([
    [undefined, false],
    ['deny', false],
    ['allow', true],
  ])('undeterminable=%s -> allowed=%s', (undeterminable, allowed) => {
    const p = createAccessPolicy(undeterminable === undefined ? {} : { undeterminable });
    for (const ip of [undefined, '', 'unknown', '010.0.0.1', 'fe80::1%eth0', '1.2.3.4:80']) {
      expect(pick(p.decide(ip, undefined, '/'))).toEqual([allowed, 'undeterminable', undefined]);
    }
  });

  it('denies an undeterminable client even when nothing is configured (never a silent allow)', () => {
    expect(createAccessPolicy().decide(undefined, undefined).allowed).toBe(false);
  });
});

describe('exemptions', () => {
  const p = createAccessPolicy({ allow: ['10.0.0.0/8'], exempt: ['/health', '/static/', '/'] });
  it.each<[string, boolean]>([
    ['/health', true],
    ['/health?probe=1', true],
    ['/healthz', false],
    ['/health/', false],
    ['/health/x', false],
    ['/static', true],
    ['/static/', true],
    ['/static/app.css', true],
    ['/statics/app.css', false],
    ['/', true],
    ['/?x=/health', true],
    ['/admin?x=/health', false],
    ['/static/../admin', false],
    ['/static/./admin', false],
    ['/static//admin', false],
    ['/health;x=1', false],
    ['/static/%2e%2e/admin', false],
    ['/static/%2E%2E/admin', false],
    ['/static/..%2fadmin', false],
    ['/static%2F..%2Fadmin', false],
    ['/static/..%5cadmin', false],
    ['/static/..\\admin', false],
    ['http://host/health', false],
  ])('%s exempt=%s', (url, exempt) => {
    const d = p.decide('8.8.8.8', undefined, url);
    expect(d.allowed).toBe(exempt);
    expect(d.reason).toBe(exempt ? 'exempt' : 'not-allowed');
  });

  it('exempts even undeterminable clients (health probes without a resolvable IP)', () => {
    expect(p.decide(undefined, undefined, '/health').reason).toBe('exempt');
  });
});

describe('countries', () => {
  const geo = (country?: string, network?: GeoInfo['network']): GeoInfo => ({
    ...(country ? { country } : {}),
    ...(network ? { network } : {}),
  });
  const p = createAccessPolicy({
    allow: ['10.0.0.0/8'],
    deny: ['10.66.0.0/16'],
    countries: { allow: ['de', 'AT'], deny: ['RU'] },
  });
  it.each<[string, GeoInfo | undefined, boolean, string, string | undefined]>([
    ['8.8.8.8', geo('DE'), true, 'country-allow', 'country:DE'],
    ['8.8.8.8', geo('AT'), true, 'country-allow', 'country:AT'],
    ['8.8.8.8', geo('FR'), false, 'not-allowed', undefined],
    ['8.8.8.8', geo('RU'), false, 'country-deny', 'country:RU'],
    // deny wins over allow: a RU address inside an allow CIDR is denied
    ['10.1.1.1', geo('RU'), false, 'country-deny', 'country:RU'],
    // CIDR deny wins over a country allow
    ['10.66.1.1', geo('DE'), false, 'deny-list', 'deny[0]'],
    // private network: no country, known; the CIDR allow decides
    ['10.1.1.1', geo(undefined, 'private'), true, 'allow-list', 'allow[0]'],
    ['192.168.1.1', geo(undefined, 'private'), false, 'not-allowed', undefined],
    // unknown country with a country deny list: denied (conservative)
    ['8.8.8.8', undefined, false, 'country-unknown', undefined],
    ['8.8.8.8', geo(), false, 'country-unknown', undefined],
    ['10.1.1.1', undefined, false, 'country-unknown', undefined],
  ])('%s %j -> %s %s %s', (ip, g, allowed, reason, rule) => {
    expect(pick(p.decide(ip, g))).toEqual([allowed, reason, rule]);
  });

  it('unknownCountry: allow lets unknown countries through the country checks', () => {
    const q = createAccessPolicy({ countries: { deny: ['RU'] }, unknownCountry: 'allow' });
    expect(pick(q.decide('8.8.8.8', undefined))).toEqual([true, 'no-allow-list', undefined]);
    expect(pick(q.decide('8.8.8.8', geo('RU')))).toEqual([false, 'country-deny', 'country:RU']);
  });

  it('only a country allow-list: not-allowed is reported as country-not-allowed', () => {
    const q = createAccessPolicy({ countries: { allow: ['DE'] } });
    expect(pick(q.decide('8.8.8.8', geo('FR')))).toEqual([false, 'country-not-allowed', undefined]);
    expect(pick(q.decide('8.8.8.8', undefined))).toEqual([false, 'country-unknown', undefined]);
    expect(pick(q.decide('10.0.0.1', geo(undefined, 'private')))).toEqual([
      false,
      'country-not-allowed',
      undefined,
    ]);
  });

  it('an allow CIDR match does not need a country when only allow countries are set', () => {
    const q = createAccessPolicy({ allow: ['10.0.0.0/8'], countries: { allow: ['DE'] } });
    expect(pick(q.decide('10.0.0.1', undefined))).toEqual([true, 'allow-list', 'allow[0]']);
    expect(q.usesCountries).toBe(true);
  });
});

describe('denial response', () => {
  it('is an RFC 9457 problem without the IP by default', () => {
    const p = createAccessPolicy({ deny: ['10.0.0.0/8'] });
    const d = p.decide('10.1.2.3', undefined);
    const r = p.denial(d, '10.1.2.3');
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(body).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'Access from your network is not allowed.',
    });
    expect(r.body).not.toContain('10.1.2.3');
    expect(r.body).not.toContain('deny');
  });

  it('exposeIp and exposeReason add members', () => {
    const p = createAccessPolicy({
      deny: ['2001:db8::/32'],
      exposeIp: true,
      exposeReason: true,
      problemType: 'https://example.com/problems/ip-denied',
    });
    const d = p.decide('2001:db8::1', undefined);
    expect(JSON.parse(p.denial(d, '2001:db8::1').body)).toMatchObject({
      type: 'https://example.com/problems/ip-denied',
      ip: '2001:db8::1',
      reason: 'deny-list',
      rule: 'deny[0]',
    });
    // undeterminable: no ip member at all
    const u = p.decide(undefined, undefined);
    expect(JSON.parse(p.denial(u, undefined).body)).not.toHaveProperty('ip');
  });
});

describe('configuration errors', () => {
  it('reports every invalid rule with its position', () => {
    const e = configError(() =>
      createAccessPolicy({
        allow: ['10.0.0.0/8', '10.0.0/8', { cidr: '10.0.0.0/8', except: ['11.0.0.0/8'] }, { list: 'nope' }],
        deny: ['ok', '::/129', 42 as unknown as string],
        countries: { allow: ['DEU', 'de'], deny: ['DE'] },
        exempt: ['health', '/a/../b'],
        undeterminable: 'maybe' as 'deny',
        exposeIp: 'yes' as unknown as boolean,
      }),
    );
    expect(e.issues.map((i) => i.path)).toEqual([
      'access.allow[1]',
      'access.allow[2].except[0]',
      'access.deny[0]',
      'access.deny[1]',
      'access.deny[2]',
      'access.countries.allow[0]',
      'access.countries.allow',
      'access.exempt[0]',
      'access.exempt[1]',
      'access.undeterminable',
      'access.exposeIp',
      // References are resolved after every option is read (a cross-field rule of the spec).
      'access.allow[3].list',
    ]);
    expect(e.message).toContain('access.allow[1]: invalid address "10.0.0" in "10.0.0/8"');
    expect(e.message).toContain('unknown list (got "nope"');
    expect(e.code).toBe('ERR_REALIP_CONFIG');
  });

  it('an unknown list is ERR_REALIP_LIST_UNKNOWN and names the defined lists', () => {
    const e = configError(() =>
      createAccessPolicy({ lists: { partners: ['10.0.0.0/8'] }, deny: [{ list: 'partner' }] }),
    );
    expect(e.code).toBe('ERR_REALIP_LIST_UNKNOWN');
    expect(e.message).toBe('access.deny[0].list: unknown list (got "partner", expected one of partners)');
  });

  it('list definitions given inline are validated under access.lists', () => {
    const e = configError(() => createAccessPolicy({ lists: { bad: ['10.0.0/8'], 'no space': [] } }));
    expect(e.issues.map((i) => i.path)).toEqual(['access.lists.bad[0]', 'access.lists["no space"]']);
  });

  it('rejects unknown options (typos must not silently disable a filter)', () => {
    const e = configError(() => createAccessPolicy({ alow: ['10.0.0.0/8'] } as AccessOptions));
    expect(e.issues[0]!.path).toBe('access.alow');
  });

  it('uses a custom path prefix', () => {
    const e = configError(() => createAccessPolicy({ deny: ['x'] }, { path: 'policies.api.access' }));
    expect(e.issues[0]!.path).toBe('policies.api.access.deny[0]');
  });
});
