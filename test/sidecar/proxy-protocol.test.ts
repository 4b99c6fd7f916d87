import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  parseProxyHeader,
  ProxyHeaderParser,
  type ProxyParseResult,
} from '../../src/resolve/proxy-protocol.js';
import { canon, encodeV1, encodeV2, V2_SIG } from './proxy-encode.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const ok = (r: ProxyParseResult) => {
  if (r.status !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.header;
};
const MAX_V6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

describe('PROXY v1: valid headers', () => {
  it.each([
    ['PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n', 'tcp4', '192.168.0.1', 56324, '192.168.0.11', 443],
    ['PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n', 'tcp6', '2001:db8::1', 1, '2001:db8::2', 65535],
    ['PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 0 0\r\n', 'tcp6', '2001:db8::1', 0, '::1', 0],
    ['PROXY TCP6 ::ffff:198.51.100.7 ::1 80 81\r\n', 'tcp6', '198.51.100.7', 80, '::1', 81],
    [`PROXY TCP6 ${MAX_V6} ${MAX_V6} 65535 65535\r\n`, 'tcp6', MAX_V6, 65535, MAX_V6, 65535],
  ])('%j', (line, family, src, srcPort, dst, dstPort) => {
    const h = ok(parseProxyHeader(b(line)));
    expect(h).toMatchObject({
      version: 1,
      command: 'proxy',
      family,
      sourceAddress: src,
      sourcePort: srcPort,
    });
    expect(h).toMatchObject({
      destinationAddress: dst,
      destinationPort: dstPort,
      length: line.length,
      ssl: false,
    });
  });

  it.each([
    'PROXY UNKNOWN\r\n',
    `PROXY UNKNOWN ${MAX_V6} ${MAX_V6} 65535 65535\r\n`, // the spec's 107-byte worst case
    'PROXY UNKNOWN  anything at all here\r\n',
  ])('UNKNOWN keeps the socket address: %j', (line) => {
    expect(line.length).toBeLessThanOrEqual(107);
    const h = ok(parseProxyHeader(b(line)));
    expect(h).toMatchObject({
      family: 'unknown',
      command: 'proxy',
      sourceAddress: undefined,
      length: line.length,
    });
  });
});

