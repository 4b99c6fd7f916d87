/**
 * IP matcher benchmark: realip's createIpMatcher vs Node's net.BlockList vs ipaddr.js, side by
 * side in one process, at 10, 1,000 and 100,000 rules (IPv4 and IPv6 mixed), every lookup from
 * the address string (parse included), the way each is used in middleware:
 *
 *   realip     matcher.has(address)
 *   BlockList  blockList.check(address, net.isIP(address) === 6 ? 'ipv6' : 'ipv4')
 *   ipaddr.js  const a = ipaddr.process(address); parsedCidrs.some(([n, b]) => a.kind() === n.kind() && a.match(n, b))
 *
 * Rounds are interleaved (every size and contender once per round, order rotated), and each
 * sample runs for a fixed time budget; the median ns per lookup over the rounds is reported.
 * Time is the process's CPU time (`process.cpuUsage()`), not wall time, so a loaded machine
 * inflates the numbers less (waiting for a core is not counted). Address strings are flattened
 * first: strings built by concatenation are V8 cons-strings, slower to scan than the flat strings
 * Node's HTTP parser hands out.
 *
 *   node --expose-gc --import tsx bench/matcher.ts [--rounds 5] [--budget 200] [--dist]
 */
import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

interface Args {
  rounds: number;
  budgetMs: number;
  dist: boolean;
  sizes: number[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rounds: 5, budgetMs: 200, dist: false, sizes: [10, 1_000, 100_000] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') args.rounds = Number(argv[++i]);
    else if (a === '--budget') args.budgetMs = Number(argv[++i]);
    else if (a === '--dist') args.dist = true;
    else if (a === '--sizes') args.sizes = argv[++i]!.split(',').map(Number);
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const realip = (
  args.dist ? await import('../dist/index.js' as string) : await import('../src/index.js')
) as typeof import('../src/index.js');

// Deterministic PRNG (mulberry32) so every run benchmarks the same rules and addresses.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(20261127);
const u32 = () => Math.floor(rand() * 2 ** 32) >>> 0;
const u16 = () => Math.floor(rand() * 65536);

const v4 = (x: number) => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
const v6 = (g: number[]) => g.map((x) => x.toString(16)).join(':');

interface Rule {
  text: string;
  kind: 'ipv4' | 'ipv6';
  net: string;
  prefix: number;
  /** A random address inside the rule, for hits. */
  inside: () => string;
}

function makeRule(): Rule {
  if (rand() < 0.5) {
    // IPv4: blocklist-like prefixes /16../32.
    const prefix = 16 + Math.floor(rand() * 17);
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const netv = (u32() & mask) >>> 0;
    return {
      text: `${v4(netv)}/${prefix}`,
      kind: 'ipv4',
      net: v4(netv),
      prefix,
      inside: () => v4((netv | (u32() & ~mask)) >>> 0),
    };
  }
  // IPv6: global unicast 2000::/3, /32../64 networks and some single addresses.
  const prefix = rand() < 0.2 ? 128 : 32 + Math.floor(rand() * 33);
  const groups = [0x2000 | (u16() & 0x1fff), u16(), u16(), u16(), u16(), u16(), u16(), u16()];
  for (let bit = prefix; bit < 128; bit++) {
    const gi = bit >> 4;
    groups[gi] = groups[gi]! & ~(1 << (15 - (bit & 15)));
  }
  const net = v6(groups);
  return {
    text: `${net}/${prefix}`,
    kind: 'ipv6',
    net,
    prefix,
    inside: () => {
      const g = groups.slice();
      for (let bit = prefix; bit < 128; bit++) {
        if (rand() < 0.5) g[bit >> 4] = g[bit >> 4]! | (1 << (15 - (bit & 15)));
      }
      return v6(g);
    },
  };
}

function randomAddress(): string {
  return rand() < 0.5
    ? v4(u32())
    : v6([0x2000 | (u16() & 0x1fff), u16(), u16(), u16(), u16(), u16(), u16(), u16()]);
}

type Lookup = (address: string) => boolean;

interface Contender {
  name: string;
  build(rules: Rule[]): Lookup;
}

const contenders: Contender[] = [
  {
    name: 'realip',
    build(rules) {
      const m = realip.createIpMatcher(rules.map((r) => r.text));
      return (a) => m.has(a);
    },
  },
  {
    name: 'net.BlockList',
    build(rules) {
      const bl = new BlockList();
      for (const r of rules) bl.addSubnet(r.net, r.prefix, r.kind);
      return (a) => bl.check(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');
    },
  },
  {
    name: 'ipaddr.js',
    build(rules) {
      const parsed = rules.map((r) => ipaddr.parseCIDR(r.text));
      return (a) => {
        if (!ipaddr.isValid(a)) return false;
        const ip = ipaddr.process(a);
        const kind = ip.kind();
        for (let i = 0; i < parsed.length; i++) {
          const [n, bits] = parsed[i]!;
          if (n.kind() === kind && ip.match(n, bits)) return true;
        }
        return false;
      };
    },
  },
];

const gc = (globalThis as { gc?: () => void }).gc;
let sink = 0;

/** CPU milliseconds used by this process so far. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Copies a string into a flat sequential string, as the HTTP parser delivers them. */
const flat = (s: string) => Buffer.from(s, 'latin1').toString('latin1');

/** ns per lookup, cycling through `addresses` for about `budgetMs` of CPU time. */
function sample(fn: Lookup, addresses: string[], budgetMs: number): number {
  // Calibrate: double the count until a run takes at least 5 ms.
  let n = 1;
  let elapsed: number;
  for (;;) {
    const t0 = cpuMs();
    for (let i = 0; i < n; i++) if (fn(addresses[i % addresses.length]!)) sink++;
    elapsed = cpuMs() - t0;
    if (elapsed >= 5 || n >= 1 << 26) break;
    n *= 2;
  }
  const iterations = Math.max(1, Math.round((n * budgetMs) / Math.max(elapsed, 1e-3)));
  const start = Math.floor(rand() * addresses.length);
  const t0 = cpuMs();
  for (let i = 0; i < iterations; i++) if (fn(addresses[(start + i) % addresses.length]!)) sink++;
  return ((cpuMs() - t0) * 1e6) / iterations;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (ns: number) =>
  ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
      ? `${(ns / 1e3).toFixed(2)} µs`
      : `${ns.toFixed(0)} ns`;

// ---------------------------------------------------------------------------------------------

console.log(
  `node ${process.version}, ${args.rounds} interleaved rounds, ${args.budgetMs} ms of CPU time per sample${args.dist ? ', dist/' : ''}`,
);
if (!gc) console.log('(run with --expose-gc for a gc() between samples)');

interface Case {
  size: number;
  addresses: string[];
  lookups: Map<string, Lookup>;
  buildMs: Map<string, number>;
  samples: Map<string, number[]>;
}

const cases: Case[] = [];
for (const size of args.sizes) {
  const rules = Array.from({ length: size }, makeRule);
  // 2,000 addresses: half inside a random rule (hits), half random (mostly misses); mixed families.
  const addresses = Array.from({ length: 2000 }, (_, i) =>
    flat(i % 2 === 0 ? rules[Math.floor(rand() * rules.length)]!.inside() : randomAddress()),
  );
  const lookups = new Map<string, Lookup>();
  const buildMs = new Map<string, number>();
  for (const c of contenders) {
    gc?.();
    const t0 = cpuMs();
    lookups.set(c.name, c.build(rules));
    buildMs.set(c.name, cpuMs() - t0);
  }
  // Agreement check (on a prefix of the addresses for the linear-time contenders at large sizes).
  const check = size >= 100_000 ? addresses.slice(0, 40) : addresses;
  const reference = lookups.get('realip')!;
  for (const [name, fn] of lookups) {
    for (const a of check) {
      if (fn(a) !== reference(a)) throw new Error(`${name} disagrees with realip on ${a} at ${size} rules`);
    }
  }
  const hits = check.filter((a) => reference(a)).length;
  console.log(`${size} rules built; contenders agree on ${check.length} addresses (${hits} hits)`);
  cases.push({ size, addresses, lookups, buildMs, samples: new Map(contenders.map((c) => [c.name, []])) });
}

// One unrecorded warm-up round, so JIT compilation (counted in process CPU time) is done.
for (const k of cases)
  for (const c of contenders) sample(k.lookups.get(c.name)!, k.addresses, args.budgetMs / 4);

for (let round = 0; round < args.rounds; round++) {
  for (const k of cases) {
    for (let j = 0; j < contenders.length; j++) {
      const c = contenders[(j + round) % contenders.length]!;
      gc?.();
      k.samples.get(c.name)!.push(sample(k.lookups.get(c.name)!, k.addresses, args.budgetMs));
    }
  }
  process.stdout.write(`round ${round + 1}/${args.rounds} done\n`);
}

console.log('\nMedian cost per lookup (from the address string):\n');
const header = ['rules', ...contenders.map((c) => c.name), 'BlockList / realip', 'ipaddr.js / realip'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
const med = new Map<string, number>();
for (const k of cases) {
  const row = [k.size.toLocaleString('en-US')];
  for (const c of contenders) {
    const m = median(k.samples.get(c.name)!);
    med.set(`${c.name}@${k.size}`, m);
    row.push(fmt(m));
  }
  const r = med.get(`realip@${k.size}`)!;
  row.push(`${(med.get(`net.BlockList@${k.size}`)! / r).toFixed(0)}x`);
  row.push(`${(med.get(`ipaddr.js@${k.size}`)! / r).toFixed(0)}x`);
  console.log(`| ${row.join(' | ')} |`);
}

console.log('\nBuild time (ms of CPU, first build in the process, so JIT warm-up included):');
for (const k of cases) {
  console.log(
    `  ${k.size}: ${contenders.map((c) => `${c.name} ${k.buildMs.get(c.name)!.toFixed(1)}`).join(', ')}`,
  );
}

const r10 = med.get('realip@10');
const r1k = med.get('realip@1000');
const r100k = med.get('realip@100000');
const b1k = med.get('net.BlockList@1000');
console.log('\nTargets:');
if (r1k !== undefined && b1k !== undefined) {
  const x = b1k / r1k;
  console.log(
    `  1,000 rules: realip ${x.toFixed(0)}x faster than net.BlockList (target >= 50x): ${x >= 50 ? 'PASS' : 'MISS'}`,
  );
}
if (r10 !== undefined && r100k !== undefined) {
  const x = r100k / r10;
  console.log(
    `  100,000 vs 10 rules: realip cost ratio ${x.toFixed(2)} (target <= 2): ${x <= 2 ? 'PASS' : 'MISS'}`,
  );
}
console.log(`(sink ${sink})`);
