/** Test fixtures for the sidecar: an upstream app, a running sidecar, raw HTTP helpers. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createResolver } from '../../src/resolve/resolver.js';
import { createSidecar, type Sidecar } from '../../src/sidecar/sidecar.js';
import { createResolveStack } from '../../src/sidecar/default-stack.js';
import type { SidecarOptions, SidecarStack } from '../../src/sidecar/types.js';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  bodyLength: number;
}

export interface App {
  url: string;
  port: number;
  seen: Seen[];
  /** Releases held /sse streams. */
  release(): void;
  sseEnded: boolean;
  close(): Promise<void>;
}

/**
 * The upstream app:
 * - `/slow?ms=N` answers after N ms; `/sse` sends one event then holds until release();
 * - `/hop` answers with hop-by-hop headers; `/ws` is a WebSocket echo that also reports the
 *   upgrade request's headers; anything else echoes the request as JSON.
 */
export async function startApp(): Promise<App> {
  const seen: Seen[] = [];
  const held: ServerResponse[] = [];
  const app: App = {
    url: '',
    port: 0,
    seen,
    sseEnded: false,
    release() {
      for (const r of held.splice(0)) {
        r.end('data: 2\n\n');
        app.sseEnded = true;
      }
    },
    close: async () => {},
  };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    let bodyLength = 0;
    req.on('data', (c: Buffer) => (bodyLength += c.length));
    req.on('end', () => {
      const entry = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyLength,
      };
      seen.push(entry);
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/slow') {
        setTimeout(() => res.end('slow done'), Number(u.searchParams.get('ms') ?? 1000));
        return;
      }
      if (u.pathname === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: 1\n\n');
        held.push(res);
        return;
      }
      if (u.pathname === '/sse-quiet') {
        // headers now, the first event only on release()
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        held.push(res);
        return;
      }
      if (u.pathname === '/hop') {
        res.writeHead(200, [
          'Connection',
          'x-app-hop, keep-alive',
          'X-App-Hop',
          'secret',
          'Keep-Alive',
          'timeout=99',
          'Proxy-Authenticate',
          'Basic',
          'X-End-To-End',
          'yes',
          'Set-Cookie',
          'a=1',
          'Set-Cookie',
          'b=2',
        ]);
        res.end('hop');
        return;
      }
      if (u.pathname === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(Number(u.searchParams.get('n') ?? 1_000_000), 7));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(entry));
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/ws-refuse') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ headers: req.headers }));
      ws.on('message', (m) => ws.send(`echo:${String(m)}`));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  app.port = port;
  app.url = `http://127.0.0.1:${port}`;
  app.close = async () => {
    app.release();
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return app;
}

/** The built-in stack on the real resolver. */
export function localStack(trustedProxies: string[] = []): SidecarStack {
  return createResolveStack(createResolver({ trustedProxies, onWarning: () => {} }));
}

export interface Running {
  sidecar: Sidecar;
  url: string;
  port: number;
  adminUrl: string;
  events: Array<Record<string, unknown>>;
}

export async function startSidecar(
  upstream: string,
  options: Partial<SidecarOptions> = {},
): Promise<Running> {
  const events: Array<Record<string, unknown>> = [];
  const sidecar = createSidecar({
    upstream,
    stack: localStack(),
    listen: { host: '127.0.0.1', port: 0 },
    adminListen: { host: '127.0.0.1', port: 0 },
    onEvent: (e) => events.push({ ...e }),
    ...options,
  });
  const { public: pub, admin } = await sidecar.listen();
  return {
    sidecar,
    events,
    port: pub.port,
    url: `http://127.0.0.1:${pub.port}`,
    adminUrl: admin ? `http://127.0.0.1:${admin.port}` : '',
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** One request with exact headers (no fetch header restrictions); a fresh connection each time. */
export function request(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string> | string[];
    body?: string | Buffer;
    localAddress?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // Array headers are sent verbatim (Node adds no Host then), so add it.
    const headers = Array.isArray(options.headers)
      ? ['Host', new URL(url).host, ...options.headers]
      : options.headers;
    const req = http.request(url, {
      method: options.method ?? 'GET',
      headers,
      agent: false,
      localAddress: options.localAddress,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens a raw TCP connection, writes `chunks` (with `gapMs` between), returns everything read until close. */
export function rawExchange(
  port: number,
  chunks: Array<Buffer | string>,
  options: { gapMs?: number; localAddress?: string; endAfterMs?: number } = {},
): Promise<{ data: string; closedMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const got: Buffer[] = [];
    socket.on('data', (c) => got.push(c));
    socket.on('error', () => {});
    socket.on('close', () =>
      resolve({ data: Buffer.concat(got).toString('latin1'), closedMs: Date.now() - started }),
    );
    socket.on('connect', async () => {
      try {
        for (const c of chunks) {
          if (socket.destroyed) return;
          socket.write(c);
          if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        }
        if (options.endAfterMs !== undefined) setTimeout(() => socket.end(), options.endAfterMs);
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** A port nobody listens on (bound then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
