/**
 * Top clients without label explosion: a Space-Saving sketch (Metwally, Agrawal & El Abbadi,
 * ICDT 2005) over client IPs or their /24 and /48 prefixes.
 *
 * `capacity` counters are kept. A new item takes over the counter with the smallest count, starting
 * at `min + 1` with `error = min`. Guarantees, for a stream of N items: every item whose true count
 * exceeds N / capacity is monitored; for a monitored item, `count - error <= true count <= count`;
 * and `error <= min count`. Updates are O(1) with the Stream-Summary structure (buckets of equal
 * count in a doubly linked list, ascending), so memory and time are bounded whatever the traffic.
 *
 * Keys stay raw in memory (never written anywhere) and are anonymised only when read out.
 * Windows rotate lazily on `add()`/`snapshot()` (no timers), so offenders age out.
 */
import { joinPath } from '../errors.js';
import { parseOptions } from '../spec/spec.js';
import { heavyHittersSpec } from './spec.js';
import { IPV4, NOT_IP, parseIpInto } from '../core/ip.js';
import type { AnonymizeMode } from '../log/anonymize.js';
import { toAnonymizer } from '../log/anonymize.js';

class Bucket {
  count: number;
  head: Counter | null = null;
  prev: Bucket | null = null;
  next: Bucket | null = null;
  constructor(count: number) {
    this.count = count;
  }
}

class Counter {
  key: string | number;
  error: number;
  bucket: Bucket;
  prev: Counter | null = null;
  next: Counter | null = null;
  constructor(key: string | number, error: number, bucket: Bucket) {
    this.key = key;
    this.error = error;
    this.bucket = bucket;
  }
}

/** One monitored item, raw (not anonymised): for tests and for code that anonymises itself. */
export interface SketchEntry<K> {
  readonly key: K;
  /** Upper bound of the true count. */
  readonly count: number;
  /** Over-estimation bound: `count - error <= true count`. */
  readonly error: number;
}

/**
 * The Space-Saving sketch itself, over any string or number keys. Counts are integers; `add` takes
 * a weight (default 1).
 */
export class SpaceSaving<K extends string | number = string | number> {
  readonly capacity: number;
  private readonly index = new Map<K, Counter>();
  private min: Bucket | null = null;
  private total = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Items seen (sum of weights). */
  get n(): number {
    return this.total;
  }

  /** Monitored items. */
  get size(): number {
    return this.index.size;
  }

  /** The smallest monitored count (0 while not full): every unmonitored item occurred at most this often. */
  get minCount(): number {
    return this.index.size < this.capacity || this.min === null ? 0 : this.min.count;
  }

  add(key: K, weight = 1): void {
    this.total += weight;
    const c = this.index.get(key);
    if (c !== undefined) {
      this.bump(c, c.bucket.count + weight);
      return;
    }
    if (this.index.size < this.capacity) {
      const counter = new Counter(key, 0, this.bucketFor(weight));
      this.link(counter, counter.bucket);
      this.index.set(key, counter);
      return;
    }
    // Replace the item with the smallest count: it inherits that count as its error.
    const victim = this.min!.head!;
    this.index.delete(victim.key as K);
    const floor = victim.bucket.count;
    victim.key = key;
    victim.error = floor;
    this.index.set(key, victim);
    this.bump(victim, floor + weight);
  }

  /** Monitored items, highest count first (ties: lower error first). */
  entries(limit = this.capacity): SketchEntry<K>[] {
    const out: SketchEntry<K>[] = [];
    // Walk buckets from the largest count down.
    let b = this.min;
    while (b !== null && b.next !== null) b = b.next;
    for (; b !== null && out.length < limit; b = b.prev) {
      const start = out.length;
      for (let c = b.head; c !== null; c = c.next)
        out.push({ key: c.key as K, count: b.count, error: c.error });
      if (out.length - start > 1) {
        const slice = out.splice(start).sort((x, y) => x.error - y.error);
        for (const e of slice) out.push(e);
      }
    }
    if (out.length > limit) out.length = limit;
    return out;
  }

  clear(): void {
    this.index.clear();
    this.min = null;
    this.total = 0;
  }

