/** Every rule of issue 2 §3 through the public API, plus the result object's contract. */
import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createResolver } from '../../src/index.js';
import { canonicalIp } from '../../src/core/ip.js';
import { ClientResolution } from '../../src/resolve/resolver.js';
import { make, run, T10, walkCost } from './helpers.js';

const XFF = 'x-forwarded-for';

describe('§3 no trusted proxies: the socket peer is the client', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
  ])('%s -> %s, every header ignored', (peer, ip) => {
    const r = run({}, peer, { [XFF]: '1.1.1.1', 'x-real-ip': '2.2.2.2', forwarded: 'for=3.3.3.3' });
    expect([r.ip, r.source, r.header, r.peer, r.complete, r.reason]).toEqual([
      ip,
      'socket',
      undefined,
      ip,
      true,
      'no-trusted-proxies',
    ]);
    expect(r.chain).toEqual([ip]);
  });

  it('an empty trustedProxies list trusts nobody', () => {
    expect(run({ trustedProxies: [] }, '10.0.0.5', { [XFF]: '1.1.1.1' }).ip).toBe('10.0.0.5');
    expect(createResolver({ trustedProxies: [] }).trustsProxies).toBe(false);
  });
});

describe('§3 trusted proxies: walk right to left', () => {
  it.each([
    ['untrusted peer: peer, headers ignored', '192.0.2.1', '1.1.1.1', '192.0.2.1', 'untrusted-peer'],
    [
      'first untrusted entry is the client',
      '10.0.0.1',
      '1.1.1.1, 2.2.2.2, 10.0.0.2, 10.0.0.3',
      '2.2.2.2',
      'untrusted-entry',
    ],
    ['all trusted: the leftmost', '10.0.0.1', '10.0.0.9, 10.0.0.2', '10.0.0.9', 'all-trusted'],
    ['one trusted entry: it', '10.0.0.1', '10.0.0.9', '10.0.0.9', 'all-trusted'],
    ['no header: the peer', '10.0.0.1', undefined, '10.0.0.1', 'no-header'],
    ['empty header: the peer', '10.0.0.1', '', '10.0.0.1', 'no-header'],
    ['empty entries skipped', '10.0.0.1', ',1.1.1.1 ,, 10.0.0.2,', '1.1.1.1', 'untrusted-entry'],
    ['invalid entry: last address reached (peer)', '10.0.0.1', '1.1.1.1, x', '10.0.0.1', 'invalid-entry'],
    [
      'invalid entry: last address reached (trusted hop)',
      '10.0.0.1',
      '1.1.1.1, x, 10.0.0.7',
      '10.0.0.7',
      'invalid-entry',
    ],
    ['over-long entry is invalid', '10.0.0.1', `${'1'.repeat(300)}, 10.0.0.7`, '10.0.0.7', 'invalid-entry'],
  ])('%s', (_name, peer, xff, ip, reason) => {
    const r = run(T10, peer, xff === undefined ? {} : { [XFF]: xff });
    expect([r.ip, r.reason]).toEqual([ip, reason]);
    expect(r.complete).toBe(reason !== 'invalid-entry');
  });

  it('source and header say where the answer came from', () => {
    const fromHeader = run(T10, '10.0.0.1', { [XFF]: '1.1.1.1' });
    expect([fromHeader.source, fromHeader.header, fromHeader.peer]).toEqual(['header', XFF, '10.0.0.1']);
    const fromPeer = run(T10, '10.0.0.1', { [XFF]: 'junk' });
    expect([fromPeer.source, fromPeer.header]).toEqual(['socket', undefined]);
  });

  it('chain lists the addresses walked, client first', () => {
    const r = run(T10, '::ffff:10.0.0.1', { [XFF]: '6.6.6.6, 1.1.1.1:80, 10.0.0.3, [::ffff:10.0.0.2]' });
    expect(r.chain).toEqual(['1.1.1.1', '10.0.0.3', '10.0.0.2', '10.0.0.1']);
    const cut = run(T10, '10.0.0.1', { [XFF]: '1.1.1.1, unknown, 10.0.0.2' });
    expect(cut.chain).toEqual(['10.0.0.2', '10.0.0.1']);
  });

  it('explain() tells each step', () => {
    const r = run(T10, '::ffff:10.0.0.1', { [XFF]: '6.6.6.6, 1.1.1.1, 10.0.0.2' });
    const text = r.explain();
    expect(text).toContain('client IP: 1.1.1.1 (from header x-forwarded-for; untrusted-entry)');
    expect(text).toContain('the socket peer 10.0.0.1 (given as "::ffff:10.0.0.1") is a trusted proxy');
    expect(text).toContain('entry 1 from the right "10.0.0.2" -> 10.0.0.2 is a trusted proxy: step left');
    expect(text).toContain('entry 2 from the right "1.1.1.1" -> 1.1.1.1 is not trusted: it is the client');
    expect(text).not.toContain('6.6.6.6');
  });

  it('explain() reflects the header as it was, even if the request is changed later', () => {
    const headers: Record<string, string> = { [XFF]: '1.1.1.1' };
    const r = make(T10).r.resolve({ remoteAddress: '10.0.0.1', headers });
    headers[XFF] = '9.9.9.9, 10.0.0.1'; // e.g. a proxy middleware appending before forwarding
    expect(r.chain).toEqual(['1.1.1.1', '10.0.0.1']);
    expect(r.explain()).not.toContain('9.9.9.9');
  });

  it('JSON has the public fields only', () => {
    const r = run(T10, '10.0.0.1', { [XFF]: '1.1.1.1' });
    expect(JSON.parse(JSON.stringify(r))).toEqual({
      ip: '1.1.1.1',
      source: 'header',
      header: XFF,
      peer: '10.0.0.1',
      chain: ['1.1.1.1', '10.0.0.1'],
      complete: true,
      reason: 'untrusted-entry',
    });
    expect(r).toBeInstanceOf(ClientResolution);
  });
});

