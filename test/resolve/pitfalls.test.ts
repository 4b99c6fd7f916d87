/**
 * The pitfalls of /work/shared/research/resolution-anchors.md §2 that concern the resolver, one row
 * each (numbered as there). Not here: 13 (X-Forwarded-Host/Proto are not resolved by realip), 39
 * (IPv6 rate-limit keys: the rate-limit stage), 58-64 (PROXY protocol bytes: the sidecar parser;
 * the resolver's side of PROXY input is in semantics.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, createResolver, type ResolverOptions } from '../../src/index.js';
import type { ResolutionReason } from '../../src/types.js';
import { make, run, T10, walkCost } from './helpers.js';

type Row = [
  id: string,
  options: ResolverOptions,
  peer: string | undefined,
  headers: Record<string, string | string[]> | string[],
  ip: string | undefined,
  reason: ResolutionReason,
];

const XFF = 'x-forwarded-for';
const CF_PEER = '173.245.48.1'; // inside Cloudflare's 173.245.48.0/20

const ROWS: Row[] = [
  // 2.1 Spoofing
  [
    '1 untrusted peer: headers ignored',
    T10,
    '203.0.113.9',
    { [XFF]: '1.2.3.4' },
    '203.0.113.9',
    'untrusted-peer',
  ],
  [
    '2 client-injected leftmost ignored',
    T10,
    '10.0.0.5',
    { [XFF]: '6.6.6.6, 198.51.100.7' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  [
    '3 walk right, skip trusted',
    T10,
    '10.0.0.5',
    { [XFF]: '6.6.6.6, 198.51.100.7, 10.0.0.2' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  [
    '4 never skip an untrusted entry',
    T10,
    '10.0.0.5',
    { [XFF]: '10.0.0.3, 198.51.100.7, 10.0.0.2' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  [
    '5 hops with trust: direct attacker is the client',
    { ...T10, hops: 1 },
    '203.0.113.9',
    { [XFF]: '1.2.3.4' },
    '203.0.113.9',
    'untrusted-peer',
  ],
  ['7 unconfigured headers ignored', T10, '10.0.0.5', { 'x-client-ip': '6.6.6.6' }, '10.0.0.5', 'no-header'],
  [
    '8 only the configured header',
    { preset: 'cloudflare' },
    CF_PEER,
    { 'cf-connecting-ip': '198.51.100.7', 'true-client-ip': '6.6.6.6', [XFF]: '7.7.7.7' },
    '198.51.100.7',
    'single-ip-header',
  ],
  [
    '9 single-IP header from an untrusted peer',
    { preset: 'cloudflare' },
    '203.0.113.9',
    { 'cf-connecting-ip': '6.6.6.6' },
    '203.0.113.9',
    'untrusted-peer',
  ],
  [
    '10 azure reads x-azure-socketip, not x-azure-clientip',
    {
      preset: { name: 'azure-front-door', requireHeader: { value: 'fd-1' } },
      trustedProxies: ['147.243.0.0/16'],
    },
    '147.243.1.1',
    { 'x-azure-fdid': 'fd-1', 'x-azure-clientip': '6.6.6.6', 'x-azure-socketip': '198.51.100.7' },
    '198.51.100.7',
    'single-ip-header',
  ],
  [
    '10 fastly reads x-forwarded-for, not fastly-client-ip',
    { preset: 'fastly' },
    '151.101.1.1',
    { 'fastly-client-ip': '6.6.6.6', [XFF]: '198.51.100.7' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  [
    '12 ingress-nginx never reads x-original-forwarded-for',
    { preset: 'ingress-nginx', trustedProxies: ['10.244.0.0/16'] },
    '10.244.1.5',
    { 'x-original-forwarded-for': '6.6.6.6', [XFF]: '198.51.100.7' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  [
    '13a underscore look-alike line is not the header',
    T10,
    '10.0.0.5',
    ['X_Forwarded_For', '6.6.6.6'],
    '10.0.0.5',
    'no-header',
  ],
  [
    '14 port, zone, case and ::ffff: collapse to one key',
    T10,
    '10.0.0.5',
    { [XFF]: '[::FFFF:198.51.100.7]:443' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  // 2.2 XFF parsing
  ['15 no spaces', T10, '10.0.0.5', { [XFF]: '1.2.3.4,5.6.7.8' }, '5.6.7.8', 'untrusted-entry'],
  ['16 tab after the comma', T10, '10.0.0.5', { [XFF]: '1.2.3.4,\t5.6.7.8' }, '5.6.7.8', 'untrusted-entry'],
  ['17 empty items skipped', T10, '10.0.0.5', { [XFF]: '1.2.3.4,,5.6.7.8, ,' }, '5.6.7.8', 'untrusted-entry'],
  ['17 all-empty XFF counts as absent', T10, '10.0.0.5', { [XFF]: ' , ,' }, '10.0.0.5', 'no-header'],
  [
    '18 unknown ends the walk',
    T10,
    '10.0.0.5',
    { [XFF]: '198.51.100.7, unknown' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '19 garbage right of the client: the trusted hop, never garbage',
    T10,
    '10.0.0.5',
    { [XFF]: '198.51.100.7, garbage' },
    '10.0.0.5',
    'invalid-entry',
  ],
  ['19 _hidden', T10, '10.0.0.5', { [XFF]: '198.51.100.7, _hidden' }, '10.0.0.5', 'invalid-entry'],
  ['19 proxy', T10, '10.0.0.5', { [XFF]: '198.51.100.7, proxy, 10.0.0.9' }, '10.0.0.9', 'invalid-entry'],
  [
    '20 garbage left of the client is irrelevant',
    T10,
    '10.0.0.5',
    { [XFF]: 'garbage, 198.51.100.7' },
    '198.51.100.7',
    'untrusted-entry',
  ],
  [
    '21 never skip past an invalid entry',
    T10,
    '10.0.0.5',
    { [XFF]: '6.6.6.6, garbage, 10.0.0.2' },
    '10.0.0.2',
    'invalid-entry',
  ],
  [
    '23 control character',
    T10,
    '10.0.0.5',
    { [XFF]: '198.51.100.7, 10.0.0.2\u0001' },
    '10.0.0.5',
    'invalid-entry',
  ],
  ['23 non-ASCII', T10, '10.0.0.5', { [XFF]: '198.51.100.7, １.２.３.４' }, '10.0.0.5', 'invalid-entry'],
  [
    '24 repeated lines are one list (raw pairs)',
    T10,
    '10.0.0.5',
    ['X-Forwarded-For', '1.1.1.1', 'X-Forwarded-For', '2.2.2.2, 10.0.0.2'],
    '2.2.2.2',
    'untrusted-entry',
  ],
  [
    '24 repeated lines are one list (string[])',
    T10,
    '10.0.0.5',
    { [XFF]: ['1.1.1.1', '10.0.0.3, 10.0.0.2'] },
    '1.1.1.1',
    'untrusted-entry',
  ],
  [
    '25 hops: shorter list is undeterminable',
    { ...T10, hops: 2 },
    '10.0.0.5',
    { [XFF]: '1.2.3.4' },
    undefined,
    'hops-short',
  ],
  [
    '26 hops: invalid entry at N is undeterminable',
    { ...T10, hops: 2 },
    '10.0.0.5',
    { [XFF]: '1.2.3.4, garbage, 10.0.0.2' },
    undefined,
    'invalid-entry',
  ],
  // 2.3 IP literal forms
  ['27 IPv4 with port', T10, '10.0.0.5', { [XFF]: '1.2.3.4:5678' }, '1.2.3.4', 'untrusted-entry'],
  [
    '28 bracketed IPv6 with port',
    T10,
    '10.0.0.5',
    { [XFF]: '[2001:db8::1]:443' },
    '2001:db8::1',
    'untrusted-entry',
  ],
  ['28 bracketed IPv6', T10, '10.0.0.5', { [XFF]: '[2001:db8::1]' }, '2001:db8::1', 'untrusted-entry'],
  [
    '29 bare IPv6: never split on the last colon',
    T10,
    '10.0.0.5',
    { [XFF]: '2001:db8::1:443' },
    '2001:db8::1:443',
    'untrusted-entry',
  ],
  ['30 mapped dotted', T10, '10.0.0.5', { [XFF]: '::ffff:192.0.2.1' }, '192.0.2.1', 'untrusted-entry'],
  ['30 mapped hex', T10, '10.0.0.5', { [XFF]: '::ffff:c000:201' }, '192.0.2.1', 'untrusted-entry'],
  [
    '30 mapped trusted entry is skipped',
    T10,
    '10.0.0.5',
    { [XFF]: '192.0.2.1, ::ffff:10.1.1.1' },
    '192.0.2.1',
    'untrusted-entry',
  ],
  [
    '31 dual-stack peer matches IPv4 CIDR',
    T10,
    '::ffff:10.0.0.1',
    { [XFF]: '192.0.2.1' },
    '192.0.2.1',
    'untrusted-entry',
  ],
  [
    '32 NAT64 is not unmapped',
    T10,
    '10.0.0.5',
    { [XFF]: '64:ff9b::c000:201' },
    '64:ff9b::c000:201',
    'untrusted-entry',
  ],
  [
    '32 6to4 is not unmapped',
    T10,
    '10.0.0.5',
    { [XFF]: '2002:c000:204::' },
    '2002:c000:204::',
    'untrusted-entry',
  ],
  [
    '32 2001:db8::1.2.3.4 is not mapped',
    T10,
    '10.0.0.5',
    { [XFF]: '2001:db8::1.2.3.4' },
    '2001:db8::102:304',
    'untrusted-entry',
  ],
  ['33 zone stripped', T10, '10.0.0.5', { [XFF]: 'fe80::1%eth0' }, 'fe80::1', 'untrusted-entry'],
  [
    '33 zone stripped for matching',
    { trustedProxies: ['10.0.0.0/8', 'fe80::/10'] },
    '10.0.0.5',
    { [XFF]: '192.0.2.1, fe80::1%eth0' },
    '192.0.2.1',
    'untrusted-entry',
  ],
  ['33 zone with / is invalid', T10, '10.0.0.5', { [XFF]: 'fe80::1%eth/0' }, '10.0.0.5', 'invalid-entry'],
  [
    '33 zone on the peer',
    { trustedProxies: ['fe80::/10'] },
    'fe80::1%eth0',
    { [XFF]: '192.0.2.1' },
    '192.0.2.1',
    'untrusted-entry',
  ],
  ['34 0.0.0.0 invalid', T10, '10.0.0.5', { [XFF]: '0.0.0.0' }, '10.0.0.5', 'invalid-entry'],
  ['34 :: invalid', T10, '10.0.0.5', { [XFF]: '::' }, '10.0.0.5', 'invalid-entry'],
  ['34 broadcast invalid', T10, '10.0.0.5', { [XFF]: '255.255.255.255' }, '10.0.0.5', 'invalid-entry'],
  [
    '34 mapped unspecified invalid',
    T10,
    '10.0.0.5',
    { [XFF]: '::ffff:0.0.0.0' },
    '10.0.0.5',
    'invalid-entry',
  ],
  ['35 leading zeros rejected', T10, '10.0.0.5', { [XFF]: '010.0.0.1' }, '10.0.0.5', 'invalid-entry'],
  [
    '36 integer form rejected',
    { trustedProxies: ['loopback'] },
    '127.0.0.1',
    { [XFF]: '6.6.6.6, 2130706433' },
    '127.0.0.1',
    'invalid-entry',
  ],
  ['36 short form rejected', T10, '10.0.0.5', { [XFF]: '127.1' }, '10.0.0.5', 'invalid-entry'],
  ['36 hex form rejected', T10, '10.0.0.5', { [XFF]: '0x7f.0.0.1' }, '10.0.0.5', 'invalid-entry'],
  ['37 1..2.3 rejected', T10, '10.0.0.5', { [XFF]: '1..2.3' }, '10.0.0.5', 'invalid-entry'],
  [
    '38 upper case, uncompressed -> RFC 5952',
    T10,
    '10.0.0.5',
    { [XFF]: '2001:0DB8:0:0::1' },
    '2001:db8::1',
    'untrusted-entry',
  ],
  // 2.4 Forwarded
  [
    '40 Forwarded for=',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' },
    '192.0.2.60',
    'untrusted-entry',
  ],
  [
    '40 parameter names case-insensitive',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'FOR=192.0.2.60, For=10.0.0.7' },
    '192.0.2.60',
    'untrusted-entry',
  ],
  [
    '41 quoted bracketed IPv6 with port',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for="[2001:db8:cafe::17]:4711"' },
    '2001:db8:cafe::17',
    'untrusted-entry',
  ],
  [
    '41 unquoted IPv6 is invalid (RFC 7239 §6)',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=[2001:db8:cafe::17]' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '42 for=unknown is opaque',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=192.0.2.1, for=unknown' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '42 for=_hidden is opaque',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=192.0.2.1, for=_hidden' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '42 for="_SEVKISEK" is opaque',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for="_SEVKISEK"' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '43 comma inside a quoted string',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for="1.1.1.1, for=2.2.2.2", for=4.4.4.4' },
    '4.4.4.4',
    'untrusted-entry',
  ],
  [
    '43 no phantom element',
    { trustedProxies: ['10.0.0.0/8', '2.2.2.2'], header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for="1.1.1.1, for=2.2.2.2", for=10.4.4.4' },
    '10.4.4.4',
    'invalid-entry',
  ],
  [
    '44 duplicate for makes the element invalid',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=1.1.1.1;for=2.2.2.2' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '45 unterminated quote on the left does not poison the right',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for="1.1.1.1, for=2.2.2.2, for=198.51.100.4' },
    '198.51.100.4',
    'untrusted-entry',
  ],
  [
    '46 quoted-pair',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for="1.2.3.\\4"' },
    '1.2.3.4',
    'untrusted-entry',
  ],
  [
    '47 spaces around = are invalid',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for= 1.1.1.1' },
    '10.0.0.5',
    'invalid-entry',
  ],
  [
    '47 spaces around ; are tolerated',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=1.1.1.1 ; proto=https' },
    '1.1.1.1',
    'untrusted-entry',
  ],
  [
    '48 Forwarded configured: XFF not read',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    { forwarded: 'for=1.1.1.1', [XFF]: '2.2.2.2' },
    '1.1.1.1',
    'untrusted-entry',
  ],
  [
    '48 XFF configured: Forwarded not read',
    T10,
    '10.0.0.5',
    { forwarded: 'for=1.1.1.1', [XFF]: '2.2.2.2' },
    '2.2.2.2',
    'untrusted-entry',
  ],
  [
    '49 multiple Forwarded lines are one list',
    { ...T10, header: 'forwarded' },
    '10.0.0.5',
    ['Forwarded', 'for=1.1.1.1', 'Forwarded', 'for=10.0.0.9;proto=https'],
    '1.1.1.1',
    'untrusted-entry',
  ],
  // 2.5 Single-IP headers
  [
    '50 two X-Real-IP lines (raw pairs) are ambiguous',
    { ...T10, header: 'x-real-ip' },
    '10.0.0.5',
    ['X-Real-IP', '3.3.3.3', 'X-Real-IP', '4.4.4.4'],
    '10.0.0.5',
    'ambiguous-header',
  ],
  [
    '50 two X-Real-IP lines (Node joined) are ambiguous',
    { ...T10, header: 'x-real-ip' },
    '10.0.0.5',
    { 'x-real-ip': '3.3.3.3, 4.4.4.4' },
    '10.0.0.5',
    'ambiguous-header',
  ],
  [
    '50 two X-Real-IP lines (string[]) are ambiguous',
    { ...T10, header: 'x-real-ip' },
    '10.0.0.5',
    { 'x-real-ip': ['3.3.3.3', '4.4.4.4'] },
    '10.0.0.5',
    'ambiguous-header',
  ],
  [
    '51 list in a single-IP header is ambiguous',
    { ...T10, header: 'x-real-ip' },
    '10.0.0.5',
    { 'x-real-ip': '1.1.1.1,2.2.2.2' },
    '10.0.0.5',
    'ambiguous-header',
  ],
  [
    '52 Cloudflare Pseudo IPv4 defers to CF-Connecting-IPv6',
    { preset: 'cloudflare' },
    CF_PEER,
    { 'cf-connecting-ip': '240.16.0.1', 'cf-connecting-ipv6': '2001:DB8::7' },
    '2001:db8::7',
    'single-ip-header',
  ],
  [
    '52 Pseudo IPv4 kept when no IPv6 header came',
    { preset: 'cloudflare' },
    CF_PEER,
    { 'cf-connecting-ip': '240.16.0.1' },
    '240.16.0.1',
    'single-ip-header',
  ],
  [
    '52 CF-Connecting-IPv6 ignored for a real IPv4',
    { preset: 'cloudflare' },
    CF_PEER,
    { 'cf-connecting-ip': '198.51.100.7', 'cf-connecting-ipv6': '2001:db8::7' },
    '198.51.100.7',
    'single-ip-header',
  ],
  [
    '53 raw header names are case-insensitive',
    { preset: 'cloudflare' },
    CF_PEER,
    ['CF-Connecting-IP', '198.51.100.7'],
    '198.51.100.7',
    'single-ip-header',
  ],
  [
    '53 configured header name is case-insensitive',
    { ...T10, header: 'X-Real-IP' },
    '10.0.0.5',
    { 'x-real-ip': '198.51.100.7' },
    '198.51.100.7',
    'single-ip-header',
  ],
  // 2.6 Peer and socket
  [
    '54 undefined peer is undeterminable, never localhost',
    T10,
    undefined,
    { [XFF]: '1.2.3.4' },
    undefined,
    'undefined-peer',
  ],
  ['55 Unix socket (undefined peer) without trust', {}, undefined, {}, undefined, 'undefined-peer'],
  [
    '56 socket mode ignores XFF',
    {},
    '203.0.113.9',
    { [XFF]: '1.2.3.4' },
    '203.0.113.9',
    'no-trusted-proxies',
  ],
];

describe('research pitfalls (§2)', () => {
  it.each(ROWS)('%s', (_id, options, peer, headers, ip, reason) => {
    const r = run(options, peer, headers);
    expect({ ip: r.ip, reason: r.reason }).toEqual({ ip, reason });
    // Whatever happens, the answer is an IP in canonical form or undefined.
    if (r.ip !== undefined) expect(r.chain[0]).toBe(r.ip);
  });

  it('6 trust-everything is refused, and shows why when allowed', () => {
    expect(() => createResolver({ trustedProxies: ['0.0.0.0/0'] })).toThrow(ConfigError);
    const r = run({ trustedProxies: ['0.0.0.0/0', '::/0'], allowTrustAll: true }, '203.0.113.9', {
      'x-forwarded-for': '6.6.6.6, 198.51.100.7',
    });
    expect(r.ip).toBe('6.6.6.6');
    expect(r.reason).toBe('all-trusted');
  });

  it('5 hops without trusted proxies warns at construction', () => {
    const { warnings } = make({ hops: 1 });
    expect(warnings).toEqual(['WRN_REALIP_HOPS_WITHOUT_TRUST']);
  });

  it('9a shared CDN ranges: a tenant check rejects another tenant', () => {
    const { r, warnings } = make({
      preset: { name: 'cloudflare', requireHeader: { name: 'x-origin-secret', value: 's3cret' } },
    });
    const other = r.resolve({ remoteAddress: CF_PEER, headers: { 'cf-connecting-ip': '6.6.6.6' } });
    expect([other.ip, other.reason, other.complete]).toEqual([CF_PEER, 'tenant-mismatch', false]);
    const ours = r.resolve({
      remoteAddress: CF_PEER,
      headers: { 'cf-connecting-ip': '198.51.100.7', 'x-origin-secret': 's3cret' },
    });
    expect(ours.ip).toBe('198.51.100.7');
    expect(warnings).toEqual(['WRN_REALIP_TENANT_MISMATCH']);
  });

  it('11 fastly over plain HTTP: the preset can read a VCL-overwritten Fastly-Client-IP instead', () => {
    const r = run({ preset: { name: 'fastly', header: 'fastly-client-ip' } }, '151.101.1.1', {
      'fastly-client-ip': '198.51.100.7',
      'x-forwarded-for': '6.6.6.6',
    });
    expect([r.ip, r.header]).toEqual(['198.51.100.7', 'fastly-client-ip']);
  });

  it('12 x-original-forwarded-for cannot be configured', () => {
    expect(() =>
      createResolver({ trustedProxies: ['10.0.0.0/8'], header: 'x-original-forwarded-for' }),
    ).toThrow(/X-Forwarded-For into it/);
  });

  it('13a underscore header names cannot be configured', () => {
    expect(() => createResolver({ header: 'X_Forwarded_For' })).toThrow(ConfigError);
  });

  it('14 every spelling of one client gives the same key', () => {
    const spellings = ['198.51.100.7', '::ffff:198.51.100.7', '198.51.100.7:1234', '[::FFFF:c633:6407]:80'];
    const keys = new Set(spellings.map((s) => run(T10, '10.0.0.5', { 'x-forwarded-for': s }).ip));
    expect([...keys]).toEqual(['198.51.100.7']);
    const v6 = ['2001:DB8::1', '2001:db8:0:0:0:0:0:1', '[2001:db8::1]:443', '2001:db8::1%eth0'];
    expect(new Set(v6.map((s) => run(T10, '10.0.0.5', { 'x-forwarded-for': s }).ip))).toEqual(
      new Set(['2001:db8::1']),
    );
  });

  it('22 a 64 KiB X-Forwarded-For costs at most maxHeaderBytes characters and maxEntries entries', () => {
    const { r } = make(T10);
    const huge = '10.0.0.1, '.repeat(6554); // 65,540 bytes, every entry trusted
    const res = r.resolve({ remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': huge } });
    expect([res.reason, res.complete, res.ip]).toEqual(['cap', false, '10.0.0.1']);
    expect(walkCost(res).entries).toBeLessThanOrEqual(16);
    expect(walkCost(res).chars).toBeLessThanOrEqual(4096);
  });

  it('23 hostile bytes never throw', () => {
    const { r } = make(T10);
    for (const v of [
      '\u0000',
      '\uffff',
      '\ud800',
      '[',
      ']',
      '[::1',
      '::1]:80',
      '%',
      ':'.repeat(200),
      '"',
      '\\',
    ]) {
      expect(() => r.resolve({ remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': v } })).not.toThrow();
      expect(() => r.resolve({ remoteAddress: v, headers: {} })).not.toThrow();
    }
  });

  it('56 socket mode warns once when forwarding headers arrive', () => {
    const { r, warnings } = make({});
    r.resolve({ remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': '1.2.3.4' } });
    r.resolve({ remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': '1.2.3.4' } });
    expect(warnings).toEqual(['WRN_REALIP_UNTRUSTED_FORWARDED']);
    expect(r.warnings()[0]!.count).toBe(2);
  });

  it('57 SNAT suspected: most requests come from node addresses with no proxy trusted', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const { r, warnings } = make({ nodeCidrs: ['10.0.0.0/24'] });
      for (let i = 0; i < 30; i++) r.resolve({ remoteAddress: `10.0.0.${i + 1}`, headers: {} });
      for (let i = 0; i < 10; i++) r.resolve({ remoteAddress: `198.51.100.${i + 1}`, headers: {} });
      expect(warnings).toEqual([]);
      vi.advanceTimersByTime(10_000);
      r.resolve({ remoteAddress: '198.51.100.1', headers: {} });
      expect(warnings).toEqual(['WRN_REALIP_SNAT_SUSPECTED']);
    } finally {
      vi.useRealTimers();
    }
  });
});
