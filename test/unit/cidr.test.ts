import ipaddr from 'ipaddr.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, createIpMatcher, parseCidr } from '../../src/index.js';

describe('parseCidr', () => {
  it.each([
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['10.0.0.0/255.0.0.0', '10.0.0.0/8'],
    ['10.0.0.1', '10.0.0.1/32'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['::/0', '::/0'],
  ])('%s -> %s', (input, text) => {
    const c = parseCidr(input);
    expect(typeof c === 'string' ? c : c.text).toBe(text);
  });

  it.each(['10.0.0/8', '010.0.0.0/8', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/255.0.255.0', '::/129', 'x'])(
    'rejects %s',
    (input) => expect(typeof parseCidr(input)).toBe('string'),
  );
});

describe('createIpMatcher', () => {
  const m = createIpMatcher([
    '10.0.0.0/8',
    '2001:db8::/32',
    'loopback',
    { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] },
    '::ffff:172.16.0.0/108',
  ]);
  it.each([
    ['10.1.2.3', true],
    ['::ffff:10.1.2.3', true],
    ['11.0.0.0', false],
    ['2001:db8::5', true],
    ['2001:db9::', false],
    ['127.0.0.1', true],
    ['::1', true],
    ['192.168.1.5', false],
    ['192.168.2.5', true],
    ['172.16.1.1', true],
    ['not an ip', false],
    ['010.1.2.3', false],
  ])('has(%s) = %s', (ip, want) => expect(m.has(ip)).toBe(want));

  it('reports every invalid rule with its position', () => {
    let error: unknown;
    try {
      createIpMatcher(['10.0.0/8', 'ok-not', { cidr: '10.0.0.0/8', except: ['11.0.0.0/8'] }], {
        path: 'access.allow',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.path);
    expect(issues).toEqual(['access.allow[0]', 'access.allow[1]', 'access.allow[2].except[0]']);
  });

  it('agrees with a brute-force ipaddr.js scan over random IPv4 CIDR sets', () => {
    const cidr4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`);
    fc.assert(
      fc.property(
        fc.array(cidr4, { minLength: 1, maxLength: 20 }),
        fc.array(fc.ipV4(), { maxLength: 20 }),
        (rules, addrs) => {
          const matcher = createIpMatcher(rules);
          const parsed = rules.map((r) => ipaddr.parseCIDR(r));
          for (const a of addrs) {
            const ip = ipaddr.parse(a);
            const want = parsed.some(([net, bits]) => ip.kind() === net.kind() && ip.match(net, bits));
            expect(matcher.has(a)).toBe(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // ipaddr.js reads "::a.b.c.d" as IPv4-mapped (it is IPv4-compatible, i.e. ::hex); the WHATWG URL
  // parser's IPv6 serialiser is an independent canonicaliser that gets it right.
  const viaUrl = (a: string) => new URL(`http://[${a}]`).hostname.slice(1, -1);

  it('agrees with a brute-force ipaddr.js scan over random IPv6 CIDR sets', () => {
    const cidr6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`);
    fc.assert(
      fc.property(
        fc.array(cidr6, { minLength: 1, maxLength: 20 }),
        fc.array(fc.ipV6(), { maxLength: 20 }),
        (rules, addrs) => {
          const matcher = createIpMatcher(rules);
          const parsed = rules.map((r) => {
            const [addr, bits] = r.split('/');
            return ipaddr.parseCIDR(`${viaUrl(addr!)}/${bits}`);
          });
          for (const a of addrs) {
            let ip = ipaddr.parse(viaUrl(a));
            // Both sides compare in one family: mapped addresses are IPv4 to us; check the IPv6 form too.
            const v6 = ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6) : (ip as ipaddr.IPv4).toIPv4MappedAddress();
            ip = v6;
            const want = parsed.some(([net, bits]) => {
              const n = net.kind() === 'ipv6' ? net : (net as ipaddr.IPv4).toIPv4MappedAddress();
              const b = net.kind() === 'ipv6' ? bits : bits + 96;
              return ip.match(n, b);
            });
            expect(matcher.has(a)).toBe(want);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
