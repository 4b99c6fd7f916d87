/**
 * The sidecar's framing rules one by one: shapeRequest() on parsed requests (unit and property),
 * and the behaviours that need a real exchange: Expect: 100-continue only after the stack admits,
 * h2c replayed as plain HTTP with its body, CONNECT refused, the refusal metric.
 * The whole matrix and the comparison with nginx are in framing/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import { isRefusal, REFUSALS, shapeRequest, type UpstreamShape } from '../../src/sidecar/framing.js';
import { sendProblem } from '../../src/sidecar/problem.js';
import type { SidecarStack } from '../../src/sidecar/types.js';
import { localStack, request, startApp, startSidecar, type App, type Running } from './helpers.js';

/** Parses raw request bytes with Node's own server parser and returns the IncomingMessage. */
async function parsed(raw: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      resolve(req);
      res.end();
      server.close();
    });
    server.on('checkContinue', (req, res) => {
      resolve(req);
      res.end();
      server.close();
    });
    server.on('clientError', (err) => {
      reject(err);
      server.close();
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => c.end(raw));
      c.on('error', () => {});
      c.resume();
    });
  });
}

function shape(raw: string, base = ''): Promise<UpstreamShape | ReturnType<typeof shapeRequest>> {
  return parsed(raw).then((req) => shapeRequest(req, base));
}

describe('shapeRequest', () => {
  it.each([
    ['GET /a?b HTTP/1.1\r\nHost: h\r\n\r\n', '', { path: '/a?b', hasBody: false, reset: false }],
    ['GET /a HTTP/1.1\r\nHost: h\r\n\r\n', '/api', { path: '/api/a', hasBody: false }],
    [
      'GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc',
      '',
      { hasBody: true, length: 3, reset: true },
    ],
    [
      'DELETE /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      '',
      { hasBody: true, length: undefined, reset: true },
    ],
    ['POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc', '', { hasBody: true, reset: false }],
    ['POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n', '', { hasBody: false, length: 0 }],
    ['GET http://H:80/x?y HTTP/1.1\r\nHost: h\r\n\r\n', '/p', { path: '/p/x?y', host: undefined }],
    ['GET http://h/x HTTP/1.0\r\n\r\n', '', { path: '/x', host: 'h' }],
    ['OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n', '/api', { path: '*' }],
  ])('%j (base %j)', async (raw, base, expected) => {
    const s = await shape(raw, base);
    expect(isRefusal(s)).toBe(false);
    expect(s).toMatchObject(expected);
  });

  it.each([
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', REFUSALS.duplicateHost],
    ['GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', REFUSALS.duplicateHost],
    ['GET http://evil/x HTTP/1.1\r\nHost: a\r\n\r\n', REFUSALS.hostMismatch],
    ['GET http://a:81/x HTTP/1.1\r\nHost: a\r\n\r\n', REFUSALS.hostMismatch],
    ['TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx', REFUSALS.traceBody],
    ['OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx', REFUSALS.asteriskBody],
    ['GET * HTTP/1.1\r\nHost: a\r\n\r\n', REFUSALS.badTarget],
    ['POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', REFUSALS.http10Chunked],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', REFUSALS.coding],
  ])('refuses %j', async (raw, refusal) => {
    expect(await shape(raw)).toBe(refusal);
  });

  it('property: an origin-form target is forwarded as base path + target, never reinterpreted', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}$/);
    const target = fc
      .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.option(segment))
      .map(([parts, q]) => '/' + parts.join('/') + (q === null ? '' : '?' + q));
    const base = fc.constantFrom('', '/api', '/a/b');
    await fc.assert(
      fc.asyncProperty(target, base, async (t, b) => {
        const s = await shape(`GET ${t} HTTP/1.1\r\nHost: h\r\n\r\n`, b);
        expect(s).toMatchObject({ path: b + t, host: undefined, hasBody: false });
      }),
      { numRuns: 40 },
    );
  });
});

