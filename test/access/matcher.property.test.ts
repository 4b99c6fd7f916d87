/**
 * Property tests: the matcher and the access policy against a brute-force reference that scans
 * every rule with bigint arithmetic, over random mixed IPv4/IPv6 CIDR sets (with host bits,
 * non-canonical spellings, IPv4-mapped forms and `{ cidr, except }` blocks) and addresses chosen
 * at and around the rules' edges.
 */
import { isIP } from 'node:net';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { createAccessPolicy, createIpLists, createIpMatcher, type IpRuleOrList } from '../../src/index.js';

const V4_ALL = (1n << 32n) - 1n;
const V6_ALL = (1n << 128n) - 1n;
const MAPPED = 0xffffn << 32n;

interface Net {
  kind: 4 | 6;
  first: bigint;
  last: bigint;
}
interface GenRule {
  net: Net;
  except: Net[];
  rule: string | { cidr: string; except: string[] };
}

function hostMask(kind: 4 | 6, prefix: number): bigint {
  const bits = kind === 4 ? 32n : 128n;
  return prefix === 0 ? (kind === 4 ? V4_ALL : V6_ALL) : (1n << (bits - BigInt(prefix))) - 1n;
}

function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
}

function v6parts(v: bigint): number[] {
  return [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((v >> s) & 0xffffn));
}

/** Spells an IPv6 value in one of several equivalent ways. */
function formatV6(v: bigint, style: number): string {
  const ip = new ipaddr.IPv6(v6parts(v));
  switch (style % 4) {
    case 0:
      return ip.toString();
    case 1:
      return ip.toNormalizedString();
    case 2:
      return ip.toString().toUpperCase();
    default:
      return v6parts(v)
        .map((x) => x.toString(16).padStart(4, '0'))
        .join(':');
  }
}

function formatNet(kind: 4 | 6, value: bigint, prefix: number, style: number): string {
  if (kind === 4) {
    if (style % 5 === 4 && prefix > 0) {
      // netmask form
      return `${formatV4(value)}/${formatV4(V4_ALL ^ hostMask(4, prefix))}`;
    }
    return `${formatV4(value)}/${prefix}`;
  }
  return `${formatV6(value, style)}/${prefix}`;
}

function netOf(kind: 4 | 6, value: bigint, prefix: number): Net {
  const m = hostMask(kind, prefix);
  const first = value & ~m & (kind === 4 ? V4_ALL : V6_ALL);
  return { kind, first, last: first | m };
}

const V6_BASES = [0x20010db8n << 96n, MAPPED, 0xfe80n << 112n, 0n, 0x2a00_1450n << 96n];

const v4Value = fc.oneof(
  fc.bigInt(0n, V4_ALL),
  fc
    .tuple(fc.constantFrom(0x0a000000n, 0xc0a80000n, 0x7f000000n), fc.bigInt(0n, 0xffffn))
    .map(([b, r]) => b | r),
);
const v6Value = fc.oneof(
  fc.bigInt(0n, V6_ALL),
  fc.tuple(fc.constantFrom(...V6_BASES), fc.bigInt(0n, (1n << 40n) - 1n)).map(([b, r]) => b | r),
);
const prefix4 = fc.oneof(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 12, max: 32 }));
const prefix6 = fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 88, max: 128 }));

const genNet = fc.oneof(
  fc.record({ kind: fc.constant<4>(4), value: v4Value, prefix: prefix4, style: fc.nat(20) }),
  fc.record({ kind: fc.constant<6>(6), value: v6Value, prefix: prefix6, style: fc.nat(20) }),
);

const genRule: fc.Arbitrary<GenRule> = fc
  .tuple(
    genNet,
    fc.array(fc.tuple(fc.nat(128), fc.bigInt(0n, V6_ALL), fc.nat(20)), { maxLength: 3 }),
    fc.boolean(),
  )
  .map(([n, excepts, asBlock]) => {
    const net = netOf(n.kind, n.value, n.prefix);
    const text = formatNet(n.kind, n.value, n.prefix, n.style);
    if (!asBlock) return { net, except: [], rule: text };
    const bits = n.kind === 4 ? 32 : 128;
    const except: Net[] = [];
    const texts: string[] = [];
    for (const [p, r, style] of excepts) {
      const prefix = n.prefix + (p % (bits - n.prefix + 1));
      const value = net.first | (r & hostMask(n.kind, n.prefix));
      except.push(netOf(n.kind, value, prefix));
      texts.push(formatNet(n.kind, value, prefix, style));
    }
    return { net, except, rule: { cidr: text, except: texts } };
  });

