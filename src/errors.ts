/**
 * Errors thrown by realip. Request data never throws: these are for configuration and programmer
 * errors, raised once at construction. Every code has a section in docs/errors.md.
 */

/** Base class: a stable `code` (`ERR_REALIP_*`) and a link to the docs section that explains it. */
export class RealipError extends Error {
  readonly code: string;
  /** Where to read more (a docs/errors.md anchor). */
  readonly help: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RealipError';
    this.code = code;
    this.help = `docs/errors.md#${code.toLowerCase().replace(/_/g, '-')}`;
  }
}

/** One problem in a configuration: where it is, what is wrong. */
export interface ConfigIssue {
  /** Dotted path to the option, e.g. `resolve.trustedProxies[2]`. */
  readonly path: string;
  /** What is wrong and what to do, e.g. `invalid CIDR "10.0.0/8" (expected a.b.c.d/n)`. */
  readonly message: string;
  /** A specific code when the problem has one (e.g. `ERR_REALIP_TRUST_ALL`). */
  readonly code?: string;
}

/**
 * Invalid options. Lists every problem found, not just the first:
 * `resolve.trustedProxies[2]: invalid CIDR "10.0.0/8" (expected a.b.c.d/n)`.
 * `code` is the issue's own code when there is exactly one kind of problem, else `ERR_REALIP_CONFIG`.
 */
export class ConfigError extends RealipError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const codes = new Set(issues.map((i) => i.code ?? 'ERR_REALIP_CONFIG'));
    const code = codes.size === 1 ? [...codes][0]! : 'ERR_REALIP_CONFIG';
    const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    super(code, lines.length === 1 ? lines[0]! : `${lines.length} problems:\n  ${lines.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Collects issues during validation; throws them all at once. */
export class IssueCollector {
  readonly issues: ConfigIssue[] = [];

  add(path: string, message: string, code?: string): void {
    this.issues.push(code === undefined ? { path, message } : { path, message, code });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }

  throwIfAny(): void {
    if (this.issues.length > 0) throw new ConfigError(this.issues);
  }
}

/** Joins an option path and a child key or index: `joinPath('a', 2)` is `a[2]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}
