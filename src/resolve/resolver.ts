/**
 * The client-IP resolver: "who is the client?", answered from the socket peer and the ONE header
 * the trusted proxies write.
 *
 * Everything is compiled in `createResolver()`; `resolve()` only parses and looks up: no split,
 * no regex, no closures, and the only allocations are the result object and the client's
 * canonical string (often a slice of the input). `chain` and `explain()` are rebuilt lazily by
 * replaying the same walk with a recorder, from the header values captured at resolve time.
 *
 * Addresses (socket peer, header entries, PROXY source) are parsed with ip.ts's `parseIpInto` /
 * `parseV4`, the one per-request parser (issue 15; ip.ts's header says why that one, with the
 * bench references).
 *
 * Size: about 1,000 lines, over the guide's 500: the walk, the result with its replay for
 * `explain()`, and the SNAT diagnostic still share this file (its options moved to
 * src/resolve/spec.ts); "A house organised by stage" (issue 15) splits them.
 */
import { IssueCollector, joinPath } from '../errors.js';
import { presetOf, resolverSpec } from './spec.js';
import { parseOptions } from '../spec/spec.js';
import type {
  PresetName,
  RealipWarning,
  Resolution,
  ResolutionReason,
  ResolutionSource,
  ResolveInput,
  ResolverOptions,
  WarningHandler,
} from '../types.js';
import { compileRanges, matcherFromRanges, type IpMatcher, type IpRule } from '../core/cidr.js';
import {
  HeaderScanner,
  LIST_FORWARDED,
  LIST_XFF,
  SCAN_BAD,
  SCAN_CAP,
  SCAN_END,
  SCAN_ENTRY,
  SINGLE_AMBIGUOUS,
  SINGLE_CAP,
  SINGLE_ONE,
  headerValue,
  readSingle,
  type HeaderInput,
  type HeaderValue,
} from '../core/headers.js';
import {
  IPV4,
  NOT_IP,
  PARSE_LENIENT,
  PARSE_ZONE,
  formatIp,
  parseIpInto,
  parseV4,
  type IpKind,
} from '../core/ip.js';
import type { PresetSpec } from './presets.js';
import {
  WRN_AMBIGUOUS_HEADER,
  WRN_BOTH_FORWARDED_HEADERS,
  WRN_CAP,
  WRN_HOPS_WITHOUT_TRUST,
  WRN_INVALID_ENTRY,
  WRN_SNAT_SUSPECTED,
  WRN_TENANT_MISMATCH,
  WRN_UNTRUSTED_FORWARDED,
  WarningEmitter,
} from '../core/warnings.js';

/** Scratch words for the address being examined (the resolver is synchronous, so one suffices). */
const W = new Uint32Array(32);

const SINGLE = 0;
type Grammar = 0 | 1 | 2;

/** SNAT diagnostic: a rolling minute in six 10-second buckets, judged when a bucket closes. */
const SNAT_BUCKET_MS = 10_000;
const SNAT_BUCKETS = 6;
/** Fewer requests than this in a minute prove nothing either way. */
const SNAT_MIN_REQUESTS = 20;

/** The tenant check of a preset, as normalised (the secret values are not exposed). */
export interface NormalizedRequireHeader {
  readonly name: string;
  /** How many values are accepted (the values themselves stay private). */
  readonly valueCount: number;
}

/** `resolver.options`: every option validated, defaulted and frozen. */
export interface NormalizedResolverOptions {
  /** The user's rules (the preset's published ranges are added on top, see `presetRanges`). */
  readonly trustedProxies: readonly IpRule[];
  /** The one header read (lower case). */
  readonly header: string;
  /** 0 when the walk is by trust; otherwise the client is the N-th entry from the right. */
  readonly hops: number;
  readonly preset: PresetName | undefined;
  /** Published ranges the preset trusts in addition to `trustedProxies`. */
  readonly presetRanges: readonly string[];
  readonly requireHeader: NormalizedRequireHeader | undefined;
  readonly maxEntries: number;
  readonly maxHeaderBytes: number;
  readonly allowTrustAll: boolean;
  readonly nodeCidrs: readonly IpRule[];
}

/** Options of `createResolver()` that are not resolver options. */
export interface CreateResolverSettings {
  /**
   * Prefix of every ConfigError path, e.g. `sidecar.resolve`.
   * @default 'resolve'
   */
  path?: string;
  /** Extra option keys the caller validates itself (e.g. an adapter's own options). */
  extraKeys?: readonly string[];
}

/** A compiled resolver: create once, call `resolve()` per request. */
export interface Resolver {
  /** Resolves one request. Never throws on request data. */
  resolve(input: ResolveInput): Resolution;
  /** The one header read (lower case). */
  readonly header: string;
  /** True when at least one proxy is trusted (trustedProxies or a preset's ranges). */
  readonly trustsProxies: boolean;
  readonly options: NormalizedResolverOptions;
  /** Warnings seen so far (each code once, with its count). */
  warnings(): RealipWarning[];
  /**
   * Reports a warning through this resolver's handler (once per code, then counted). Adapters use
   * it for their own diagnostics (e.g. Express `trust proxy` also set) so all go to one place.
   */
  warn(code: string, message: string): void;
}

