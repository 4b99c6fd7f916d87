/**
 * A slow smuggling attempt next to innocent clients: `GET /outer` with a chunked body that is itself
 * a slow request. If the sidecar let the body reach the app as a second request on a kept-alive
 * upstream connection, the next client routed to that connection would receive the slow request's
 * response instead of its own (response queue poisoning). Each client must get its own answer.
 */
import { describe, it } from 'vitest';
import { startSidecar } from '../helpers.js';
import { exchange, type Exchange } from './client.js';
import { build, chunked } from './cases.js';
import { closeWithin, smuggledByIgnoring } from './invariants.js';
import { startRecorder } from './recorder.js';

const SLOW = 'GET /r/slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n';
const ATTACK = `GET /outer HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SLOW)}`;
const CLIENTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const TRIALS = 3;

/** The target the app says it answered, or a description of what came back instead. */
function answered(ex: Exchange): string {
  const r = ex.finals[0];
  if (r === undefined) return `no response${ex.timedOut ? ' (timed out)' : ''}`;
  try {
    return (JSON.parse(r.body.toString('latin1')) as { target: string }).target;
  } catch {
    return `${r.status} ${r.body.toString('latin1').slice(0, 60)}`;
  }
}

describe.each([
  ['strict app', [] as string[]],
  ['app ignoring GET bodies', ['GET']],
])('slow smuggle next to innocent clients (%s)', (_name, ignoreBodyOn) => {
  it.concurrent.for(Array.from({ length: TRIALS }, (_, i) => i))('trial %i', async (trial, { expect }) => {
    const rec = await startRecorder({ ignoreBodyOn });
    const sc = await startSidecar(rec.url, {});
    try {
      const attacker = await exchange(sc.port, ATTACK, { headMethods: ['GET'], lingerMs: 10 });
      // Right behind it, while a smuggled /r/slow would still be pending on the app.
      const victims = await Promise.all(
        CLIENTS.map((ip, i) =>
          exchange(sc.port, build('GET', `/client-${trial}-${i}`), {
            localAddress: ip,
            headMethods: ['GET'],
            timeoutMs: 2000,
          }),
        ),
      );
      // A second wave after the slow response would have come back.
      await new Promise((r) => setTimeout(r, 350));
      const late = await Promise.all(
        CLIENTS.map((ip, i) =>
          exchange(sc.port, build('GET', `/late-${trial}-${i}`), { localAddress: ip, headMethods: ['GET'] }),
        ),
      );
      expect(answered(attacker)).toBe('/outer');
      expect(victims.map(answered)).toEqual(CLIENTS.map((_, i) => `/client-${trial}-${i}`));
      expect(late.map(answered)).toEqual(CLIENTS.map((_, i) => `/late-${trial}-${i}`));
      const smuggled = smuggledByIgnoring(rec);
      const seen = rec
        .requests()
        .filter((r) => !smuggled.has(r))
        .map((r) => r.target);
      expect(seen).not.toContain('/r/slow?ms=300');
      // The app saw each innocent client's address as the client, never the attacker's.
      for (const r of rec.requests().filter((x) => x.target.startsWith('/client-'))) {
        const i = Number(r.target.split('-')[2]);
        expect(r.headers.find(([n]) => n.toLowerCase() === 'x-real-ip')?.[1]).toBe(CLIENTS[i]);
      }
    } finally {
      await rec.close();
      await closeWithin(sc.sidecar.close(), 2000);
    }
  });
});