describe('§3 hops', () => {
  it.each([
    [1, '1.1.1.1, 2.2.2.2, 3.3.3.3', '3.3.3.3', 'hops'],
    [2, '1.1.1.1, 2.2.2.2, 3.3.3.3', '2.2.2.2', 'hops'],
    [3, '1.1.1.1, 2.2.2.2, 3.3.3.3', '1.1.1.1', 'hops'],
    [4, '1.1.1.1, 2.2.2.2, 3.3.3.3', undefined, 'hops-short'],
    [2, '1.1.1.1, , 3.3.3.3', '1.1.1.1', 'hops'],
    [2, '1.1.1.1, unknown, 3.3.3.3', undefined, 'invalid-entry'],
    [2, '1.1.1.1, 3.3.3.3, unknown', undefined, 'invalid-entry'],
    [1, '10.0.0.9', '10.0.0.9', 'hops'],
  ])('hops %i over "%s" -> %s', (hops, xff, ip, reason) => {
    const r = run({ ...T10, hops }, '10.0.0.1', { [XFF]: xff });
    expect([r.ip, r.reason, r.complete]).toEqual([ip, reason, reason === 'hops']);
  });

  it('absent header with hops is undeterminable', () => {
    expect(run({ ...T10, hops: 1 }, '10.0.0.1', {}).reason).toBe('hops-short');
    expect(run({ ...T10, hops: 1 }, '10.0.0.1', {}).ip).toBeUndefined();
  });

  it('with trustedProxies the peer must be trusted first', () => {
    expect(run({ ...T10, hops: 1 }, '192.0.2.1', { [XFF]: '1.1.1.1' }).ip).toBe('192.0.2.1');
  });

  it('without trustedProxies the peer is not checked (and construction warned)', () => {
    const { r, warnings } = make({ hops: 1 });
    expect(r.resolve({ remoteAddress: '192.0.2.1', headers: { [XFF]: '1.1.1.1' } }).ip).toBe('1.1.1.1');
    expect(warnings).toEqual(['WRN_REALIP_HOPS_WITHOUT_TRUST']);
  });

  it('works with Forwarded too', () => {
    const r = run({ ...T10, header: 'forwarded', hops: 2 }, '10.0.0.1', {
      forwarded: 'for=1.1.1.1, for="[2001:db8::2]:80", for=3.3.3.3',
    });
    expect(r.ip).toBe('2001:db8::2');
  });
});