function isUsable(kind: IpKind, w: Uint32Array): boolean {
  if (kind === IPV4) {
    const v = w[0]!;
    // Unspecified and limited broadcast are never a client (nginx cannot even represent the latter).
    return v !== 0 && v !== 0xffffffff;
  }
  return kind !== NOT_IP && (w[0] !== 0 || w[1] !== 0 || w[2] !== 0 || w[3] !== 0);
}

/** Canonical text of the address just parsed from `s[a, b)` into W; reuses the input when it already is. */
function canonicalText(s: string, a: number, b: number, kind: IpKind): string {
  if (kind === IPV4) {
    let plain = true;
    for (let i = a; i < b; i++) {
      const c = s.charCodeAt(i);
      if (c !== 0x2e && (c < 0x30 || c > 0x39)) {
        plain = false;
        break;
      }
    }
    // A strictly parsed dotted quad without leading zeros is already canonical.
    if (plain) return a === 0 && b === s.length ? s : s.slice(a, b);
  }
  return formatIp(kind, W);
}

/**
 * How the last `parsePeer` input relates to its canonical text: 1 when it is `::ffff:` followed
 * by a plain dotted quad (canonical = slice(7)), 2 when it is a plain dotted quad (canonical = the
 * input), 0 otherwise (format it).
 */
let peerForm = 0;

/** Parses a socket/PROXY address into W, with a fast path for Node's dual-stack `::ffff:a.b.c.d`. */
function parsePeer(s: string): IpKind {
  const n = s.length;
  if (
    n > 7 &&
    s.charCodeAt(0) === 0x3a &&
    s.charCodeAt(1) === 0x3a &&
    s.charCodeAt(6) === 0x3a &&
    s.charCodeAt(2) === 0x66 &&
    s.charCodeAt(3) === 0x66 &&
    s.charCodeAt(4) === 0x66 &&
    s.charCodeAt(5) === 0x66
  ) {
    // Strict dotted quad after the prefix (Node's dual-stack form): no other spelling to try.
    const v = parseV4(s, 7, n);
    if (v >= 0) {
      W[0] = v;
      peerForm = 1;
      return IPV4;
    }
  }
  const k = parseIpInto(s, 0, n, W, PARSE_ZONE);
  // Without PARSE_PORT an IPv4 result written with its first dot in position 1-3 is a plain
  // dotted quad (IPv6 spellings of a mapped address cannot have a dot that early).
  peerForm =
    k === IPV4 && (s.charCodeAt(1) === 0x2e || s.charCodeAt(2) === 0x2e || s.charCodeAt(3) === 0x2e) ? 2 : 0;
  return k;
}

/**
 * Parses a header entry into W with ip.ts's parser: the common plain dotted quad first (one
 * forward pass of `parseV4`, and the text is already canonical), then the other forms (IPv6,
 * ports, brackets, zones) through `parseIpInto`.
 */
function parseEntry(s: string, a: number, b: number): IpKind {
  const v = parseV4(s, a, b);
  if (v >= 0) {
    W[0] = v;
    entryStrict = true;
    return IPV4;
  }
  entryStrict = false;
  return parseIpInto(s, a, b, W, PARSE_LENIENT);
}

/** The entry the scanner just returned, parsed into W. */
function scannedEntry(sc: HeaderScanner): IpKind {
  return parseEntry(sc.str, sc.start, sc.end);
}

/** True when the last entry read was a plain dotted quad (strict pass: no port, brackets, zone or IPv6 spelling). */
let entryStrict = false;

/**
 * Canonical text of the entry `parseEntry` just read: a strictly parsed dotted quad is already
 * canonical (digits and dots only, no leading zeros), so it is sliced without a second look.
 */
function entryText(s: string, a: number, b: number, kind: IpKind): string {
  if (kind === IPV4 && entryStrict) return a === 0 && b === s.length ? s : s.slice(a, b);
  return canonicalText(s, a, b, kind);
}

/** Canonical text of the address parsePeer just read (W still holds it). */
function peerText(s: string, kind: IpKind): string {
  if (peerForm === 1) return s.slice(7);
  if (peerForm === 2) return s;
  return formatIp(kind, W);
}

/** Constant-time comparison (time depends on the expected value's length only). */
function safeEqual(actual: string, expected: string): boolean {
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= actual.charCodeAt(i) ^ expected.charCodeAt(i);
  return diff === 0;
}

/** What the replay records: the addresses walked (in walk order) and the explanation lines. */
interface Trace {
  addrs: string[];
  lines: string[];
}

const EMPTY_HEADERS: Readonly<Record<string, string | string[] | undefined>> = Object.freeze({});

/** The answer, with the evidence needed to explain it later. */
export class ClientResolution implements Resolution {
  // `declare`: the constructor assigns every field in one order (one hidden class) without the
  // per-instance field initializer that emitted class fields would add to the hot path.
  declare readonly ip: string | undefined;
  declare readonly source: ResolutionSource;
  declare readonly header: string | undefined;
  declare readonly peer: string | undefined;
  declare readonly complete: boolean;
  declare readonly reason: ResolutionReason;
  /** @internal */ declare readonly _core: ResolverCore;
  /** @internal the peer text as given */ declare readonly _raw: string | undefined;
  /** @internal the header value(s) as they were at resolve time */ declare readonly _hv:
    HeaderValue | undefined;
  /** @internal */ declare readonly _hvRaw: boolean;
  /** @internal Cloudflare: the cf-connecting-ipv6 value used */ declare readonly _aux: string | undefined;
  /** @internal where the peer came from (socket or PROXY protocol) */ declare readonly _via: ResolutionSource;
  /** @internal */ declare private _trace: Trace | undefined;

