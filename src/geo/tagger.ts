/**
 * The GeoIP tagger: one or more MMDB databases (e.g. country + ASN, or city + ASN) behind one
 * synchronous `tag(ip)`, with a record cache, special-network tagging and safe hot reload.
 *
 * Two caches, both lru-cache, each paying only where it can:
 * - the record cache (per database) is keyed by the matched record's offset. Decoding and
 *   normalising happen once per distinct record while it stays cached; every address of every
 *   network sharing a record (all of "US" in a country database) hits the same entry, so distinct
 *   addresses hit it as well as repeated ones. Its key comes from the tree walk we do anyway, so a
 *   miss costs nothing extra.
 * - the address cache maps an input string to its final answer and skips parse and walk for
 *   repeat clients. A naive per-address LRU makes distinct-address traffic several times slower
 *   (every lookup inserts and evicts); here an address is admitted only on its second sighting
 *   (a fingerprint table, one typed-array read per miss), so one-off addresses never touch it.
 *
 * Per lookup otherwise: strict parse (the reader validates nothing: `get('1.2.3')` answers for an
 * address it made up), special-network check, then per database a tree walk over the parsed words.
 * See bench/geo.ts and bench/RESULTS-geo.md.
 *
 * Size: about 620 lines, over the guide's 500: the lookup with its caches and the database reload
 * share this file (its options moved to src/geo/spec.ts); issue 15 splits them.
 */
import { readFile } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import { RealipError } from '../errors.js';
import { parseOptions } from '../spec/spec.js';
import { NOT_IP, PARSE_ZONE, parseIpInto, type IpKind } from '../core/ip.js';
import { watchFileContent, type FileWatcher } from '../core/watch.js';
import { WarningEmitter } from '../core/warnings.js';
import type { GeoInfo, SpecialNetwork, WarningHandler } from '../types.js';
import { loadMmdb, type GeoDatabaseMetadata, type MmdbDatabase, type VerifyOptions } from './database.js';
import { mergeGeo, normaliseRecord } from './schema.js';
import { SPECIAL_GEO, SPECIAL_NETWORKS, specialNetworkOf } from './special.js';
import {
  databaseName,
  geoSpec,
  type GeoField,
  type GeoMetricsHooks,
  type GeoOptions,
  type GeoWatchOptions,
} from './spec.js';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

// The options interfaces live with their spec (./spec.ts), which validates them.
export type { GeoOptions, GeoDatabaseOptions, GeoWatchOptions, GeoMetricsHooks } from './spec.js';

/** Reported after each reload attempt. */
export interface GeoReloadEvent {
  /** The database's name. */
  readonly database: string;
  readonly path: string;
  readonly ok: boolean;
  /** Why the new file was rejected (the old database stays in use). */
  readonly error: RealipError | undefined;
  /** The database in use after this event. */
  readonly current: GeoDatabaseMetadata;
  /** The database in use before (same as `current` when the reload failed). */
  readonly previous: GeoDatabaseMetadata;
}

/** The state of one database. */
export interface GeoDatabaseStatus {
  readonly name: string;
  readonly path: string | undefined;
  readonly metadata: GeoDatabaseMetadata;
  /** Bytes of the file in use. */
  readonly size: number;
  /** When the version in use was loaded. */
  readonly loadedAt: Date;
  readonly reloads: number;
  readonly reloadFailures: number;
  readonly lastError: RealipError | undefined;
}

/** Counters since the tagger was opened (a snapshot). */
export interface GeoStats {
  /** `tag()`/`tagParsed()` calls. */
  readonly lookups: number;
  /** Inputs that are not IP literals (no lookup). */
  readonly invalid: number;
  /** Answered as a special network (no lookup). */
  readonly special: number;
  /** Looked up, and no database had data. */
  readonly notFound: number;
  /** Record-cache hits and misses (per database lookup). */
  readonly cacheHits: number;
  readonly cacheMisses: number;
  /** Address-cache hits (parse and walk skipped). Counted in `lookups`, not in `cacheHits`. */
  readonly addressHits: number;
  /** Records that failed to decode (answered as not found). */
  readonly decodeErrors: number;
  readonly reloads: number;
  readonly reloadFailures: number;
}

