/**
 * The X-Forwarded-For scanner reads plain dotted quads while it looks for the comma (one pass
 * instead of a scan and a parse). Its answer must be exactly the strict parser's: same entries,
 * same value, and -1 wherever the strict parser does not return IPv4 from a dotted quad.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderScanner, LIST_FORWARDED, LIST_XFF, SCAN_ENTRY } from '../../src/core/headers.js';
import { IPV4, parseIpInto } from '../../src/core/ip.js';

const W = new Uint32Array(4);

/** The strict parser's verdict on a range: the dotted quad's value, or -1. */
function oracle(s: string, a: number, b: number): number {
  const k = parseIpInto(s, a, b, W, 0);
  // Mapped IPv6 spellings parse as IPv4 too, but they are not dotted quads.
  if (k !== IPV4 || s.slice(a, b).includes(':')) return -1;
  return W[0]!;
}

function entries(value: string, grammar: 1 | 2 = LIST_XFF): { text: string; v4: number; want: number }[] {
  const sc = new HeaderScanner(grammar, 'x-forwarded-for', 1000, 100_000);
  sc.reset(value, false);
  const out: { text: string; v4: number; want: number }[] = [];
  while (sc.next() === SCAN_ENTRY) {
    out.push({ text: sc.str.slice(sc.start, sc.end), v4: sc.v4, want: oracle(sc.str, sc.start, sc.end) });
  }
  return out;
}

const octet = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map(String),
  fc.constantFrom('00', '01', '010', '256', '999', '1000', '', '0'),
);
const quadish = fc.array(octet, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.'));
const noise = fc.stringMatching(/^[0-9.:a-f \t[\]]{0,24}$/);
const entry = fc.oneof(
  quadish,
  quadish.map((q) => ` \t${q}`),
  quadish.map((q) => `${q}:8080`),
  quadish.map((q) => `::ffff:${q}`),
  quadish.map((q) => `[${q}]`),
  noise,
);

describe('HeaderScanner dotted-quad fast path', () => {
  it('agrees with the strict parser on every entry (property)', () => {
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(',', ', ', ' ,\t'),
        (list, sep) => {
          for (const e of entries(list.join(sep))) {
            expect({ text: e.text, v4: e.v4 }).toEqual({ text: e.text, v4: e.want });
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['203.0.113.7', 0xcb007107],
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['  10.1.2.3', 0x0a010203],
    ['1.2.3.04', -1],
    ['01.2.3.4', -1],
    ['1.2.3', -1],
    ['1.2.3.4.5', -1],
    ['1.2.3.256', -1],
    ['1.2 .3.4', -1],
    ['1.2.3.4:80', -1],
    ['::ffff:1.2.3.4', -1],
    ['1..2.3', -1],
    ['.1.2.3', -1],
    ['1234.1.2.3', -1],
  ])('%s -> %d', (text, want) => {
    const got = entries(text);
    expect(got).toHaveLength(1);
    expect(got[0]!.v4).toBe(want);
    // The same entry after another one (entries come from the right: this one first).
    expect(entries(`9.9.9.9, ${text}`)[0]!.v4).toBe(want);
  });

  it('Forwarded elements never carry a pre-read value', () => {
    for (const e of entries('for=192.0.2.1, for="198.51.100.2:80"', LIST_FORWARDED)) expect(e.v4).toBe(-1);
  });
});
