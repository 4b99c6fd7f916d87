/** specialNetworkOf (uint32 math) against the CIDR matcher over NAMED_RANGES as the oracle. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAMED_RANGES, createIpMatcher } from '../../src/core/cidr.js';
import { NOT_IP, PARSE_ZONE, parseIpInto } from '../../src/core/ip.js';
import { SPECIAL_NETWORKS, specialNetworkOf } from '../../src/geo/special.js';

const matchers = SPECIAL_NETWORKS.map((name) => ({ name, m: createIpMatcher([...NAMED_RANGES[name]!]) }));

function oracle(ip: string): string | undefined {
  return matchers.find(({ m }) => m.has(ip))?.name;
}

const words = new Uint32Array(4);
function ours(ip: string): string | undefined {
  const kind = parseIpInto(ip, 0, ip.length, words, PARSE_ZONE);
  return kind === NOT_IP ? undefined : specialNetworkOf(kind, words);
}

describe('specialNetworkOf', () => {
  const v4 = fc
    .integer({ min: 0, max: 0xffffffff })
    .map((v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
  // Bias towards the interesting first octets and IPv6 prefixes so boundaries are hit often.
  const v4near = fc
    .tuple(
      fc.constantFrom(9, 10, 11, 99, 100, 101, 126, 127, 128, 168, 169, 170, 171, 172, 173, 191, 192, 193),
      fc.integer({ min: 0, max: 0xffffff }),
    )
    .map(([a, rest]) => `${a}.${rest >>> 16}.${(rest >>> 8) & 255}.${rest & 255}`);
  const v6 = fc
    .tuple(
      fc.constantFrom(0, 0xfbff, 0xfc00, 0xfdff, 0xfe00, 0xfe7f, 0xfe80, 0xfebf, 0xfec0, 0x2001),
      fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 7, maxLength: 7 }),
    )
    .map(([first, rest]) => [first, ...rest].map((g) => g.toString(16)).join(':'));

  it('agrees with the matcher on IPv4, IPv6 and IPv4-mapped addresses', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          v4,
          v4near,
          v4near.map((a) => `::ffff:${a}`),
          v6,
        ),
        (ip) => {
          expect(ours(ip)).toBe(oracle(ip));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it.each(['::1', '::', '::2', '0:0:0:0:0:0:0:1'])('%s', (ip) => {
    expect(ours(ip)).toBe(oracle(ip));
  });
});
