import { createResolver, type Resolver, type ResolverOptions } from '../../src/index.js';
import type { Resolution } from '../../src/types.js';

/** A resolver whose warnings are collected instead of printed. */
export function make(options: ResolverOptions = {}): { r: Resolver; warnings: string[] } {
  const warnings: string[] = [];
  const r = createResolver({ onWarning: (w) => warnings.push(w.code), ...options });
  return { r, warnings };
}

/** Resolves one request with headers given as an object or raw pairs. */
export function run(
  options: ResolverOptions,
  peer: string | undefined,
  headers: Record<string, string | string[]> | string[] = {},
): Resolution {
  return make(options).r.resolve({ remoteAddress: peer, headers });
}

/**
 * The work a walk did, from its public account (`explain()`), to prove that hostile input costs a
 * bounded amount. When `maxEntries`/`maxHeaderBytes` stopped the walk, `explain()` says how many
 * entries and characters it had read. Otherwise it lists each entry it read, right to left; the
 * characters are then those of the header's tail holding those entries (`header`, an
 * X-Forwarded-For value: a walk that did not hit the cap reads nothing left of its last entry).
 */
export function walkCost(
  res: Resolution,
  header?: string | readonly string[],
): { entries: number; chars: number } {
  const text = res.explain();
  const stopped = /stopped after (\d+) entries and (\d+) characters \(maxEntries/.exec(text);
  if (stopped !== null) return { entries: Number(stopped[1]), chars: Number(stopped[2]) };
  const read = [...text.matchAll(/entry (\d+) from the right/g)].map((m) => Number(m[1]));
  const entries = read.length === 0 ? 0 : Math.max(...read);
  if (header === undefined) throw new Error('walkCost: an uncapped walk needs the header value');
  // Lines of one header are one list; the scanner counts each line boundary as one character.
  const value = typeof header === 'string' ? header : header.join(',');
  let seen = 0;
  let start = value.length;
  const parts = value.split(',');
  for (let i = parts.length - 1; i >= 0 && seen < entries; i--) {
    start -= parts[i]!.length + (i < parts.length - 1 ? 1 : 0);
    if (parts[i]!.trim() !== '') seen++;
  }
  return { entries, chars: value.length - start };
}

export const T10 = { trustedProxies: ['10.0.0.0/8'] } as const satisfies ResolverOptions;
