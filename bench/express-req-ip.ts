/**
 * How to make Express's `req.ip` return realip's answer, measured: ways to shadow the getter that
 * Express defines on its request prototype, per request, on objects built like Express builds them
 * (an object whose prototype chain is app.request -> express.request -> IncomingMessage.prototype).
 *
 *   node --expose-gc --import tsx bench/express-req-ip.ts
 *
 * Each round creates N request-like objects, applies a strategy, reads `req.ip` twice (as a logger
 * and a rate limiter would) and consumes the result. Strategies are interleaved round by round;
 * medians of ops/s and ratios to the baseline (no shadowing) are printed.
 */
import express from 'express';

const N = 200_000;
const ROUNDS = 15;
const app = express();
const proto = app.request as object;
const IPS = Array.from({ length: 1024 }, (_, i) => `203.0.113.${i & 255}`);

type Req = { clientIp: string | undefined; ip?: string; url: string; method: string; n: number };

function makeReq(i: number): Req {
  const req = Object.create(proto) as Req;
  req.url = '/';
  req.method = 'GET';
  req.n = i;
  return req;
}

const sharedDescriptor: PropertyDescriptor = {
  value: undefined,
  writable: true,
  enumerable: true,
  configurable: true,
};

// A per-app prototype whose `ip` getter reads clientIp: no per-request work, but it changes the
// behaviour of every request of the app (and of routes mounted before the middleware).
const patchedProto = Object.create(proto, {
  ip: {
    configurable: true,
    enumerable: true,
    get(this: Req) {
      return this.clientIp;
    },
  },
}) as object;

const STRATEGIES: Record<string, (req: Req, ip: string) => void> = {
  'baseline: clientIp only (no req.ip)': (req, ip) => {
    req.clientIp = ip;
  },
  'defineProperty, shared mutated descriptor': (req, ip) => {
    req.clientIp = ip;
    sharedDescriptor.value = ip;
    Object.defineProperty(req, 'ip', sharedDescriptor);
  },
  'defineProperty, descriptor literal (chosen)': (req, ip) => {
    req.clientIp = ip;
    Object.defineProperty(req, 'ip', { value: ip, writable: true, enumerable: true, configurable: true });
  },
  'setPrototypeOf to a patched prototype': (req, ip) => {
    req.clientIp = ip;
    Object.setPrototypeOf(req, patchedProto);
  },
  'Reflect.defineProperty, shared descriptor': (req, ip) => {
    req.clientIp = ip;
    sharedDescriptor.value = ip;
    Reflect.defineProperty(req, 'ip', sharedDescriptor);
  },
};

let sink = 0;
function runOnce(apply: (req: Req, ip: string) => void, readIp: boolean): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const req = makeReq(i);
    apply(req, IPS[i & 1023]!);
    const a = readIp ? req.ip : req.clientIp;
    const b = readIp ? req.ip : req.clientIp;
    sink += (a?.length ?? 0) + (b === a ? 1 : 0);
  }
  const ns = Number(process.hrtime.bigint() - start);
  return N / (ns / 1e9);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

const results: Record<string, number[]> = {};
const names = Object.keys(STRATEGIES);
for (const name of names) results[name] = [];
// Warm-up.
for (const name of names) runOnce(STRATEGIES[name]!, !name.startsWith('baseline'));
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) {
    (globalThis as { gc?: () => void }).gc?.();
    results[name]!.push(runOnce(STRATEGIES[name]!, !name.startsWith('baseline')));
  }
}
// Correctness of each strategy on a fresh object: req.ip must be the resolved IP.
for (const name of names.slice(1)) {
  const req = makeReq(0);
  STRATEGIES[name]!(req, '198.51.100.1');
  if (req.ip !== '198.51.100.1') throw new Error(`${name}: req.ip is ${req.ip}`);
}

const base = median(results[names[0]!]!);
console.log(`node ${process.version}, ${N} requests x ${ROUNDS} rounds (interleaved), median ops/s`);
for (const name of names) {
  const m = median(results[name]!);
  console.log(
    `${name.padEnd(46)} ${(m / 1e6).toFixed(2).padStart(7)} M/s   ${(m / base).toFixed(2)}x baseline`,
  );
}
if (sink === 0) console.log('');
