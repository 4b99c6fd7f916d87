/**
 * Runtime warnings: each code is reported once (to `onWarning`, or `process.emitWarning`), then
 * only counted, so a misconfiguration that shows on every request costs one log line and a
 * counter increment, not a log flood.
 */
import type { RealipWarning, WarningHandler } from '../types.js';

/** Where a warning code is documented. */
export function warningHelp(code: string): string {
  return `docs/errors.md#${code.toLowerCase().replace(/_/g, '-')}`;
}

class Warning implements RealipWarning {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly help: string,
    readonly count: number,
  ) {}
}

/** The default warning handler: `process.emitWarning`. */
export function defaultHandler(w: RealipWarning): void {
  process.emitWarning(w.message, { type: 'RealipWarning', code: w.code, detail: `See ${w.help}` });
}

/**
 * The one warn-once helper of every stage (resolver, adapters, rate limiter, GeoIP tagger, lists,
 * policy stack): each code is reported once to the handler, then only counted.
 *
 * A `key` other than the code makes one code report once per key (a list, a Redis error text), and
 * `forget(key)` re-arms a key whose condition ended (the list reloaded, the client reconnected).
 */
export class WarningEmitter {
  private readonly seen = new Map<string, { code: string; message: string; count: number }>();
  private readonly handler: WarningHandler;

  constructor(onWarning?: WarningHandler) {
    this.handler = onWarning ?? defaultHandler;
  }

  /** Reports `code` the first time (per `key`); later calls only count. Never throws. */
  emit(code: string, message: string, key: string = code): void {
    const entry = this.seen.get(key);
    if (entry !== undefined) {
      entry.count++;
      return;
    }
    this.seen.set(key, { code, message, count: 1 });
    try {
      this.handler(new Warning(code, message, warningHelp(code), 1));
    } catch {
      // A failing warning handler must not fail the request that triggered the warning.
    }
  }

  /**
   * Counts another occurrence of an already reported key and returns true; returns false for a
   * key not seen yet (the caller then builds the message and calls `emit`). Keeps message
   * formatting off the path of repeated warnings.
   */
  bump(key: string): boolean {
    const entry = this.seen.get(key);
    if (entry === undefined) return false;
    entry.count++;
    return true;
  }

  /** The condition behind `key` ended: its next `emit` is reported again, counting from 1. */
  forget(key: string): void {
    this.seen.delete(key);
  }

  /** How many times `key` (by default a code) was seen since reported (0 if never). */
  count(key: string): number {
    return this.seen.get(key)?.count ?? 0;
  }

  /** Every key seen so far, with its code, first message and count. */
  list(): RealipWarning[] {
    const out: RealipWarning[] = [];
    for (const e of this.seen.values())
      out.push(new Warning(e.code, e.message, warningHelp(e.code), e.count));
    return out;
  }
}

/** Warning codes raised by the resolver (each has a section in docs/errors.md). */
export const WRN_UNTRUSTED_FORWARDED = 'WRN_REALIP_UNTRUSTED_FORWARDED';
export const WRN_BOTH_FORWARDED_HEADERS = 'WRN_REALIP_BOTH_FORWARDED_HEADERS';
export const WRN_HOPS_WITHOUT_TRUST = 'WRN_REALIP_HOPS_WITHOUT_TRUST';
export const WRN_AMBIGUOUS_HEADER = 'WRN_REALIP_AMBIGUOUS_HEADER';
export const WRN_TENANT_MISMATCH = 'WRN_REALIP_TENANT_MISMATCH';
export const WRN_SNAT_SUSPECTED = 'WRN_REALIP_SNAT_SUSPECTED';
export const WRN_INVALID_ENTRY = 'WRN_REALIP_INVALID_ENTRY';
export const WRN_CAP = 'WRN_REALIP_HEADER_CAP';
