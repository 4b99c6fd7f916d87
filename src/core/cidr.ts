/**
 * CIDR parsing and the IP matcher.
 *
 * Two parsers, each where it is best (issue 15, "one of each"):
 *
 * - Configuration (rules, CIDRs, netmasks, named ranges) is parsed with ipaddr.js, the design
 *   card's library, behind a guard that keeps realip's strictness: ipaddr.js reads legacy IPv4
 *   (`010.0.0.1` as octal, `127.1`, `0x7f.0.0.1`, `2130706433`), zones (`fe80::1%eth0`), and
 *   `::a.b.c.d` as IPv4-mapped; {@link parseConfigAddress} refuses the first two with the same
 *   message as before and hands ipaddr.js a hex spelling of an embedded dotted quad, so `::a.b.c.d`
 *   stays the IPv6 address it spells. Named ranges come from ipaddr.js's special-range tables.
 * - A lookup (`has`) parses the request's address with ip.ts's `parseIpInto`, THE per-request
 *   parser (the resolver and every stage use it too); the single-pass IPv6 code that used to live
 *   here is now ip.ts's, so a lookup costs what it did (bench/matcher.ts, bench/RESULTS-access.md).
 *   test/unit/ip.property.test.ts pins the two parsers to each other and to ipaddr.js.
 *
 * Rules compile once into merged, sorted, disjoint address ranges per family; a lookup is a binary
 * search over typed arrays (at most ~17 steps for 100,000 rules) after a strict parse of the
 * address. IPv4-mapped IPv6 addresses are IPv4 addresses (they match IPv4 rules), and a rule
 * written inside `::ffff:0:0/96` with a prefix of /96 or longer is an IPv4 rule. A shorter IPv6
 * rule (`::/8`) matches IPv6 addresses only, as in proxy-addr: trusting `::/8` must not quietly
 * trust every IPv4 client.
 *
 * Size: about 650 lines, over the guide's 500: the configuration parser (ipaddr.js behind realip's
 * strictness guard) and the matcher share this file; issue 15 splits them into src/access/.
 */
import ipaddr from 'ipaddr.js';
import { ConfigError, IssueCollector, joinPath } from '../errors.js';
import { IPV4, IPV6, PARSE_ZONE, formatIpv4, formatIpv6, parseIpInto, type IpKind } from './ip.js';

type SpecialEntry = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The CIDRs ipaddr.js lists under `name` for one family, as canonical `network/prefix` text. */
function special(family: 4 | 6, name: string): string[] {
  // The tables are on the prototypes (not in the typings); IPv6 entries may be a bare pair.
  const proto = (family === 4 ? ipaddr.IPv4 : ipaddr.IPv6).prototype as unknown as {
    SpecialRanges: Record<string, SpecialEntry | SpecialEntry[] | undefined>;
  };
  const entry = proto.SpecialRanges[name];
  if (entry === undefined) throw new Error(`ipaddr.js has no IPv${family} range "${name}"`);
  const list = Array.isArray(entry[0]) ? (entry as SpecialEntry[]) : [entry as SpecialEntry];
  return list.map(([addr, bits]) => `${addr.toString()}/${bits}`);
}

/**
 * Named ranges, from ipaddr.js's special-range tables. `loopback`, `linklocal` and `uniquelocal`
 * are exactly proxy-addr's (Express `trust proxy`).
 */
export const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  loopback: [...special(4, 'loopback'), ...special(6, 'loopback')],
  linklocal: [...special(4, 'linkLocal'), ...special(6, 'linkLocal')],
  uniquelocal: [...special(4, 'private'), ...special(6, 'uniqueLocal')],
  /** RFC 1918. */
  private: special(4, 'private'),
  /** RFC 4193 unique local IPv6. */
  ula: special(6, 'uniqueLocal'),
  /** RFC 6598 carrier-grade NAT shared space. */
  cgnat: special(4, 'carrierGradeNat'),
});

