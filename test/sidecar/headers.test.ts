import { describe, expect, it } from 'vitest';
import {
  HeaderRules,
  buildUpstreamHeaders,
  connectionTokens,
  filterResponseHeaders,
} from '../../src/sidecar/headers.js';
import { createResolver } from '../../src/resolve/resolver.js';
import type { Resolution } from '../../src/types.js';

const rules = new HeaderRules(['x-secret']);
const pairs = (flat: string[]) =>
  flat.reduce<Array<[string, string]>>((acc, v, i) => (i % 2 ? acc : [...acc, [v, flat[i + 1]!]]), []);
const lower = (raw: string[]) => Object.fromEntries(pairs(raw).map(([k, v]) => [k.toLowerCase(), v]));

function resolved(peer: string, headers: Record<string, string>, trusted: string[] = []): Resolution {
  return createResolver({ trustedProxies: trusted, onWarning: () => {} }).resolve({
    remoteAddress: peer,
    headers,
  });
}

describe('connectionTokens', () => {
  it.each([
    [undefined, undefined],
    ['close', undefined],
    ['keep-alive, Upgrade', undefined],
    ['X-Foo, keep-alive,  x-BAR ', ['x-foo', 'x-bar']],
    ['Host, Content-Length, transfer-encoding', undefined],
    [
      ['a', 'b, c'],
      ['a', 'b', 'c'],
    ],
    [',,', undefined],
  ])('%j -> %j', (value, tokens) => expect(connectionTokens(value)).toEqual(tokens));
});

describe('buildUpstreamHeaders', () => {
  const build = (
    raw: string[],
    resolution: Resolution | undefined,
    extra: Partial<{ geo: object; ssl: boolean }> = {},
  ) =>
    buildUpstreamHeaders(
      rules,
      raw,
      lower(raw),
      { resolution, geo: extra.geo as never, proxySsl: extra.ssl ?? false },
      true,
    );

  it('keeps end-to-end headers in order, drops the rest, appends resolved values last', () => {
    const raw = [
      'Host',
      'a.example',
      'Accept',
      '*/*',
      'X-Forwarded-For',
      '1.1.1.1',
      'Connection',
      'x-one',
      'X-One',
      '1',
      'X-Secret',
      's',
      'Cookie',
      'c=1',
    ];
    const out = build(raw, resolved('203.0.113.9', {}));
    expect(pairs(out)).toEqual([
      ['Host', 'a.example'],
      ['Accept', '*/*'],
      ['Cookie', 'c=1'],
      ['x-real-ip', '203.0.113.9'],
      ['x-forwarded-for', '203.0.113.9'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'a.example'],
    ]);
  });

  it.each([
    ['https', 'https'],
    ['HTTPS', 'https'],
    ['http, https', 'https'],
    ['https, http', 'http'],
    ['ftp', 'http'],
    ['', 'http'],
  ])('trusted X-Forwarded-Proto %j -> %j', (incoming, proto) => {
    const headers = { 'x-forwarded-for': '198.51.100.1', 'x-forwarded-proto': incoming };
    const raw = ['Host', 'h', 'X-Forwarded-For', '198.51.100.1', 'X-Forwarded-Proto', incoming];
    const out = lower(build(raw, resolved('10.0.0.1', headers, ['10.0.0.0/8'])));
    expect(out['x-forwarded-proto']).toBe(proto);
    expect(out['x-real-ip']).toBe('198.51.100.1');
  });

  it('an untrusted peer cannot set the proto; PROXY v2 SSL can', () => {
    const raw = ['Host', 'h', 'X-Forwarded-Proto', 'https'];
    expect(
      lower(build(raw, resolved('203.0.113.9', { 'x-forwarded-proto': 'https' })))['x-forwarded-proto'],
    ).toBe('http');
    expect(lower(build(['Host', 'h'], resolved('203.0.113.9', {}), { ssl: true }))['x-forwarded-proto']).toBe(
      'https',
    );
  });

  it('no resolution: no X-Real-IP or X-Forwarded-For is invented', () => {
    const out = lower(build(['Host', 'h', 'X-Real-IP', '6.6.6.6'], undefined));
    expect(out['x-real-ip']).toBeUndefined();
    expect(out['x-forwarded-for']).toBeUndefined();
  });

  it('geo headers only for known fields; Upgrade, Connection and HTTP2-Settings are never copied', () => {
    const out = build(
      [
        'Host',
        'h',
        'Upgrade',
        'h2c',
        'Connection',
        'Upgrade, HTTP2-Settings',
        'HTTP2-Settings',
        'AAMAAABkAAQAAP__',
      ],
      resolved('203.0.113.9', {}),
      { geo: { country: 'FR' } },
    );
    const o = lower(out);
    expect(o['x-client-country']).toBe('FR');
    expect(o['x-client-continent']).toBeUndefined();
    expect(o.upgrade).toBeUndefined();
    expect(o.connection).toBeUndefined();
    expect(o['http2-settings']).toBeUndefined();
  });

  it("framing is the upstream client's: Content-Length, Transfer-Encoding and Expect are never copied", () => {
    const raw = [
      'Host',
      'h',
      'Content-Length',
      '5',
      'Transfer-Encoding',
      'chunked',
      'Expect',
      '100-continue',
    ];
    const o = lower(build(raw, resolved('203.0.113.9', {})));
    expect(o['content-length']).toBeUndefined();
    expect(o['transfer-encoding']).toBeUndefined();
    expect(o.expect).toBeUndefined();
  });

  it.each([['host'], ['Host, x-one'], ['content-length, transfer-encoding, host']])(
    'Connection: %s never removes Host',
    (connection) => {
      const out = lower(
        build(['Host', 'h', 'Connection', connection, 'X-One', '1'], resolved('203.0.113.9', {})),
      );
      expect(out.host).toBe('h');
    },
  );
});

describe('filterResponseHeaders', () => {
  it('drops hop-by-hop and Connection-listed headers, keeps repeated ones', () => {
    const raw = [
      'Connection',
      'x-hop',
      'X-Hop',
      '1',
      'Transfer-Encoding',
      'chunked',
      'Set-Cookie',
      'a',
      'Set-Cookie',
      'b',
      'Trailer',
      'x',
      'ETag',
      '"1"',
    ];
    expect(pairs(filterResponseHeaders(raw))).toEqual([
      ['Set-Cookie', 'a'],
      ['Set-Cookie', 'b'],
      ['ETag', '"1"'],
    ]);
  });
});