describe('§3 normalisation', () => {
  it.each([
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:C000:0201', '192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '192.0.2.1'],
    ['192.0.2.1:8080', '192.0.2.1'],
    ['[2001:db8::1]:8080', '2001:db8::1'],
    ['[2001:DB8::1]', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['fe80::1%25eth0', 'fe80::1'],
  ])('entry %s -> %s', (entry, ip) => {
    expect(run(T10, '10.0.0.1', { [XFF]: entry }).ip).toBe(ip);
  });

  it.each([
    '010.0.0.1',
    '127.1',
    '0x7f.0.0.1',
    '2130706433',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '0.0.0.0',
    '::',
    '255.255.255.255',
    '1.2.3.4:99999',
    '[1.2.3.4]',
    '1.2.3.4/32',
    ' ',
  ])('entry %j is rejected (the walk stops at the last address reached)', (entry) => {
    const r = run(T10, '10.0.0.1', { [XFF]: `9.9.9.9, ${entry}` });
    if (entry.trim() === '') expect(r.ip).toBe('9.9.9.9');
    else expect([r.ip, r.reason]).toEqual(['10.0.0.1', 'invalid-entry']);
  });

  it.each(['0.0.0.0', '::', '255.255.255.255', 'localhost', '', 'unix:/tmp/s', '1.2.3.4:80'])(
    'peer %j is not a usable address: undeterminable',
    (peer) => {
      const r = run(T10, peer, { [XFF]: '1.1.1.1' });
      expect([r.ip, r.reason, r.peer, r.complete]).toEqual([undefined, 'invalid-peer', undefined, false]);
      expect(r.explain()).toContain('not a usable IP address');
    },
  );

  it('undefined peer: undeterminable, never localhost', () => {
    const r = run({}, undefined, {});
    expect([r.ip, r.peer, r.reason, r.chain.length]).toEqual([undefined, undefined, 'undefined-peer', 0]);
    expect(r.explain()).toContain('cannot be determined');
  });
});

describe('§3 bounded work (counters, not time)', () => {
  const cases: [string, string | string[]][] = [
    ['64 KiB of trusted entries', '10.0.0.1, '.repeat(6554)],
    ['64 KiB of one garbage entry', 'x'.repeat(65536)],
    ['64 KiB of commas and spaces', ', '.repeat(32768)],
    ['64 KiB of untrusted entries ending in trusted ones', `${'1.1.1.1,'.repeat(8192)}10.0.0.2`],
  ];
  it.each(cases)('%s (X-Forwarded-For)', (_name, value) => {
    const { r } = make(T10);
    const res = r.resolve({ remoteAddress: '10.0.0.5', headers: { [XFF]: value } });
    const cost = walkCost(res, value);
    expect(cost.chars).toBeLessThanOrEqual(4096);
    expect(cost.entries).toBeLessThanOrEqual(16);
    if (res.ip !== undefined) expect(isIP(res.ip)).not.toBe(0);
  });

  it('64 KiB Forwarded with an unterminated quote', () => {
    const { r } = make({ ...T10, header: 'forwarded' });
    const v = `for="${'a'.repeat(65536)}, for=10.0.0.2`;
    const res = r.resolve({ remoteAddress: '10.0.0.5', headers: { forwarded: v } });
    expect(walkCost(res).chars).toBeLessThanOrEqual(4096);
    expect([res.ip, res.reason]).toEqual(['10.0.0.2', 'cap']);
  });

  it('10,000 raw header lines', () => {
    const { r } = make(T10);
    const raw: string[] = [];
    for (let i = 0; i < 10000; i++) raw.push('X-Forwarded-For', '10.0.0.1');
    const res = r.resolve({ remoteAddress: '10.0.0.5', headers: raw });
    expect(res.reason).toBe('cap');
    expect(walkCost(res).entries).toBe(16);
  });

  it('10,000 empty lines still cost characters', () => {
    const { r } = make(T10);
    const res = r.resolve({
      remoteAddress: '10.0.0.5',
      headers: { [XFF]: new Array<string>(10000).fill('') },
    });
    expect(res.reason).toBe('cap');
    expect(walkCost(res).chars).toBeLessThanOrEqual(4096);
  });

  it('maxEntries: hitting it ends the walk with reason cap at the last address reached', () => {
    const r = run({ ...T10, maxEntries: 2 }, '10.0.0.5', { [XFF]: '1.1.1.1, 10.0.0.3, 10.0.0.2' });
    expect([r.ip, r.reason, r.complete]).toEqual(['10.0.0.3', 'cap', false]);
    expect(r.explain()).toContain('maxEntries 2');
    // Exactly maxEntries entries, all trusted: nothing was left unread, so not a cap.
    const ok = run({ ...T10, maxEntries: 2 }, '10.0.0.5', { [XFF]: '10.0.0.3, 10.0.0.2' });
    expect([ok.ip, ok.reason]).toEqual(['10.0.0.3', 'all-trusted']);
  });

  it('maxHeaderBytes: counted from the right, so the proxies entries are always read', () => {
    const v = `${'6.6.6.6, '.repeat(1000)}198.51.100.7, 10.0.0.2`;
    const r = run({ ...T10, maxHeaderBytes: 64 }, '10.0.0.5', { [XFF]: v });
    expect([r.ip, r.reason]).toEqual(['198.51.100.7', 'untrusted-entry']);
    const capped = run({ ...T10, maxHeaderBytes: 64 }, '10.0.0.5', {
      [XFF]: `1.1.1.1, ${'10.0.0.2, '.repeat(10)}`,
    });
    expect([capped.ip, capped.reason]).toEqual(['10.0.0.2', 'cap']);
  });

  it('single-IP headers longer than maxHeaderBytes are a cap', () => {
    const r = run({ ...T10, header: 'x-real-ip', maxHeaderBytes: 64 }, '10.0.0.5', {
      'x-real-ip': 'a'.repeat(100),
    });
    expect([r.ip, r.reason]).toEqual(['10.0.0.5', 'cap']);
  });
});

