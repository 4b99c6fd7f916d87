/**
 * The sidecar under slow and aborted clients, through real sockets: each timeout with its one
 * meaning (client body 408, response 504 counted from the last byte sent), bounded connections to
 * the app with a bounded queue (503 + Retry-After), request buffering against slow uploaders, and
 * 499 / `aborted` for clients that leave.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { createStack } from '../../src/policy/index.js';
import { defaultPolicy } from '../../src/policy/default.js';
import { startSidecar, request, type Running } from './helpers.js';

/** An app that reads the whole body, then answers after `?ms=`; counts its open connections. */
interface TestApp {
  url: string;
  /** Connections open now, and the most seen at once. */
  open: number;
  peak: number;
  /** Requests that arrived, with the bytes read and whether the body ended cleanly. */
  seen: Array<{ url: string; bytes: number; complete: boolean }>;
  close(): Promise<void>;
}

async function startTestApp(): Promise<TestApp> {
  const app: TestApp = { url: '', open: 0, peak: 0, seen: [], close: async () => {} };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const entry = { url: req.url!, bytes: 0, complete: false };
    app.seen.push(entry);
    req.on('data', (c: Buffer) => (entry.bytes += c.length));
    req.on('end', () => {
      entry.complete = true;
      if (req.url === '/big-stream') {
        // the head and a first chunk, then nothing until the client leaves
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first');
        return;
      }
      const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 0);
      setTimeout(() => res.end(`ok ${entry.bytes}`), ms);
    });
  });
  server.on('connection', (s) => {
    app.open++;
    app.peak = Math.max(app.peak, app.open);
    s.on('close', () => app.open--);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.close = async () => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return app;
}

const running: Running[] = [];
const apps: TestApp[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});
afterAll(async () => {
  for (const r of running) await r.sidecar.close();
  for (const a of apps) await a.close();
});

async function setup(options: Parameters<typeof startSidecar>[1] = {}) {
  const app = await startTestApp();
  apps.push(app);
  const s = await startSidecar(app.url, options);
  running.push(s);
  return { app, s };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw client: writes `head`, then the body in `parts` with `gapMs` between; resolves with the reply. */
function slowClient(
  port: number,
  head: string,
  parts: Buffer[],
  gapMs: number,
  localAddress?: string,
): { socket: net.Socket; reply: Promise<string> } {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  sockets.push(socket);
  const reply = new Promise<string>((resolve) => {
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(data));
    socket.on('connect', async () => {
      socket.write(head);
      for (const p of parts) {
        if (socket.destroyed) return;
        await sleep(gapMs);
        if (!socket.destroyed) socket.write(p);
      }
    });
  });
  return { socket, reply };
}

const statusOf = (reply: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);

describe('timeouts, each with one meaning', () => {
  it.each([
    ['buffered (20 KB, under the 64 KiB request buffer)', 20_000],
    ['streamed (200 KB, over the request buffer)', 200_000],
  ])(
    'a %s upload slower than --response-timeout gets 200: the timeout starts once the body is sent',
    async (_name, size) => {
      const { app, s } = await setup({ responseTimeoutMs: 250 });
      const parts = Array.from({ length: 8 }, () => Buffer.alloc(size / 8, 120));
      const head = `POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`;
      const { reply } = slowClient(s.port, head, parts, 100); // about 800 ms of upload
      const r = await reply;
      expect(statusOf(r)).toBe(200);
      expect(r).toContain(`ok ${size}`);
      expect(app.seen.at(-1)).toMatchObject({ bytes: size, complete: true });
    },
  );

  it('a WebSocket handshake the app never answers gets 504 after --response-timeout', async () => {
    const silent = net.createServer((s) => s.resume()); // reads, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const s = await startSidecar(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, {
      responseTimeoutMs: 200,
    });
    running.push(s);
    const handshake =
      'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    const started = Date.now();
    const { reply } = slowClient(s.port, handshake, [], 0);
    const r = await reply;
    expect(statusOf(r)).toBe(504);
    expect(r).toContain('ERR_REALIP_UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    silent.close();
  });

  it('the app slower than --response-timeout after the body still gets 504', async () => {
    const { s } = await setup({ responseTimeoutMs: 200 });
    const r = await request(`${s.url}/x?ms=1000`, { method: 'POST', body: 'abc' });
    expect(r.status).toBe(504);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'ERR_REALIP_UPSTREAM_TIMEOUT' });
  });

  it.each([
    ['a buffered body never reaches the app', 1_000, false],
    ['a streamed body is aborted at the app', 300_000, true],
  ])('an upload that stalls past --client-body-timeout gets 408: %s', async (_name, size, reachesApp) => {
    const { app, s } = await setup({ clientBodyTimeoutMs: 200 });
    const head = `POST /stall HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`;
    const first = Buffer.alloc(Math.min(size - 1, 100_000), 97);
    const started = Date.now();
    const { reply } = slowClient(s.port, head, [first], 10);
    const r = await reply; // the sidecar closes the connection after the 408
    expect(statusOf(r)).toBe(408);
    expect(r).toContain('ERR_REALIP_CLIENT_BODY_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    await sleep(50);
    const seen = app.seen.filter((e) => e.url === '/stall');
    if (reachesApp) {
      expect(seen).toHaveLength(1);
      expect(seen[0]!.complete).toBe(false);
    } else {
      expect(seen).toHaveLength(0);
    }
    const m = (await request(`${s.adminUrl}/metrics`)).body;
    expect(m).toContain('realip_sidecar_client_body_timeouts_total 1');
    expect(m).toContain('realip_sidecar_responses_total{code="408"} 1');
  });
});