/** Tags client IPs with GeoIP facts. */
export interface GeoTagger {
  /**
   * Facts for a canonical IP string (IPv4-mapped IPv6 is looked up as IPv4), a special-network tag,
   * or undefined (not an IP, or no database has data). Synchronous; never throws. The result is
   * frozen and may be shared between calls.
   */
  tag(ip: string | undefined): GeoInfo | undefined;
  /** Same, for an address already parsed with `parseIpInto` (hot path of other stages). */
  tagParsed(kind: IpKind, words: Uint32Array): GeoInfo | undefined;
  /** Each database's metadata, build time and reload history. */
  databases(): readonly GeoDatabaseStatus[];
  /** The oldest `build_epoch` among the databases in use (what a staleness alert wants). */
  buildTime(): Date;
  stats(): GeoStats;
  /** Re-reads every file-backed database now; resolves when the checks (and swaps) are done. */
  reload(): Promise<void>;
  /** Stops watching. Lookups keep working on the databases in use. */
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

/** Cached "this record has nothing we use" (lru-cache does not store undefined). */
const NOTHING: GeoInfo = Object.freeze({});

/** Validated, fully defaulted options (what {@link normaliseGeoOptions} returns). */
export interface NormalisedGeoOptions {
  readonly specs: readonly {
    name: string;
    path: string | undefined;
    buffer: Buffer | undefined;
    fields: ReadonlySet<GeoField> | undefined;
    type: string | RegExp | undefined;
  }[];
  readonly recordCache: number;
  readonly addressCache: number;
  readonly locales: readonly string[];
  readonly special: ReadonlySet<SpecialNetwork>;
  readonly watch: GeoWatchOptions | undefined;
  readonly allowOlder: boolean;
  readonly maxClockSkewMs: number;
  readonly onReload: ((event: GeoReloadEvent) => void) | undefined;
  readonly onWarning: WarningHandler | undefined;
  readonly metrics: GeoMetricsHooks | undefined;
}

/**
 * Validates every option at once against the spec (./spec.ts); throws one ConfigError listing all
 * problems, each path under `path`. Returns the options in the shape the tagger uses.
 */
export function normaliseGeoOptions(options: GeoOptions, path = 'geo'): NormalisedGeoOptions {
  const o = parseOptions(geoSpec, options, path);
  const list = o.databases;
  const entries = Array.isArray(list) ? list : [list];
  const specs = entries.map((entry, i) => {
    const d = typeof entry === 'string' ? { path: entry } : entry;
    return {
      name: databaseName(entry, i),
      path: d.path,
      buffer: 'buffer' in d ? d.buffer : undefined,
      fields: d.fields === undefined ? undefined : new Set<GeoField>(d.fields),
      type: 'type' in d ? d.type : undefined,
    };
  });
  const cache = o.cache as NonNullable<GeoOptions['cache']>;
  const recordCache = typeof cache === 'number' ? cache : (cache.records ?? 10_000);
  const addressCache = typeof cache === 'number' ? cache : (cache.addresses ?? 10_000);
  const sp = o.specialNetworks as NonNullable<GeoOptions['specialNetworks']>;
  const special = new Set<SpecialNetwork>(sp === true ? SPECIAL_NETWORKS : sp === false ? [] : sp);
  const w = o.watch as NonNullable<GeoOptions['watch']>;
  return Object.freeze({
    specs,
    recordCache,
    addressCache,
    locales: Object.freeze([...(o.locales as string[])]),
    special,
    watch: w === false ? undefined : w === true ? {} : w,
    allowOlder: o.allowOlder as boolean,
    maxClockSkewMs: o.maxClockSkewMs as number,
    onReload: o.onReload,
    onWarning: o.onWarning,
    metrics: o.metrics,
  });
}

/** One configured database and the version in use. */
class Slot {
  db: MmdbDatabase;
  cache: LRUCache<number, GeoInfo> | undefined;
  loadedAt = new Date();
  reloads = 0;
  reloadFailures = 0;
  lastError: RealipError | undefined = undefined;
  watcher: FileWatcher | undefined = undefined;
  /** The `database_type` a reload must keep (when no `type` option). */
  readonly initialType: string;