  constructor(
    core: ResolverCore,
    ip: string | undefined,
    source: ResolutionSource,
    header: string | undefined,
    peer: string | undefined,
    complete: boolean,
    reason: ResolutionReason,
    raw: string | undefined,
    hv: HeaderValue | undefined,
    hvRaw: boolean,
    aux: string | undefined,
    via: ResolutionSource,
  ) {
    this.ip = ip;
    this.source = source;
    this.header = header;
    this.peer = peer;
    this.complete = complete;
    this.reason = reason;
    this._core = core;
    this._raw = raw;
    this._hv = hv;
    this._hvRaw = hvRaw;
    this._aux = aux;
    this._via = via;
    this._trace = undefined;
  }

  private trace(): Trace {
    if (this._trace === undefined) this._trace = this._core.replay(this);
    return this._trace;
  }

  /** The addresses walked, client first (canonical). Built on first access. */
  get chain(): readonly string[] {
    const t = this.trace();
    const out: string[] = [];
    for (let i = t.addrs.length - 1; i >= 0; i--) out.push(t.addrs[i]!);
    return out;
  }

  /** Step-by-step account of the decision. Built on first call. */
  explain(): string {
    const t = this.trace();
    const head =
      this.ip === undefined
        ? `client IP: undeterminable (${this.reason})`
        : `client IP: ${this.ip} (from ${this.source === 'header' ? `header ${this.header}` : this.source}; ${this.reason}${this.complete ? '' : ', incomplete'})`;
    const lines = [head];
    for (let i = 0; i < t.lines.length; i++) lines.push(`  ${i + 1}. ${t.lines[i]}`);
    return lines.join('\n');
  }

  /** Plain data, for logs and `--json`. */
  toJSON(): {
    ip: string | undefined;
    source: ResolutionSource;
    header: string | undefined;
    peer: string | undefined;
    chain: readonly string[];
    complete: boolean;
    reason: ResolutionReason;
  } {
    return {
      ip: this.ip,
      source: this.source,
      header: this.header,
      peer: this.peer,
      chain: this.chain,
      complete: this.complete,
      reason: this.reason,
    };
  }
}

/**
 * One result kept alive for the life of the module. V8 holds the hidden classes built by field
 * transitions only weakly: when no result happens to be alive during a full GC (an idle server,
 * or results consumed immediately), the class is collected and every optimized function that
 * creates or reads results is deoptimized ("weak objects") and must be re-optimized. Keeping one
 * instance keeps the class, so GCs do not cost a deopt cycle on the request path.
 */
Object.defineProperty(ClientResolution, '_shape', {
  value: new ClientResolution(
    undefined as unknown as ResolverCore,
    '0.0.0.1',
    'socket',
    'x',
    '0.0.0.1',
    true,
    'no-trusted-proxies',
    'x',
    'x',
    false,
    'x',
    'socket',
  ),
});

/** Compiled configuration shared by the resolver and its results. */
class ResolverCore {
  readonly trusts: boolean;
  readonly matcher: IpMatcher | undefined;
  readonly header: string;
  readonly grammar: Grammar;
  readonly hops: number;
  readonly maxBytes: number;
  readonly maxEntries: number;
  readonly scanner: HeaderScanner | undefined;
  readonly single = { str: '', start: 0, end: 0, chars: 0 };
  readonly emitter: WarningEmitter;
  readonly tenantName: string | undefined;
  readonly tenantValues: readonly string[];
  readonly valueHasPort: boolean;
  readonly pseudoIpv4: boolean;
  /** The other list header, for the "both present" diagnostic ('' when not applicable). */
  readonly otherList: string;
  readonly nodes: IpMatcher | undefined;
  private readonly snatTotal = new Uint32Array(SNAT_BUCKETS);
  private readonly snatNode = new Uint32Array(SNAT_BUCKETS);
  private snatBucket = -1;
  /** The last peer text examined and its verdicts (undefined peer: not a usable address). */
  private lastRaw: string | undefined = undefined;
  private lastPeer: string | undefined = undefined;
  private lastTrusted = false;
  private lastNode = false;

  constructor(c: Compiled, emitter: WarningEmitter) {
    this.trusts = c.matcher !== undefined;
    this.matcher = c.matcher;
    this.header = c.header;
    this.grammar = c.grammar;
    this.hops = c.hops;
    this.maxBytes = c.maxHeaderBytes;
    this.maxEntries = c.maxEntries;
    this.scanner =
      c.grammar === SINGLE
        ? undefined
        : new HeaderScanner(c.grammar, c.header, c.maxEntries, c.maxHeaderBytes);
    this.emitter = emitter;
    this.tenantName = c.tenantName;
    this.tenantValues = c.tenantValues;
    this.valueHasPort = c.spec?.valueHasPort ?? false;
    this.pseudoIpv4 = c.spec?.pseudoIpv4 ?? false;
    this.otherList =
      c.grammar === LIST_XFF ? 'forwarded' : c.grammar === LIST_FORWARDED ? 'x-forwarded-for' : '';
    this.nodes = !this.trusts && c.hops === 0 ? c.nodes : undefined;
  }

