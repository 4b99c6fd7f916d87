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

/** Emits each code once, then counts. */
export class WarningEmitter {
  private readonly seen = new Map<string, { message: string; count: number }>();
  private readonly handler: WarningHandler;

  constructor(onWarning?: WarningHandler) {
    this.handler = onWarning ?? defaultHandler;
  }

  /** Reports `code` the first time; later calls only count. Never throws. */
  emit(code: string, message: string): void {
    const entry = this.seen.get(code);
    if (entry !== undefined) {
      entry.count++;
      return;
    }
    this.seen.set(code, { message, count: 1 });
    try {
      this.handler(new Warning(code, message, warningHelp(code), 1));
    } catch {
      // A failing warning handler must not fail the request that triggered the warning.
    }
  }

  /**
   * Counts another occurrence of an already reported code and returns true; returns false for a
   * code not seen yet (the caller then builds the message and calls `emit`). Keeps message
   * formatting off the path of repeated warnings.
   */
  bump(code: string): boolean {
    const entry = this.seen.get(code);
    if (entry === undefined) return false;
    entry.count++;
    return true;
  }

  /** How many times `code` was seen (0 if never). */
  count(code: string): number {
    return this.seen.get(code)?.count ?? 0;
  }

  /** Every code seen so far, with its first message and count. */
  list(): RealipWarning[] {
    const out: RealipWarning[] = [];
    for (const [code, e] of this.seen) out.push(new Warning(code, e.message, warningHelp(code), e.count));
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
