/** Properties of the resolver (fast-check), and agreement with proxy-addr in process. */
import { isIP } from 'node:net';
import fc from 'fast-check';
import proxyaddr from 'proxy-addr';
import { describe, expect, it } from 'vitest';
import { createIpMatcher, createResolver, type ResolverOptions } from '../../src/index.js';
import { canonicalIp } from '../../src/core/ip.js';
import { parseCidr } from '../../src/core/cidr.js';

/** Canonical, usable addresses (what the differential tests feed both sides). */
const canonicalV4 = fc
  .ipV4()
  .map((s) => canonicalIp(s)!)
  .filter((s) => s !== '0.0.0.0' && s !== '255.255.255.255');
const canonicalV6 = fc
  .ipV6()
  .map((s) => canonicalIp(s)!)
  .filter((s) => s !== undefined && s !== '::' && s !== '0.0.0.0' && s !== '255.255.255.255');
const canonicalAddr = fc.oneof(canonicalV4, canonicalV6);

/** Address spellings a proxy or an attacker may write. */
const spelled = fc.oneof(
  canonicalV4,
  canonicalV6,
  canonicalV4.map((a) => `::ffff:${a}`),
  canonicalV4.map((a) => `${a}:${(a.length * 97) % 65536}`),
  canonicalV6.map((a) => `[${a}]:443`),
  canonicalV6.map((a) => a.toUpperCase()),
  fc.constantFrom('unknown', '_hidden', '', ' ', '010.0.0.1', '127.1', '0.0.0.0', '::', '"1.2.3.4"', '[::1'),
);
const junk = fc.oneof(spelled, fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }));
const header = fc
  .tuple(fc.array(junk, { maxLength: 24 }), fc.constantFrom(', ', ',', ' ,\t', ',,'))
  .map(([xs, sep]) => xs.join(sep));

const CONFIGS: ResolverOptions[] = [
  {},
  { trustedProxies: ['10.0.0.0/8', 'loopback', '2001:db8::/32'] },
  { trustedProxies: ['10.0.0.0/8'], header: 'forwarded' },
  { trustedProxies: ['10.0.0.0/8'], header: 'x-real-ip' },
  { trustedProxies: ['10.0.0.0/8'], hops: 2 },
  { hops: 1 },
  { trustedProxies: ['0.0.0.0/0', '::/0'], allowTrustAll: true },
  { trustedProxies: ['10.0.0.0/8'], maxEntries: 3, maxHeaderBytes: 64 },
];
const resolvers = CONFIGS.map((c) => createResolver({ ...c, onWarning: () => undefined }));
const resolverIdx = fc.integer({ min: 0, max: CONFIGS.length - 1 });
const peerArb = fc.oneof(
  spelled,
  fc.string({ maxLength: 20 }),
  fc.constant(undefined),
  fc.constant('10.1.2.3'),
);