  resolve(input: ResolveInput): ClientResolution {
    const pp = input.proxyProtocol;
    let raw: string | undefined;
    let source: ResolutionSource;
    if (pp !== undefined && pp !== null) {
      raw = pp.sourceAddress;
      source = 'proxy-protocol';
    } else {
      raw = input.remoteAddress;
      source = 'socket';
    }
    if (typeof raw !== 'string') {
      return new ClientResolution(this, undefined, source, undefined, undefined, false, 'undefined-peer', undefined, undefined, false, undefined, source); // prettier-ignore
    }
    // Behind a proxy most requests come from the same few peers (and keep-alive connections
    // repeat theirs): the last peer's verdicts are reused when the same text arrives again.
    if (raw !== this.lastRaw) this.examinePeer(raw);
    const peer = this.lastPeer;
    if (peer === undefined) {
      return new ClientResolution(this, undefined, source, undefined, undefined, false, 'invalid-peer', raw, undefined, false, undefined, source); // prettier-ignore
    }
    let headers: HeaderInput = input.headers;
    if (headers === undefined || headers === null || typeof headers !== 'object') headers = EMPTY_HEADERS;
    const isRaw = Array.isArray(headers);
    if (this.nodes !== undefined) this.observeSnat(this.lastNode);
    if (!this.trusts) {
      if (this.hops === 0) {
        if (headerValue(headers, this.header, isRaw) !== undefined) this.warnUntrusted(peer);
        return new ClientResolution(this, peer, source, undefined, peer, true, 'no-trusted-proxies', raw, undefined, false, undefined, source); // prettier-ignore
      }
    } else if (!this.lastTrusted) {
      if (headerValue(headers, this.header, isRaw) !== undefined) this.warnUntrusted(peer);
      return new ClientResolution(this, peer, source, undefined, peer, true, 'untrusted-peer', raw, undefined, false, undefined, source); // prettier-ignore
    }
    if (this.tenantName !== undefined && !this.tenantMatches(headers, isRaw)) {
      if (!this.emitter.bump(WRN_TENANT_MISMATCH))
        this.emitter.emit(
          WRN_TENANT_MISMATCH,
          `A request from trusted proxy ${peer} failed the tenant check (header ${this.tenantName} missing or different), so its headers were ignored. Another tenant of the shared CDN may be sending traffic to this origin.`,
        );
      return new ClientResolution(this, peer, source, undefined, peer, false, 'tenant-mismatch', raw, undefined, false, undefined, source); // prettier-ignore
    }
    const hv = headerValue(headers, this.header, isRaw);
    if (
      this.otherList !== '' &&
      hv !== undefined &&
      headerValue(headers, this.otherList, isRaw) !== undefined
    ) {
      if (!this.emitter.bump(WRN_BOTH_FORWARDED_HEADERS))
        this.emitter.emit(
          WRN_BOTH_FORWARDED_HEADERS,
          `A request from trusted proxy ${peer} carries both Forwarded and X-Forwarded-For; only ${this.header} is read. Make the proxies write one of them, or check that ${this.header} is the one they append to.`,
        );
    }
    const r = this.walk(peer, source, raw, hv, isRaw, headers, undefined);
    const reason = r.reason;
    if (reason === 'ambiguous-header') {
      if (!this.emitter.bump(WRN_AMBIGUOUS_HEADER))
        this.emitter.emit(
          WRN_AMBIGUOUS_HEADER,
          `Header ${this.header} arrived more than once or held a list (from trusted proxy ${peer}); fell back to the peer. A single-IP header must be written once, by the proxy.`,
        );
    } else if (reason === 'invalid-entry') {
      if (!this.emitter.bump(WRN_INVALID_ENTRY))
        this.emitter.emit(
          WRN_INVALID_ENTRY,
          `Header ${this.header} from trusted proxy ${peer} held an entry that is not an IP address where a trusted proxy wrote it; the walk stopped at the last trusted hop.`,
        );
    } else if (reason === 'cap') {
      if (!this.emitter.bump(WRN_CAP))
        this.emitter.emit(
          WRN_CAP,
          `Header ${this.header} from trusted proxy ${peer} exceeded maxEntries or maxHeaderBytes while every entry read so far was trusted; the walk stopped there.`,
        );
    }
    return r;
  }

  /** Parses a peer address and records its verdicts in the `last*` fields. */
  private examinePeer(raw: string): void {
    const kind = parsePeer(raw);
    if (isUsable(kind, W)) {
      this.lastPeer = peerText(raw, kind);
      this.lastTrusted = this.trusts && this.matcher!.hasParsed(kind, W);
      this.lastNode = this.nodes !== undefined && this.nodes.hasParsed(kind, W);
    } else {
      this.lastPeer = undefined;
      this.lastTrusted = false;
      this.lastNode = false;
    }
    this.lastRaw = raw;
  }

  private warnUntrusted(peer: string): void {
    if (!this.emitter.bump(WRN_UNTRUSTED_FORWARDED))
      this.emitter.emit(
        WRN_UNTRUSTED_FORWARDED,
        this.trusts
          ? `Header ${this.header} arrived from ${peer}, which is not a trusted proxy, and was ignored. If ${peer} is your proxy, add it to trustedProxies.`
          : `Header ${this.header} arrived from ${peer} but no proxy is trusted, so it was ignored and the socket address used. If the app runs behind a proxy, set trustedProxies.`,
      );
  }