/** A named range: `loopback`, `private`, `linklocal`, ... (see docs/access.md). */
export type NamedRange = 'loopback' | 'linklocal' | 'uniquelocal' | 'private' | 'ula' | 'cgnat';

/** A NetworkPolicy-style block: everything in `cidr` except the listed sub-ranges. */
export interface IpBlock {
  cidr: string;
  except?: readonly string[];
}

/** One matcher rule: an IP, a CIDR (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`), a named range, or a block. */
export type IpRule = string | IpBlock;

/** A parsed CIDR: family, inclusive bigint bounds and the normalised text. */
export interface Cidr {
  readonly kind: 4 | 6;
  readonly prefix: number;
  readonly first: bigint;
  readonly last: bigint;
  /** Canonical `network/prefix` text. */
  readonly text: string;
}

const V4_ALL = (1n << 32n) - 1n;
const V6_ALL = (1n << 128n) - 1n;
const MAPPED_FIRST = 0xffffn << 32n; // ::ffff:0.0.0.0

/**
 * The guard's dotted-quad spelling: four decimal parts without leading zeros (ipaddr.js's
 * `isValidFourPartDecimal` pattern; ipaddr.js then checks each part is at most 255).
 */
const FOUR_PART_DECIMAL = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;

/** A strict dotted quad's four octets, parsed by ipaddr.js after the guard, or `undefined`. */
function strictQuad(text: string): number[] | undefined {
  if (!FOUR_PART_DECIMAL.test(text)) return undefined;
  try {
    return ipaddr.IPv4.parse(text).octets;
  } catch {
    return undefined; // a part above 255
  }
}

/** An address written in configuration, as a bigint; `kind` 4 for IPv4 and IPv4-mapped IPv6. */
interface ConfigAddress {
  readonly kind: 4 | 6;
  readonly value: bigint;
}