describe('properties', () => {
  it('the result is always a canonical IP or undefined, and never throws', () => {
    fc.assert(
      fc.property(resolverIdx, peerArb, header, header, (i, peer, xff, fwd) => {
        const r = resolvers[i]!.resolve({
          remoteAddress: peer,
          headers: { 'x-forwarded-for': xff, forwarded: fwd, 'x-real-ip': xff },
        });
        if (r.ip !== undefined) {
          expect(isIP(r.ip)).not.toBe(0);
          expect(canonicalIp(r.ip)).toBe(r.ip);
          expect(r.chain[0]).toBe(r.ip);
        }
        for (const a of r.chain) expect(canonicalIp(a)).toBe(a);
        expect(typeof r.explain()).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('with an untrusted peer the result is the peer', () => {
    const trusted = ['10.0.0.0/8', 'loopback', '2001:db8::/32'];
    const m = createIpMatcher(trusted);
    const r = createResolver({ trustedProxies: trusted, onWarning: () => undefined });
    fc.assert(
      fc.property(spelled, header, (peer, xff) => {
        const canonical = canonicalIp(peer, { lenient: true });
        fc.pre(canonical !== undefined && !peer.includes(']') && !/^\d+\.\d+\.\d+\.\d+:/.test(peer));
        fc.pre(canonical !== '0.0.0.0' && canonical !== '::' && canonical !== '255.255.255.255');
        fc.pre(!m.has(canonical!));
        const res = r.resolve({ remoteAddress: peer, headers: { 'x-forwarded-for': xff } });
        expect([res.ip, res.reason]).toEqual([canonical, 'untrusted-peer']);
      }),
      { numRuns: 1000 },
    );
  });

  it('prepending attacker-controlled entries on the left never changes the result', () => {
    fc.assert(
      fc.property(
        resolverIdx,
        fc.constantFrom('10.0.0.1', '::ffff:10.9.9.9', '127.0.0.1'),
        header,
        header,
        (i, peer, h, attacker) => {
          const resolver = resolvers[i]!;
          const before = resolver.resolve({
            remoteAddress: peer,
            headers: { 'x-forwarded-for': h, forwarded: h },
          });
          // Only a result that depends on the leftmost entry (everything trusted, or nothing there)
          // can legitimately change: the attacker's entries then are the leftmost.
          fc.pre(
            before.reason !== 'all-trusted' &&
              before.reason !== 'no-header' &&
              before.reason !== 'hops-short',
          );
          const longer = `${attacker}, ${h}`;
          const after = resolver.resolve({
            remoteAddress: peer,
            headers: { 'x-forwarded-for': longer, forwarded: longer },
          });
          expect([after.ip, after.reason]).toEqual([before.ip, before.reason]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('prepending whole lines (raw pairs) never changes the result either', () => {
    const r = createResolver({ trustedProxies: ['10.0.0.0/8'], onWarning: () => undefined });
    fc.assert(
      fc.property(fc.array(header, { minLength: 1, maxLength: 4 }), header, (lines, attacker) => {
        const raw = lines.flatMap((l) => ['X-Forwarded-For', l]);
        const before = r.resolve({ remoteAddress: '10.0.0.1', headers: raw });
        fc.pre(before.reason !== 'all-trusted' && before.reason !== 'no-header');
        const after = r.resolve({
          remoteAddress: '10.0.0.1',
          headers: ['x-forwarded-for', attacker, ...raw],
        });
        expect([after.ip, after.reason]).toEqual([before.ip, before.reason]);
      }),
      { numRuns: 1000 },
    );
  });
});

const MAPPED_FIRST = 0xffffn << 32n;
const MAPPED_LAST = MAPPED_FIRST | 0xffffffffn;

/**
 * An IPv6 rule shorter than /96 that overlaps ::ffff:0:0/96. realip's matcher (src/core/cidr.ts)
 * lets it match the IPv4 addresses it covers; proxy-addr 2.0.8 deliberately does not (only mapped
 * rules of /96 or longer span IPv4). Known, reported divergence: such rules are left out here.
 */
function spansMappedSpace(rule: string): boolean {
  const c = parseCidr(rule);
  return typeof c !== 'string' && c.kind === 6 && c.first <= MAPPED_LAST && c.last >= MAPPED_FIRST;
}

/** A pool of addresses, trusted CIDRs drawn from it, chains and a peer drawn from it. */
const scenario = fc.uniqueArray(canonicalAddr, { minLength: 2, maxLength: 8 }).chain((pool) =>
  fc.record({
    trusted: fc
      .uniqueArray(
        fc.tuple(fc.constantFrom(...pool), fc.integer({ min: 0, max: 100 })).map(([a, p]) => {
          const v6 = a.includes(':');
          const prefix = p < 60 ? (v6 ? 128 : 32) : v6 ? 16 + (p % 113) : 8 + (p % 25);
          return `${a}/${prefix}`;
        }),
        { minLength: 1, maxLength: 4 },
      )
      .map((rules) => rules.filter((rule) => !spansMappedSpace(rule))),
    peer: fc.constantFrom(...pool),
    chain: fc.array(fc.constantFrom(...pool), { maxLength: 12 }),
  }),
);

describe('agreement with proxy-addr (Express req.ip) on canonical chains', () => {
  it('same client for every chain', () => {
    fc.assert(
      fc.property(scenario, ({ trusted, peer, chain }) => {
        const xff = chain.join(', ');
        const ours = createResolver({
          trustedProxies: trusted,
          allowTrustAll: true,
          onWarning: () => undefined,
        }).resolve({
          remoteAddress: peer,
          headers: chain.length > 0 ? { 'x-forwarded-for': xff } : {},
        });
        const req = {
          connection: { remoteAddress: peer },
          socket: { remoteAddress: peer },
          headers: chain.length > 0 ? { 'x-forwarded-for': xff } : {},
        };
        const theirs = proxyaddr(req as never, proxyaddr.compile(trusted));
        expect(ours.ip).toBe(canonicalIp(theirs) ?? theirs);
        // And the chain matches Express req.ips + socket, up to the client.
        const all = proxyaddr.all(req as never, proxyaddr.compile(trusted));
        expect([...ours.chain].reverse()).toEqual(all.map((a) => canonicalIp(a) ?? a));
      }),
      { numRuns: 3000 },
    );
  });

  it('with the repository of hand-picked cases too', () => {
    const cases: [string[], string, string][] = [
      [['10.0.0.0/8'], '10.0.0.1', '1.1.1.1, 10.0.0.2'],
      [['10.0.0.0/8'], '10.0.0.1', '10.0.0.3, 1.1.1.1, 10.0.0.2'],
      [['10.0.0.0/8'], '10.0.0.1', '10.0.0.3, 10.0.0.2'],
      [['10.0.0.0/8', '2001:db8::/32'], '2001:db8::1', '2001:db9::1, 2001:db8::2'],
      [['::ffff:10.0.0.0/104'], '10.0.0.1', '1.1.1.1, 10.0.0.2'],
    ];
    for (const [trusted, peer, xff] of cases) {
      const ours = createResolver({ trustedProxies: trusted }).resolve({
        remoteAddress: peer,
        headers: { 'x-forwarded-for': xff },
      });
      const req = {
        connection: { remoteAddress: peer },
        socket: { remoteAddress: peer },
        headers: { 'x-forwarded-for': xff },
      };
      expect(ours.ip).toBe(proxyaddr(req as never, proxyaddr.compile(trusted)));
    }
  });
});
