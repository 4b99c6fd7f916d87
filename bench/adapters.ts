/**
 * Per-request cost of the Express adapter against Express's own `req.ip` (proxy-addr with a
 * compiled `trust proxy`), on request-like objects built as Express builds them (no sockets, so
 * the numbers isolate the IP work).
 *
 *   node --expose-gc --import tsx bench/adapters.ts
 *
 * (a) socket only: no proxy trusted, a distinct ::ffff: peer per request;
 * (b) a trusted peer, a 3-hop X-Forwarded-For and 2 trusted CIDRs.
 * Each row builds its request objects inside the timed loop (requests die young, as in a server).
 * Rows are interleaved round by round; medians of ops/s and ratios are printed.
 */
import express from 'express';
import { clientIp } from '../src/express/index.js';

const N = 100_000;
const ROUNDS = 11;
const TRUSTED = ['10.0.0.0/8', '192.168.0.0/16'];

type Req = Record<string, unknown> & { ip?: string; clientIp?: string };

function appWith(trust: unknown) {
  const app = express();
  app.set('trust proxy', trust);
  return app;
}

const scenarios = {
  '(a) socket only': {
    trust: false,
    realip: {},
    make: (i: number) => ({ remoteAddress: `::ffff:198.51.${(i >> 8) & 255}.${i & 255}`, headers: {} }),
  },
  '(b) trusted peer, 3-hop XFF, 2 CIDRs': {
    trust: TRUSTED,
    realip: { trustedProxies: TRUSTED },
    make: (i: number) => ({
      remoteAddress: '10.0.0.1',
      headers: { 'x-forwarded-for': `203.0.${(i >> 8) & 255}.${i & 255}, 192.168.1.1, 10.1.2.3` },
    }),
  },
};

const noop = () => {};
let sink = 0;

/** One request-like object, created inside the timed loop in every row: requests die young. */
function makeReq(
  app: express.Express,
  input: { remoteAddress: string; headers: Record<string, string> },
): Req {
  const req = Object.create(app.request) as Req;
  const socket = { remoteAddress: input.remoteAddress };
  req.socket = socket;
  req.connection = socket;
  req.headers = input.headers;
  return req;
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return N / (Number(process.hrtime.bigint() - t) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

console.log(`node ${process.version}, ${N} requests x ${ROUNDS} rounds (interleaved), median ops/s`);
for (const [name, s] of Object.entries(scenarios)) {
  const app = appWith(s.trust);
  const quietApp = appWith(false);
  const setIp = clientIp({ ...s.realip, onWarning: noop });
  const noSetIp = clientIp({ ...s.realip, setReqIp: false, onWarning: noop });
  const inputs = Array.from({ length: N }, (_, i) => s.make(i));
  const rows: Record<string, () => number> = {
    'express req.ip (proxy-addr, compiled trust)': () =>
      time(() => {
        for (let i = 0; i < N; i++) sink += (makeReq(app, inputs[i]!).ip as string).length;
      }),
    'realip clientIp() + read req.ip': () =>
      time(() => {
        for (let i = 0; i < N; i++) {
          const req = makeReq(quietApp, inputs[i]!);
          setIp(req as never, undefined as never, noop);
          sink += (req.ip as string).length;
        }
      }),
    'realip clientIp({ setReqIp: false }) + read req.clientIp': () =>
      time(() => {
        for (let i = 0; i < N; i++) {
          const req = makeReq(quietApp, inputs[i]!);
          noSetIp(req as never, undefined as never, noop);
          sink += (req.clientIp as string).length;
        }
      }),
  };
  const results: Record<string, number[]> = {};
  for (const r of Object.keys(rows)) {
    results[r] = [];
    rows[r]!();
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [r, run] of Object.entries(rows)) {
      (globalThis as { gc?: () => void }).gc?.();
      results[r]!.push(run());
    }
  }
  const base = median(results['express req.ip (proxy-addr, compiled trust)']!);
  console.log(`\n${name}`);
  for (const r of Object.keys(rows)) {
    const m = median(results[r]!);
    console.log(
      `  ${r.padEnd(58)} ${(m / 1e6).toFixed(2).padStart(6)} M/s  ${(m / base).toFixed(2)}x express`,
    );
  }
}
if (sink === 0) console.log('');
