/**
 * One per-request parser (ip.ts's `parseIpInto`), pinned to ipaddr.js on valid input; the
 * configuration parser (cidr.ts's `parseConfigAddress`: ipaddr.js behind a strictness guard)
 * pinned to the per-request parser on every input; and the legacy IPv4 forms that ipaddr.js
 * accepts refused by both (issue 15).
 */
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createIpMatcher, parseCidr, parseConfigAddress } from '../../src/core/cidr.js';
import { IPV4, NOT_IP, PARSE_LENIENT, PARSE_ZONE, canonicalIp, parseIpInto } from '../../src/core/ip.js';

const W = new Uint32Array(4);

/** The per-request parser's bytes (IPv4-mapped IPv6 comes back as IPv4), or undefined. */
function bytes(s: string, flags = 0): number[] | undefined {
  const k = parseIpInto(s, 0, s.length, W, flags);
  if (k === NOT_IP) return undefined;
  const words = k === IPV4 ? [W[0]!] : [W[0]!, W[1]!, W[2]!, W[3]!];
  return words.flatMap((w) => [w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255]);
}

/**
 * ipaddr.js's reading of a valid address, IPv4-mapped IPv6 as IPv4. An embedded dotted quad is
 * first rewritten as two hex groups: ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`.
 */
function theirs(s: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const hex = s.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)(%.*)?$/, (m, a, b, c, d, z = '') =>
    s.includes(':')
      ? `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}${z}`
      : m,
  );
  const addr = ipaddr.parse(hex);
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}

const v4 = fc.ipV4();
const v6 = fc.oneof(
  fc.ipV6(),
  fc.ipV6().map((s) => s.toUpperCase()),
  v4.map((q) => `::ffff:${q}`),
  v4.map((q) => `::FFFF:${q}`),
  v4.map((q) => `0:0:0:0:0:ffff:${q}`),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }))
    .map(([a, b]) => `::ffff:${a.toString(16)}:${b.toString(16)}`),
  v4.map((q) => `64:ff9b::${q}`),
  v4.map((q) => `::${q}`),
);
const zone = fc.stringMatching(/^%[0-9a-z]{1,6}$/);

/** Legacy IPv4 spellings: ipaddr.js reads them (octal, hex, fewer parts, one integer); realip does not. */
const octet = fc.integer({ min: 0, max: 255 });
const legacy = fc.oneof(
  fc.tuple(octet, octet, octet, octet, fc.integer({ min: 0, max: 3 })).map(([a, b, c, d, i]) => {
    const parts = [a, b, c, d].map(String);
    parts[i] = `0${(Number(parts[i]) % 8).toString(8)}`; // "00".."07": octal-looking
    return parts.join('.');
  }),
  fc.tuple(octet, octet, octet, octet).map(([a, b, c, d]) => `0x${a.toString(16)}.${b}.${c}.${d}`),
  fc.tuple(octet, fc.integer({ min: 0, max: 0xffffff })).map(([a, b]) => `${a}.${b}`),
  fc.tuple(octet, octet, fc.integer({ min: 0, max: 0xffff })).map(([a, b, c]) => `${a}.${b}.${c}`),
  fc.integer({ min: 0, max: 0xffffffff }).map(String),
);
const LEGACY = ['010.0.0.1', '127.1', '0x7f.0.0.1', '2130706433', '0177.0.0.1', '10.1', '192.168.1'];

