import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../../src/errors.js';
import { anonymizeProblem, createAnonymizer, REDACTED } from '../../src/log/anonymize.js';
import { problemBody } from '../../src/http/problem.js';
import { CLIENT_MAPPED, CLIENT_V4, CLIENT_V6, PROXY_A, PROXY_B, PROXY_V6, leaks } from './fixtures.js';

const SECRET = 'a-32-byte-secret-for-tests-only!';
const SECRET2 = 'another-secret-of-enough-length!';

describe('createAnonymizer: truncate', () => {
  const anon = createAnonymizer({ anonymize: 'truncate' });
  it.each([
    ['203.0.113.77', '203.0.113.0'],
    ['::ffff:203.0.113.77', '203.0.113.0'],
    ['::FFFF:cb00:714d', '203.0.113.0'],
    ['2001:db8:abcd:12:3456::9', '2001:db8:abcd::'],
    ['2001:DB8:ABCD:FFFF:FFFF:FFFF:FFFF:FFFF', '2001:db8:abcd::'],
    ['::1', '::'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.0'],
    ['not-an-ip', undefined],
    ['010.0.0.1', undefined],
    [undefined, undefined],
  ])('%s -> %s', (input, expected) => {
    expect(anon(input)).toBe(expected);
  });

  it('takes custom prefix lengths', () => {
    const a = createAnonymizer({ anonymize: 'truncate', truncate: { v4: 16, v6: 32 } });
    expect(a('203.0.113.77')).toBe('203.0.0.0');
    expect(a('2001:db8:abcd:12::1')).toBe('2001:db8::');
  });

  it('property: result is an IP inside the /24 or /48 of the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const out = anon(ip)!;
        expect(isIP(out)).not.toBe(0);
        if (isIP(ip) === 4) expect(out).toBe(ip.split('.').slice(0, 3).join('.') + '.0');
        else expect(out.endsWith('::') || out.split(':').length === 8).toBe(true);
        // Idempotent: truncating a truncated address changes nothing.
        expect(anon(out)).toBe(out);
      }),
    );
  });
});

describe('createAnonymizer: hmac', () => {
  const anon = createAnonymizer({ anonymize: 'hmac', hmacKeys: [{ id: '2026-11', secret: SECRET }] });

  it('is HMAC-SHA-256 of the canonical address, truncated, with the key id', () => {
    const expected = createHmac('sha256', SECRET).update('203.0.113.77').digest('hex').slice(0, 16);
    expect(anon('203.0.113.77')).toBe(`hmac:2026-11:${expected}`);
    expect(anon.keyId).toBe('2026-11');
  });

  it('gives the same output for every spelling of one address', () => {
    expect(anon('::ffff:203.0.113.77')).toBe(anon('203.0.113.77'));
    expect(anon('2001:DB8:0:0:0:0:0:1')).toBe(anon('2001:db8::1'));
  });

  it('is deterministic per key and differs across keys', () => {
    const other = createAnonymizer({ anonymize: 'hmac', hmacKeys: [{ id: '2026-11', secret: SECRET2 }] });
    expect(anon(CLIENT_V4)).toBe(anon(CLIENT_V4));
    expect(other(CLIENT_V4)).not.toBe(anon(CLIENT_V4));
    expect(anon(CLIENT_V4)).not.toBe(anon(PROXY_A));
  });

  it('derives a key id from a bare secret', () => {
    const a = createAnonymizer({ anonymize: 'hmac', hmacKey: SECRET });
    expect(a.keyId).toMatch(/^k[0-9a-f]{8}$/);
    expect(a(CLIENT_V4)).toMatch(new RegExp(`^hmac:${a.keyId}:[0-9a-f]{16}$`));
  });

  it('rotation: pseudonyms lists every key, current first; setKeys switches output', () => {
    const a = createAnonymizer({
      anonymize: 'hmac',
      hmacKeys: [
        { id: 'new', secret: SECRET2 },
        { id: 'old', secret: SECRET },
      ],
    });
    const before = a(CLIENT_V4)!;
    expect(before.startsWith('hmac:new:')).toBe(true);
    const names = a.pseudonyms(CLIENT_V4);
    expect(names).toEqual([before, anon(CLIENT_V4)!.replace('2026-11', 'old')]);
    a.setKeys([{ id: 'newer', secret: 'yet-another-secret-32-bytes-long' }]);
    expect(a.keyId).toBe('newer');
    expect(a(CLIENT_V4)!.startsWith('hmac:newer:')).toBe(true);
    expect(() => a.setKeys([{ id: 'bad id', secret: 'short' }])).toThrow(ConfigError);
    expect(a.keyId).toBe('newer');
  });

  it('hmacLength controls the digest length', () => {
    const a = createAnonymizer({ anonymize: 'hmac', hmacKey: { id: 'k', secret: SECRET }, hmacLength: 64 });
    expect(a(CLIENT_V4)).toMatch(/^hmac:k:[0-9a-f]{64}$/);
  });

  it('the cache never changes answers (cache size 1, alternating inputs)', () => {
    const a = createAnonymizer({ anonymize: 'hmac', hmacKey: { id: 'k', secret: SECRET }, cacheSize: 1 });
    const b = createAnonymizer({ anonymize: 'hmac', hmacKey: { id: 'k', secret: SECRET }, cacheSize: 0 });
    for (let i = 0; i < 10; i++) for (const ip of [CLIENT_V4, CLIENT_V6, PROXY_A]) expect(a(ip)).toBe(b(ip));
  });
});

