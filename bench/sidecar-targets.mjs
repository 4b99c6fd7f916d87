// Baseline proxies for bench/sidecar.ts, each a child process:
//   node bench/sidecar-targets.mjs bare-node <listenPort> <upstreamPort>
//   node bench/sidecar-targets.mjs reply-from <listenPort> <upstreamPort>
// "bare-node" is the sidecar's own transport with nothing else (node:http server, node:http
// keep-alive client, pipe both ways); "reply-from" is Fastify + @fastify/reply-from (undici).
import http from 'node:http';

const [mode, listenPort, upstreamPort] = process.argv.slice(2);
const up = Number(upstreamPort);

if (mode === 'bare-node') {
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
    .listen(Number(listenPort), '127.0.0.1', () => console.log('ready'));
} else if (mode === 'reply-from') {
  const { default: Fastify } = await import('fastify');
  const { default: replyFrom } = await import('@fastify/reply-from');
  const app = Fastify({ logger: false });
  await app.register(replyFrom, { base: `http://127.0.0.1:${up}` });
  app.all('/*', (req, reply) => reply.from(req.url));
  await app.listen({ port: Number(listenPort), host: '127.0.0.1' });
  console.log('ready');
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