  constructor(
    readonly spec: NormalisedGeoOptions['specs'][number],
    db: MmdbDatabase,
    private readonly cacheSize: number,
  ) {
    this.db = db;
    this.initialType = db.metadata.databaseType;
    this.hotShift = hotShiftFor(cacheSize);
    this.hotKeys = new Float64Array(this.hotShift === 32 ? 0 : 2 ** (32 - this.hotShift));
    this.hotValues = new Array<GeoInfo | undefined>(this.hotKeys.length);
    this.cache = this.newCache();
  }

  newCache(): LRUCache<number, GeoInfo> | undefined {
    this.hotKeys.fill(-1);
    this.hotValues.fill(undefined);
    return this.cacheSize > 0 ? new LRUCache<number, GeoInfo>({ max: this.cacheSize }) : undefined;
  }

  /**
   * A direct-mapped front for the record cache, by record offset: the records most traffic maps
   * to (a country database has a few hundred) answer without the LRU's bookkeeping, which
   * allocates per `get`. A collision only sends the lookup on to the LRU.
   */
  readonly hotShift: number;
  readonly hotKeys: Float64Array;
  readonly hotValues: (GeoInfo | undefined)[];

  /** The front slot of a record offset (multiplicative hash: offsets cluster), or -1 without a front. */
  hotIndex(offset: number): number {
    return this.hotShift === 32 ? -1 : Math.imul(offset, 0x9e3779b1) >>> this.hotShift;
  }

  /** Puts a record's answer in its front slot (no-op for -1). */
  remember(h: number, offset: number, value: GeoInfo): void {
    if (h < 0) return;
    this.hotKeys[h] = offset;
    this.hotValues[h] = value;
  }
}

/**
 * The front holds up to a quarter of the record cache's bound (at most 1,024 slots; none below a
 * bound of 64), so the memory bound `cache` sets stays within 1.25x. Returns the hash shift
 * (32: no front).
 */
function hotShiftFor(cacheSize: number): number {
  let bits = 0;
  while (bits < 10 && 2 ** (bits + 1) <= cacheSize / 4) bits++;
  return cacheSize < 64 ? 32 : 32 - bits;
}

/** Checks a (re)loaded database against what this slot expects. */
function checkCompatible(
  slot: Pick<Slot, 'spec' | 'initialType'> & { db?: MmdbDatabase },
  next: MmdbDatabase,
  allowOlder: boolean,
): void {
  const { name, type } = slot.spec;
  const t = next.metadata.databaseType;
  if (type !== undefined) {
    const ok = typeof type === 'string' ? t === type : type.test(t);
    if (!ok)
      throw new RealipError(
        'ERR_REALIP_GEO_TYPE',
        `${name}: database_type "${t}" does not match the expected ${String(type)}`,
      );
  } else if (slot.db && t !== slot.initialType) {
    throw new RealipError(
      'ERR_REALIP_GEO_TYPE',
      `${name}: database_type changed from "${slot.initialType}" to "${t}"; set \`type\` to accept it`,
    );
  }
  if (!slot.db) return;
  const cur = slot.db.metadata;
  if (cur.ipVersion === 6 && next.metadata.ipVersion === 4) {
    throw new RealipError(
      'ERR_REALIP_GEO_TYPE',
      `${name}: the new file is IPv4-only; the one in use covers IPv6`,
    );
  }
  if (!allowOlder && next.metadata.buildEpoch.getTime() < cur.buildEpoch.getTime()) {
    throw new RealipError(
      'ERR_REALIP_GEO_STALE',
      `${name}: build_epoch ${next.metadata.buildEpoch.toISOString()} is older than the one in use (${cur.buildEpoch.toISOString()}); set allowOlder to accept it`,
    );
  }
}

/** Smallest power of two >= n (at least 64). */
function pow2(n: number): number {
  let p = 64;
  while (p < n) p *= 2;
  return p;
}

class Tagger implements GeoTagger {
  private readonly words = new Uint32Array(4);
  /** Answers by address string (admitted on second sighting); undefined when disabled. */
  private addresses: LRUCache<string, GeoInfo> | undefined;
  /** Fingerprints of addresses seen once (direct-mapped; a collision only delays admission). */
  private readonly seen: Int32Array;
  private readonly seenMask: number;
  private readonly parts: (GeoInfo | undefined)[];
  private readonly n: number;
  private readonly skipSpecial: boolean;
  // Counters (plain fields: one increment each on the hot path).
  private lookups = 0;
  private invalid = 0;
  private special = 0;
  private notFound = 0;
  private cacheHits = 0;
  private cacheMisses = 0;
  private decodeErrors = 0;
  private addressHits = 0;
  private reloadCount = 0;
  private reloadFailures = 0;
  private closed = false;