function v4BigInt(o: readonly number[]): bigint {
  return BigInt(((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0);
}

/**
 * Parses an IP written in configuration with ipaddr.js, or returns `undefined`. The guard keeps
 * the per-request parser's strictness (test/unit/ip.property.test.ts pins the two): IPv4, alone or
 * as the tail of an IPv6 address, must be a strict dotted quad (ipaddr.js alone also reads
 * `010.0.0.1` as octal, `127.1`, `0x7f.0.0.1` and `2130706433`), and zones are refused. The tail
 * quad is handed to ipaddr.js as two hex groups, because ipaddr.js reads `::a.b.c.d` as
 * `::ffff:a.b.c.d`.
 */
export function parseConfigAddress(text: string): ConfigAddress | undefined {
  if (text.includes('%')) return undefined;
  const colon = text.lastIndexOf(':');
  if (colon < 0) {
    const o = strictQuad(text);
    return o === undefined ? undefined : { kind: IPV4, value: v4BigInt(o) };
  }
  let v6 = text;
  if (text.indexOf('.', colon) >= 0) {
    const o = strictQuad(text.slice(colon + 1));
    if (o === undefined) return undefined;
    v6 = `${text.slice(0, colon + 1)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  let addr: ipaddr.IPv6;
  try {
    addr = ipaddr.IPv6.parse(v6);
  } catch {
    return undefined;
  }
  const p = addr.parts;
  if (addr.isIPv4MappedAddress()) return { kind: IPV4, value: BigInt(((p[6]! << 16) | p[7]!) >>> 0) };
  let value = 0n;
  for (let i = 0; i < 8; i += 2) value = (value << 32n) | BigInt(((p[i]! << 16) | p[i + 1]!) >>> 0);
  return { kind: IPV6, value };
}

function parsePrefix(text: string, kind: 4 | 6): number {
  if (kind === IPV4 && text.includes('.')) {
    // Netmask form, as proxy-addr accepts; only contiguous masks are meaningful.
    const o = strictQuad(text);
    return o === undefined ? -1 : (new ipaddr.IPv4(o).prefixLengthFromSubnetMask() ?? -1);
  }
  if (!/^(0|[1-9][0-9]{0,2})$/.test(text)) return -1;
  const n = Number(text);
  return n <= (kind === IPV4 ? 32 : 128) ? n : -1;
}

function formatBig(kind: 4 | 6, v: bigint): string {
  if (kind === IPV4) return formatIpv4(Number(v));
  const w = (s: bigint) => Number((v >> s) & 0xffffffffn);
  return formatIpv6(w(96n), w(64n), w(32n), w(0n));
}

/**
 * Parses `a.b.c.d/n`, `a.b.c.d/m.m.m.m`, `v6/n` or a bare IP (a /32 or /128). Returns a string
 * describing the problem when the text is invalid. Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
 */
export function parseCidr(input: string): Cidr | string {
  if (typeof input !== 'string') return `expected a string (got ${typeof input})`;
  const text = input.trim();
  if (text === '') return 'empty rule';
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const parsed = parseConfigAddress(addr);
  if (!parsed) {
    return `invalid address "${addr}" in "${input}" (expected a.b.c.d or an IPv6 address; legacy forms such as 010.0.0.1 or 127.1 are not accepted)`;
  }
  // A mapped address written in IPv6 form keeps IPv6 prefix semantics.
  const writtenV6 = addr.includes(':');
  let kind: 4 | 6 = parsed.kind;
  let value = parsed.value;
  if (parsed.kind === IPV4 && writtenV6) {
    kind = 6;
    value = MAPPED_FIRST | value;
  }
  let prefix = kind === IPV4 ? 32 : 128;
  if (slash >= 0) {
    prefix = parsePrefix(text.slice(slash + 1), kind);
    if (prefix < 0) {
      return `invalid prefix in "${input}" (expected /0-${kind === IPV4 ? 32 : 128}${kind === IPV4 ? ' or a contiguous netmask' : ''})`;
    }
  }
  // Mapped IPv6 with a prefix inside ::ffff:0:0/96 is just an IPv4 CIDR.
  if (kind === 6 && prefix >= 96 && (value & ~V4_ALL) === MAPPED_FIRST) {
    kind = 4;
    prefix -= 96;
    value &= V4_ALL;
  }
  const bits = kind === IPV4 ? 32n : 128n;
  const all = kind === IPV4 ? V4_ALL : V6_ALL;
  const hostMask = prefix === 0 ? all : (1n << (bits - BigInt(prefix))) - 1n;
  const first = value & ~hostMask & all;
  const last = first | hostMask;
  return { kind, prefix, first, last, text: `${formatBig(kind, first)}/${prefix}` };
}

type Range = [bigint, bigint];

function subtract(ranges: Range[], cut: Range): Range[] {
  const out: Range[] = [];
  for (const [lo, hi] of ranges) {
    if (cut[1] < lo || cut[0] > hi) {
      out.push([lo, hi]);
      continue;
    }
    if (cut[0] > lo) out.push([lo, cut[0] - 1n]);
    if (cut[1] < hi) out.push([cut[1] + 1n, hi]);
  }
  return out;
}

function merge(ranges: Range[]): Range[] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Range[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1n) {
      if (r[1] > last[1]) last[1] = r[1];
    } else {
      out.push([r[0], r[1]]);
    }
  }
  return out;
}

/** Compiled rules: merged ranges per family, plus facts validation needs. */
export interface CompiledRanges {
  readonly v4: readonly Range[];
  readonly v6: readonly Range[];
  /** Rules that cover a whole family (`0.0.0.0/0`, `::/0`), by position. */
  readonly matchAll: readonly string[];
}

type RangeSink = (kind: 4 | 6, lo: bigint, hi: bigint) => void;

/** Adds one parsed CIDR to `sink` (IPv4-mapped rules were already turned into IPv4 by parseCidr). */
function emitCidr(c: Cidr, sink: RangeSink): void {
  sink(c.kind, c.first, c.last);
}

/**
 * Compiles one rule at option path `at`, reporting problems into `issues`. Valid ranges go to
 * `sink`; `matchAll` receives the text of a rule that covers a whole family.
 */
function compileRule(
  rule: IpRule,
  at: string,
  issues: IssueCollector,
  sink: RangeSink,
  matchAll: string[],
): void {
  if (typeof rule === 'string') {
    const name = rule.trim().toLowerCase();
    const named = Object.prototype.hasOwnProperty.call(NAMED_RANGES, name) ? NAMED_RANGES[name] : undefined;
    if (named) {
      for (const r of named) emitCidr(parseCidr(r) as Cidr, sink);
      return;
    }
    const c = parseCidr(rule);
    if (typeof c === 'string') {
      issues.add(
        at,
        `${c}; named ranges are ${Object.keys(NAMED_RANGES).join(', ')}`,
        'ERR_REALIP_CIDR_INVALID',
      );
      return;
    }
    if (c.prefix === 0) matchAll.push(c.text);
    emitCidr(c, sink);
    return;
  }
  if (rule === null || typeof rule !== 'object' || typeof rule.cidr !== 'string') {
    issues.add(
      at,
      `expected a string or { cidr, except } (got ${rule === null ? 'null' : typeof rule})`,
      'ERR_REALIP_CIDR_INVALID',
    );
    return;
  }
  const c = parseCidr(rule.cidr);
  if (typeof c === 'string') {
    issues.add(joinPath(at, 'cidr'), c, 'ERR_REALIP_CIDR_INVALID');
    return;
  }
  let own4: Range[] = [];
  let own6: Range[] = [];
  const ownSink: RangeSink = (kind, lo, hi) => (kind === IPV4 ? own4 : own6).push([lo, hi]);
  emitCidr(c, ownSink);
  const except = rule.except ?? [];
  if (!Array.isArray(except)) {
    issues.add(joinPath(at, 'except'), 'expected an array of CIDRs', 'ERR_REALIP_CIDR_INVALID');
    return;
  }
  except.forEach((e, j) => {
    const ep = joinPath(joinPath(at, 'except'), j);
    const x = parseCidr(e);
    if (typeof x === 'string') {
      issues.add(ep, x, 'ERR_REALIP_CIDR_INVALID');
      return;
    }
    // An IPv4-mapped except (`::ffff:10.0.0.0/104` parses as 10.0.0.0/8) inside an IPv6 block is
    // compared in IPv6 space.
    const mapped = c.kind === 6 && x.kind === IPV4;
    const xFirst = mapped ? MAPPED_FIRST | x.first : x.first;
    const xLast = mapped ? MAPPED_FIRST | x.last : x.last;
    if ((x.kind !== c.kind && !mapped) || xFirst < c.first || xLast > c.last) {
      issues.add(
        ep,
        `"${e}" is not inside the block's cidr ${c.text} (Kubernetes rejects this too)`,
        'ERR_REALIP_EXCEPT_OUTSIDE',
      );
      return;
    }
    if (mapped) own6 = subtract(own6, [xFirst, xLast]);
    emitCidr(x, (kind, lo, hi) => {
      if (kind === IPV4) own4 = subtract(own4, [lo, hi]);
      else own6 = subtract(own6, [lo, hi]);
    });
  });
  if (c.prefix === 0 && except.length === 0) matchAll.push(c.text);
  for (const [lo, hi] of own4) sink(4, lo, hi);
  for (const [lo, hi] of own6) sink(6, lo, hi);
}

