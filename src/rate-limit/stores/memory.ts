/**
 * The bounded in-memory store: an LRU table of at most `maxKeys` keys, so a flood from rotating
 * addresses cannot exhaust memory while an active abuser (touched on every request) stays tracked.
 *
 * Layout: a `Map<string, slot>` plus typed arrays indexed by slot (a doubly linked LRU list and
 * three numbers per policy), so an entry costs the key string, one Map entry and a few dozen bytes,
 * with no object per key and no timer per key (rate-limiter-flexible's memory store keeps both).
 * State left behind by quiet keys is harmless: an expired window or a drained bucket reads as new.
 */
import { NO_STATE, candidateExcess, isOverBurst, nextLast } from '../gcra.js';
import { reportGcra, reportWindow } from './store.js';
import type { BindContext, Outcome, RateLimitStore, StoreBinding, TierPlan } from './store.js';

const INITIAL_SLOTS = 1024;

/** Least-recently-used slot table with `stride` float64 cells per slot. */
export class LruTable {
  readonly capacity: number;
  readonly stride: number;
  /** Keys evicted to make room (monotonic). */
  evictions = 0;
  private readonly index = new Map<string, number>();
  private keys: (string | undefined)[] = [];
  private prev: Int32Array;
  private next: Int32Array;
  /** Per slot: which tier wrote it (state of another tier is reset). */
  tierOf: Int16Array;
  cells: Float64Array;
  private head = -1;
  private tail = -1;
  private allocated: number;

  constructor(capacity: number, stride: number) {
    this.capacity = capacity;
    this.stride = stride;
    this.allocated = Math.min(capacity, INITIAL_SLOTS);
    this.prev = new Int32Array(this.allocated);
    this.next = new Int32Array(this.allocated);
    this.tierOf = new Int16Array(this.allocated);
    this.cells = new Float64Array(this.allocated * stride);
  }

  get size(): number {
    return this.index.size;
  }

  /** The slot of `key`, or -1; does not touch recency. */
  peek(key: string): number {
    const s = this.index.get(key);
    return s === undefined ? -1 : s;
  }

  /**
   * The slot of `key`, made most recent. When the key is new, a slot is taken (evicting the least
   * recently used key when full) and `tierOf[slot]` is set to -1 so the caller initialises it.
   */
  acquire(key: string): number {
    let s = this.index.get(key);
    if (s !== undefined) {
      if (s !== this.head) {
        this.unlink(s);
        this.pushHead(s);
      }
      return s;
    }
    const n = this.index.size;
    if (n < this.capacity) {
      if (n === this.allocated) this.grow();
      s = n;
    } else {
      s = this.tail;
      this.unlink(s);
      this.index.delete(this.keys[s]!);
      this.evictions++;
    }
    this.keys[s] = key;
    this.index.set(key, s);
    this.tierOf[s] = -1;
    this.pushHead(s);
    return s;
  }

  /** Forgets every key. */
  clear(): void {
    this.index.clear();
    this.keys = [];
    this.head = this.tail = -1;
  }

  private grow(): void {
    const size = Math.min(this.capacity, this.allocated * 2);
    const prev = new Int32Array(size);
    prev.set(this.prev);
    const next = new Int32Array(size);
    next.set(this.next);
    const tierOf = new Int16Array(size);
    tierOf.set(this.tierOf);
    const cells = new Float64Array(size * this.stride);
    cells.set(this.cells);
    this.prev = prev;
    this.next = next;
    this.tierOf = tierOf;
    this.cells = cells;
    this.allocated = size;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }

  private pushHead(s: number): void {
    this.prev[s] = -1;
    this.next[s] = this.head;
    if (this.head >= 0) this.prev[this.head] = s;
    this.head = s;
    if (this.tail < 0) this.tail = s;
  }
}

/** Cells per policy: window `[count, windowEnd, -]`, GCRA `[excess, last, rejections]`. */
const CELLS = 3;

/**
 * Counts one request in a slot, both algorithms, with nginx's rule that a rejected request
 * charges no burst limit. Fixed windows count every request, admitted or not (as
 * rate-limiter-flexible does), so a client that keeps hammering stays limited for the window.
 */
export function consumeSlot(table: LruTable, slot: number, tier: TierPlan, now: number, out: Outcome): void {
  const cells = table.cells;
  const base = slot * table.stride;
  const policies = tier.policies;
  const n = policies.length;
  if (table.tierOf[slot] !== tier.index) {
    for (let i = 0; i < n; i++) {
      const o = base + i * CELLS;
      cells[o] = policies[i]!.gcra ? NO_STATE : 0;
      cells[o + 1] = 0;
      cells[o + 2] = 0;
    }
    table.tierOf[slot] = tier.index;
  }
  let admitted = true;
  if (tier.hasWindow) {
    for (let i = 0; i < n; i++) {
      const p = policies[i]!;
      if (p.gcra) continue;
      const o = base + i * CELLS;
      if (now >= cells[o + 1]! || cells[o + 1]! - now > p.durationMs) {
        // Window over (or the clock stepped back past it): a new window starts at this request.
        cells[o] = 0;
        cells[o + 1] = now + p.durationMs;
      }
      const count = ++cells[o]!;
      const over = reportWindow(out, i, p, count, cells[o + 1]! - now);
      if (over) admitted = false;
    }
  }
  if (tier.hasGcra) {
    // Phase 1: would every burst limit admit it?
    for (let i = 0; i < n; i++) {
      const p = policies[i]!;
      if (!p.gcra) continue;
      const o = base + i * CELLS;
      const e = candidateExcess(cells[o]!, cells[o + 1]!, now, p.rate);
      out.remaining[i] = e; // candidate, turned into "remaining" below
      if (isOverBurst(e, p.burstMilli)) admitted = false;
    }
    // Phase 2: account when admitted, else count rejections.
    for (let i = 0; i < n; i++) {
      const p = policies[i]!;
      if (!p.gcra) continue;
      const o = base + i * CELLS;
      const e = out.remaining[i]!;
      let rejections = 0;
      if (admitted) {
        cells[o + 1] = nextLast(cells[o]!, cells[o + 1]!, now);
        cells[o] = e;
        cells[o + 2] = 0;
      } else if (isOverBurst(e, p.burstMilli)) {
        rejections = ++cells[o + 2]!;
      }
      reportGcra(out, i, p, e, admitted, rejections);
    }
  }
  out.admitted = admitted;
}

/** The memory store bound to one limiter: one LRU table shared by all its tiers. */
export class MemoryBinding implements StoreBinding {
  readonly table: LruTable;
  private readonly clock: () => number;

  constructor(tiers: readonly TierPlan[], maxKeys: number, clock: () => number) {
    let width = 1;
    for (const t of tiers) if (t.policies.length > width) width = t.policies.length;
    this.table = new LruTable(maxKeys, width * CELLS);
    this.clock = clock;
  }

  consume(tier: TierPlan, key: string, out: Outcome): void {
    consumeSlot(this.table, this.table.acquire(key), tier, this.clock(), out);
  }

  close(): Promise<void> {
    this.table.clear();
    return Promise.resolve();
  }
}

/**
 * The default store (`store: 'memory'`). Each limiter gets its own bounded table, so prefixes
 * cannot collide; per-process, so N replicas admit about N times the limit (use `realip/redis`).
 */
export function createMemoryStore(): RateLimitStore {
  return {
    kind: 'memory',
    remote: false,
    bind(tiers: readonly TierPlan[], context: BindContext): StoreBinding {
      return new MemoryBinding(tiers, context.maxKeys, context.clock);
    },
  };
}