describe('through the sidecar', () => {
  let app: App;
  const running: Running[] = [];
  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    for (const r of running) await r.sidecar.close();
    await app.close();
  });

  /** Writes a request head, waits, and reports whether 100 Continue came before `waitMs`. */
  function expectExchange(
    port: number,
    head: string,
    body: string,
    waitMs: number,
  ): Promise<{ before: string; after: string }> {
    return new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      let data = '';
      let before = '';
      c.on('data', (d) => (data += d.toString('latin1')));
      c.on('error', () => {});
      c.write(head);
      setTimeout(() => {
        before = data;
        if (!c.destroyed && data.startsWith('HTTP/1.1 100')) c.write(body);
        setTimeout(() => {
          c.destroy();
          resolve({ before, after: data });
        }, 300);
      }, waitMs);
    });
  }

  it('Expect: 100-continue: 100 only once the stack admitted; a denied client is never asked for its body', async () => {
    let allow = false;
    const stack: SidecarStack = {
      async handle(req, res, conn) {
        await new Promise((r) => setTimeout(r, 20));
        if (!allow) {
          sendProblem(res, 429, 'ERR_TEST_LIMITED', 'slow down');
          return false;
        }
        return localStack().handle(req, res, conn);
      },
    };
    const s = await startSidecar(app.url, { stack });
    running.push(s);
    const head = 'POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n';
    const denied = await expectExchange(s.port, head, 'hello', 150);
    expect(denied.before).toMatch(/^HTTP\/1\.1 429 /);
    expect(denied.before).not.toContain('100 Continue');
    expect(denied.before.toLowerCase()).toContain('connection: close');

    allow = true;
    const before = app.seen.length;
    const admitted = await expectExchange(s.port, head, 'hello', 150);
    expect(admitted.before).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    expect(admitted.after).toMatch(/HTTP\/1\.1 200 OK/);
    const seen = app.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.bodyLength).toBe(5);
    expect(seen[0]!.headers.expect).toBeUndefined();
  });

  it('Upgrade: h2c is forwarded as plain HTTP with its body, and the connection goes on serving', async () => {
    const s = await startSidecar(app.url);
    running.push(s);
    const before = app.seen.length;
    const raw =
      'POST /h2c HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
      'HTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 3\r\n\r\nabc' +
      'GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';
    const out = await new Promise<string>((resolve) => {
      const c = net.connect(s.port, '127.0.0.1', () => c.write(raw));
      let d = '';
      c.on('data', (x) => (d += x.toString('latin1')));
      c.on('close', () => resolve(d));
    });
    expect(out.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(out).not.toContain('101');
    // Node's server hands pipelined requests over at once, so the app may see them in either order;
    // the responses still go back in request order.
    const seen = app.seen.slice(before).sort((a, b) => a.url.localeCompare(b.url));
    expect(seen.map((r) => [r.method, r.url, r.bodyLength])).toEqual([
      ['GET', '/after', 0],
      ['POST', '/h2c', 3],
    ]);
    expect(seen[1]!.headers.upgrade).toBeUndefined();
    expect(seen[1]!.headers['http2-settings']).toBeUndefined();
  });

  it('CONNECT gets 405 and refusals are counted by reason', async () => {
    const s = await startSidecar(app.url);
    running.push(s);
    const out = await new Promise<string>((resolve) => {
      const c = net.connect(s.port, '127.0.0.1', () =>
        c.write('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'),
      );
      let d = '';
      c.on('data', (x) => (d += x.toString('latin1')));
      c.on('close', () => resolve(d));
    });
    expect(out).toMatch(/^HTTP\/1\.1 405 /);
    expect(out).toContain('ERR_REALIP_REQUEST_REFUSED');
    const dup = await request(`${s.url}/`, { headers: ['Host', 'evil'] });
    expect(dup.status).toBe(400);
    const metrics = (await request(`${s.adminUrl}/metrics`)).body;
    expect(metrics).toContain('realip_sidecar_requests_refused_total{reason="connect"} 1');
    expect(metrics).toContain('realip_sidecar_requests_refused_total{reason="duplicate-host"} 1');
    expect(metrics).toContain('realip_sidecar_responses_total{code="405"} 1');
  });
});