  constructor(
    private readonly slots: readonly Slot[],
    private readonly opts: NormalisedGeoOptions,
  ) {
    this.n = slots.length;
    this.parts = new Array<GeoInfo | undefined>(this.n).fill(undefined);
    this.skipSpecial = opts.special.size > 0;
    this.addresses = this.newAddressCache();
    const seenSize = opts.addressCache > 0 ? pow2(opts.addressCache * 2) : 1;
    this.seen = new Int32Array(seenSize);
    this.seenMask = seenSize - 1;
  }

  private newAddressCache(): LRUCache<string, GeoInfo> | undefined {
    const max = this.opts.addressCache;
    return max > 0 ? new LRUCache<string, GeoInfo>({ max }) : undefined;
  }

  /** Forgets cached answers (a database was swapped). */
  resetAddresses(): void {
    this.addresses = this.newAddressCache();
    this.seen.fill(0);
  }

  tag(ip: string | undefined): GeoInfo | undefined {
    if (typeof ip !== 'string') {
      this.lookups++;
      this.invalid++;
      return undefined;
    }
    const addresses = this.addresses;
    if (addresses !== undefined) {
      const hit = addresses.get(ip);
      if (hit !== undefined) {
        this.lookups++;
        this.addressHits++;
        return hit === NOTHING ? undefined : hit;
      }
    }
    const w = this.words;
    const kind = parseIpInto(ip, 0, ip.length, w, PARSE_ZONE);
    const result = this.tagParsed(kind, w);
    if (addresses !== undefined && kind !== NOT_IP) {
      // Admission on second sighting: a one-off address costs one typed-array write, not an
      // insert and an eviction in the LRU.
      let h =
        kind === 4
          ? w[0]!
          : w[0]! ^
            Math.imul(w[1]!, 0x85ebca6b) ^
            Math.imul(w[2]!, 0xc2b2ae35) ^
            Math.imul(w[3]!, 0x27d4eb2f);
      h = Math.imul(h ^ (h >>> 16), 0x9e3779b1);
      h = (h ^ (h >>> 13)) | 1;
      const slot = h & this.seenMask;
      if (this.seen[slot] === h) addresses.set(ip, result ?? NOTHING);
      else this.seen[slot] = h;
    }
    return result;
  }

  tagParsed(kind: IpKind, w: Uint32Array): GeoInfo | undefined {
    this.lookups++;
    if (kind === NOT_IP) {
      this.invalid++;
      return undefined;
    }
    if (this.skipSpecial) {
      const s = specialNetworkOf(kind, w);
      if (s !== undefined && this.opts.special.has(s)) {
        this.special++;
        return SPECIAL_GEO[s];
      }
    }
    let result: GeoInfo | undefined;
    if (this.n === 1) {
      result = this.lookupSlot(this.slots[0]!, kind, w);
    } else {
      const parts = this.parts;
      for (let i = 0; i < this.n; i++) parts[i] = this.lookupSlot(this.slots[i]!, kind, w);
      result = mergeGeo(parts, this.n);
      for (let i = 0; i < this.n; i++) parts[i] = undefined;
    }
    if (result === undefined) this.notFound++;
    return result;
  }