describe('bounded connections to the app', () => {
  it('at most --upstream-connections at once; a bounded queue, then 503 with Retry-After', async () => {
    const { app, s } = await setup({ upstreamConnections: 2, upstreamQueue: 1, upstreamQueueTimeoutMs: 300 });
    const slow = [request(`${s.url}/slow?ms=700`), request(`${s.url}/slow?ms=700`)];
    await sleep(100);
    const queued = request(`${s.url}/queued`); // waits 300 ms, then 503
    await sleep(50);
    const full = await request(`${s.url}/full`); // the queue holds one
    expect(full.status).toBe(503);
    expect(full.headers['retry-after']).toBe('1');
    expect(JSON.parse(full.body)).toMatchObject({ code: 'ERR_REALIP_UPSTREAM_BUSY' });
    const q = await queued;
    expect(q.status).toBe(503);
    expect(q.body).toContain('queue-timeout');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
    expect(app.peak).toBeLessThanOrEqual(2);
    expect(app.seen.map((e) => e.url)).not.toContain('/queued');
    // a waiter gets the connection as soon as one is free
    const a = request(`${s.url}/slow?ms=100`);
    const b = request(`${s.url}/slow?ms=100`);
    const c = request(`${s.url}/third`);
    expect((await Promise.all([a, b, c])).map((r) => r.status)).toEqual([200, 200, 200]);
    const m = (await request(`${s.adminUrl}/metrics`)).body;
    expect(m).toContain('realip_sidecar_upstream_busy_total{reason="queue-full"} 1');
    expect(m).toContain('realip_sidecar_upstream_busy_total{reason="queue-timeout"} 1');
    expect(m).toContain('realip_sidecar_upstream_connections 0');
  });

  it('open WebSocket tunnels do not count toward the bound', async () => {
    const { s } = await setup({ upstreamConnections: 1 });
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const echoed = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
    ws.send('hi');
    expect(await echoed).toBe('echo:hi');
    const r = await request(`${s.url}/while-tunnel-open`);
    expect(r.status).toBe(200);
    ws.close();
  });

  it('request buffering: during 1,000 slow-body clients, a GET from another client gets 200 within 1 s', async () => {
    const { app, s } = await setup({ upstreamConnections: 16 });
    const head = 'POST /slow-body HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n';
    const clients = Array.from({ length: 1000 }, () => slowClient(s.port, head, [Buffer.from('x')], 1));
    // wait until every slow client has sent its first byte
    await sleep(1500);
    expect(app.seen.filter((e) => e.url === '/slow-body')).toHaveLength(0);
    const started = Date.now();
    const r = await request(`${s.url}/normal`, { localAddress: '127.0.0.2' });
    const took = Date.now() - started;
    expect(r.status).toBe(200);
    expect(took).toBeLessThan(1000);
    const m = (await request(`${s.adminUrl}/metrics`)).body;
    expect(m).toContain('realip_sidecar_request_buffer_bytes 1000000');
    for (const c of clients) c.socket.destroy();
    await sleep(100);
    expect(app.open).toBeLessThanOrEqual(2);
  });
});

describe('clients that leave', () => {
  it('gone before the head: counted and logged as 499; gone during the body: status kept, aborted', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = {
      info: (o: object) => lines.push(o as Record<string, unknown>),
      warn: (o: object) => lines.push(o as Record<string, unknown>),
      error: (o: object) => lines.push(o as Record<string, unknown>),
    };
    const stack = await createStack(
      { ...defaultPolicy({ geo: false }), metrics: { enabled: false } } as ReturnType<typeof defaultPolicy>,
      { logger, onWarning: () => {} },
    );
    const { s } = await setup({ stack });
    // before the head: the app takes 500 ms, the client leaves after 100 ms
    const early = net.connect(s.port, '127.0.0.1', () =>
      early.write('GET /slow?ms=500 HTTP/1.1\r\nHost: h\r\n\r\n'),
    );
    sockets.push(early);
    await sleep(100);
    early.destroy();
    await sleep(600);
    // during the body: a streamed response cut after its head
    const stream = await new Promise<number>((resolve) => {
      const req = http.get(`${s.url}/big-stream`, { agent: false }, (res) => {
        resolve(res.statusCode!);
        res.destroy();
      });
      req.on('error', () => {});
    });
    expect(stream).toBe(200);
    await sleep(200);
    const m = (await request(`${s.adminUrl}/metrics`)).body;
    expect(m).toContain('realip_sidecar_responses_total{code="499"} 1');
    expect(m).toContain('realip_sidecar_client_aborts_total{phase="before-head"} 1');
    const slowLine = lines.find((l) => l['url.path'] === '/slow');
    expect(slowLine).toMatchObject({ 'http.response.status_code': 499, 'realip.aborted': true });
    expect(lines.some((l) => l['http.response.status_code'] === 200 && l['url.path'] === '/slow')).toBe(
      false,
    );
    expect(m).toContain('realip_sidecar_client_aborts_total{phase="during-body"} 1');
    const streamLine = lines.find((l) => l['url.path'] === '/big-stream');
    expect(streamLine).toMatchObject({ 'http.response.status_code': 200, 'realip.aborted': true });
  });
});
