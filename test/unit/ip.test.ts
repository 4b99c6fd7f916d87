import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../src/core/ip.js';

const STRICT: Array<[string, string | undefined]> = [
  ['1.2.3.4', '1.2.3.4'],
  ['010.0.0.1', undefined],
  ['127.1', undefined],
  ['2130706433', undefined],
  ['0x7f.0.0.1', undefined],
  ['1..2.3', undefined],
  ['1.2.3.256', undefined],
  ['1.2.3.4.5', undefined],
  ['::ffff:192.0.2.1', '192.0.2.1'],
  ['::ffff:c000:201', '192.0.2.1'],
  ['0:0:0:0:0:ffff:bc15:0006', '188.21.0.6'],
  ['2001:0DB8:0:0::1', '2001:db8::1'],
  ['2001:db8::1:443', '2001:db8::1:443'],
  ['64:ff9b::c000:201', '64:ff9b::c000:201'],
  ['2002:c000:204::', '2002:c000:204::'],
  ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
  ['1:0:0:0:1:0:0:1', '1::1:0:0:1'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ['1:2:3:4:5:6:7:8:9', undefined],
  [':1::', undefined],
  ['1:::2', undefined],
  ['1:2:3:4:5:6:7:1.2.3.4', undefined],
  ['unknown', undefined],
  ['_hidden', undefined],
  ['', undefined],
  ['1.2.3.4:80', undefined],
  ['[2001:db8::1]', undefined],
  ['fe80::1%eth0', undefined],
  ['１.2.3.4', undefined],
];

const LENIENT: Array<[string, string | undefined]> = [
  ['1.2.3.4:5678', '1.2.3.4'],
  ['[2001:db8::1]:443', '2001:db8::1'],
  ['[2001:db8::1]', '2001:db8::1'],
  ['[::ffff:1.2.3.4]:80', '1.2.3.4'],
  ['fe80::1%eth0', 'fe80::1'],
  ['fe80::1%et:h0', undefined],
  ['fe80::1%', undefined],
  ['fe80::1%eth 0', undefined],
  ['1.2.3.4:65536', undefined],
  ['1.2.3.4:', undefined],
  ['[2001:db8::1', undefined],
  ['[2001:db8::1]443', undefined],
];

describe('canonicalIp', () => {
  it.each(STRICT)('strict %j -> %j', (input, want) => expect(canonicalIp(input)).toBe(want));
  it.each(LENIENT)('lenient %j -> %j', (input, want) =>
    expect(canonicalIp(input, { lenient: true })).toBe(want),
  );

  it('agrees with net.isIP on validity of arbitrary IPv4-ish strings', () => {
    const octet = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom('00', '01', '', 'x'),
    );
    fc.assert(
      fc.property(fc.array(octet, { minLength: 1, maxLength: 5 }), (parts) => {
        const s = parts.join('.');
        expect(canonicalIp(s) !== undefined).toBe(isIP(s) === 4);
      }),
    );
  });

  it('round-trips every IPv6 address to a form net.isIP accepts and that re-parses to itself', () => {
    fc.assert(
      fc.property(fc.ipV6(), (s) => {
        const c = canonicalIp(s);
        expect(c).toBeDefined();
        expect(isIP(c!)).toBeGreaterThan(0);
        expect(canonicalIp(c!)).toBe(c);
      }),
    );
  });

  it('agrees with net.isIP on fast-check IPv4 and IPv6 (valid) and mixed garbage', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 40 })), (s) => {
        expect(canonicalIp(s) !== undefined).toBe(isIP(s) !== 0);
      }),
      { numRuns: 2000 },
    );
  });
});
