import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyProtocolServer } from '../../src/sidecar/proxy-listener.js';
import http from 'node:http';
import type { ProxyProtocolOptions } from '../../src/sidecar/types.js';
import { encodeV1, encodeV2 } from './proxy-encode.js';
import {
  rawExchange,
  request,
  startApp,
  startSidecar,
  type App,
  type Running,
  type Seen,
} from './helpers.js';

let app: App;
const running: Running[] = [];
async function sidecar(proxyProtocol: ProxyProtocolOptions) {
  const r = await startSidecar(app.url, { proxyProtocol });
  running.push(r);
  return r;
}
beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  for (const r of running) await r.sidecar.close();
  await app.close();
});

const GET = (path = '/pp') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n`;
const v1 = encodeV1({ proto: 'TCP4', src: '198.51.100.7', dst: '10.0.0.1', srcPort: 40000, dstPort: 443 });
const v2 = encodeV2({
  command: 1,
  fam: 0x21,
  src: '2001:db8::7',
  dst: '2001:db8::1',
  srcPort: 1,
  dstPort: 443,
  tlvs: [{ type: 0x05, value: Buffer.from('id') }],
});

function body(data: string): Seen {
  const i = data.indexOf('\r\n\r\n');
  expect(data.startsWith('HTTP/1.1 200')).toBe(true);
  const rest = data.slice(i + 4);
  // chunked or content-length; the echo body is one JSON document
  const start = rest.indexOf('{');
  return JSON.parse(rest.slice(start, rest.lastIndexOf('}') + 1));
}

describe('PROXY protocol listener', () => {
  it.each([
    ['v1', v1, '198.51.100.7'],
    ['v2 TCP6 with TLVs', v2, '2001:db8::7'],
  ])('a %s header from a trusted peer becomes the client', async (_name, header, ip) => {
    const s = await sidecar({ trusted: ['127.0.0.0/8'] });
    const { data } = await rawExchange(s.port, [Buffer.concat([header, Buffer.from(GET())])]);
    const seen = body(data);
    expect(seen.headers['x-real-ip']).toBe(ip);
    expect(seen.headers['x-forwarded-for']).toBe(ip);
  });

  it('a header split across reads (byte by byte) and a body crossing chunks are handled', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    const req = `POST /split HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789`;
    const bytes = Buffer.concat([v1, Buffer.from(req)]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < v1.length + 5; i++) chunks.push(bytes.subarray(i, i + 1));
    chunks.push(bytes.subarray(v1.length + 5, bytes.length - 3), bytes.subarray(bytes.length - 3));
    const { data } = await rawExchange(s.port, chunks, { gapMs: 1 });
    const seen = body(data);
    expect(seen.headers['x-real-ip']).toBe('198.51.100.7');
    expect(seen.bodyLength).toBe(10);
  });

  it('an HTTP/1.0 request without Host reaches the app with one', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    const { data } = await rawExchange(s.port, [
      Buffer.concat([v1, Buffer.from('GET /old HTTP/1.0\r\n\r\n')]),
    ]);
    expect(data).toMatch(/^HTTP\/1.1 200/);
    expect(body(data).headers.host).toBe(new URL(app.url).host);
  });

  it('keeps the PROXY source for every request on a keep-alive connection', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    const first = `GET /a HTTP/1.1\r\nHost: x\r\n\r\n`;
    const before = app.seen.length;
    const { data } = await rawExchange(s.port, [Buffer.concat([v1, Buffer.from(first)]), GET('/b')], {
      gapMs: 100,
    });
    expect(data.match(/HTTP\/1.1 200/g)).toHaveLength(2);
    const seen = app.seen.slice(before);
    expect(seen.map((x) => [x.url, x.headers['x-real-ip']])).toEqual([
      ['/a', '198.51.100.7'],
      ['/b', '198.51.100.7'],
    ]);
  });

  it.each([
    ['v1 UNKNOWN', encodeV1({ proto: 'UNKNOWN' })],
    ['v2 LOCAL', encodeV2({ command: 0, fam: 0x00 })],
    ['v2 PROXY UNSPEC', encodeV2({ command: 1, fam: 0x00 })],
    ['v2 PROXY UNIX', encodeV2({ command: 1, fam: 0x31 })],
  ])('%s keeps the socket address', async (_name, header) => {
    const s = await sidecar({ trusted: ['127.0.0.0/8'] });
    const { data } = await rawExchange(s.port, [Buffer.concat([header, Buffer.from(GET())])], {
      localAddress: '127.0.0.9',
    });
    expect(body(data).headers['x-real-ip']).toBe('127.0.0.9');
  });

  it('refuses a connection without a header (no guessing), with nothing written back', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    const before = app.seen.length;
    const { data } = await rawExchange(s.port, [GET()]);
    expect(data).toBe('');
    expect(app.seen.length).toBe(before);
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.body).toMatch(/realip_sidecar_proxy_protocol_refused_total\{reason="not-proxy"\} 1/);
  });

  it.each([
    ['bad v1 port', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'v1-port'],
    ['bare LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'v1-malformed'],
    [
      'v2 command 2',
      Buffer.concat([
        encodeV2({ command: 1, fam: 0x11, src: '1.2.3.4', dst: '1.2.3.4', srcPort: 1, dstPort: 1 }),
      ]).fill(0x22, 12, 13),
      'v2-command',
    ],
  ])('refuses an invalid header: %s', async (_name, header, reason) => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    const { data } = await rawExchange(s.port, [header, GET()]);
    expect(data).toBe('');
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.body).toContain(`realip_sidecar_proxy_protocol_refused_total{reason="${reason}"} 1`);
  });

  it('refuses a valid header from an untrusted peer', async () => {
    const s = await sidecar({ trusted: ['10.0.0.0/8'] });
    const { data } = await rawExchange(s.port, [Buffer.concat([v1, Buffer.from(GET())])]);
    expect(data).toBe('');
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.body).toContain('realip_sidecar_proxy_protocol_refused_total{reason="untrusted"} 1');
  });

  it("untrusted: 'direct' serves other peers as plain HTTP with their socket address, never parsing a header", async () => {
    const s = await sidecar({ trusted: ['10.0.0.0/8'], untrusted: 'direct' });
    const { data } = await rawExchange(s.port, [GET()], { localAddress: '127.0.0.7' });
    expect(body(data).headers['x-real-ip']).toBe('127.0.0.7');
    // a PROXY header from an untrusted peer is just bad HTTP
    const spoof = await rawExchange(s.port, [Buffer.concat([v1, Buffer.from(GET())])]);
    expect(spoof.data).toMatch(/^HTTP\/1.1 400/);
  });

  it('closes a trusted peer that does not complete its header in time', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'], timeoutMs: 300 });
    const { data, closedMs } = await rawExchange(s.port, ['PROXY TCP4 1.2.3.4'], { endAfterMs: 5000 });
    expect(data).toBe('');
    expect(closedMs).toBeGreaterThanOrEqual(250);
    expect(closedMs).toBeLessThan(4000);
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.body).toContain('realip_sidecar_proxy_protocol_refused_total{reason="timeout"} 1');
  });

  it('close() ends idle keep-alive connections that came through the PROXY front', async () => {
    const s = await startSidecar(app.url, { proxyProtocol: { trusted: ['127.0.0.1'] } });
    const net = await import('node:net');
    const socket = net.connect(s.port, '127.0.0.1');
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => {});
    let got = '';
    socket.on('data', (c) => (got += c));
    socket.write(Buffer.concat([v1, Buffer.from('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n')]));
    while (!got.includes('\r\n\r\n')) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await s.sidecar.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('WebSocket upgrades through the PROXY front carry the PROXY source', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    const net = await import('node:net');
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, {
      createConnection: () => {
        const socket = net.connect(s.port, '127.0.0.1');
        socket.write(v2);
        return socket;
      },
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (m) => resolve(String(m)));
      ws.once('error', reject);
    });
    expect(JSON.parse(first).headers['x-real-ip']).toBe('2001:db8::7');
    ws.close();
  });

  it('the admin listener never speaks PROXY protocol', async () => {
    const s = await sidecar({ trusted: ['127.0.0.1'] });
    expect((await request(`${s.adminUrl}/healthz`)).status).toBe(200);
  });

  it('rejects options without trusted senders', () => {
    expect(() => createProxyProtocolServer(http.createServer(), { trusted: [] })).toThrow(/trusted/);
    expect(() =>
      createProxyProtocolServer(http.createServer(), { trusted: ['10.0.0/8'], timeoutMs: 0 }),
    ).toThrow(/trusted\[0\][\s\S]*timeoutMs/);
  });
});
