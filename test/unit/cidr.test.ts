import ipaddr from 'ipaddr.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createIpMatcher } from '../../src/index.js';
import { parseCidr } from '../../src/core/cidr.js';
import { configErrorOf } from '../support/config-error.js';

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

  it('an IPv6 rule shorter than /96 does not match IPv4 clients (as proxy-addr)', () => {
    const short = createIpMatcher(['::/8']);
    expect(short.has('1.2.3.4')).toBe(false);
    expect(short.has('::ffff:1.2.3.4')).toBe(false);
    expect(short.has('::1')).toBe(true);
    expect(createIpMatcher(['::ffff:0:0/96']).has('1.2.3.4')).toBe(true);
  });

  it('reports every invalid rule with its position', () => {
    const error = configErrorOf(() => {
      createIpMatcher(['10.0.0/8', 'ok-not', { cidr: '10.0.0.0/8', except: ['11.0.0.0/8'] }], {
        path: 'access.allow',
      });
    });
    const issues = error.issues.map((i) => i.path);
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

  it('regression: "::0.0.0.0" is the IPv6 address :: (IPv4-compatible form), not ::ffff:0:0', () => {
    expect(createIpMatcher(['::0:0/81']).has('::0.0.0.0')).toBe(true);
    expect(createIpMatcher(['::ffff:0:0/96']).has('::0.0.0.0')).toBe(false);
  });

  it('agrees with a brute-force ipaddr.js scan over random IPv6 CIDR sets', () => {
    // ipaddr.js reads any embedded dotted quad as IPv4-mapped (`::0.0.0.0` becomes `::ffff:0:0`), so the
    // oracle gets the quad rewritten as two hex groups, which is what the text means.
    const hexify = (s: string) =>
      s.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)/, (_m, a: string, b: string, c: string, d: string) =>
        [((+a << 8) | +b).toString(16), ((+c << 8) | +d).toString(16)].join(':'),
      );
    const cidr6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`);
    fc.assert(
      fc.property(
        fc.array(cidr6, { minLength: 1, maxLength: 20 }),
        fc.array(fc.ipV6(), { maxLength: 20 }),
        (rules, addrs) => {
          const matcher = createIpMatcher(rules);
          const parsed = rules.map((r) => ipaddr.parseCIDR(hexify(r)));
          for (const a of addrs) {
            let ip = ipaddr.parse(hexify(a));
            // Both sides compare in one family: mapped addresses are IPv4 to us; check the IPv6 form too.
            const v6 = ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6) : (ip as ipaddr.IPv4).toIPv4MappedAddress();
            ip = v6;
            // A mapped address is IPv4 to us: only rules inside ::ffff:0:0/96 (prefix >= 96) match it.
            const mappedAddr = (ip as ipaddr.IPv6).isIPv4MappedAddress();
            const want = parsed.some(([net, bits]) => {
              const n = net.kind() === 'ipv6' ? net : (net as ipaddr.IPv4).toIPv4MappedAddress();
              const b = net.kind() === 'ipv6' ? bits : bits + 96;
              if (mappedAddr && !(b >= 96 && (n as ipaddr.IPv6).isIPv4MappedAddress())) return false;
              return ip.match(n, b);
            });
            expect(matcher.has(a)).toBe(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