  private tenantMatches(headers: HeaderInput, isRaw: boolean): boolean {
    const v = headerValue(headers, this.tenantName!, isRaw);
    if (v === undefined) return false;
    const out = this.single;
    const code = readSingle(v, isRaw, this.tenantName!, this.maxBytes, out);
    if (code !== SINGLE_ONE) return false;
    const got = out.start === 0 && out.end === out.str.length ? out.str : out.str.slice(out.start, out.end);
    let ok = false;
    const values = this.tenantValues;
    for (let i = 0; i < values.length; i++) if (safeEqual(got, values[i]!)) ok = true;
    return ok;
  }

  private observeSnat(fromNode: boolean): void {
    const bucket = Math.floor(Date.now() / SNAT_BUCKET_MS);
    if (bucket !== this.snatBucket) {
      if (this.snatBucket >= 0) {
        let total = 0;
        let node = 0;
        for (let i = 0; i < SNAT_BUCKETS; i++) {
          total += this.snatTotal[i]!;
          node += this.snatNode[i]!;
        }
        if (total >= SNAT_MIN_REQUESTS && node * 2 > total) {
          if (!this.emitter.bump(WRN_SNAT_SUSPECTED))
            this.emitter.emit(
              WRN_SNAT_SUSPECTED,
              `${node} of ${total} requests in the last minute came from node addresses (nodeCidrs) while no proxy is trusted: the Service is probably externalTrafficPolicy: Cluster (kube-proxy SNAT), so the socket address is not the client. Use externalTrafficPolicy: Local, or trust the proxy that sets a header.`,
            );
        }
      }
      const gap = this.snatBucket < 0 ? SNAT_BUCKETS : Math.min(bucket - this.snatBucket, SNAT_BUCKETS);
      for (let k = 1; k <= gap; k++) {
        const i = (((bucket - gap + k) % SNAT_BUCKETS) + SNAT_BUCKETS) % SNAT_BUCKETS;
        this.snatTotal[i] = 0;
        this.snatNode[i] = 0;
      }
      this.snatBucket = bucket;
    }
    const i = ((bucket % SNAT_BUCKETS) + SNAT_BUCKETS) % SNAT_BUCKETS;
    this.snatTotal[i]!++;
    if (fromNode) this.snatNode[i]!++;
  }

  /**
   * The walk over the configured header, from a peer that may be believed. `trace` is undefined
   * on the hot path; the replay passes one to record the same decisions in words.
   */
  walk(
    peer: string,
    source: ResolutionSource,
    raw: string,
    hv: HeaderValue | undefined,
    isRaw: boolean,
    aux: HeaderInput,
    trace: Trace | undefined,
  ): ClientResolution {
    const name = this.header;
    if (hv === undefined) {
      if (trace !== undefined) trace.lines.push(`header ${name} is absent`);
      if (this.hops > 0) {
        return new ClientResolution(this, undefined, source, undefined, peer, false, 'hops-short', raw, undefined, false, undefined, source); // prettier-ignore
      }
      return new ClientResolution(this, peer, source, undefined, peer, true, 'no-header', raw, undefined, false, undefined, source); // prettier-ignore
    }
    if (this.grammar === SINGLE) return this.walkSingle(peer, source, raw, hv, isRaw, aux, trace);

    const sc = this.scanner!;
    sc.reset(hv, isRaw);
    return this.hops > 0
      ? this.walkHops(sc, peer, source, raw, hv, isRaw, trace)
      : this.walkTrust(sc, peer, source, raw, hv, isRaw, trace);
  }

  /** `hops: N`: the N-th entry from the right, every entry before it a valid address. */
  private walkHops(
    sc: HeaderScanner,
    peer: string,
    source: ResolutionSource,
    raw: string,
    hv: HeaderValue,
    isRaw: boolean,
    trace: Trace | undefined,
  ): ClientResolution {
    for (let n = 1; ; n++) {
      const code = sc.next();
      const kind = code === SCAN_ENTRY ? scannedEntry(sc) : NOT_IP;
      if (!isUsable(kind, W)) {
        const reason: ResolutionReason =
          code === SCAN_END ? 'hops-short' : code === SCAN_CAP ? 'cap' : 'invalid-entry';
        if (trace !== undefined) this.traceStop(trace, code, n, sc, reason);
        return new ClientResolution(this, undefined, source, undefined, peer, false, reason, raw, hv, isRaw, undefined, source); // prettier-ignore
      }
      const ip = entryText(sc.str, sc.start, sc.end, kind);
      if (trace !== undefined) this.traceEntry(trace, n, sc, ip, n < this.hops ? 'hop' : 'hops-client');
      if (n === this.hops) {
        return new ClientResolution(this, ip, 'header', this.header, peer, true, 'hops', raw, hv, isRaw, undefined, source); // prettier-ignore
      }
    }
  }

