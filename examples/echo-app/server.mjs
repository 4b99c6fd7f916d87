// The echo app of the demo and the Kubernetes example: answers {"message":"Hello","yourIP":...}.
//
// It listens on 127.0.0.1 only (the realip sidecar in the same pod is the only way in) and
// trusts exactly one thing: X-Real-IP from a loopback peer, which the sidecar sets to the
// resolved client IP after removing whatever the client sent.
//
//   PORT=3000 node examples/echo-app/server.mjs
import http from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const isLoopback = (a) =>
  a !== undefined && (a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.'));

http
  .createServer((req, res) => {
    const peer = req.socket.remoteAddress;
    const realIp = req.headers['x-real-ip'];
    const yourIP = isLoopback(peer) && typeof realIp === 'string' ? realIp : peer;
    const country = req.headers['x-client-country'];
    const body = JSON.stringify({
      message: 'Hello',
      yourIP,
      ...(typeof country === 'string' ? { country } : {}),
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body + '\n');
  })
  .listen(port, '127.0.0.1', () => console.log(`echo app on http://127.0.0.1:${port}`));
