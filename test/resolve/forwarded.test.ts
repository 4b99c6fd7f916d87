/** The RFC 7239 Forwarded parser, through the resolver (peer 10.0.0.5 trusted, 10.0.0.0/8 trusted). */
import { describe, expect, it } from 'vitest';
import type { ResolutionReason } from '../../src/types.js';
import { run } from './helpers.js';

const F = { trustedProxies: ['10.0.0.0/8'], header: 'forwarded' };

describe('Forwarded parser', () => {
  it.each<[string, string | undefined, ResolutionReason]>([
    ['for=192.0.2.60', '192.0.2.60', 'untrusted-entry'],
    ['for="192.0.2.60:8080"', '192.0.2.60', 'untrusted-entry'],
    ['for="192.0.2.60:_abc"', '192.0.2.60', 'untrusted-entry'],
    ['for="[2001:db8::1]:_abc"', '2001:db8::1', 'untrusted-entry'],
    ['for="[2001:db8::1]"', '2001:db8::1', 'untrusted-entry'],
    ['for="2001:db8::1"', '2001:db8::1', 'untrusted-entry'],
    ['for=192.0.2.60:8080', '10.0.0.5', 'invalid-entry'], // ":" is not a token character: must be quoted
    ['by=10.0.0.1;for=192.0.2.60;host=example.com;proto=https', '192.0.2.60', 'untrusted-entry'],
    ['for=192.0.2.60;', '192.0.2.60', 'untrusted-entry'],
    ['for=192.0.2.60;;proto=https', '192.0.2.60', 'untrusted-entry'],
    ['proto=https', '10.0.0.5', 'invalid-entry'], // no for=: an opaque hop
    ['for=192.0.2.60;proto=http;proto=https', '10.0.0.5', 'invalid-entry'], // duplicate parameter
    ['for=192.0.2.60;ext="x, y";ext2=1', '192.0.2.60', 'untrusted-entry'],
    ['for', '10.0.0.5', 'invalid-entry'],
    ['for=', '10.0.0.5', 'invalid-entry'],
    ['=1.2.3.4', '10.0.0.5', 'invalid-entry'],
    ['for=""', '10.0.0.5', 'invalid-entry'],
    ['for="1.2.3.4', '10.0.0.5', 'invalid-entry'],
    ['for="1.2.3.4"x', '10.0.0.5', 'invalid-entry'],
    ['for="\\"1.2.3.4"', '10.0.0.5', 'invalid-entry'],
    ['for=1.2.3.4 , for=10.0.0.9', '1.2.3.4', 'untrusted-entry'],
    ['for=1.2.3.4,,for=10.0.0.9', '1.2.3.4', 'untrusted-entry'],
    ['for="1.2.3.4\\\\", for=10.0.0.9', '10.0.0.9', 'invalid-entry'], // escaped backslash, then the closing quote
    ['for="a\\"b, for=c", for=10.0.0.9', '10.0.0.9', 'invalid-entry'], // escaped quote keeps the comma quoted
    ['for=unknown, for=10.0.0.9', '10.0.0.9', 'invalid-entry'],
    ['', '10.0.0.5', 'no-header'],
  ])('%s -> %s (%s)', (value, ip, reason) => {
    const r = run(F, '10.0.0.5', { forwarded: value });
    expect([r.ip, r.reason]).toEqual([ip, reason]);
  });

  it('element order across lines: the last line is the newest', () => {
    const r = run(F, '10.0.0.5', ['Forwarded', 'for=1.1.1.1, for=10.0.0.8', 'FORWARDED', 'for=10.0.0.9']);
    expect(r.chain).toEqual(['1.1.1.1', '10.0.0.8', '10.0.0.9', '10.0.0.5']);
  });
});