  private lookupSlot(slot: Slot, kind: IpKind, w: Uint32Array): GeoInfo | undefined {
    const db = slot.db;
    const offset = db.lookup(kind, w);
    if (offset < 0) return undefined;
    const cache = slot.cache;
    const h = cache === undefined ? -1 : slot.hotIndex(offset);
    if (h >= 0 && slot.hotKeys[h] === offset) {
      this.cacheHits++;
      const v = slot.hotValues[h]!;
      return v === NOTHING ? undefined : v;
    }
    if (cache !== undefined) {
      const hit = cache.get(offset);
      if (hit !== undefined) {
        this.cacheHits++;
        slot.remember(h, offset, hit);
        return hit === NOTHING ? undefined : hit;
      }
    }
    this.cacheMisses++;
    let info: GeoInfo | undefined;
    try {
      info = normaliseRecord(db.decode(offset, kind, w), this.opts.locales, slot.spec.fields);
    } catch {
      // A record the verification sample did not cover is corrupt: answer "not found" and count
      // it; request data never throws.
      this.decodeErrors++;
      return undefined;
    }
    if (cache !== undefined) {
      cache.set(offset, info ?? NOTHING);
      slot.remember(h, offset, info ?? NOTHING);
    }
    return info;
  }

  databases(): readonly GeoDatabaseStatus[] {
    return this.slots.map((s) =>
      Object.freeze({
        name: s.spec.name,
        path: s.spec.path,
        metadata: s.db.metadata,
        size: s.db.size,
        loadedAt: s.loadedAt,
        reloads: s.reloads,
        reloadFailures: s.reloadFailures,
        lastError: s.lastError,
      }),
    );
  }

  buildTime(): Date {
    let oldest = this.slots[0]!.db.metadata.buildEpoch;
    for (const s of this.slots) if (s.db.metadata.buildEpoch < oldest) oldest = s.db.metadata.buildEpoch;
    return oldest;
  }

  stats(): GeoStats {
    return Object.freeze({
      lookups: this.lookups,
      invalid: this.invalid,
      special: this.special,
      notFound: this.notFound,
      cacheHits: this.cacheHits,
      cacheMisses: this.cacheMisses,
      decodeErrors: this.decodeErrors,
      addressHits: this.addressHits,
      reloads: this.reloadCount,
      reloadFailures: this.reloadFailures,
    });
  }

  async reload(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.watcher?.check()));
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots) {
      s.watcher?.close();
      s.watcher = undefined;
    }
  }

  /** Loads `content` for `slot`; swaps only if it verifies. Never throws (reports instead). */
  async replace(slot: Slot, content: Buffer, warn: (code: string, message: string) => void): Promise<void> {
    const previous = slot.db.metadata;
    let error: RealipError | undefined;
    try {
      const next = await loadMmdb(content, slot.spec.name, verifyOptions(this.opts, slot.spec.fields));
      checkCompatible(slot, next, this.opts.allowOlder);
      if (this.closed) return;
      // Swap: both fields in one synchronous step, so no lookup sees the new database with the
      // old database's cache (offsets differ between files).
      slot.cache = slot.newCache();
      slot.db = next;
      this.resetAddresses();
      slot.loadedAt = new Date();
      slot.reloads++;
      slot.lastError = undefined;
      this.reloadCount++;
      reportBuildTime(this.opts.metrics, slot);
    } catch (e) {
      error =
        e instanceof RealipError
          ? e
          : new RealipError('ERR_REALIP_GEO_CORRUPT', `${slot.spec.name}: ${(e as Error).message}`, {
              cause: e,
            });
    }
    if (error) this.reportFailure(slot, error, warn);
    else this.emit(slot, previous, undefined);
  }

  reportFailure(slot: Slot, error: RealipError, warn: (code: string, message: string) => void): void {
    slot.reloadFailures++;
    slot.lastError = error;
    this.reloadFailures++;
    warn(
      'WRN_REALIP_GEO_RELOAD_FAILED',
      `GeoIP database ${slot.spec.name} was not reloaded (${error.code}: ${error.message}); the previous version stays in use`,
    );
    this.emit(slot, slot.db.metadata, error);
  }

  private emit(slot: Slot, previous: GeoDatabaseMetadata, error: RealipError | undefined): void {
    const cb = this.opts.onReload;
    if (!cb) return;
    try {
      cb(
        Object.freeze({
          database: slot.spec.name,
          path: slot.spec.path ?? '',
          ok: error === undefined,
          error,
          current: slot.db.metadata,
          previous,
        }),
      );
    } catch {
      // A throwing callback must not break reloading.
    }
  }
}