describe('PROXY v1: rejected', () => {
  it.each([
    ['GET / HTTP/1.1\r\n', 'not-proxy'],
    ['proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'not-proxy'],
    ['PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'not-proxy'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'v1-malformed'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', 'v1-malformed'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', 'v1-malformed'],
    ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'v1-malformed'],
    ['PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'v1-malformed'],
    ['PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', 'v1-malformed'],
    ['PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'v1-malformed'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'v1-malformed'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', 'v1-malformed'],
    ['PROXY \r\n', 'v1-malformed'],
    ['PROXY TCP4\r\n', 'v1-malformed'],
    ['PROXY TCP4 010.0.0.1 5.6.7.8 1 2\r\n', 'v1-address'],
    ['PROXY TCP4 127.1 5.6.7.8 1 2\r\n', 'v1-address'],
    ['PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n', 'v1-address'],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'v1-address'],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'v1-address'],
    ['PROXY TCP6 [::1] ::1 1 2\r\n', 'v1-address'],
    ['PROXY TCP4 1.2.3.4:5 5.6.7.8 1 2\r\n', 'v1-address'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'v1-port'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n', 'v1-port'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'v1-port'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', 'v1-port'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n', 'v1-port'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n', 'v1-port'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n', 'v1-port'],
    [`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`, 'v1-too-long'], // 108 bytes
    [`PROXY TCP4 ${'1'.repeat(200)}`, 'v1-too-long'], // never a CRLF
  ])('%j -> %s', (line, code) => {
    const r = parseProxyHeader(b(line));
    expect(r).toMatchObject({ status: 'error', code });
  });

  it('a CR at byte 107 is already too long (the LF would be byte 108)', () => {
    const line = `PROXY UNKNOWN ${'x'.repeat(92)}\r`;
    expect(line.length).toBe(107);
    expect(parseProxyHeader(b(line))).toMatchObject({ status: 'error', code: 'v1-too-long' });
    const fits = `PROXY UNKNOWN ${'x'.repeat(91)}\r\n`;
    expect(fits.length).toBe(107);
    expect(parseProxyHeader(b(fits)).status).toBe('ok');
  });

  it.each(['', 'P', 'PROX', 'PROXY ', 'PROXY TCP4 1.2.3.4', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r'])(
    'incomplete: %j',
    (line) => {
      expect(parseProxyHeader(b(line))).toEqual({ status: 'incomplete' });
    },
  );
});

describe('PROXY v2', () => {
  it('TCP4 PROXY', () => {
    const buf = encodeV2({
      command: 1,
      fam: 0x11,
      src: '203.0.113.9',
      dst: '10.0.0.1',
      srcPort: 5555,
      dstPort: 443,
    });
    expect(ok(parseProxyHeader(buf))).toMatchObject({
      version: 2,
      command: 'proxy',
      family: 'tcp4',
      sourceAddress: '203.0.113.9',
      sourcePort: 5555,
      destinationAddress: '10.0.0.1',
      destinationPort: 443,
      length: 28,
    });
  });

  it('TCP6 PROXY, IPv4-mapped source reads as IPv4', () => {
    const buf = encodeV2({
      command: 1,
      fam: 0x21,
      src: '::ffff:192.0.2.1',
      dst: '2001:db8::1',
      srcPort: 1,
      dstPort: 2,
    });
    expect(ok(parseProxyHeader(buf))).toMatchObject({
      family: 'tcp6',
      sourceAddress: '192.0.2.1',
      length: 52,
    });
  });

  it.each([
    [0x31, 'unix-stream'],
    [0x32, 'unix-dgram'],
    [0x00, 'unspec'],
  ])('family %s (%s) keeps the socket address', (fam, family) => {
    const h = ok(parseProxyHeader(encodeV2({ command: 1, fam })));
    expect(h).toMatchObject({ family, command: 'proxy', sourceAddress: undefined });
  });

  it('LOCAL keeps the socket address and ignores the family, even an undefined one', () => {
    expect(ok(parseProxyHeader(encodeV2({ command: 0, fam: 0x00 })))).toMatchObject({
      command: 'local',
      sourceAddress: undefined,
      length: 16,
    });
    const weird = encodeV2({ command: 0, fam: 0x00, pad: 5 });
    weird[13] = 0xff;
    expect(ok(parseProxyHeader(weird))).toMatchObject({ command: 'local', length: 21 });
    const withAddr = encodeV2({
      command: 0,
      fam: 0x11,
      src: '1.2.3.4',
      dst: '5.6.7.8',
      srcPort: 1,
      dstPort: 2,
    });
    expect(ok(parseProxyHeader(withAddr))).toMatchObject({
      command: 'local',
      family: 'tcp4',
      sourceAddress: undefined,
    });
  });

  it('TLVs are skipped by len; the SSL TLV with PP2_CLIENT_SSL sets ssl', () => {
    const tlvs = [
      { type: 0x01, value: Buffer.from('h2') },
      { type: 0x02, value: Buffer.from('example.com') },
      { type: 0x04, value: Buffer.alloc(7) },
      { type: 0x20, value: Buffer.from([0x01, 0, 0, 0, 0]) },
      { type: 0xe3, value: Buffer.from('custom') },
    ];
    const buf = encodeV2({
      command: 1,
      fam: 0x11,
      src: '1.2.3.4',
      dst: '5.6.7.8',
      srcPort: 1,
      dstPort: 2,
      tlvs,
    });
    const h = ok(parseProxyHeader(Buffer.concat([buf, b('GET / HTTP/1.1\r\n')])));
    expect(h.length).toBe(buf.length);
    expect(h.ssl).toBe(true);
    const noSsl = encodeV2({
      command: 1,
      fam: 0x11,
      src: '1.2.3.4',
      dst: '5.6.7.8',
      srcPort: 1,
      dstPort: 2,
      tlvs: [{ type: 0x20, value: Buffer.from([0, 0, 0, 0, 0]) }],
    });
    expect(ok(parseProxyHeader(noSsl)).ssl).toBe(false);
  });

  it('a malformed TLV list is ignored (len still decides the header length)', () => {
    const buf = encodeV2({
      command: 1,
      fam: 0x11,
      src: '1.2.3.4',
      dst: '5.6.7.8',
      srcPort: 1,
      dstPort: 2,
      pad: 4,
    });
    buf[28] = 0x20;
    buf[29] = 0xff; // claims 0xff.. bytes
    expect(ok(parseProxyHeader(buf))).toMatchObject({ ssl: false, length: 32 });
  });

  it.each([
    ['version 1', (x: Buffer) => (x[12] = 0x11), 'v2-version'],
    ['version 3', (x: Buffer) => (x[12] = 0x31), 'v2-version'],
    ['command 2', (x: Buffer) => (x[12] = 0x22), 'v2-command'],
    ['command 15', (x: Buffer) => (x[12] = 0x2f), 'v2-command'],
    ['family 0x13', (x: Buffer) => (x[13] = 0x13), 'v2-family'],
    ['family 0x10', (x: Buffer) => (x[13] = 0x10), 'v2-family'],
    ['family 0x41', (x: Buffer) => (x[13] = 0x41), 'v2-family'],
    ['len 11 for TCP4', (x: Buffer) => x.writeUInt16BE(11, 14), 'v2-length'],
    ['signature', (x: Buffer) => (x[6] = 0x0b), 'not-proxy'],
  ])('%s -> %s', (_name, mutate, code) => {
    const buf = encodeV2({ command: 1, fam: 0x11, src: '1.2.3.4', dst: '5.6.7.8', srcPort: 1, dstPort: 2 });
    mutate(buf);
    expect(parseProxyHeader(buf)).toMatchObject({ status: 'error', code });
  });

  it('waits for the whole block that len announces', () => {
    const buf = encodeV2({ command: 1, fam: 0x21, src: '::1', dst: '::2', srcPort: 1, dstPort: 2, pad: 100 });
    for (let i = 0; i < buf.length; i++)
      expect(parseProxyHeader(buf.subarray(0, i)).status).toBe('incomplete');
    expect(parseProxyHeader(buf).status).toBe('ok');
  });

  it('the signature prefix alone is incomplete', () => {
    expect(parseProxyHeader(V2_SIG.subarray(0, 5))).toEqual({ status: 'incomplete' });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const port = fc.integer({ min: 0, max: 65535 });
const v1Header = fc.oneof(
  fc.record({
    proto: fc.constant('TCP4' as const),
    src: fc.ipV4(),
    dst: fc.ipV4(),
    srcPort: port,
    dstPort: port,
  }),
  fc.record({
    proto: fc.constant('TCP6' as const),
    src: fc.ipV6(),
    dst: fc.ipV6(),
    srcPort: port,
    dstPort: port,
  }),
  fc.record({ proto: fc.constant('UNKNOWN' as const) }),
);
const tlv = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  value: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
});
const v2Header = fc.oneof(
  fc.record({
    command: fc.constant(1 as const),
    fam: fc.constantFrom(0x11, 0x12),
    src: fc.ipV4(),
    dst: fc.ipV4(),
    srcPort: port,
    dstPort: port,
    tlvs: fc.array(tlv, { maxLength: 4 }),
  }),
  fc.record({
    command: fc.constant(1 as const),
    fam: fc.constantFrom(0x21, 0x22),
    src: fc.ipV6(),
    dst: fc.ipV6(),
    srcPort: port,
    dstPort: port,
    tlvs: fc.array(tlv, { maxLength: 4 }),
  }),
  fc.record({
    command: fc.constantFrom(0 as const, 1 as const),
    fam: fc.constantFrom(0x00, 0x31, 0x32),
    pad: fc.integer({ min: 0, max: 64 }),
  }),
);

/** Splits `buf` at the given cut points (sorted, deduplicated). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out.filter((c) => c.length > 0);
}

/** Feeds chunks as reads arrive; after the header, later reads are application data. */
function feedAll(chunks: Buffer[]) {
  const parser = new ProxyHeaderParser();
  let last: ReturnType<ProxyHeaderParser['push']> = { status: 'incomplete' };
  for (let i = 0; i < chunks.length; i++) {
    last = parser.push(chunks[i]!);
    if (last.status === 'ok') return { ...last, rest: Buffer.concat([last.rest, ...chunks.slice(i + 1)]) };
    if (last.status === 'error') break;
  }
  return last;
}

describe('properties', () => {
  it('every valid v1 header parses back to what was encoded', () => {
    fc.assert(
      fc.property(v1Header, (h) => {
        const buf = encodeV1(h);
        const r = ok(parseProxyHeader(buf));
        expect(r.length).toBe(buf.length);
        if (h.proto === 'UNKNOWN') {
          expect(r.sourceAddress).toBeUndefined();
          return;
        }
        expect(r.family).toBe(h.proto === 'TCP4' ? 'tcp4' : 'tcp6');
        expect(r.sourceAddress).toBe(canon(h.src));
        expect(r.destinationAddress).toBe(canon(h.dst));
        expect([r.sourcePort, r.destinationPort]).toEqual([h.srcPort, h.dstPort]);
      }),
      { numRuns: 500 },
    );
  });

  it('every valid v2 header parses back to what was encoded', () => {
    fc.assert(
      fc.property(v2Header, (h) => {
        const buf = encodeV2(h);
        const r = ok(parseProxyHeader(buf));
        expect(r.length).toBe(buf.length);
        expect(r.command).toBe(h.command === 0 ? 'local' : 'proxy');
        if ('src' in h && h.command === 1) {
          expect(r.sourceAddress).toBe(canon(h.src));
          expect(r.destinationAddress).toBe(canon(h.dst));
          expect([r.sourcePort, r.destinationPort]).toEqual([h.srcPort, h.dstPort]);
        } else {
          expect(r.sourceAddress).toBeUndefined();
        }
      }),
      { numRuns: 500 },
    );
  });

  it('any split across reads gives the same header and the same application bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(v1Header.map(encodeV1), v2Header.map(encodeV2)),
        fc.uint8Array({ maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (header, app, cuts) => {
          const all = Buffer.concat([header, Buffer.from(app)]);
          const whole = parseProxyHeader(all);
          const r = feedAll(split(all, cuts));
          if (r.status !== 'ok' || whole.status !== 'ok') throw new Error('expected ok');
          expect(r.header).toEqual(whole.header);
          expect(Buffer.from(r.rest)).toEqual(Buffer.from(app));
        },
      ),
      { numRuns: 500 },
    );
  });

  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
    fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.concat([b('PROXY '), Buffer.from(u)])),
    fc
      .tuple(fc.string({ maxLength: 110 }), fc.constantFrom('\r\n', '\n', '\r', ''))
      .map(([s, e]) => b(`PROXY ${s}${e}`)),
    fc.uint8Array({ maxLength: 80 }).map((u) => Buffer.concat([V2_SIG, Buffer.from(u)])),
  );

  it('garbage never throws; a prefix is incomplete or gives the same answer as the whole', () => {
    fc.assert(
      fc.property(garbage, fc.array(fc.nat(), { maxLength: 6 }), (buf, cuts) => {
        const whole = parseProxyHeader(buf);
        expect(['incomplete', 'ok', 'error']).toContain(whole.status);
        for (let i = 0; i <= buf.length; i++) {
          const p = parseProxyHeader(buf.subarray(0, i));
          if (p.status !== 'incomplete') expect(p).toEqual(whole);
        }
        const fed = feedAll(split(buf, cuts));
        if (whole.status === 'ok' && fed.status === 'ok') expect(fed.header).toEqual(whole.header);
        else expect(fed.status).toBe(whole.status);
      }),
      { numRuns: 1000 },
    );
  });
});