  /** Moves `c` to the bucket for `count` (creating it after its current bucket when missing). */
  private bump(c: Counter, count: number): void {
    const from = c.bucket;
    let at: Bucket = from;
    while (at.next !== null && at.next.count <= count) at = at.next;
    let target: Bucket;
    if (at.count === count) {
      target = at;
    } else {
      target = new Bucket(count);
      target.prev = at;
      target.next = at.next;
      if (at.next !== null) at.next.prev = target;
      at.next = target;
    }
    this.unlink(c);
    this.link(c, target);
    if (from.head === null) this.removeBucket(from);
  }

  /** The bucket for a new counter of `count`, searching from the minimum. */
  private bucketFor(count: number): Bucket {
    let prev: Bucket | null = null;
    let b = this.min;
    while (b !== null && b.count < count) {
      prev = b;
      b = b.next;
    }
    if (b !== null && b.count === count) return b;
    const nb = new Bucket(count);
    nb.prev = prev;
    nb.next = b;
    if (b !== null) b.prev = nb;
    if (prev !== null) prev.next = nb;
    else this.min = nb;
    return nb;
  }

  private link(c: Counter, b: Bucket): void {
    c.bucket = b;
    c.prev = null;
    c.next = b.head;
    if (b.head !== null) b.head.prev = c;
    b.head = c;
  }

  private unlink(c: Counter): void {
    const b = c.bucket;
    if (c.prev !== null) c.prev.next = c.next;
    else b.head = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    c.prev = null;
    c.next = null;
  }

  private removeBucket(b: Bucket): void {
    if (b.prev !== null) b.prev.next = b.next;
    else this.min = b.next;
    if (b.next !== null) b.next.prev = b.prev;
  }
}

/** What the top-clients view counts. */
export type { HeavyHittersOptions, TopClientsGranularity } from './spec.js';
import type { HeavyHittersOptions, TopClientsGranularity } from './spec.js';

/** One client in the top list, anonymised as configured. */
export interface TopClient {
  /** 1-based rank. */
  rank: number;
  /** The address or prefix (`203.0.113.0/24`), anonymised; absent under `anonymize: 'drop'`. */
  client?: string;
  /** Upper bound of the requests seen in the window. */
  count: number;
  /** `count - error` is a lower bound of the true count. */
  error: number;
}

/** A window's top list, as served by the top-clients endpoint and written to logs. */
export interface TopClientsSnapshot {
  granularity: TopClientsGranularity;
  /** The anonymisation applied to `client`. */
  anonymize: AnonymizeMode;
  /** HMAC key id when `anonymize` is `hmac`. */
  keyId?: string;
  /** Window start and end (ISO 8601); `end` is "now" for the current window. */
  windowStart: string;
  windowEnd: string;
  /** Requests counted in the window. */
  total: number;
  /** Upper bound of the count of any client not listed. */
  unlistedMax: number;
  clients: TopClient[];
}

/** The top-clients sketch with windows and anonymised output. */
export interface HeavyHitters {
  /** Counts one request from `ip` (canonical or not; non-IPs and `undefined` are ignored). */
  add(ip: string | undefined): void;
  /** The current window so far. */
  snapshot(): TopClientsSnapshot;
  /** The last complete window, or undefined before the first one ends (or when `windowMs` is 0). */
  previous(): TopClientsSnapshot | undefined;
  /** Both, for the JSON endpoint. */
  toJSON(): { current: TopClientsSnapshot; previous: TopClientsSnapshot | null };
  readonly options: Readonly<{
    capacity: number;
    top: number;
    granularity: TopClientsGranularity;
    windowMs: number;
  }>;
}

/**
 * Creates the top-clients view. Validates all options at once (`ConfigError`, paths under
 * `pathPrefix`).
 */