/** An address as the parser sees it: IPv4-mapped IPv6 is IPv4. */
function normalise(kind: 4 | 6, v: bigint): [4 | 6, bigint] {
  if (kind === 6 && v >> 32n === 0xffffn) return [4, v & V4_ALL];
  return [kind, v];
}

function inNet(n: Net, kind: 4 | 6, v: bigint): boolean {
  if (n.kind === 4) return kind === 4 && n.first <= v && v <= n.last;
  const x = kind === 4 ? MAPPED | v : v;
  return n.first <= x && x <= n.last;
}

function refMatch(r: GenRule, kind: 4 | 6, v: bigint): boolean {
  return inNet(r.net, kind, v) && !r.except.some((e) => inNet(e, kind, v));
}

/** Addresses near the rules' edges plus random ones, each with a spelling. */
function addressesFor(
  rules: GenRule[],
  extra: [4 | 6, bigint][],
  styles: number[],
): [string, 4 | 6, bigint][] {
  const raw: [4 | 6, bigint][] = [...extra];
  for (const r of rules) {
    for (const n of [r.net, ...r.except]) {
      const all = n.kind === 4 ? V4_ALL : V6_ALL;
      for (const v of [n.first - 1n, n.first, (n.first + n.last) / 2n, n.last, n.last + 1n]) {
        if (v >= 0n && v <= all) raw.push([n.kind, v]);
      }
    }
  }
  return raw.map(([kind, v], i) => {
    const style = styles[i % Math.max(1, styles.length)] ?? 0;
    let text: string;
    if (kind === 4) {
      // IPv4 clients sometimes arrive IPv4-mapped (dual-stack sockets).
      text =
        style % 3 === 0
          ? `::ffff:${formatV4(v)}`
          : style % 3 === 1
            ? formatV6(MAPPED | v, style)
            : formatV4(v);
    } else {
      text = formatV6(v, style);
    }
    const [k, value] = normalise(kind, v);
    return [text, k, value];
  });
}

const extraAddresses = fc.array(
  fc.oneof(
    v4Value.map((v): [4 | 6, bigint] => [4, v]),
    v6Value.map((v): [4 | 6, bigint] => [6, v]),
  ),
  { maxLength: 10 },
);

