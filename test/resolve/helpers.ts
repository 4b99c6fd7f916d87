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

/** The scanner counters of a resolver (internal; proves bounded work). */
export function scanner(r: Resolver): { chars: number; entries: number } {
  return (r as unknown as { _scanner: { chars: number; entries: number } })._scanner;
}

export const T10 = { trustedProxies: ['10.0.0.0/8'] } as const satisfies ResolverOptions;