export function createHeavyHitters(options: HeavyHittersOptions = {}, pathPrefix = ''): HeavyHitters {
  const o = parseOptions(heavyHittersSpec, options, pathPrefix, () =>
    toAnonymizer(options.anonymize, joinPath(pathPrefix, 'anonymize')),
  );
  const capacity = o.capacity as number;
  const top = o.top as number;
  const granularity = o.granularity as TopClientsGranularity;
  const v4Bits = o.prefix?.v4 ?? 24;
  const v6Bits = o.prefix?.v6 ?? 48;
  const windowMs = o.windowMs as number;
  const now = o.now ?? Date.now;
  const anon = toAnonymizer(options.anonymize, joinPath(pathPrefix, 'anonymize'));

  let current = new SpaceSaving<string | number>(capacity);
  let spare = new SpaceSaving<string | number>(capacity);
  let windowStart = now();
  let last: TopClientsSnapshot | undefined;
  const words = new Uint32Array(4);
  const v4Mask = (0xffffffff << (32 - v4Bits)) >>> 0;
  const v6Shift = 48 - v6Bits;

  function rotate(t: number): void {
    if (windowMs === 0 || t - windowStart < windowMs) return;
    // Whole windows elapsed with no traffic give an empty previous window.
    const end = windowStart + windowMs;
    last =
      t - windowStart >= 2 * windowMs ? emptySnapshot(t - windowMs, t) : build(current, windowStart, end);
    const old = current;
    current = spare;
    spare = old;
    spare.clear();
    windowStart = t - ((t - windowStart) % windowMs);
  }

  function add(ip: string | undefined): void {
    if (typeof ip !== 'string') return;
    if (windowMs !== 0) rotate(now());
    if (granularity === 'ip') {
      current.add(ip);
      return;
    }
    const kind = parseIpInto(ip, 0, ip.length, words, 0);
    if (kind === NOT_IP) return;
    // Number keys: IPv4 prefixes negative, IPv6 prefixes (up to 48 bits) non-negative. No allocation.
    if (kind === IPV4) current.add(-1 - ((words[0]! & v4Mask) >>> 0));
    else current.add(Math.floor((words[0]! * 65536 + (words[1]! >>> 16)) / 2 ** v6Shift));
  }

  function label(key: string | number): string | undefined {
    if (typeof key === 'string') return anon(key);
    if (key < 0) {
      words[0] = -1 - key;
      return anon.prefix(4, words, v4Bits);
    }
    const v = key * 2 ** v6Shift;
    words[0] = Math.floor(v / 65536) >>> 0;
    words[1] = ((v % 65536) * 65536) >>> 0;
    words[2] = 0;
    words[3] = 0;
    return anon.prefix(6, words, v6Bits);
  }

  function emptySnapshot(start: number, end: number): TopClientsSnapshot {
    return base(start, end, 0, 0, []);
  }

  function base(
    start: number,
    end: number,
    total: number,
    unlistedMax: number,
    clients: TopClient[],
  ): TopClientsSnapshot {
    const s: TopClientsSnapshot = {
      granularity,
      anonymize: anon.mode,
      windowStart: new Date(start).toISOString(),
      windowEnd: new Date(end).toISOString(),
      total,
      unlistedMax,
      clients,
    };
    if (anon.keyId !== undefined) s.keyId = anon.keyId;
    return s;
  }

  function build(sketch: SpaceSaving<string | number>, start: number, end: number): TopClientsSnapshot {
    // Anonymisation can map several keys to one label (two IPs in one /24 under truncate): merge them,
    // summing counts and errors, which keeps both bounds valid.
    const merged = new Map<string, TopClient>();
    const clients: TopClient[] = [];
    for (const e of sketch.entries()) {
      const name = label(e.key);
      if (name === undefined) {
        clients.push({ rank: 0, count: e.count, error: e.error });
        continue;
      }
      const seen = merged.get(name);
      if (seen !== undefined) {
        seen.count += e.count;
        seen.error += e.error;
      } else {
        const c: TopClient = { rank: 0, client: name, count: e.count, error: e.error };
        merged.set(name, c);
        clients.push(c);
      }
    }
    clients.sort((a, b) => b.count - a.count || a.error - b.error);
    if (clients.length > top) clients.length = top;
    for (let i = 0; i < clients.length; i++) clients[i]!.rank = i + 1;
    return base(start, end, sketch.n, sketch.minCount, clients);
  }

  return {
    add,
    snapshot() {
      const t = now();
      rotate(t);
      return build(current, windowStart, t);
    },
    previous() {
      rotate(now());
      return last;
    },
    toJSON() {
      const t = now();
      rotate(t);
      return { current: build(current, windowStart, t), previous: last ?? null };
    },
    options: Object.freeze({ capacity, top, granularity, windowMs }),
  };
}