describe('matcher vs brute force', () => {
  it('has() agrees with a scan over every rule (IPv4 and IPv6 mixed, with except blocks)', () => {
    fc.assert(
      fc.property(
        fc.array(genRule, { minLength: 0, maxLength: 25 }),
        extraAddresses,
        fc.array(fc.nat(20), { minLength: 1, maxLength: 7 }),
        (rules, extra, styles) => {
          const matcher = createIpMatcher(rules.map((r) => r.rule));
          for (const [text, kind, v] of addressesFor(rules, extra, styles)) {
            const want = rules.some((r) => refMatch(r, kind, v));
            if (matcher.has(text) !== want) {
              throw new Error(`has(${text}) = ${!want}, expected ${want}`);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('agrees on large sets too (over 1,024 ranges per family: the prefix-indexed search)', () => {
    // Dense clusters (many small networks in a few /16s and /32s) and scattered networks.
    const dense4 = fc
      .tuple(
        fc.constantFrom(0x0a000000n, 0x0a010000n, 0xc0a80000n, 0x64400000n, 0xcb007100n),
        fc.bigInt(0n, 0xffffn),
        fc.integer({ min: 26, max: 32 }),
      )
      .map(([b, r, p]) => ({ kind: 4 as const, value: b | r, prefix: p }));
    const dense6 = fc
      .tuple(
        fc.constantFrom(0x20010db8n << 96n, 0x2a001450n << 96n, MAPPED),
        fc.bigInt(0n, (1n << 96n) - 1n),
        fc.integer({ min: 64, max: 128 }),
      )
      .map(([b, r, p]) =>
        b === MAPPED
          ? { kind: 6 as const, value: b | (r & V4_ALL), prefix: Math.max(p, 120) }
          : { kind: 6 as const, value: b | r, prefix: p },
      );
    // Scattered IPv6 networks stay in 2000::/3, away from the IPv4-mapped space (a short prefix
    // there would cover all of IPv4 and merge the IPv4 ranges into one).
    const scattered = genNet.map((n) => ({
      kind: n.kind,
      value: n.kind === 4 ? n.value : (n.value & ((1n << 125n) - 1n)) | (1n << 125n),
      prefix: Math.max(n.prefix, n.kind === 4 ? 20 : 56),
    }));
    fc.assert(
      fc.property(
        // noBias: fast-check otherwise favours small values, and the "dense" networks would repeat.
        fc.noBias(
          fc.array(
            fc.oneof(
              { weight: 4, arbitrary: dense4 },
              { weight: 4, arbitrary: dense6 },
              { weight: 1, arbitrary: scattered },
            ),
            { minLength: 4000, maxLength: 4500 },
          ),
        ),
        fc.array(fc.nat(), { minLength: 150, maxLength: 150 }),
        extraAddresses,
        (nets, picks, extra) => {
          const rules: GenRule[] = nets.map((n) => ({
            net: netOf(n.kind, n.value, n.prefix),
            except: [],
            rule: formatNet(n.kind, n.value, n.prefix, 0),
          }));
          const matcher = createIpMatcher(rules.map((r) => r.rule));
          const v6Ranges = matcher.describe().filter((d) => d.includes(':')).length;
          expect({ v4: matcher.rangeCount - v6Ranges > 1024, v6: v6Ranges > 1024 }).toEqual({
            v4: true,
            v6: true,
          });
          const sampled = picks.map((p) => rules[p % rules.length]!);
          for (const [text, kind, v] of addressesFor(sampled, extra, [2, 5, 7])) {
            const want = rules.some((r) => refMatch(r, kind, v));
            if (matcher.has(text) !== want) throw new Error(`has(${text}) = ${!want}, expected ${want}`);
          }
        },
      ),
      // No shrinking: a counterexample of 3,000 rules shrinks for minutes; the message names the address.
      { numRuns: 6, endOnFailure: true },
    );
  });

  it('has() is false for anything that is not an IP', () => {
    const matcher = createIpMatcher(['0.0.0.0/0', '::/0']);
    fc.assert(
      fc.property(fc.string({ maxLength: 45 }), (s) => {
        // The strict parser also refuses some forms net.isIP accepts (zones are dropped by has()).
        if (isIP(s) === 0) expect(matcher.has(s)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    for (const bad of [
      '',
      ' ',
      '1.2.3',
      '1.2.3.4.5',
      '010.0.0.1',
      '127.1',
      '0x7f.0.0.1',
      '2130706433',
      ':::',
    ]) {
      expect(matcher.has(bad)).toBe(false);
    }
    expect(matcher.has(undefined as unknown as string)).toBe(false);
    expect(matcher.has(42 as unknown as string)).toBe(false);
  });
});

describe('access policy vs a reference model', () => {
  it('decides like "first matching deny rule, else first matching allow rule", naming the rule', () => {
    const side = fc.array(
      fc.oneof(
        { weight: 4, arbitrary: genRule.map((r) => ({ r })) },
        { weight: 1, arbitrary: fc.nat(2).map((l) => ({ l })) },
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(
        side,
        side,
        fc.array(fc.array(genRule, { maxLength: 6 }), { minLength: 3, maxLength: 3 }),
        extraAddresses,
        fc.array(fc.nat(20), { minLength: 1, maxLength: 7 }),
        (allowSide, denySide, listDefs, extra, styles) => {
          const lists = createIpLists({
            l0: listDefs[0]!.map((r) => r.rule),
            l1: listDefs[1]!.map((r) => r.rule),
            l2: listDefs[2]!.map((r) => r.rule),
          });
          const toRules = (s: typeof allowSide): IpRuleOrList[] =>
            s.map((e) => ('r' in e ? e.r.rule : { list: `l${e.l}` }));
          const policy = createAccessPolicy({ lists, allow: toRules(allowSide), deny: toRules(denySide) });
          const first = (s: typeof allowSide, kind: 4 | 6, v: bigint, name: string): string | undefined => {
            for (let i = 0; i < s.length; i++) {
              const e = s[i]!;
              if ('r' in e) {
                if (refMatch(e.r, kind, v)) return `${name}[${i}]`;
              } else if (listDefs[e.l]!.some((r) => refMatch(r, kind, v))) {
                return `list:l${e.l}`;
              }
            }
            return undefined;
          };
          const every = [...allowSide, ...denySide].flatMap((e) => ('r' in e ? [e.r] : listDefs[e.l]!));
          for (const [text, kind, v] of addressesFor(every, extra, styles)) {
            const denyRule = first(denySide, kind, v, 'deny');
            const allowRule = first(allowSide, kind, v, 'allow');
            const want =
              denyRule !== undefined
                ? [false, 'deny-list', denyRule]
                : allowRule !== undefined
                  ? [true, 'allow-list', allowRule]
                  : allowSide.length === 0
                    ? [true, 'no-allow-list', undefined]
                    : [false, 'not-allowed', undefined];
            const d = policy.decide(text, undefined, '/');
            const got = [d.allowed, d.reason, d.rule];
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              throw new Error(`decide(${text}) = ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