describe('headers as Node gives them and as raw pairs', () => {
  it.each([
    [{ [XFF]: '1.1.1.1, 10.0.0.2' }],
    [{ [XFF]: ['1.1.1.1', '10.0.0.2'] }],
    [['Host', 'x', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '10.0.0.2']],
    [['X-FORWARDED-FOR', '1.1.1.1, 10.0.0.2']],
  ] as const)('%j', (headers) => {
    expect(run(T10, '10.0.0.5', headers as never).ip).toBe('1.1.1.1');
  });

  it('headers holding non-strings are ignored, never thrown on', () => {
    const weird = { [XFF]: 42, constructor: 'x' } as unknown as Record<string, string>;
    expect(run(T10, '10.0.0.5', weird).reason).toBe('no-header');
    expect(run(T10, '10.0.0.5', [XFF, undefined as unknown as string, 'x']).reason).toBe('no-header');
    expect(make(T10).r.resolve({ remoteAddress: '10.0.0.5', headers: undefined as never }).reason).toBe(
      'no-header',
    );
    expect(run({ ...T10, header: 'constructor' }, '10.0.0.5', {}).reason).toBe('no-header');
  });
});

describe('PROXY protocol input', () => {
  it('the PROXY source is the peer the walk starts from', () => {
    const r = make(T10).r.resolve({
      remoteAddress: '127.0.0.1',
      headers: { [XFF]: '1.1.1.1' },
      proxyProtocol: { sourceAddress: '10.0.0.9', sourcePort: 4000 },
    });
    expect([r.ip, r.source, r.peer]).toEqual(['1.1.1.1', 'header', '10.0.0.9']);
    expect(r.explain()).toContain('the PROXY protocol source 10.0.0.9 is a trusted proxy');
    expect(r.chain).toEqual(['1.1.1.1', '10.0.0.9']);
  });

  it('an untrusted PROXY source is the client (source proxy-protocol)', () => {
    const r = make(T10).r.resolve({
      remoteAddress: '10.0.0.1',
      headers: { [XFF]: '1.1.1.1' },
      proxyProtocol: { sourceAddress: '::ffff:198.51.100.7' },
    });
    expect([r.ip, r.source, r.peer, r.reason]).toEqual([
      '198.51.100.7',
      'proxy-protocol',
      '198.51.100.7',
      'untrusted-peer',
    ]);
    expect(r.explain()).toContain('PROXY protocol source');
  });

  it('socket mode with PROXY', () => {
    const r = make({}).r.resolve({
      remoteAddress: '10.0.0.1',
      headers: {},
      proxyProtocol: { sourceAddress: '2001:db8::5' },
    });
    expect([r.ip, r.source]).toEqual(['2001:db8::5', 'proxy-protocol']);
  });
});

describe('results are always canonical', () => {
  it('reuses already-canonical input text', () => {
    const r = run(T10, '10.0.0.1', { [XFF]: '198.51.100.7' });
    expect(r.ip).toBe(canonicalIp(r.ip!));
  });
});