  /** The trust walk: step left over trusted entries; the first untrusted one is the client. */
  private walkTrust(
    sc: HeaderScanner,
    peer: string,
    source: ResolutionSource,
    raw: string,
    hv: HeaderValue,
    isRaw: boolean,
    trace: Trace | undefined,
  ): ClientResolution {
    const m = this.matcher!;
    let lastS = peer;
    let lastA = 0;
    let lastB = peer.length;
    for (let n = 1; ; n++) {
      const code = sc.next();
      const kind = code === SCAN_ENTRY ? scannedEntry(sc) : NOT_IP;
      if (!isUsable(kind, W)) {
        // The client is the last address reached: never a non-IP, never past the stop.
        return this.stopTrust(sc, code, n, peer, source, raw, hv, isRaw, lastS, lastA, lastB, trace);
      }
      if (!m.hasParsed(kind, W)) {
        const ip = entryText(sc.str, sc.start, sc.end, kind);
        if (trace !== undefined) this.traceEntry(trace, n, sc, ip, 'client');
        return new ClientResolution(this, ip, 'header', this.header, peer, true, 'untrusted-entry', raw, hv, isRaw, undefined, source); // prettier-ignore
      }
      if (trace !== undefined)
        this.traceEntry(trace, n, sc, entryText(sc.str, sc.start, sc.end, kind), 'trusted');
      lastS = sc.str;
      lastA = sc.start;
      lastB = sc.end;
    }
  }

  private stopTrust(
    sc: HeaderScanner,
    code: number,
    n: number,
    peer: string,
    source: ResolutionSource,
    raw: string,
    hv: HeaderValue,
    isRaw: boolean,
    lastS: string,
    lastA: number,
    lastB: number,
    trace: Trace | undefined,
  ): ClientResolution {
    const reason: ResolutionReason =
      code === SCAN_END
        ? n === 1
          ? 'no-header'
          : 'all-trusted'
        : code === SCAN_CAP
          ? 'cap'
          : 'invalid-entry';
    if (trace !== undefined) this.traceStop(trace, code, n, sc, reason);
    if (n === 1) {
      return new ClientResolution(this, peer, source, undefined, peer, reason === 'no-header', reason, raw, hv, isRaw, undefined, source); // prettier-ignore
    }
    const k = parseEntry(lastS, lastA, lastB);
    const ip = entryText(lastS, lastA, lastB, k);
    return new ClientResolution(this, ip, 'header', this.header, peer, reason === 'all-trusted', reason, raw, hv, isRaw, undefined, source); // prettier-ignore
  }

  private traceEntry(
    trace: Trace,
    n: number,
    sc: HeaderScanner,
    ip: string,
    verdict: 'client' | 'trusted' | 'hop' | 'hops-client',
  ): void {
    const at = `${this.header} entry ${n} from the right "${sc.str.slice(sc.start, sc.end)}" -> ${ip}`;
    trace.addrs.push(ip);
    trace.lines.push(
      verdict === 'client'
        ? `${at} is not trusted: it is the client`
        : verdict === 'trusted'
          ? `${at} is a trusted proxy: step left`
          : verdict === 'hop'
            ? `hop ${n}: ${at}, a proxy hop`
            : `hop ${n}: ${at}: hops is ${this.hops}, so this is the client`,
    );
  }

  private traceStop(
    trace: Trace,
    code: number,
    n: number,
    sc: HeaderScanner,
    reason: ResolutionReason,
  ): void {
    const name = this.header;
    const last = trace.addrs.length > 0 ? trace.addrs[trace.addrs.length - 1]! : undefined;
    const fallback =
      this.hops > 0
        ? 'the client cannot be determined'
        : `the client is the last address reached, ${last ?? 'the peer'}`;
    if (code === SCAN_END) {
      if (reason === 'no-header') trace.lines.push(`header ${name} holds no entries: the peer is the client`);
      else if (reason === 'hops-short')
        trace.lines.push(`${name} has only ${n - 1} entries, fewer than hops (${this.hops}): ${fallback}`);
      else
        trace.lines.push(`no entries left: every entry was trusted, so the leftmost, ${last}, is the client`);
    } else if (code === SCAN_CAP) {
      trace.lines.push(
        `stopped after ${sc.entries} entries and ${sc.chars} characters (maxEntries ${this.maxEntries} or maxHeaderBytes ${this.maxBytes} reached) with more left: ${fallback}`,
      );
    } else if (code === SCAN_BAD) {
      trace.lines.push(
        `${name} element ${n} from the right is malformed or has no for= parameter (an opaque hop): ${fallback}`,
      );
    } else {
      trace.lines.push(
        `${name} entry ${n} from the right ${JSON.stringify(sc.str.slice(sc.start, sc.end))} is not a usable IP address: ${fallback}`,
      );
    }
  }

