/**
 * Argument parsing shared by the subcommands: node:util parseArgs in strict mode, with one error
 * type for bad arguments (exit code 2) and help text generated from the same option table.
 */
import { parseArgs } from 'node:util';
import { ConfigError, RealipError } from '../errors.js';

/** Bad command-line arguments: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One option of a subcommand. */
export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Value placeholder for help, e.g. `CIDR`. */
  value?: string;
  /** One line (or a few) of help. */
  description: string;
}

export type CliOptions = Record<string, CliOption>;

/** Parsed values: strings, string arrays (`multiple`) or booleans, keyed by long option name. */
export type CliValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Parses `argv` strictly: unknown options, missing values and stray positionals throw UsageError
 * (positionals are allowed only when `positionals` is true).
 */
export function parseCli(
  argv: readonly string[],
  options: CliOptions,
  config: { positionals?: boolean } = {},
): { values: CliValues; positionals: string[] } {
  const spec: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(options)) {
    spec[name] = { type: o.type };
    if (o.short !== undefined) spec[name].short = o.short;
    if (o.multiple) spec[name].multiple = true;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: spec,
      strict: true,
      allowPositionals: config.positionals ?? false,
    });
    return { values: values as CliValues, positionals };
  } catch (error) {
    if (error instanceof TypeError && typeof (error as { code?: unknown }).code === 'string') {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** The help text: usage line, description, and the option table. */
export function formatHelp(usage: string, description: string, options: CliOptions, footer = ''): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.min(30, Math.max(...rows.map(([flag]) => flag.length)) + 2);
  const lines = rows.map(([flag, text]) => {
    const [first = '', ...rest] = text.split('\n');
    const head =
      flag.length + 2 > width
        ? `  ${flag}\n  ${' '.repeat(width)}${first}`
        : `  ${flag.padEnd(width)}${first}`;
    return [head, ...rest.map((l) => `  ${' '.repeat(width)}${l}`)].join('\n');
  });
  return `Usage: ${usage}\n\n${description}\n\nOptions:\n${lines.join('\n')}\n${footer ? `\n${footer}\n` : ''}`;
}

/** The last value of a string option (a repeated single-valued flag: the last one wins). */
export function stringValue(values: CliValues, name: string): string | undefined {
  const v = values[name];
  if (Array.isArray(v)) {
    const last = v[v.length - 1];
    return typeof last === 'string' ? last : undefined;
  }
  return typeof v === 'string' ? v : undefined;
}

/** Every value of a repeatable string option, in order. */
export function stringValues(values: CliValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

/** A non-negative integer flag (`--hops 2`), or UsageError. */
export function integerValue(values: CliValues, name: string): number | undefined {
  const raw = stringValue(values, name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw))
    throw new UsageError(`--${name}: expected a non-negative integer, got "${raw}"`);
  return Number(raw);
}

/**
 * Parses an HTTP header line `Name: value` (curl's `-H` syntax). The name must be an RFC 9110
 * token; the value is trimmed of surrounding whitespace.
 */
export function parseHeaderLine(line: string, flag: string): { name: string; value: string } {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`${flag}: expected "Name: value", got "${line}"`);
  const name = line.slice(0, colon).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError(`${flag}: invalid header name "${name}" in "${line}"`);
  }
  return { name, value: line.slice(colon + 1).trim() };
}

/**
 * Prints an error the way every subcommand does and returns its exit code: usage and configuration
 * errors (2) are one line each, without a stack trace; anything else is a runtime failure (1).
 * `flags` maps an option's top-level key to the flag that sets it, for ConfigError lines.
 */
export function reportCliError(
  command: string,
  error: unknown,
  stderr: NodeJS.WritableStream,
  flags: Readonly<Record<string, string>> = {},
): number {
  if (error instanceof UsageError) {
    stderr.write(`realip ${command}: ${error.message}\nRun realip ${command} --help for usage.\n`);
    return 2;
  }
  if (error instanceof ConfigError) {
    stderr.write(`realip ${command}: invalid options (${error.code}):\n`);
    for (const issue of error.issues) {
      // The option's top-level key names the flag that set it: `trustedProxies[1] (--trust)`.
      const key = /^[A-Za-z]+/.exec(issue.path)?.[0];
      const flag =
        key !== undefined && Object.prototype.hasOwnProperty.call(flags, key) ? ` (${flags[key]})` : '';
      stderr.write(`  ${issue.path ? `${issue.path}${flag}: ` : ''}${issue.message}\n`);
    }
    return 2;
  }
  if (error instanceof RealipError) {
    stderr.write(`realip ${command}: ${error.code}: ${error.message}\n`);
    return 2;
  }
  stderr.write(
    `realip ${command}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}
