/**
 * Resolver benchmark (issue 2 §8), side by side in one process:
 * realip vs proxy-addr (compiled trust), request-ip and a naive left-most split.
 *
 *   npm run build && node --expose-gc --import tsx bench/resolve.ts [--rounds 15] [--quick] [--src] [--only abc]
 *
 * (a) socket only: 10,000 distinct pre-built `::ffff:` peers, every result consumed, against a
 *     loop that only reads the peer and strips `::ffff:`.
 * (b) trusted peer, 3-hop X-Forwarded-For (client + 2 proxies), 2 trusted CIDRs.
 * (c) trusted peer and 2,000 trusted entries vs the same with 20 entries (realip defaults:
 *     maxEntries 16 bounds the walk, which is the point of the cap; see RESULTS-resolve.md).
 *
 * Rounds are interleaved (every competitor runs once per round, in a rotating order) and the
 * medians of ops/s are reported with the target ratios. No assertion: numbers are for humans.
 */
import { cpus } from 'node:os';
import proxyaddr from 'proxy-addr';
import { createRequire } from 'node:module';
import type { createResolver as CreateResolver } from '../src/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const roundsArg = args.indexOf('--rounds');
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 5 : 15;
// --src measures the TypeScript source through tsx (whose module interop adds a getter call per
// imported binding); the default measures the built package, as users run it.
const useSrc = args.includes('--src');
const entry = useSrc ? '../src/index.js' : '../dist/index.js';
const { createResolver } = (await import(entry)) as {
  createResolver: typeof CreateResolver;
};
// Loaded untyped: @types/request-ip augments Express's Request with `clientIp?`, which clashes with
// realip's own augmentation (src/express/augment.ts) in a whole-project type-check.
const requestIp = createRequire(import.meta.url)('request-ip') as {
  getClientIp(req: unknown): string | null;
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

interface Req {
  socket: { remoteAddress: string };
  connection: { remoteAddress: string };
  headers: Record<string, string>;
}

/**
 * A flat copy of `s`. Template literals build rope (cons) strings, which V8 reads character by
 * character through a slow path; Node hands every competitor flat strings (`socket.remoteAddress`
 * and header values come from C++), so the pre-built inputs are flattened to match.
 */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

function req(peer: string, headers: Record<string, string>): Req {
  const socket = { remoteAddress: flat(peer) };
  const h: Record<string, string> = {};
  for (const k of Object.keys(headers)) h[k] = flat(headers[k]!);
  return { socket, connection: socket, headers: h };
}

let sink = 0;

// ---------------------------------------------------------------------------------------------
// (a) socket only
// ---------------------------------------------------------------------------------------------
const N_PEERS = 10_000;
const peersA: Req[] = [];
for (let i = 0; i < N_PEERS; i++) {
  peersA.push(req(`::ffff:${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255 || 1}`, {}));
}
const socketOnly = createResolver({ onWarning: () => undefined });
const trustNone = proxyaddr.compile([]);

const caseA = {
  'peer-only loop': (): number => {
    let s = 0;
    for (let i = 0; i < N_PEERS; i++) {
      const a = peersA[i]!.socket.remoteAddress;
      const ip = a.startsWith('::ffff:') ? a.slice(7) : a;
      s += ip.length;
    }
    return s;
  },
  realip: (): number => {
    let s = 0;
    for (let i = 0; i < N_PEERS; i++) {
      const q = peersA[i]!;
      const r = socketOnly.resolve({ remoteAddress: q.socket.remoteAddress, headers: q.headers });
      s += r.ip!.length;
    }
    return s;
  },
  'proxy-addr': (): number => {
    let s = 0;
    for (let i = 0; i < N_PEERS; i++) s += proxyaddr(peersA[i]! as never, trustNone).length;
    return s;
  },
  'request-ip': (): number => {
    let s = 0;
    for (let i = 0; i < N_PEERS; i++) s += (requestIp.getClientIp(peersA[i]! as never) ?? '').length;
    return s;
  },
};

// ---------------------------------------------------------------------------------------------
// (b) trusted peer, 3-hop XFF, 2 trusted CIDRs
// ---------------------------------------------------------------------------------------------
const N_B = 1000;
const reqsB: Req[] = [];
for (let i = 0; i < N_B; i++) {
  const client = `203.0.${(i >> 8) & 255}.${i & 255}`;
  reqsB.push(req('10.0.0.1', { 'x-forwarded-for': `${client}, 192.168.1.${1 + (i % 200)}, 10.1.2.3` }));
}
const CIDRS = ['10.0.0.0/8', '192.168.0.0/16'];
const trusted = createResolver({ trustedProxies: CIDRS, onWarning: () => undefined });
const trustB = proxyaddr.compile(CIDRS);

const caseB = {
  realip: (): number => {
    let s = 0;
    for (let i = 0; i < N_B; i++) {
      const q = reqsB[i]!;
      const r = trusted.resolve({ remoteAddress: q.socket.remoteAddress, headers: q.headers });
      s += r.ip!.length;
    }
    return s;
  },
  'proxy-addr': (): number => {
    let s = 0;
    for (let i = 0; i < N_B; i++) s += proxyaddr(reqsB[i]! as never, trustB).length;
    return s;
  },
  'request-ip': (): number => {
    let s = 0;
    for (let i = 0; i < N_B; i++) s += (requestIp.getClientIp(reqsB[i]! as never) ?? '').length;
    return s;
  },
  'naive split': (): number => {
    let s = 0;
    for (let i = 0; i < N_B; i++) {
      const x = reqsB[i]!.headers['x-forwarded-for'];
      s += (x ? x.split(',')[0]!.trim() : reqsB[i]!.socket.remoteAddress).length;
    }
    return s;
  },
};

// ---------------------------------------------------------------------------------------------
// (c) 2,000 trusted entries vs 20
// ---------------------------------------------------------------------------------------------
function chainOf(n: number, salt: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`10.${(i >> 8) & 255}.${i & 255}.${(salt + i) & 255 || 1}`);
  return parts.join(', ');
}
const N_C = 200;
const reqsC2000: Req[] = [];
const reqsC20: Req[] = [];
for (let i = 0; i < N_C; i++) {
  reqsC2000.push(req('10.0.0.1', { 'x-forwarded-for': chainOf(2000, i) }));
  reqsC20.push(req('10.0.0.1', { 'x-forwarded-for': chainOf(20, i) }));
}
const trustC = proxyaddr.compile(['10.0.0.0/8']);
const resolverC = createResolver({ trustedProxies: ['10.0.0.0/8'], onWarning: () => undefined });