describe('the per-request parser agrees with ipaddr.js on valid input', () => {
  it('IPv4: same bytes, same canonical text (property)', () => {
    fc.assert(
      fc.property(v4, (s) => {
        expect(bytes(s)).toEqual(theirs(s).toByteArray());
        expect(canonicalIp(s)).toBe(theirs(s).toString());
      }),
      { numRuns: 5000 },
    );
  });

  it('IPv6, compressed or not, any case, IPv4-mapped: same bytes, same canonical text (property)', () => {
    fc.assert(
      fc.property(v6, (s) => {
        expect(bytes(s)).toEqual(theirs(s).toByteArray());
        // ipaddr.js prints IPv6 per RFC 5952, as realip does.
        expect(canonicalIp(s)).toBe(theirs(s).toString());
      }),
      { numRuns: 10000 },
    );
  });

  it('zones: accepted where the request path allows them and dropped (property)', () => {
    fc.assert(
      fc.property(fc.ipV6(), zone, (s, z) => {
        expect(bytes(s + z, PARSE_ZONE)).toEqual(theirs(s + z).toByteArray());
        expect(bytes(s + z)).toBeUndefined(); // strict: no zone
      }),
      { numRuns: 3000 },
    );
  });
});

describe('legacy IPv4 forms: ipaddr.js reads them, realip refuses them', () => {
  it.each(LEGACY)('%s', (s) => {
    expect(ipaddr.isValid(s)).toBe(true);
    expect(bytes(s, PARSE_LENIENT)).toBeUndefined();
    expect(canonicalIp(s, { lenient: true })).toBeUndefined();
    expect(parseConfigAddress(s)).toBeUndefined();
    expect(parseConfigAddress(`::ffff:${s}`)).toBeUndefined();
    expect(parseCidr(`${s}/8`)).toBe(
      `invalid address "${s}" in "${s}/8" (expected a.b.c.d or an IPv6 address; legacy forms such as 010.0.0.1 or 127.1 are not accepted)`,
    );
    expect(() => createIpMatcher([s])).toThrow(ConfigError);
    expect(() => createIpMatcher([s])).toThrow(expect.objectContaining({ code: 'ERR_REALIP_CIDR_INVALID' }));
    expect(() => createIpMatcher(['10.0.0.0/8', s])).toThrow(/rules\[1\]: invalid address/);
    // A legacy netmask is refused too.
    expect(parseCidr(`10.0.0.0/${s}`)).toMatch(/^invalid prefix/);
  });

  it('on generated legacy spellings (property)', () => {
    fc.assert(
      fc.property(legacy, (s) => {
        fc.pre(ipaddr.isValid(s));
        expect(bytes(s, PARSE_LENIENT)).toBeUndefined();
        expect(parseConfigAddress(s)).toBeUndefined();
        expect(typeof parseCidr(s)).toBe('string');
      }),
      { numRuns: 5000 },
    );
  });
});

describe('the configuration parser accepts exactly what the per-request parser does', () => {
  const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF::::....%%gxz/[] 0f'.split(''));
  const show = (s: string): string => {
    const b = bytes(s);
    return b === undefined ? 'none' : b.join('.');
  };
  const config = (s: string): string => {
    const a = parseConfigAddress(s);
    if (a === undefined) return 'none';
    const n = a.kind === 4 ? 4 : 16;
    return Array.from({ length: n }, (_, i) => Number((a.value >> BigInt(8 * (n - 1 - i))) & 0xffn)).join(
      '.',
    );
  };

  it.each([
    '1.2.3.4',
    '::',
    '::1',
    'fe80::%eth0',
    'fe80::1%eth0',
    '::ffff:1.2.3.4',
    '::1.2.3.4',
    '::ffff:010.0.0.1',
    '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1.2.3.4%eth0',
    '1.2.3.4:80',
    '010.0.0.1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '00001::',
    ':1',
    '1:',
    '',
    'a',
    '::ffff:0:0',
    '::FFFF:A00:1',
  ])('%j', (s) => {
    expect(config(s)).toBe(show(s));
  });

  it('on random strings over the address alphabet (property)', () => {
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 45 }), (chars) => {
        const s = chars.join('');
        expect(config(s)).toBe(show(s));
      }),
      { numRuns: 20000 },
    );
  });

  it('on valid addresses in every spelling (property)', () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6, fc.ipV4Extended()), (s) => {
        expect(config(s)).toBe(show(s));
      }),
      { numRuns: 10000 },
    );
  });
});
