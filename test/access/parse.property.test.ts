/**
 * The matcher's single-pass address parser (`parseAddress`) must give exactly the answers of the
 * general strict parser (`parseIpInto` with zones allowed) on every input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/core/cidr.js';
import { PARSE_ZONE, parseIpInto } from '../../src/core/ip.js';

function both(s: string): [string, string] {
  const a = new Uint32Array(4);
  const b = new Uint32Array(4);
  const ka = parseAddress(s, a);
  const kb = parseIpInto(s, 0, s.length, b, PARSE_ZONE);
  const show = (k: number, w: Uint32Array) =>
    k === 0 ? '0' : k === 4 ? `4:${w[0]}` : `6:${Array.from(w).join(',')}`;
  return [show(ka, a), show(kb, b)];
}

const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF::::....%%gxz/[] 0f'.split(''));
const zone = fc.stringMatching(/^%[a-z0-9:%.\- ]{0,5}$/);

describe('parseAddress agrees with parseIpInto(PARSE_ZONE)', () => {
  it.each([
    '1.2.3.4',
    '::',
    '::1',
    'fe80::%eth0',
    'fe80::1%eth0',
    'fe80:%eth0',
    '1::2:%x',
    '::%x',
    '::ffff:1.2.3.4',
    '::ffff:1.2.3.4%eth0',
    '::1.2.3.4%',
    '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1.2.3.4%eth0',
    '1.2.3.4:80',
    'fe80%eth0:1',
    '010.0.0.1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1',
    '1:',
    '%',
    '',
    'a',
    '::ffff:0:0',
    '::FFFF:A00:1',
  ])('%j', (s) => {
    const [a, b] = both(s);
    expect(a).toBe(b);
  });

  it('on random strings over the address alphabet', () => {
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 45 }), (chars) => {
        const [a, b] = both(chars.join(''));
        expect(a).toBe(b);
      }),
      { numRuns: 20000 },
    );
  });

  it('on valid addresses in every spelling, with and without zones', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.ipV4(),
          fc.ipV6(),
          fc.ipV4Extended(),
          fc.ipV6().map((s) => s.toUpperCase()),
        ),
        fc.option(zone),
        (ip, z) => {
          const [a, b] = both(ip + (z ?? ''));
          expect(a).toBe(b);
        },
      ),
      { numRuns: 20000 },
    );
  });
});