function realipOver(list: Req[]): () => number {
  return () => {
    let s = 0;
    for (let i = 0; i < list.length; i++) {
      const q = list[i]!;
      const r = resolverC.resolve({ remoteAddress: q.socket.remoteAddress, headers: q.headers });
      s += r.ip!.length;
    }
    return s;
  };
}
const caseC = {
  'realip 2000': realipOver(reqsC2000),
  'realip 20': realipOver(reqsC20),
  'proxy-addr 2000': (): number => {
    let s = 0;
    for (let i = 0; i < N_C; i++) s += proxyaddr(reqsC2000[i]! as never, trustC).length;
    return s;
  },
  'proxy-addr 20': (): number => {
    let s = 0;
    for (let i = 0; i < N_C; i++) s += proxyaddr(reqsC20[i]! as never, trustC).length;
    return s;
  },
};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------
type Case = Record<string, () => number>;

/** Runs `fn` (which does `opsPerCall` operations) for about `ms`; returns ops/s. */
function sample(fn: () => number, opsPerCall: number, ms: number): number {
  let calls = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(ms) * 1_000_000n;
  let elapsed: bigint;
  do {
    sink += fn();
    calls++;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return (calls * opsPerCall) / (Number(elapsed) / 1e9);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function runCase(name: string, c: Case, opsPerCall: number): Record<string, number> {
  const names = Object.keys(c);
  // Warm up every competitor before measuring any.
  for (const n of names) sample(c[n]!, opsPerCall, quick ? 100 : 300);
  const results: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(round + k) % names.length]!;
      gc();
      results[n]!.push(sample(c[n]!, opsPerCall, quick ? 50 : 200));
    }
  }
  const med: Record<string, number> = {};
  console.log(`\n${name}`);
  for (const n of names) {
    med[n] = median(results[n]!);
    console.log(`  ${n.padEnd(18)} ${fmt(med[n]!).padStart(12)} ops/s`);
  }
  return med;
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function ratio(label: string, value: number, target: string, ok: boolean): void {
  console.log(
    `  ${label.padEnd(52)} ${value.toFixed(2).padStart(8)}   target ${target.padEnd(8)} ${ok ? 'MET' : 'NOT MET'}`,
  );
}

console.log(`realip resolver benchmark — ${new Date().toISOString()}`);
console.log(`realip from ${useSrc ? 'src/ (tsx)' : 'dist/'}`);
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${ROUNDS} interleaved rounds`,
);

const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? args[onlyArg + 1]! : 'abc';
const none: Record<string, number> = {};
const a = only.includes('a')
  ? runCase('(a) socket only, 10,000 distinct ::ffff: peers', caseA, N_PEERS)
  : none;
const b = only.includes('b')
  ? runCase('(b) trusted peer, 3-hop X-Forwarded-For, 2 trusted CIDRs', caseB, N_B)
  : none;
const c = only.includes('c')
  ? runCase('(c) trusted peer, 2,000 vs 20 trusted entries (realip defaults: maxEntries 16)', caseC, N_C)
  : none;

console.log('\nratios');
const rb = b['realip']! / b['proxy-addr']!;
ratio('(b) realip / proxy-addr', rb, '>= 8', rb >= 8);
const cost = b['naive split']! / b['realip']!;
ratio("(b) realip cost / naive split's cost", cost, '<= 2', cost <= 2);
const ra = a['realip']! / a['peer-only loop']!;
ratio('(a) realip / peer-only loop', ra, '>= 0.33', ra >= 1 / 3);
const rc = c['realip 2000']! / c['realip 20']!;
ratio('(c) realip 2,000 entries / 20 entries', rc, '>= 0.90', rc >= 0.9);
const rpc = c['proxy-addr 2000']! / c['proxy-addr 20']!;
console.log(`  ${'(c) for reference: proxy-addr 2,000 / 20'.padEnd(52)} ${rpc.toFixed(3).padStart(8)}`);
if (sink === 42) console.log('');