describe('createAnonymizer: none and drop', () => {
  it('none returns the input untouched', () => {
    const a = createAnonymizer();
    expect(a.mode).toBe('none');
    expect(a(CLIENT_V6)).toBe(CLIENT_V6);
    expect(a.text(`x ${CLIENT_V4}`)).toBe(`x ${CLIENT_V4}`);
    expect(a.pseudonyms(CLIENT_V4)).toEqual([]);
  });
  it('drop returns undefined for everything', () => {
    const a = createAnonymizer({ anonymize: 'drop' });
    expect(a(CLIENT_V4)).toBeUndefined();
    expect(a(CLIENT_V6)).toBeUndefined();
    expect(a.prefix(4, new Uint32Array([0xcb00714d, 0, 0, 0]), 24)).toBeUndefined();
  });
});

describe('anonymizer.text(): every address inside free text', () => {
  const TEXT =
    `peer:${PROXY_A} read x-forwarded-for "${CLIENT_V4}, [${CLIENT_V6}]:443, ${CLIENT_MAPPED}" ` +
    `via ${PROXY_V6}%eth0 and ${PROXY_B}:8080. Forwarded: for="[${CLIENT_V6}]";proto=https, for=${CLIENT_V4}. ` +
    `end ${PROXY_A}.`;
  const RAW = [PROXY_A, PROXY_B, PROXY_V6, CLIENT_V4, CLIENT_V6, CLIENT_MAPPED];

  it.each(['truncate', 'hmac', 'drop'] as const)('%s: no raw address remains', (mode) => {
    const a = createAnonymizer({ anonymize: mode, hmacKey: { id: 'k1', secret: SECRET } });
    const out = a.text(TEXT);
    expect(leaks(out, RAW)).toEqual([]);
    expect(out).toContain('read x-forwarded-for "');
    expect(out).toContain(':8080.');
    expect(out).toContain(';proto=https');
    if (mode === 'drop') expect(out).toContain(REDACTED);
    if (mode === 'truncate') {
      expect(out).toContain('203.0.113.0, [2001:db8:abcd::]:443, 198.51.100.0"');
      expect(out).toContain('via fd00:1234:5678:: and 172.16.5.0:8080.');
      expect(out).toContain('end 10.1.2.0.');
    }
  });

  it.each([
    ['time 12:30:45 is not an address', 'time 12:30:45 is not an address'],
    ['version v1.2.3.4 tag', 'version v1.2.3.4 tag'],
    ['surface:1 and cafe:babe', 'surface:1 and cafe:babe'],
    ['x1.2.3.4', 'x1.2.3.4'],
    ['1.2.3.4x', '1.2.3.4x'],
    ['(1.2.3.4)', '(1.2.3.0)'],
    ['1.2.3.4', '1.2.3.0'],
    ['::1', '::'],
    ['10.0.0.0/8', '10.0.0.0/8'],
  ])('truncate: %j -> %j', (input, expected) => {
    expect(createAnonymizer({ anonymize: 'truncate' }).text(input)).toBe(expected);
  });

  it('property: an embedded random address never survives hmac', () => {
    const a = createAnonymizer({ anonymize: 'hmac', hmacKey: { id: 'k1', secret: SECRET } });
    fc.assert(
      fc.property(
        fc.oneof(fc.ipV4(), fc.ipV6()),
        fc.constantFrom(' ', '"', ',', '[', '=', '('),
        (ip, sep) => {
          const out = a.text(`client${sep}${ip}${sep === '[' ? ']' : sep} done`);
          expect(leaks(out, [ip])).toEqual([]);
        },
      ),
    );
  });
});

describe('createAnonymizer: configuration errors (all at once)', () => {
  it('hmac without a key is refused', () => {
    expect(() => createAnonymizer({ anonymize: 'hmac' })).toThrow(/hmacKey/);
  });
  it('lists every problem with its path', () => {
    try {
      createAnonymizer(
        {
          anonymize: 'bogus' as never,
          hmacLength: 3,
          truncate: { v4: 40, v6: -1 },
          hmacKeys: [
            { id: 'ok', secret: 'short' },
            { id: 'bad id!', secret: SECRET },
            { id: 'ok', secret: SECRET },
            { id: 'ok', secret: SECRET2 },
          ],
        },
        'log',
      );
      expect.unreachable();
    } catch (err) {
      const e = err as ConfigError;
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.issues.map((i) => i.path)).toEqual([
        'log.anonymize',
        'log.hmacLength',
        'log.truncate.v4',
        'log.truncate.v6',
        'log.hmacKeys[0].secret',
        'log.hmacKeys[1].id',
        'log.hmacKeys[3].id',
      ]);
    }
  });
});

describe('anonymizeProblem: problem bodies follow the same setting', () => {
  const problem = {
    type: 'https://realip.dev/problems/denied',
    title: 'Forbidden',
    status: 403,
    detail: `client ${CLIENT_V4} is on the deny list (via ${PROXY_A})`,
    instance: `/login#${CLIENT_V6}`,
    'violated-policies': [`deny ${CLIENT_MAPPED}`],
    extra: { peer: PROXY_B },
  };
  it.each(['truncate', 'hmac', 'drop'] as const)('%s: no raw address in the serialised body', (mode) => {
    const a = createAnonymizer({ anonymize: mode, hmacKey: { id: 'k1', secret: SECRET } });
    const body = problemBody(anonymizeProblem(problem, a));
    expect(leaks(body, [CLIENT_V4, CLIENT_V6, CLIENT_MAPPED, PROXY_A, PROXY_B])).toEqual([]);
    expect(JSON.parse(body)).toMatchObject({ type: problem.type, title: 'Forbidden', status: 403 });
  });
  it('none returns the problem untouched (and the check can fail)', () => {
    const a = createAnonymizer();
    expect(anonymizeProblem(problem, a)).toBe(problem);
    expect(leaks(problemBody(problem), [CLIENT_V4])).toEqual([CLIENT_V4]);
  });
});
