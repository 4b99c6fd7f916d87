/**
 * The X-Forwarded-For scanner finds entries (right to left, OWS trimmed); the resolver parses each
 * with ip.ts's parser, the one per-request parser (issue 15). Until then the scanner also read
 * dotted quads itself while it looked for the comma; these tests pin that the entries and the
 * resolver's answers are exactly the strict parser's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createResolver } from '../../src/resolve/resolver.js';
import { HeaderScanner, LIST_XFF, SCAN_ENTRY } from '../../src/core/headers.js';
import { canonicalIp } from '../../src/core/ip.js';

function entries(value: string): string[] {
  const sc = new HeaderScanner(LIST_XFF, 'x-forwarded-for', 1000, 100_000);
  sc.reset(value, false);
  const out: string[] = [];
  while (sc.next() === SCAN_ENTRY) out.push(sc.str.slice(sc.start, sc.end));
  return out;
}

const PEER = '192.0.2.254';
const resolver = createResolver({ trustedProxies: [`${PEER}/32`], onWarning: () => undefined });

/** What the resolver answers for a single-entry X-Forwarded-For from the trusted peer. */
function resolved(xff: string): string | undefined {
  return resolver.resolve({ remoteAddress: PEER, headers: { 'x-forwarded-for': xff } }).ip;
}

/**
 * The strict parser's verdict: the entry's canonical address, or the peer when it is not an IP
 * or never a client (unspecified, limited broadcast).
 */
function oracle(entry: string): string {
  const ip = canonicalIp(entry.replace(/^[ \t]+|[ \t]+$/g, ''), { lenient: true });
  const never = ['0.0.0.0', '255.255.255.255', '::', PEER];
  return ip === undefined || never.includes(ip) ? PEER : ip;
}

const octet = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map(String),
  fc.constantFrom('00', '01', '010', '256', '999', '1000', '', '0', '0x7f'),
);
const quadish = fc.array(octet, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.'));
const noise = fc.stringMatching(/^[0-9.:a-f \t[\]]{0,24}$/);
const entry = fc.oneof(
  quadish,
  quadish.map((q) => ` \t${q}`),
  quadish.map((q) => `${q}:8080`),
  quadish.map((q) => `::ffff:${q}`),
  quadish.map((q) => `[${q}]`),
  fc.ipV6(),
  noise,
);

describe('X-Forwarded-For entries go through the one parser', () => {
  it('the scanner returns the OWS-trimmed, non-empty entries right to left (property)', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(',', ', ', ' ,\t'),
        (list, sep) => {
          const want = list
            .join(sep)
            .split(',')
            .map((e) => e.replace(/^[ \t]+|[ \t]+$/g, ''))
            .filter((e) => e !== '')
            .reverse();
          expect(entries(list.join(sep))).toEqual(want);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the resolver answers what the strict parser reads (property)', () => {
    fc.assert(
      fc.property(entry, (e) => {
        fc.pre(!e.includes(','));
        expect(resolved(e)).toBe(oracle(e));
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['0.0.0.0', PEER],
    ['255.255.255.255', PEER],
    ['255.255.255.254', '255.255.255.254'],
    ['  10.1.2.3', '10.1.2.3'],
    ['1.2.3.04', PEER],
    ['01.2.3.4', PEER],
    ['010.0.0.1', PEER],
    ['127.1', PEER],
    ['0x7f.0.0.1', PEER],
    ['2130706433', PEER],
    ['1.2.3', PEER],
    ['1.2.3.4.5', PEER],
    ['1.2.3.256', PEER],
    ['1.2 .3.4', PEER],
    ['1.2.3.4:80', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['[2001:DB8::1]:443', '2001:db8::1'],
    ['1..2.3', PEER],
    ['.1.2.3', PEER],
    ['1234.1.2.3', PEER],
  ])('%s -> %s', (text, want) => {
    expect(resolved(text)).toBe(want);
    // The same entry after another one (entries come from the right: this one is read first).
    expect(resolved(`9.9.9.9, ${text}`)).toBe(want === PEER ? PEER : want);
  });
});
