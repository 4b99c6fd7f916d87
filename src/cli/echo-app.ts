/**
 * The demo's echo app: answers `{ "message": "Hello", "yourIP": ... }` like the examples in
 * Kubernetes guides. It binds to 127.0.0.1 and, as every app behind the realip sidecar should,
 * trusts exactly one thing: `X-Real-IP` from a loopback peer (the sidecar in the same pod).
 * examples/echo-app/server.mjs is the same app as a standalone file.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

function isLoopback(address: string | undefined): boolean {
  return (
    address !== undefined &&
    (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'))
  );
}

/** Starts the echo app on 127.0.0.1:`port` (0 picks a free port). */
export async function startEchoApp(port = 0): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const peer = req.socket.remoteAddress;
    const realIp = req.headers['x-real-ip'];
    const yourIP = isLoopback(peer) && typeof realIp === 'string' ? realIp : peer;
    const body = JSON.stringify({
      message: 'Hello',
      yourIP,
      ...(typeof req.headers['x-client-country'] === 'string'
        ? { country: req.headers['x-client-country'] }
        : {}),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body + '\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
