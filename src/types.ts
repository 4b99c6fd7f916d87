/**
 * Public types shared by every stage. Option names here equal the policy file's keys
 * (`resolve`, `access`, `geo`, `rateLimit`, `log`, `metrics`).
 *
 * Ownership: each stage's module implements its interface; fields may be added, never renamed.
 */
import type { IpRule } from './core/cidr.js';

// ---------------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------------

/** A runtime warning: a stable code (`WRN_REALIP_*`) with a section in docs/errors.md. */
export interface RealipWarning {
  readonly code: string;
  readonly message: string;
  /** docs/errors.md anchor. */
  readonly help: string;
  /** How many times this condition was seen (warnings are emitted once, then counted). */
  readonly count: number;
}

/** Receives warnings. Default: `process.emitWarning(message, { code })`, once per code. */
export type WarningHandler = (warning: RealipWarning) => void;

// ---------------------------------------------------------------------------------------------
// Observability hooks (logmetrics): stages report state changes; realip/metrics implements them
// ---------------------------------------------------------------------------------------------

/**
 * What a stage calls when its state changes (`createRealipMetrics().hooks` implements it as gauges
 * and counters). Every method is cheap and never throws. `store` and `database` are short names
 * such as `redis`, `memory`, `country`, `asn` (values beyond 64 distinct are reported as `other`).
 */
export interface RealipMetricsHooks {
  /** The rate-limit store became healthy (`true`) or started failing (`false`). */
  storeHealth(store: string, healthy: boolean): void;
  /** Rate limiting switched to its fallback (insurance) store (`true`) or back (`false`). */
  storeFallback(store: string, active: boolean): void;
  /** One store operation failed. */
  storeError(store: string): void;
  /** A GeoIP database was (re)loaded; its build time in seconds since the epoch. */
  geoDatabase(database: string, buildEpochSeconds: number): void;
}

// ---------------------------------------------------------------------------------------------
// Named IP lists (shared by access and rate-limit tiers)
// ---------------------------------------------------------------------------------------------

/** A reference to a named list, usable wherever rules are: `{ list: 'partners' }`. */
export interface ListRef {
  list: string;
}

/** A rule or a reference to a named list. */
export type IpRuleOrList = IpRule | ListRef;

/** What a stage needs from a (possibly hot-reloaded) list: a lookup that always sees the current version. */
export interface IpLookup {
  has(address: string): boolean;
  hasParsed(kind: 0 | 4 | 6, words: Uint32Array): boolean;
}

