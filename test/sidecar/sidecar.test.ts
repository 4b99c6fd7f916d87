import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import WebSocket from 'ws';
import { createContext } from '../../src/http/context.js';
import { createResolver } from '../../src/resolve/resolver.js';
import { createSidecar } from '../../src/sidecar/sidecar.js';
import { sendProblem } from '../../src/sidecar/problem.js';
import type { SidecarStack } from '../../src/sidecar/types.js';
import { deadPort, request, startApp, startSidecar, type App, type Running, type Seen } from './helpers.js';

let app: App;
const running: Running[] = [];
async function sidecar(options: Parameters<typeof startSidecar>[1] = {}, upstream = app.url) {
  const r = await startSidecar(upstream, options);
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

const lastSeen = (): Seen => app.seen[app.seen.length - 1]!;

describe('header hygiene', () => {
  it('client-sent forwarding, client-IP and geo headers never reach the app; resolved values do', async () => {
    const s = await sidecar();
    const r = await request(`${s.url}/echo?q=1`, {
      headers: [
        'X-Forwarded-For',
        '6.6.6.6',
        'x-forwarded-for',
        '7.7.7.7, 8.8.8.8',
        'Forwarded',
        'for=6.6.6.6;proto=https',
        'X-Real-IP',
        '6.6.6.6',
        'X-Client-IP',
        '6.6.6.6',
        'X-Client-Country',
        'XX',
        'X-Client-ASN',
        '1',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'evil.example',
        'X-Forwarded-Port',
        '1',
        'X-Forwarded-Prefix',
        '/admin',
        'True-Client-IP',
        '6.6.6.6',
        'CF-Connecting-IP',
        '6.6.6.6',
        'CF-IPCountry',
        'XX',
        'Fastly-Client-IP',
        '6.6.6.6',
        'X-Cluster-Client-IP',
        '6.6.6.6',
        'Proxy',
        'http://evil.example:8080',
        'X-Keep-Me',
        'yes',
      ],
      localAddress: '127.0.0.3',
    });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as Seen;
    expect(seen.url).toBe('/echo?q=1');
    const h = seen.headers;
    expect(h['x-real-ip']).toBe('127.0.0.3');
    expect(h['x-forwarded-for']).toBe('127.0.0.3');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe(`127.0.0.1:${s.port}`);
    expect(h['x-keep-me']).toBe('yes');
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const banned of [
      'forwarded',
      'x-client-ip',
      'x-client-country',
      'x-client-asn',
      'x-forwarded-port',
      'x-forwarded-prefix',
      'true-client-ip',
      'cf-connecting-ip',
      'cf-ipcountry',
      'fastly-client-ip',
      'x-cluster-client-ip',
      'proxy',
    ]) {
      expect(names, banned).not.toContain(banned);
    }
    // exactly one of each, with the resolved value
    expect(names.filter((n) => n === 'x-forwarded-for')).toHaveLength(1);
    expect(names.filter((n) => n === 'x-real-ip')).toHaveLength(1);
    expect(seen.rawHeaders.join('\n')).not.toContain('6.6.6.6');
  });

  it('hop-by-hop headers and Connection-listed headers are removed in both directions', async () => {
    const s = await sidecar();
    const r = await request(`${s.url}/hop`, {
      headers: [
        'Connection',
        'x-client-hop, keep-alive',
        'X-Client-Hop',
        '1',
        'Keep-Alive',
        'timeout=9',
        'TE',
        'trailers',
        'Proxy-Authorization',
        'Basic eA==',
      ],
    });
    const sent = lastSeen()
      .rawHeaders.filter((_, i) => i % 2 === 0)
      .map((n) => n.toLowerCase());
    for (const h of ['x-client-hop', 'te', 'proxy-authorization']) expect(sent).not.toContain(h);
    expect(lastSeen().headers['keep-alive']).toBeUndefined();
    expect(r.status).toBe(200);
    expect(r.headers['x-app-hop']).toBeUndefined();
    expect(r.headers['proxy-authenticate']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=99'); // Node may add its own, never the app's
    expect(r.headers['x-end-to-end']).toBe('yes');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('geo headers come from req.realip.geo, and can be turned off', async () => {
    const geoStack: SidecarStack = {
      handle(req) {
        const ctx = createContext();
        ctx.resolution = createResolver({ onWarning: () => {} }).resolve({
          remoteAddress: req.socket.remoteAddress,
          headers: {},
        });
        ctx.geo = { country: 'DE', continent: 'EU', asn: 3320 };
        req.realip = ctx;
        return true;
      },
    };
    const on = await sidecar({ stack: geoStack });
    await request(`${on.url}/`, { headers: { 'x-client-country': 'XX' } });
    expect(lastSeen().headers).toMatchObject({
      'x-client-country': 'DE',
      'x-client-continent': 'EU',
      'x-client-asn': '3320',
    });
    const off = await sidecar({ stack: geoStack, geoHeaders: false });
    await request(`${off.url}/`, { headers: { 'x-client-country': 'XX' } });
    expect(lastSeen().headers['x-client-country']).toBeUndefined();
    expect(lastSeen().headers['x-client-asn']).toBeUndefined();
  });

  it('X-Forwarded-Proto/-Host from a trusted proxy are kept; the same from a client are not', async () => {
    const s = await sidecar({ stack: (await import('./helpers.js')).localStack(['127.0.0.4']) });
    await request(`${s.url}/`, {
      headers: {
        'x-forwarded-for': '203.0.113.5',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'shop.example',
      },
      localAddress: '127.0.0.4',
    });
    expect(lastSeen().headers).toMatchObject({
      'x-real-ip': '203.0.113.5',
      'x-forwarded-for': '203.0.113.5',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example',
    });
    await request(`${s.url}/`, {
      headers: {
        'x-forwarded-for': '203.0.113.5',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'shop.example',
      },
      localAddress: '127.0.0.5',
    });
    expect(lastSeen().headers).toMatchObject({
      'x-real-ip': '127.0.0.5',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': `127.0.0.1:${s.port}`,
    });
  });

  it('extra stripHeaders are removed', async () => {
    const s = await sidecar({ stripHeaders: ['X-Internal-Token'] });
    await request(`${s.url}/`, { headers: { 'x-internal-token': 'secret', 'x-other': '1' } });
    expect(lastSeen().headers['x-internal-token']).toBeUndefined();
    expect(lastSeen().headers['x-other']).toBe('1');
  });
});

describe('the stack decides', () => {
  it('a stack answering 403 keeps the request from the app', async () => {
    const deny: SidecarStack = {
      handle(_req, res) {
        sendProblem(res, 403, 'ERR_TEST_DENIED', 'no');
        return false;
      },
    };
    const s = await sidecar({ stack: deny });
    const before = app.seen.length;
    const r = await request(`${s.url}/secret`);
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(app.seen.length).toBe(before);
  });

  it('async stacks work both ways; a failing stack answers 500 problem+json', async () => {
    let allow = true;
    const asyncStack: SidecarStack = {
      async handle(req, res) {
        await new Promise((r) => setTimeout(r, 5));
        if (!allow) {
          sendProblem(res, 429, 'ERR_TEST_LIMITED', 'slow down');
          return false;
        }
        const ctx = createContext();
        req.realip = ctx;
        return true;
      },
    };
    const s = await sidecar({ stack: asyncStack });
    expect((await request(`${s.url}/a`)).status).toBe(200);
    // no resolution: no X-Real-IP is invented
    expect(lastSeen().headers['x-real-ip']).toBeUndefined();
    allow = false;
    expect((await request(`${s.url}/a`)).status).toBe(429);
    const failing = await sidecar({
      stack: {
        handle() {
          throw new Error('boom');
        },
      },
    });
    const r = await request(`${failing.url}/`);
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body)).toMatchObject({ status: 500, code: 'ERR_REALIP_STACK_FAILED' });
  });
});

describe('bodies and streaming', () => {
  it('forwards fixed-length and chunked bodies: buffered ones with Content-Length, streamed ones chunked', async () => {
    const chunkedPost = (url: string): Promise<Seen> =>
      new Promise<Seen>((resolve, reject) => {
        const req = http.request(`${url}/chunked`, { method: 'POST', agent: false });
        req.on('response', (res) => {
          let d = '';
          res.on('data', (c) => (d += c));
          res.on('end', () => resolve(JSON.parse(d) as Seen));
        });
        req.on('error', reject);
        req.write('a'.repeat(1000));
        setTimeout(() => req.end('b'.repeat(1000)), 20);
      });
    const s = await sidecar();
    const r1 = await request(`${s.url}/post`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(JSON.parse(r1.body).bodyLength).toBe(100_000);
    // 2,000 bytes fit the 64 KiB request buffer: read whole, sent with their length
    const buffered = await chunkedPost(s.url);
    expect(buffered.bodyLength).toBe(2000);
    expect(buffered.headers['content-length']).toBe('2000');
    expect(buffered.headers['transfer-encoding']).toBeUndefined();
    const streaming = await sidecar({ requestBufferBytes: 0 });
    const streamed = await chunkedPost(streaming.url);
    expect(streamed.bodyLength).toBe(2000);
    expect(streamed.headers['transfer-encoding']).toBe('chunked');
  });

  it('413 for a declared length over the limit and for a chunked body that grows past it', async () => {
    const s = await sidecar({ maxBodyBytes: 1000 });
    const before = app.seen.length;
    const r = await request(`${s.url}/post`, { method: 'POST', body: 'x'.repeat(1001) });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ status: 413, code: 'ERR_REALIP_BODY_TOO_LARGE' });
    const status = await new Promise<number>((resolve) => {
      const req = http.request(`${s.url}/chunked`, { method: 'POST', agent: false });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', () => {});
      req.write('a'.repeat(600));
      setTimeout(() => req.write('b'.repeat(600)), 20);
    });
    expect(status).toBe(413);
    await new Promise((r) => setTimeout(r, 50));
    expect(app.seen.length).toBe(before);
    expect((await request(`${s.url}/post`, { method: 'POST', body: 'x'.repeat(1000) })).status).toBe(200);
  });

  it('streams SSE unbuffered: the first event arrives while the app still holds the stream', async () => {
    const s = await sidecar();
    const first = await new Promise<{ chunk: string; endedAtFirstChunk: boolean; res: http.IncomingMessage }>(
      (resolve, reject) => {
        const req = http.get(`${s.url}/sse`, { agent: false }, (res) => {
          res.once('data', (c: Buffer) =>
            resolve({ chunk: c.toString(), endedAtFirstChunk: app.sseEnded, res }),
          );
        });
        req.on('error', reject);
      },
    );
    expect(first.chunk).toContain('data: 1');
    expect(first.endedAtFirstChunk).toBe(false);
    expect(first.res.headers['content-type']).toBe('text/event-stream');
    const rest = new Promise<string>((resolve) => {
      let d = '';
      first.res.on('data', (c) => (d += c));
      first.res.on('end', () => resolve(d));
    });
    app.release();
    expect(await rest).toContain('data: 2');
    app.sseEnded = false;
  });

  it('relays the head of a stream at once, before the first event', async () => {
    const s = await sidecar();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${s.url}/sse-quiet`, { agent: false }, resolve).on('error', reject);
    });
    expect(app.sseEnded).toBe(false);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const body = new Promise<string>((resolve) => {
      let d = '';
      res.on('data', (c) => (d += c));
      res.on('end', () => resolve(d));
    });
    app.release();
    expect(await body).toContain('data: 2');
    app.sseEnded = false;
  });

  it('streams a large response intact', async () => {
    const s = await sidecar();
    const r = await request(`${s.url}/big?n=5000000`);
    expect(r.body.length).toBe(5_000_000);
  });
});

describe('upstream failures', () => {
  it('502 problem+json when the app is down', async () => {
    const s = await sidecar({}, `http://127.0.0.1:${await deadPort()}`);
    const r = await request(`${s.url}/`);
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(r.body)).toMatchObject({
      status: 502,
      code: 'ERR_REALIP_UPSTREAM_UNAVAILABLE',
      title: 'Bad Gateway',
    });
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.body).toMatch(/realip_sidecar_upstream_errors_total\{kind="ECONNREFUSED"\} 1/);
  });

  it('504 problem+json when the app is slow', async () => {
    const s = await sidecar({ responseTimeoutMs: 200 });
    const r = await request(`${s.url}/slow?ms=2000`);
    expect(r.status).toBe(504);
    expect(JSON.parse(r.body)).toMatchObject({ status: 504, code: 'ERR_REALIP_UPSTREAM_TIMEOUT' });
    expect((await request(`${s.url}/slow?ms=10`)).status).toBe(200);
  });

  it('a response slower than the idle keep-alive pool timeout (4 s) still completes', async () => {
    const s = await sidecar();
    const r = await request(`${s.url}/slow?ms=4500`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('slow done');
  });

  it('an upstream base path prefixes every request', async () => {
    const s = await sidecar({}, `${app.url}/base/`);
    await request(`${s.url}/x?y=1`);
    expect(lastSeen().url).toBe('/base/x?y=1');
  });
});

