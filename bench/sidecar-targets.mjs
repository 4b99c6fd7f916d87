// Baseline servers for bench/sidecar.ts, each a child process:
//   node bench/sidecar-targets.mjs undici <listenPort> <upstreamPort>
//   node bench/sidecar-targets.mjs plain <listenPort>
//   node [--import tsx] bench/sidecar-targets.mjs stack <listenPort> <policyModule>
//   node bench/sidecar-targets.mjs bare-node <listenPort> <upstreamPort>
//   node bench/sidecar-targets.mjs reply-from <listenPort> <upstreamPort>
// "undici" is the sidecar's transport with nothing else: the same node:http server settings, the
// same undici Pool options, one dispatch handler per request relaying status, headers (minus
// hop-by-hop) and body with backpressure, as src/sidecar/forward.ts's Exchange does; no stack, no
// framing checks, no header hygiene, no connection gate. "plain" answers 200 itself; "stack" runs
// the sidecar's built-in default policy stack (as `realip sidecar --trusted-proxy 127.0.0.1`
// builds it) in front of the same answer: stack minus plain is the stack's in-process cost.
// "bare-node" is a node:http server + node:http keep-alive client; "reply-from" is Fastify +
// @fastify/reply-from (undici).
import http from 'node:http';

const [mode, listenPort, arg] = process.argv.slice(2);
const port = Number(listenPort);

/** The sidecar's defaults (src/sidecar/options.ts SIDECAR_DEFAULTS). */
const IDLE_TIMEOUT_MS = 300_000;
const CONNECT_TIMEOUT_MS = 5_000;
const UPSTREAM_CONNECTIONS = 128;

/** A node:http server with the sidecar's public-listener settings (src/sidecar/sidecar.ts). */
function sidecarLikeServer(handler) {
  const server = http.createServer(
    { headersTimeout: 30_000, requestTimeout: 0, keepAliveTimeout: 5_000 },
    handler,
  );
  server.timeout = IDLE_TIMEOUT_MS;
  return server;
}

/** Listens on 127.0.0.1; bench/sidecar.ts polls the port until it answers 200. */
function listen(server) {
  server.listen(port, '127.0.0.1');
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'expect',
]);

if (mode === 'undici') {
  const { Pool } = await import('undici');
  const pool = new Pool(`http://127.0.0.1:${Number(arg)}`, {
    connections: UPSTREAM_CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    headersTimeout: 0,
    bodyTimeout: IDLE_TIMEOUT_MS,
    connect: { timeout: CONNECT_TIMEOUT_MS },
    strictContentLength: true,
  });

  /** One exchange: the dispatch handler relays the app's answer to `res`. */
  class Relay {
    constructor(req, res) {
      this.req = req;
      this.res = res;
      this.controller = undefined;
      this.resume = () => this.controller?.resume();
      res.once('close', () => {
        if (!res.writableFinished) this.controller?.abort(new Error('client gone'));
      });
    }
    onRequestStart(controller) {
      this.controller = controller;
    }
    onResponseStart(controller, statusCode, headers, statusMessage) {
      if (statusCode < 200) return;
      const raw = controller.rawHeaders;
      const out = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i].toString('latin1');
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        out.push(name, raw[i + 1].toString('latin1'));
      }
      this.res.writeHead(statusCode, statusMessage, out);
      if (headers['content-length'] === undefined) this.res.flushHeaders();
    }
    onResponseData(controller, chunk) {
      if (!this.res.write(chunk)) {
        controller.pause();
        this.res.once('drain', this.resume);
      }
    }
    onResponseEnd() {
      this.res.end();
    }
    onResponseError(_controller, err) {
      if (this.res.headersSent || this.res.destroyed) {
        this.res.destroy();
        return;
      }
      this.res.writeHead(502, { 'content-type': 'text/plain' });
      this.res.end(`${err.message}\n`);
    }
  }

  listen(
    sidecarLikeServer((req, res) => {
      const headers = [];
      const raw = req.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (!HOP_BY_HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
      }
      const hasBody =
        req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
      pool.dispatch(
        { path: req.url, method: req.method, headers, body: hasBody ? req : null },
        new Relay(req, res),
      );
    }),
  );
} else if (mode === 'plain' || mode === 'stack') {
  const answer = (res) => res.end('Hello');
  let handler = (_req, res) => answer(res);
  if (mode === 'stack') {
    // As src/cli/sidecar.ts loadDefaultStack() builds it for `--trusted-proxy 127.0.0.1`.
    const { createStack, DEFAULT_POLICY: base } = await import(new URL(`../${arg}`, import.meta.url).href);
    const policy = {
      ...base,
      resolve: { ...base.resolve, trustedProxies: ['127.0.0.1'] },
      access: { ...base.access, undeterminable: 'deny' },
    };
    const stack = await createStack(policy, {
      onEvent: (e) => process.stderr.write(`${JSON.stringify(e)}\n`),
    });
    const conn = Object.freeze({});
    handler = (req, res) => {
      let verdict;
      try {
        verdict = stack.handle(req, res, conn);
      } catch (error) {
        res.statusCode = 500;
        res.end(String(error));
        return;
      }
      if (verdict === true) answer(res);
      else if (verdict !== false) {
        verdict.then(
          (ok) => {
            if (ok) answer(res);
          },
          (error) => {
            res.statusCode = 500;
            res.end(String(error));
          },
        );
      }
    };
  }
  listen(sidecarLikeServer(handler));
} else if (mode === 'bare-node') {
  const up = Number(arg);
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  http
    .createServer((req, res) => {
      const upReq = http.request(
        { host: '127.0.0.1', port: up, method: req.method, path: req.url, headers: req.headers, agent },
        (upRes) => {
          res.writeHead(upRes.statusCode, upRes.headers);
          upRes.pipe(res);
        },
      );
      upReq.on('error', () => {
        res.statusCode = 502;
        res.end();
      });
      req.pipe(upReq);
    })
    .listen(port, '127.0.0.1');
} else if (mode === 'reply-from') {
  const { default: Fastify } = await import('fastify');
  const { default: replyFrom } = await import('@fastify/reply-from');
  const app = Fastify({ logger: false });
  await app.register(replyFrom, { base: `http://127.0.0.1:${Number(arg)}` });
  app.all('/*', (req, reply) => reply.from(req.url));
  await app.listen({ port, host: '127.0.0.1' });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