/** Named lists (inline or file-backed with hot reload); see `createIpLists()`. */
export interface IpLists {
  /** The live lookup for a list, or undefined when no list has that name. */
  get(name: string): IpLookup | undefined;
  names(): string[];
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// 1. Resolve
// ---------------------------------------------------------------------------------------------

/** Where the client IP came from. */
export type ResolutionSource = 'socket' | 'header' | 'proxy-protocol';

/**
 * Why the resolver stopped where it did. `complete` is false for
 * `invalid-entry`, `cap`, `ambiguous-header`, `hops-short`, `undefined-peer`, `invalid-peer`,
 * `tenant-mismatch`.
 */
export type ResolutionReason =
  /** No proxy is trusted: the socket peer is the client. */
  | 'no-trusted-proxies'
  /** The peer is not a trusted proxy, so it is the client and headers are ignored. */
  | 'untrusted-peer'
  /** The peer is trusted but sent no (non-empty) configured header. */
  | 'no-header'
  /** Walked right to left to the first untrusted entry. */
  | 'untrusted-entry'
  /** Every entry was trusted: the leftmost is the client. */
  | 'all-trusted'
  /** A single-IP header (x-real-ip, cf-connecting-ip, ...) from a trusted peer named the client. */
  | 'single-ip-header'
  /** `hops: N` picked the N-th entry from the right. */
  | 'hops'
  /** `hops: N` but the list had fewer than N entries. */
  | 'hops-short'
  /** An entry that is not an IP ended the walk. */
  | 'invalid-entry'
  /** `maxEntries` or `maxHeaderBytes` ended the walk. */
  | 'cap'
  /** A single-IP header arrived twice or held a list. */
  | 'ambiguous-header'
  /** The socket address is undefined (closed connection, Unix socket). */
  | 'undefined-peer'
  /** The socket address is not a usable IP. */
  | 'invalid-peer'
  /** A preset's tenant check (`requireHeader`) failed, so headers were not believed. */
  | 'tenant-mismatch';

/** The answer to "who is the client?", with the evidence. */
export interface Resolution {
  /** Canonical client IP, or `undefined` when it cannot be determined. */
  readonly ip: string | undefined;
  readonly source: ResolutionSource;
  /** Lower-case header name that gave the answer, when `source` is `'header'`. */
  readonly header: string | undefined;
  /** Canonical socket peer (or the PROXY protocol source). */
  readonly peer: string | undefined;
  /** The addresses walked, client first (canonical). */
  readonly chain: readonly string[];
  /** False when the walk ended early; see `reason`. */
  readonly complete: boolean;
  readonly reason: ResolutionReason;
  /** Step-by-step account of the decision. */
  explain(): string;
}

/** Input to `resolver.resolve()`. */
export interface ResolveInput {
  /** `req.socket.remoteAddress` as Node gives it (may be undefined). */
  remoteAddress: string | undefined;
  /**
   * Headers as Node gives them (`req.headers`: lower-case keys, `string | string[]`) or as raw
   * name/value pairs (`req.rawHeaders`: `[name, value, name, value, ...]`).
   */
  headers: Readonly<Record<string, string | string[] | undefined>> | readonly string[];
  /** PROXY protocol source, when the connection carried one (set by the sidecar). */
  proxyProtocol?: { sourceAddress: string; sourcePort?: number } | undefined;
}

/** Provider presets. */
export type PresetName =
  | 'cloudflare'
  | 'cloudfront'
  | 'gcp-lb'
  | 'aws-alb'
  | 'azure-front-door'
  | 'akamai'
  | 'fastly'
  | 'ingress-nginx';

/** Options of `createResolver()` (policy file: `resolve`): defined with their spec. */
export type { ResolverOptions, PresetOptions, RequireHeaderOptions } from './resolve/spec.js';

// ---------------------------------------------------------------------------------------------
// 2. Geo
// ---------------------------------------------------------------------------------------------

/** Special-purpose networks that are never looked up. */
export type SpecialNetwork = 'private' | 'loopback' | 'linklocal' | 'cgnat' | 'ula';

/** Coordinates of a GeoIP answer (city-level databases only). */
export interface GeoLocation {
  readonly latitude: number;
  readonly longitude: number;
  /** Kilometres (MaxMind `location.accuracy_radius`); absent in DB-IP and ip-location-db. */
  readonly accuracyRadius?: number;
}

/**
 * Normalised GeoIP facts (copied out of the reader and frozen: the same object may be returned for
 * every address of a network, so it must not be mutated). Fields are present only when a database
 * has them.
 */
export interface GeoInfo {
  /** ISO 3166-1 alpha-2, upper case (`country.iso_code` or `country_code`; `ZZ`/`XX` are dropped). */
  readonly country?: string;
  /** Continent code (`EU`, `NA`, ...). Absent with the flat `country_code` databases. */
  readonly continent?: string;
  /** Autonomous system number. */
  readonly asn?: number;
  /** AS organisation. */
  readonly org?: string;
  readonly city?: string;
  readonly location?: GeoLocation;
  /** Set instead of a lookup for private, loopback, link-local, CGNAT and ULA addresses. */
  readonly network?: SpecialNetwork;
  /** Country that registered the block (MaxMind `registered_country`); never used as `country`. */
  readonly registeredCountry?: string;
  /** `country.is_in_european_union`, when the database says. */
  readonly eu?: boolean;
  /** First-level subdivision: ISO 3166-2 subdivision code (`subdivisions[0].iso_code`) or name. */
  readonly region?: string;
  /** IANA time zone (`location.time_zone` or `timezone`). */
  readonly timeZone?: string;
}

// ---------------------------------------------------------------------------------------------
// 3. Access
// ---------------------------------------------------------------------------------------------

/** What happens to a request whose client IP is undefined. @default 'deny' */
export type UndeterminablePolicy = 'deny' | 'allow';

/** The access stage's verdict. */
export interface AccessDecision {
  readonly allowed: boolean;
  /** Why: `deny-list`, `not-allowed`, `allow-list`, `no-allow-list`, `country-deny`, `country-not-allowed`, `undeterminable`, `exempt`, `country-allow`, `country-unknown`. */
  readonly reason: string;
  /** The list or rule that decided, when one did (e.g. `deny[3]`, `list:partners`, `country:RU`). */
  readonly rule?: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// 4. Rate limit
// ---------------------------------------------------------------------------------------------

/** The options of a limit and of a tier are defined with the stage's spec. */
export type { RateLimitSpec, RateLimitTier } from './rate-limit/spec.js';

/** State exposed on `req.realip.rateLimit`. */
export interface RateLimitInfo {
  readonly tier: string;
  readonly limit: number;
  readonly remaining: number;
  /** Milliseconds until the most constraining limit resets. */
  readonly resetMs: number;
  readonly limited: boolean;
  /**
   * Who decided: `store` (normal), `insurance` (the store failed; the in-memory fallback did),
   * `open` (the store failed; not limited) or `closed` (the store failed; refused with 503).
   */
  readonly source: 'store' | 'insurance' | 'open' | 'closed';
}

// ---------------------------------------------------------------------------------------------
// The per-request context (req.realip / request.realip)
// ---------------------------------------------------------------------------------------------

/** Filled stage by stage; fixed shape (every field assigned) so the object never changes hidden class. */
export interface RealipContext {
  resolution: Resolution | undefined;
  geo: GeoInfo | undefined;
  access: AccessDecision | undefined;
  rateLimit: RateLimitInfo | undefined;
}
