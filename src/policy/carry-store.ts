/**
 * A memory rate-limit store whose counters survive policy reloads.
 *
 * The built-in memory store gives each limiter a fresh table, so rebuilding the limiter on a
 * policy reload would forget every client's counters. This store keeps one bounded LRU table per
 * tier, keyed by the tier's name and the exact shape of its limits (name, points, duration,
 * burst, in order). When a new limiter binds after a reload, every tier whose signature is
 * unchanged gets its old table back (a client limited a second ago stays limited); a renamed tier
 * or a tier whose limits changed starts from zero. Tables of tiers that disappeared are dropped.
 *
 * The arithmetic is the memory store's own (`consumeSlot`): nginx `limit_req` for burst limits,
 * fixed windows otherwise. Difference: the `maxKeys` bound applies per tier, not per limiter.
 */
import { LruTable, consumeSlot } from '../rate-limit/stores/memory.js';
import type {
  BindContext,
  Outcome,
  RateLimitStore,
  StoreBinding,
  TierPlan,
} from '../rate-limit/stores/store.js';

/** Float64 cells per policy per key in the memory table (see src/rate-limit/stores/memory.ts). */
const CELLS = 3;

function signature(tier: TierPlan): string {
  let s = tier.name;
  for (const p of tier.policies) s += `\n${p.prefix}|${p.points}|${p.duration}|${p.burst ?? ''}`;
  return s;
}

interface Entry {
  table: LruTable;
  /** The tier index the table's slots were written under (the memory layout records it). */
  index: number;
}

class CarryBinding implements StoreBinding {
  constructor(
    private readonly tables: readonly LruTable[],
    private readonly clock: () => number,
  ) {}

  consume(tier: TierPlan, key: string, out: Outcome): void {
    const table = this.tables[tier.index]!;
    consumeSlot(table, table.acquire(key), tier, this.clock(), out);
  }

  close(): Promise<void> {
    // Tables may live on in a newer binding; unreferenced ones are garbage-collected.
    return Promise.resolve();
  }
}

/** A memory store for `createRateLimiter({ store })` that keeps state across limiter rebuilds. */
export interface CarryOverMemoryStore extends RateLimitStore {
  /** Keys tracked over all tiers (for stats). */
  keys(): number;
  /** Keys evicted over all tiers. */
  evictions(): number;
  /** Tiers whose state was carried over by the last bind, by name. */
  readonly carried: readonly string[];
}

/** Creates the store; pass the same instance to each limiter built for successive policies. */
export function createCarryOverMemoryStore(): CarryOverMemoryStore {
  let entries = new Map<string, Entry>();
  let carried: string[] = [];
  return {
    kind: 'memory',
    remote: false,
    get carried() {
      return carried;
    },
    bind(tiers: readonly TierPlan[], context: BindContext): StoreBinding {
      const next = new Map<string, Entry>();
      const tables: LruTable[] = [];
      const kept: string[] = [];
      for (const tier of tiers) {
        const sig = signature(tier);
        const old = entries.get(sig);
        let entry: Entry;
        if (old !== undefined && old.table.capacity === context.maxKeys) {
          // Slots remember the tier index that wrote them; a tier that moved keeps its state.
          if (old.index !== tier.index) {
            const tierOf = old.table.tierOf;
            for (let i = 0; i < tierOf.length; i++) if (tierOf[i] === old.index) tierOf[i] = tier.index;
          }
          entry = { table: old.table, index: tier.index };
          kept.push(tier.name);
        } else {
          entry = {
            table: new LruTable(context.maxKeys, Math.max(1, tier.policies.length) * CELLS),
            index: tier.index,
          };
        }
        next.set(sig, entry);
        tables[tier.index] = entry.table;
      }
      entries = next;
      carried = kept;
      return new CarryBinding(tables, context.clock);
    },
    keys(): number {
      let n = 0;
      for (const e of entries.values()) n += e.table.size;
      return n;
    },
    evictions(): number {
      let n = 0;
      for (const e of entries.values()) n += e.table.evictions;
      return n;
    },
  };
}