/**
 * Compiles rules into ranges, reporting every invalid rule into `issues` with its path
 * (`<path>[i]`). Named ranges expand; blocks subtract their `except` entries, each of which
 * must lie inside the block's `cidr` (as Kubernetes requires).
 */
export function compileRanges(
  rules: readonly IpRule[],
  path: string,
  issues: IssueCollector,
): CompiledRanges {
  const v4: Range[] = [];
  const v6: Range[] = [];
  const matchAll: string[] = [];
  if (!Array.isArray(rules)) {
    issues.add(path, `expected an array of IPs, CIDRs or named ranges (got ${typeof rules})`);
    return { v4, v6, matchAll };
  }
  const sink: RangeSink = (kind, lo, hi) => (kind === IPV4 ? v4 : v6).push([lo, hi]);
  rules.forEach((rule, i) => compileRule(rule, joinPath(path, i), issues, sink, matchAll));
  return { v4: merge(v4), v6: merge(v6), matchAll };
}

/** Compiled rules that remember, per disjoint range, which rule covers it (the lowest label wins). */
export interface LabelledRanges extends CompiledRanges {
  /** `labels4[i]` is the label of `v4[i]`. */
  readonly labels4: readonly number[];
  readonly labels6: readonly number[];
}

type Labelled = [lo: bigint, hi: bigint, label: number];