  private walkSingle(
    peer: string,
    source: ResolutionSource,
    raw: string,
    hv: HeaderValue,
    isRaw: boolean,
    aux: HeaderInput,
    trace: Trace | undefined,
  ): ClientResolution {
    const name = this.header;
    const out = this.single;
    const code = readSingle(hv, isRaw, name, this.maxBytes, out);
    if (code !== SINGLE_ONE) {
      const reason: ResolutionReason =
        code === SINGLE_AMBIGUOUS ? 'ambiguous-header' : code === SINGLE_CAP ? 'cap' : 'no-header';
      if (trace !== undefined) {
        trace.lines.push(
          reason === 'ambiguous-header'
            ? `${name} arrived more than once or holds a list: ambiguous, so the peer ${peer} is used`
            : reason === 'cap'
              ? `${name} is longer than maxHeaderBytes (${this.maxBytes}): the peer ${peer} is used`
              : `${name} is empty: the peer is the client`,
        );
      }
      return new ClientResolution(this, peer, source, undefined, peer, reason === 'no-header', reason, raw, hv, isRaw, undefined, source); // prettier-ignore
    }
    const s = out.str;
    const a = out.start;
    const e0 = out.end;
    let b = e0;
    let kind: IpKind;
    if (this.valueHasPort && s.charCodeAt(a) !== 0x5b) {
      // CloudFront-Viewer-Address: "ip:port", IPv6 unbracketed, so the port follows the last colon.
      let colon = -1;
      for (let i = b - 1; i > a; i--) {
        if (s.charCodeAt(i) === 0x3a) {
          colon = i;
          break;
        }
      }
      if (colon > a) b = colon;
      kind = parseIpInto(s, a, b, W, PARSE_ZONE);
    } else {
      kind = parseIpInto(s, a, b, W, PARSE_LENIENT);
    }
    if (!isUsable(kind, W)) {
      if (trace !== undefined) {
        trace.lines.push(
          `${name} ${JSON.stringify(s.slice(a, e0))} is not a usable IP address: the peer ${peer} is used`,
        );
      }
      return new ClientResolution(this, peer, source, undefined, peer, false, 'invalid-entry', raw, hv, isRaw, undefined, source); // prettier-ignore
    }
    if (this.pseudoIpv4 && kind === IPV4 && W[0]! >>> 28 === 15) {
      // Cloudflare Pseudo IPv4 (240.0.0.0/4): the real address is in cf-connecting-ipv6, which
      // Cloudflare sets together with it; use it when it is a valid IPv6 address.
      const v6 = headerValue(aux, 'cf-connecting-ipv6', Array.isArray(aux));
      if (
        v6 !== undefined &&
        readSingle(v6, Array.isArray(aux), 'cf-connecting-ipv6', this.maxBytes, out) === SINGLE_ONE
      ) {
        const k6 = parseIpInto(out.str, out.start, out.end, W, PARSE_ZONE);
        if (k6 === 6 && isUsable(k6, W)) {
          const ip6 = formatIp(k6, W);
          const v6text = out.str.slice(out.start, out.end);
          if (trace !== undefined) {
            trace.addrs.push(ip6);
            trace.lines.push(
              `${name} ${JSON.stringify(s.slice(a, e0))} is a Cloudflare Pseudo IPv4 (240.0.0.0/4): cf-connecting-ipv6 "${v6text}" -> ${ip6} is the client`,
            );
          }
          return new ClientResolution(this, ip6, 'header', 'cf-connecting-ipv6', peer, true, 'single-ip-header', raw, hv, isRaw, v6text, source); // prettier-ignore
        }
      }
      // Re-parse the pseudo address (W was reused) and keep it: stable per client, though not routable.
      kind = parseIpInto(s, a, b, W, PARSE_LENIENT);
    }
    const ip = canonicalText(s, a, b, kind);
    if (trace !== undefined) {
      trace.addrs.push(ip);
      trace.lines.push(`${name} "${s.slice(a, e0)}" -> ${ip} is the client (single-IP header)`);
    }
    return new ClientResolution(this, ip, 'header', name, peer, true, 'single-ip-header', raw, hv, isRaw, undefined, source); // prettier-ignore
  }

  /** Rebuilds the decision in words from what a result captured (off the hot path). */
  replay(r: ClientResolution): Trace {
    const trace: Trace = { addrs: [], lines: [] };
    const from = r._via === 'proxy-protocol' ? 'PROXY protocol source' : 'socket peer';
    if (r.reason === 'undefined-peer') {
      trace.lines.push(
        `the ${from} address is undefined (closed connection or Unix socket): the client cannot be determined`,
      );
      return trace;
    }
    if (r.reason === 'invalid-peer') {
      trace.lines.push(
        `the ${from} ${JSON.stringify(r._raw)} is not a usable IP address: the client cannot be determined`,
      );
      return trace;
    }
    const peer = r.peer!;
    trace.addrs.push(peer);
    const shown = r._raw !== undefined && r._raw !== peer ? `${peer} (given as "${r._raw}")` : peer;
    if (r.reason === 'no-trusted-proxies') {
      trace.lines.push(`no proxy is trusted: the ${from} ${shown} is the client and every header is ignored`);
      return trace;
    }
    if (r.reason === 'untrusted-peer') {
      trace.lines.push(
        `the ${from} ${shown} is not a trusted proxy: it is the client and headers are ignored`,
      );
      return trace;
    }
    trace.lines.push(
      this.trusts
        ? `the ${from} ${shown} is a trusted proxy: read header ${this.header}`
        : `no proxy is trusted, but hops is ${this.hops}: read header ${this.header} without checking the ${from} ${shown}`,
    );
    if (r.reason === 'tenant-mismatch') {
      trace.lines.push(
        `the tenant check failed (header ${this.tenantName} missing or different): headers are ignored and the peer is the client`,
      );
      return trace;
    }
    if (this.tenantName !== undefined)
      trace.lines.push(`the tenant check (header ${this.tenantName}) passed`);
    const aux: HeaderInput = r._aux === undefined ? EMPTY_HEADERS : { 'cf-connecting-ipv6': r._aux };
    this.walk(peer, r._via, r._raw ?? peer, r._hv, r._hvRaw, aux, trace);
    return trace;
  }
}