/** Tells the metrics hooks a database's build time; a failing hook never breaks loading. */
function reportBuildTime(metrics: GeoMetricsHooks | undefined, slot: Slot): void {
  if (!metrics) return;
  try {
    metrics.geoDatabase(slot.spec.name, Math.floor(slot.db.metadata.buildEpoch.getTime() / 1000));
  } catch {
    // Metrics are best effort.
  }
}

function verifyOptions(opts: NormalisedGeoOptions, fields: ReadonlySet<GeoField> | undefined): VerifyOptions {
  return { locales: opts.locales, fields, maxFutureMs: opts.maxClockSkewMs };
}

/**
 * Opens the databases (reads, verifies, checks `type`), starts watching file-backed ones, and
 * returns the tagger. Rejects with a `ConfigError` for invalid options, and with a `RealipError`
 * (`ERR_REALIP_GEO_READ`, `_CORRUPT`, `_SCHEMA`, `_TYPE`) when a database cannot be used.
 *
 * @example
 * const geo = await openGeoTagger({ databases: ['/data/GeoLite2-City.mmdb', '/data/GeoLite2-ASN.mmdb'] });
 * geo.tag('81.2.69.160'); // { country: 'GB', continent: 'EU', city: 'London', asn: ..., ... }
 */
export async function openGeoTagger(options: GeoOptions): Promise<GeoTagger> {
  const opts = normaliseGeoOptions(options);
  const slots: Slot[] = [];
  const initial: Buffer[] = [];
  for (const spec of opts.specs) {
    let buf: Buffer;
    if (spec.buffer) buf = spec.buffer;
    else {
      try {
        buf = await readFile(spec.path!);
      } catch (error) {
        throw new RealipError(
          'ERR_REALIP_GEO_READ',
          `${spec.name}: cannot read ${spec.path}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    }
    const db = await loadMmdb(buf, spec.name, verifyOptions(opts, spec.fields));
    checkCompatible({ spec, initialType: db.metadata.databaseType }, db, opts.allowOlder);
    slots.push(new Slot(spec, db, opts.recordCache));
    initial.push(buf);
  }
  const tagger = new Tagger(slots, opts);
  for (const slot of slots) reportBuildTime(opts.metrics, slot);
  if (opts.watch) {
    const warnings = new WarningEmitter(opts.onWarning);
    const warn = (code: string, message: string) => warnings.emit(code, message);
    slots.forEach((slot, i) => {
      if (!slot.spec.path) return;
      slot.watcher = watchFileContent(
        slot.spec.path,
        initial[i]!,
        (content) => tagger.replace(slot, content, warn),
        {
          pollMs: opts.watch!.pollMs ?? 60_000,
          ...(opts.watch!.debounceMs !== undefined ? { debounceMs: opts.watch!.debounceMs } : {}),
          onError: (error) =>
            tagger.reportFailure(
              slot,
              new RealipError(
                'ERR_REALIP_GEO_READ',
                `${slot.spec.name}: cannot read ${slot.spec.path}: ${error.message}`,
                {
                  cause: error,
                },
              ),
              warn,
            ),
        },
      );
    });
  }
  return tagger;
}