/**
 * Cuts possibly overlapping labelled ranges into sorted disjoint ranges, each carrying the lowest
 * label that covers it; adjacent ranges with the same label are joined. A sweep over the range
 * boundaries with a min-heap of active labels: O(n log n).
 */
function paint(items: Labelled[]): { ranges: Range[]; labels: number[] } {
  const ranges: Range[] = [];
  const labels: number[] = [];
  if (items.length === 0) return { ranges, labels };
  items.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[2] - b[2]));
  const ends = items.map((it) => it[1] + 1n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Min-heap of indexes into `items`, ordered by label; expired entries are dropped lazily.
  const heap: number[] = [];
  const less = (x: number, y: number) => items[x]![2] < items[y]![2];
  const push = (x: number) => {
    let i = heap.push(x) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = () => {
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  let next = 0; // next item to start
  let e = 0; // next end boundary
  let pos = items[0]![0];
  while (next < items.length || heap.length > 0) {
    while (next < items.length && items[next]![0] === pos) push(next++);
    while (heap.length > 0 && items[heap[0]!]![1] < pos) pop();
    while (e < ends.length && ends[e]! <= pos) e++;
    // The segment [pos, stop) has a constant set of active rules.
    let stop = -1n;
    if (next < items.length) stop = items[next]![0];
    if (e < ends.length && (stop < 0n || ends[e]! < stop)) stop = ends[e]!;
    if (heap.length > 0) {
      const label = items[heap[0]!]![2];
      const hi = stop - 1n;
      const prev = ranges.length - 1;
      if (prev >= 0 && labels[prev] === label && ranges[prev]![1] + 1n === pos) ranges[prev]![1] = hi;
      else {
        ranges.push([pos, hi]);
        labels.push(label);
      }
    }
    if (stop < 0n) break;
    pos = stop;
  }
  return { ranges, labels };
}

/**
 * Like {@link compileRanges}, for `[label, rule]` entries: the matcher built from the result can
 * say which rule matched (the lowest label among those covering the address). Problems are
 * reported at `<path>[label]`, so labels are usually the rules' positions in the user's list.
 */
export function compileLabelledRanges(
  entries: ReadonlyArray<readonly [label: number, rule: IpRule]>,
  path: string,
  issues: IssueCollector,
): LabelledRanges {
  const v4: Labelled[] = [];
  const v6: Labelled[] = [];
  const matchAll: string[] = [];
  for (const [label, rule] of entries) {
    compileRule(
      rule,
      joinPath(path, label),
      issues,
      (kind, lo, hi) => (kind === IPV4 ? v4 : v6).push([lo, hi, label]),
      matchAll,
    );
  }
  const p4 = paint(v4);
  const p6 = paint(v6);
  return { v4: p4.ranges, v6: p6.ranges, labels4: p4.labels, labels6: p6.labels, matchAll };
}

const scratch = new Uint32Array(4);

/** A compiled set of address ranges. */
export interface IpMatcher {
  /** True when `address` is an IP inside the set; false for anything that is not an IP. */
  has(address: string): boolean;
  /** Lookup on an address already parsed by `parseIpInto` (hot path). */
  hasParsed(kind: IpKind, words: Uint32Array): boolean;
  /** Number of disjoint ranges after merging (IPv4 + IPv6). */
  readonly rangeCount: number;
  /** The merged ranges as canonical CIDR-free `first-last` pairs, for debugging and docs. */
  describe(): string[];
}

class RangeMatcher implements IpMatcher {
  readonly rangeCount: number;
  /** IPv4 ranges as [lo, hi] pairs: a lookup's last probe and the bound check share a cache line. */
  private readonly v4: Uint32Array;
  /** IPv6 ranges as [lo0..lo3, hi0..hi3] (big-endian words), 32 bytes per range. */
  private readonly v6: Uint32Array;
  /** The first (most significant) word of each IPv6 range's start, packed: the search probes these. */
  private readonly v6first: Uint32Array;
  private readonly n4: number;
  private readonly n6: number;
  /** For large sets: `idx[t]` is the first range whose start has top 16 bits >= t (see prefixIndex). */
  private readonly idx4: Uint32Array | undefined;
  private readonly idx6: Uint32Array | undefined;

  constructor(private readonly ranges: CompiledRanges) {
    this.n4 = ranges.v4.length;
    this.n6 = ranges.v6.length;
    this.rangeCount = this.n4 + this.n6;
    this.v4 = new Uint32Array(this.n4 * 2);
    ranges.v4.forEach(([lo, hi], i) => {
      this.v4[i * 2] = Number(lo);
      this.v4[i * 2 + 1] = Number(hi);
    });
    this.v6 = new Uint32Array(this.n6 * 8);
    this.v6first = new Uint32Array(this.n6);
    ranges.v6.forEach(([lo, hi], i) => {
      for (let k = 0; k < 4; k++) {
        const shift = BigInt(96 - 32 * k);
        this.v6[i * 8 + k] = Number((lo >> shift) & 0xffffffffn);
        this.v6[i * 8 + 4 + k] = Number((hi >> shift) & 0xffffffffn);
      }
      this.v6first[i] = this.v6[i * 8]!;
    });
    this.idx4 = this.n4 > INDEX_MIN ? prefixIndex(this.v4, this.n4, 2) : undefined;
    this.idx6 = this.n6 > INDEX_MIN ? prefixIndex(this.v6first, this.n6, 1) : undefined;
  }

  has(address: string): boolean {
    if (typeof address !== 'string') return false;
    const kind = parseIpInto(address, 0, address.length, scratch, PARSE_ZONE);
    return kind === IPV4 ? this.find4(scratch[0]!) >= 0 : kind === IPV6 && this.find6(scratch) >= 0;
  }

  hasParsed(kind: IpKind, w: Uint32Array): boolean {
    return kind === IPV4 ? this.find4(w[0]!) >= 0 : kind === IPV6 && this.find6(w) >= 0;
  }

  /** Index of the IPv4 range holding `v`, or -1. */
  protected find4(v: number): number {
    const r = this.v4;
    let a = 0;
    let b = this.n4 - 1;
    const idx = this.idx4;
    if (idx !== undefined) {
      // Search only the ranges starting in v's 64 Ki block; when none of them starts at or
      // below v, the search ends at index a - 1: the last range starting before the block.
      const t = v >>> 16;
      a = idx[t]!;
      b = idx[t + 1]! - 1;
    }
    // Largest i with lo[i] <= v.
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (r[m * 2]! <= v) a = m + 1;
      else b = m - 1;
    }
    return b >= 0 && v <= r[b * 2 + 1]! ? b : -1;
  }

  /** Index of the IPv6 range holding `w`, or -1. */
  protected find6(w: Uint32Array): number {
    const r = this.v6;
    const first = this.v6first;
    const w0 = w[0]!;
    let a = 0;
    let b = this.n6 - 1;
    const idx = this.idx6;
    if (idx !== undefined) {
      const t = w0 >>> 16;
      a = idx[t]!;
      b = idx[t + 1]! - 1;
    }
    while (a <= b) {
      const m = (a + b) >>> 1;
      // Start <= w: decided by the first word unless it ties (rare outside tiny ranges).
      const x = first[m]!;
      if (x < w0 || (x === w0 && cmp6(r, m * 8, w) <= 0)) a = m + 1;
      else b = m - 1;
    }
    return b >= 0 && cmp6(r, b * 8 + 4, w) >= 0 ? b : -1;
  }

  describe(): string[] {
    const out: string[] = [];
    for (const [lo, hi] of this.ranges.v4) out.push(`${formatBig(4, lo)}-${formatBig(4, hi)}`);
    for (const [lo, hi] of this.ranges.v6) out.push(`${formatBig(6, lo)}-${formatBig(6, hi)}`);
    return out;
  }
}

/** A matcher that also tells which rule matched. */
export interface LabelledIpMatcher extends IpMatcher {
  /** The label of the rule covering the address (the lowest, when several do), or -1. */
  labelOfParsed(kind: IpKind, words: Uint32Array): number;
}

class LabelledRangeMatcher extends RangeMatcher implements LabelledIpMatcher {
  private readonly labels4: Int32Array;
  private readonly labels6: Int32Array;

  constructor(ranges: LabelledRanges) {
    super(ranges);
    this.labels4 = Int32Array.from(ranges.labels4);
    this.labels6 = Int32Array.from(ranges.labels6);
  }

  labelOfParsed(kind: IpKind, w: Uint32Array): number {
    if (kind === IPV4) {
      const i = this.find4(w[0]!);
      return i < 0 ? -1 : this.labels4[i]!;
    }
    if (kind !== IPV6) return -1;
    const i = this.find6(w);
    return i < 0 ? -1 : this.labels6[i]!;
  }
}

/** Builds a matcher that reports which rule matched, from {@link compileLabelledRanges} output. */
export function labelledMatcherFromRanges(ranges: LabelledRanges): LabelledIpMatcher {
  return new LabelledRangeMatcher(ranges);
}

/** Families with more ranges than this get a prefix index (256 KiB each). */
const INDEX_MIN = 256;

/**
 * `idx[t]` (t = 0..65536) is the number of ranges whose start's top 16 bits are below t. The
 * answer for an address with top bits t (the last range starting at or below it) then lies in
 * `[idx[t] - 1, idx[t + 1] - 1]`: a binary search over a few neighbouring entries instead of the
 * whole array, which keeps lookups in cache at 100,000 rules.
 */
function prefixIndex(lo: Uint32Array, n: number, stride: number): Uint32Array {
  const idx = new Uint32Array(65537);
  let i = 0;
  for (let t = 0; t <= 65536; t++) {
    while (i < n && lo[i * stride]! >>> 16 < t) i++;
    idx[t] = i;
  }
  return idx;
}

/** Compares the range bound at `arr[off..off+3]` with `w`: negative, zero or positive. */
function cmp6(arr: Uint32Array, off: number, w: Uint32Array): number {
  for (let k = 0; k < 4; k++) {
    const x = arr[off + k]!;
    const y = w[k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Builds a matcher from compiled ranges (no validation). */
export function matcherFromRanges(ranges: CompiledRanges): IpMatcher {
  return new RangeMatcher(ranges);
}

/**
 * Compiles IPs, CIDRs, named ranges and `{ cidr, except }` blocks into a fast matcher.
 * Throws a {@link ConfigError} listing every invalid rule with its position.
 *
 * @example
 * const m = createIpMatcher(['10.0.0.0/8', '2001:db8::/32', 'loopback']);
 * m.has('10.1.2.3'); // true
 * m.has('::ffff:10.1.2.3'); // true (IPv4-mapped)
 * m.has('not an ip'); // false
 */
export function createIpMatcher(rules: readonly IpRule[], options?: { path?: string }): IpMatcher {
  const issues = new IssueCollector();
  const ranges = compileRanges(rules, options?.path ?? 'rules', issues);
  if (!issues.ok) throw new ConfigError(issues.issues);
  return new RangeMatcher(ranges);
}