/** Everything createResolver compiles. */
interface Compiled {
  matcher: IpMatcher | undefined;
  header: string;
  grammar: Grammar;
  hops: number;
  maxEntries: number;
  maxHeaderBytes: number;
  spec: PresetSpec | undefined;
  tenantName: string | undefined;
  tenantValues: readonly string[];
  nodes: IpMatcher | undefined;
  normalized: NormalizedResolverOptions;
  onWarning: WarningHandler | undefined;
  hopsWithoutTrust: boolean;
}

function grammarOf(header: string): Grammar {
  if (header === 'x-forwarded-for') return LIST_XFF;
  if (header === 'forwarded') return LIST_FORWARDED;
  return SINGLE;
}

/**
 * Validates the options through the spec (src/resolve/spec.ts: every problem at once, paths under
 * `path`), then compiles them. `extraKeys` are an adapter's own options, left out here.
 */
function compile(options: unknown, path: string, extraKeys: readonly string[]): Compiled {
  let input = options;
  if (extraKeys.length > 0 && typeof options === 'object' && options !== null && !Array.isArray(options)) {
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) if (!extraKeys.includes(k)) rest[k] = v;
    input = rest;
  }
  const o = parseOptions(resolverSpec, input, path);
  const userRules = o.trustedProxies as readonly IpRule[];
  const nodeRules = o.nodeCidrs as readonly IpRule[];
  const maxEntries = o.maxEntries as number;
  const maxHeaderBytes = o.maxHeaderBytes as number;

  let header = (o.header as string).toLowerCase();
  let hops = o.hops ?? 0;
  let tenantName: string | undefined;
  let tenantValues: readonly string[] = [];
  const spec = presetOf(o.preset);
  if (spec) {
    const p = typeof o.preset === 'object' ? o.preset : undefined;
    header = p?.header?.toLowerCase() ?? spec.header;
    hops = p?.hops ?? spec.hops;
    tenantName = (p?.requireHeader?.name ?? spec.tenantHeader)?.toLowerCase();
    const v = p?.requireHeader?.value;
    if (v !== undefined) tenantValues = Object.freeze((typeof v === 'string' ? [v] : v).map((x) => x.trim()));
  }

  const presetRanges: readonly string[] = spec ? spec.ranges : [];
  const tpPath = joinPath(path, 'trustedProxies');
  let matcher: IpMatcher | undefined;
  if (presetRanges.length > 0 || userRules.length > 0) {
    const all = compileRanges([...presetRanges, ...userRules], tpPath, new IssueCollector());
    matcher = matcherFromRanges(all);
  }
  const nodes =
    nodeRules.length > 0
      ? matcherFromRanges(compileRanges(nodeRules, joinPath(path, 'nodeCidrs'), new IssueCollector()))
      : undefined;

  const normalized: NormalizedResolverOptions = Object.freeze({
    trustedProxies: Object.freeze([...userRules]),
    header,
    hops,
    preset: spec?.name,
    presetRanges,
    requireHeader:
      tenantName !== undefined && tenantValues.length > 0
        ? Object.freeze({ name: tenantName, valueCount: tenantValues.length })
        : undefined,
    maxEntries,
    maxHeaderBytes,
    allowTrustAll: o.allowTrustAll as boolean,
    nodeCidrs: Object.freeze([...nodeRules]),
  });
  return {
    matcher,
    header,
    grammar: grammarOf(header),
    hops,
    maxEntries,
    maxHeaderBytes,
    spec,
    tenantName: tenantValues.length > 0 ? tenantName : undefined,
    tenantValues,
    nodes,
    normalized,
    onWarning: o.onWarning,
    hopsWithoutTrust: hops > 0 && matcher === undefined,
  };
}

class ClientIpResolver implements Resolver {
  readonly header: string;
  readonly trustsProxies: boolean;
  readonly options: NormalizedResolverOptions;
  private readonly core: ResolverCore;

  constructor(c: Compiled) {
    const emitter = new WarningEmitter(c.onWarning);
    this.core = new ResolverCore(c, emitter);
    this.header = c.header;
    this.trustsProxies = this.core.trusts;
    this.options = c.normalized;
    if (c.hopsWithoutTrust) {
      emitter.emit(
        WRN_HOPS_WITHOUT_TRUST,
        `hops is ${c.hops} but no proxy is trusted: anyone who can reach the app directly can choose their IP by sending ${c.header}. Set trustedProxies so the peer is checked first.`,
      );
    }
  }

  resolve(input: ResolveInput): Resolution {
    return this.core.resolve(input);
  }

  warnings(): RealipWarning[] {
    return this.core.emitter.list();
  }

  warn(code: string, message: string): void {
    this.core.emitter.emit(code, message);
  }

  /** @internal for tests and benchmarks: the scanner, whose counters show the work done. */
  get _scanner(): HeaderScanner | undefined {
    return this.core.scanner;
  }
}

/**
 * Compiles a resolver. Validates every option once and throws one {@link ConfigError} listing all
 * problems (paths under `settings.path`, default `resolve`).
 *
 * @example
 * const resolver = createResolver({ trustedProxies: ['10.0.0.0/8', 'loopback'] });
 * const r = resolver.resolve({ remoteAddress: req.socket.remoteAddress, headers: req.headers });
 * r.ip; // '203.0.113.9'
 */
export function createResolver(options?: ResolverOptions, settings?: CreateResolverSettings): Resolver {
  const path = settings?.path ?? 'resolve';
  const extra = settings?.extraKeys ?? [];
  return new ClientIpResolver(compile(options, path, extra));
}