describe('WebSocket', () => {
  it('passes an Upgrade through with clean headers and pipes frames both ways', async () => {
    const s = await sidecar();
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { 'x-forwarded-for': '6.6.6.6' } });
    const messages: string[] = [];
    const hello = new Promise<void>((resolve) =>
      ws.once('message', (m) => (messages.push(String(m)), resolve())),
    );
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    await hello;
    const upgradeHeaders = JSON.parse(messages[0]!).headers;
    expect(upgradeHeaders['x-real-ip']).toBe('127.0.0.1');
    expect(upgradeHeaders['x-forwarded-for']).toBe('127.0.0.1');
    const echo = new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))));
    ws.send('ping');
    expect(await echo).toBe('echo:ping');
    const metrics = await request(`${s.adminUrl}/metrics`);
    expect(metrics.body).toMatch(/realip_sidecar_tunnels 1/);
    ws.close();
    await new Promise((r) => ws.once('close', r));
  });

  it('the stack can refuse an Upgrade, and an app refusal is relayed', async () => {
    const deny: SidecarStack = {
      handle(_req, res) {
        sendProblem(res, 403, 'ERR_TEST_DENIED', 'no');
        return false;
      },
    };
    const s = await sidecar({ stack: deny });
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
    const s2 = await sidecar();
    const status2 = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${s2.port}/ws-refuse`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('error', () => {});
    });
    expect(status2).toBe(401);
  });
});

describe('admin listener', () => {
  it('serves probes, metrics and top clients; the public listener forwards those paths to the app', async () => {
    const stack: SidecarStack = {
      ...(await import('./helpers.js')).localStack(),
      metrics: () => '# TYPE app_stack_metric counter\napp_stack_metric 7\n',
      topClients: () => [{ ip: '203.0.113.1', requests: 5 }],
    };
    stack.handle = (await import('./helpers.js')).localStack().handle;
    const s = await sidecar({ stack });
    expect((await request(`${s.adminUrl}/healthz`)).status).toBe(200);
    expect((await request(`${s.adminUrl}/readyz`)).status).toBe(200);
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.headers['content-type']).toContain('text/plain');
    expect(m.body).toContain('app_stack_metric 7');
    expect(m.body).toContain('realip_sidecar_inflight_requests');
    expect(JSON.parse((await request(`${s.adminUrl}/top-clients`)).body)).toEqual([
      { ip: '203.0.113.1', requests: 5 },
    ]);
    expect((await request(`${s.adminUrl}/nope`)).status).toBe(404);
    expect((await request(`${s.adminUrl}/healthz`, { method: 'POST' })).status).toBe(405);
    // the public listener has no admin endpoints
    for (const p of ['/healthz', '/readyz', '/metrics', '/top-clients']) {
      const r = await request(`${s.url}${p}`);
      expect(JSON.parse(r.body).url).toBe(p);
    }
  });

  it('readyz follows the stack and fails at once on shutdown while the public listener keeps serving', async () => {
    let ready = false;
    const stack = { ...(await import('./helpers.js')).localStack(), ready: () => ready };
    stack.handle = (await import('./helpers.js')).localStack().handle;
    const s = await startSidecar(app.url, { stack, shutdownDelayMs: 400, drainTimeoutMs: 2000 });
    expect((await request(`${s.adminUrl}/readyz`)).status).toBe(503);
    ready = true;
    expect((await request(`${s.adminUrl}/readyz`)).status).toBe(200);
    const inflight = request(`${s.url}/slow?ms=700`);
    await new Promise((r) => setTimeout(r, 50));
    const done = s.sidecar.shutdown();
    expect((await request(`${s.adminUrl}/readyz`)).status).toBe(503);
    expect((await request(`${s.url}/during-delay`)).status).toBe(200);
    const r = await inflight;
    expect(r.status).toBe(200);
    expect(r.body).toBe('slow done');
    await done;
    await expect(request(`${s.url}/after`)).rejects.toThrow();
    expect(s.events.map((e) => e.step).filter(Boolean)).toEqual(['readyz-failing', 'draining', 'closed']);
  });
});

describe('options', () => {
  it('reports every invalid option at once', () => {
    expect(() =>
      createSidecar({
        upstream: 'ftp://x',
        stack: {} as SidecarStack,
        maxBodyBytes: -1,
        connectTimeoutMs: 0,
        proxyProtocol: { trusted: [] },
      }),
    ).toThrow(/upstream[\s\S]*stack[\s\S]*proxyProtocol.trusted[\s\S]*maxBodyBytes[\s\S]*connectTimeoutMs/);
  });
});
