/**
 * Reading a policy: text -> YAML document -> schema -> semantic checks -> (files) -> a frozen
 * `Policy`. Every problem of every phase is collected and reported at once, each as
 * `file:line: path: what is wrong (got X, expected Y)`. A user mistake is a `PolicyError`, never
 * a stack trace.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { ConfigError } from '../errors.js';
import { PolicyError, parsePath, pathToString, type PathSegment, type PolicyIssue } from './errors.js';
import { checkPolicyFiles } from './files.js';
import { policySchema, EMBEDDED_GEO, REDIS_TLS_FILES, type Policy } from './schema.js';
import { readPolicySource } from './source.js';
import { validatePolicyData } from './validate.js';
import { problemsFromZod, type Problem } from '../spec/issues.js';

export interface ParsePolicyOptions {
  /** Shown in messages and used to resolve relative paths. @default '<policy>' */
  filename?: string;
  /** Directory relative file paths are resolved against. @default the directory of `filename`, else the cwd */
  baseDir?: string;
}

/** The outcome of checking a policy without throwing. */
export interface PolicyCheck {
  /** The validated policy, when there were no problems. */
  policy: Policy | undefined;
  issues: PolicyIssue[];
  /** Maps an option path to its file position (for errors found later, e.g. by a stage constructor). */
  locate(path: string | readonly PathSegment[]): PolicyIssue;
}

/** Validates policy text and returns every problem (never throws for bad input). */
export function checkPolicyText(text: string, options: ParsePolicyOptions = {}): PolicyCheck {
  const file = options.filename ?? '<policy>';
  const baseDir =
    options.baseDir ?? (options.filename ? dirname(resolvePath(options.filename)) : process.cwd());
  const source = readPolicySource(text);
  const issues: PolicyIssue[] = [];
  const at = (p: Problem): PolicyIssue => {
    const pos = source.locate(p.path, { key: p.atKey === true });
    return {
      file,
      line: pos.line,
      column: pos.column,
      path: pathToString(p.path),
      message: p.message,
      code: p.code ?? 'ERR_REALIP_POLICY_INVALID',
    };
  };
  const locate = (path: string | readonly PathSegment[]): PolicyIssue =>
    at({ path: typeof path === 'string' ? parsePath(path) : [...path], message: '' });

  if (source.syntaxErrors.length > 0) {
    for (const e of source.syntaxErrors) {
      issues.push({
        file,
        line: e.line,
        column: e.column,
        path: '',
        message: e.message,
        code: 'ERR_REALIP_POLICY_SYNTAX',
      });
    }
    return { policy: undefined, issues, locate };
  }
  const data = source.data;
  if (data === undefined || data === null) {
    issues.push({
      file,
      line: 0,
      column: 0,
      path: '',
      message: 'empty policy (expected a mapping with resolve, access, rateLimit, ...; see `realip schema`)',
      code: 'ERR_REALIP_POLICY_INVALID',
    });
    return { policy: undefined, issues, locate };
  }
  const result = policySchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    for (const p of problemsFromZod(result.error.issues, data, policySchema)) issues.push(at(p));
  }
  // Semantic checks run on the raw data too, so a typo in one section does not hide a broken
  // reference in another.
  if (typeof data === 'object' && !Array.isArray(data)) {
    for (const p of validatePolicyData(data as Record<string, unknown>)) issues.push(at(p));
  } else {
    issues.length = 0;
    issues.push({
      ...at({ path: [], message: '' }),
      path: '',
      message: `wrong type (got ${Array.isArray(data) ? 'a list' : JSON.stringify(data)}, expected a mapping with resolve, access, rateLimit, ...)`,
    });
  }
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  if (issues.length > 0 || !result.success) return { policy: undefined, issues, locate };
  const policy = normalise(result.data, baseDir);
  SOURCES.set(policy, {
    locate: (path) => {
      const i = locate(path);
      return { file: i.file, line: i.line, column: i.column };
    },
  });
  return { policy, issues, locate };
}

/** Where a parsed policy came from, so errors found later (stage constructors) get a line. */
export interface PolicySourceInfo {
  locate(path: readonly PathSegment[]): { file: string; line: number; column: number };
}

const SOURCES = new WeakMap<Policy, PolicySourceInfo>();

/** The source of a policy returned by `parsePolicy`/`loadPolicyFile` (undefined for one built in code). */
export function policySource(policy: Policy): PolicySourceInfo | undefined {
  return SOURCES.get(policy);
}

/** Absolute paths, upper-case country codes, lower-case header names; frozen. */
function normalise(policy: Policy, baseDir: string): Policy {
  const abs = (p: string) => (isAbsolute(p) ? p : resolvePath(baseDir, p));
  const upper = (list: readonly string[] | undefined) => list?.map((c) => c.toUpperCase());
  const out: Policy = structuredClone(policy);
  delete out.$schema;
  for (const list of Object.values(out.lists ?? {})) if ('file' in list) list.file = abs(list.file);
  if (out.geo) {
    const fix = (d: string) => (d === EMBEDDED_GEO ? d : abs(d));
    out.geo.databases = out.geo.databases.map((d) =>
      typeof d === 'string' ? fix(d) : { ...d, path: fix(d.path) },
    );
  }
  if (out.log?.hmacKeyFile) out.log.hmacKeyFile = abs(out.log.hmacKeyFile);
  const tls = out.rateLimit?.redis?.tls;
  if (tls) for (const k of REDIS_TLS_FILES) if (tls[k]) tls[k] = abs(tls[k]);
  if (out.resolve?.header) out.resolve.header = out.resolve.header.toLowerCase();
  if (out.access?.countries) {
    const c = out.access.countries;
    if (c.allow) c.allow = upper(c.allow);
    if (c.deny) c.deny = upper(c.deny);
  }
  for (const tier of out.rateLimit?.tiers ?? []) if (tier.countries) tier.countries = upper(tier.countries);
  // The schema takes these in any case (as documented); the stages want one case.
  if (Array.isArray(out.metrics?.countries)) out.metrics.countries = upper(out.metrics.countries);
  if (out.log?.headers) out.log.headers = out.log.headers.map((h) => h.toLowerCase());
  if (out.log?.requestIdHeader) out.log.requestIdHeader = out.log.requestIdHeader.toLowerCase();
  return deepFreeze(out);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses and validates policy text (YAML or JSON). Throws a {@link PolicyError} listing every
 * problem as `file:line: path: message`. Referenced files (lists, databases) are not read: use
 * {@link loadPolicyFile} for that.
 */
export function parsePolicy(text: string, options: ParsePolicyOptions = {}): Policy {
  const check = checkPolicyText(text, options);
  if (!check.policy) throw new PolicyError(check.issues);
  return check.policy;
}

/** Like {@link checkPolicyText}, for a file on disk, including the files it refers to. */
export async function checkPolicyFile(path: string): Promise<PolicyCheck & { text?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const issue: PolicyIssue = {
      file: path,
      line: 0,
      column: 0,
      path: '',
      message: `cannot read the policy file (${code})`,
      code: 'ERR_REALIP_POLICY_READ',
    };
    return { policy: undefined, issues: [issue], locate: () => issue };
  }
  const check = checkPolicyText(text, { filename: path });
  if (check.policy) {
    const problems = await checkPolicyFiles(check.policy);
    if (problems.length > 0) {
      const issues = problems.map((p) => ({
        ...check.locate(p.path),
        message: p.message,
        code: p.code ?? 'ERR_REALIP_POLICY_FILE',
      }));
      return { policy: undefined, issues, locate: check.locate, text };
    }
  }
  return { ...check, text };
}

/**
 * Reads, parses and validates a policy file, and checks the files it refers to. Relative paths
 * in the policy are resolved against the file's directory. Throws a {@link PolicyError}.
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  const check = await checkPolicyFile(path);
  if (!check.policy) throw new PolicyError(check.issues);
  return check.policy;
}

/**
 * Maps an error thrown while building the stack from a policy (a stage constructor's
 * `ConfigError` with paths such as `rateLimit.tiers[1].limits[0].points`) to file positions.
 * Other errors are returned unchanged.
 */
export function mapConfigError(
  error: unknown,
  check: Pick<PolicyCheck, 'locate'>,
  section?: string,
): unknown {
  if (error instanceof PolicyError || !(error instanceof ConfigError)) return error;
  const full = (p: string) =>
    section === undefined || p === section || p.startsWith(`${section}.`) || p.startsWith(`${section}[`)
      ? p
      : p
        ? p.startsWith('[')
          ? `${section}${p}`
          : `${section}.${p}`
        : section;
  return new PolicyError(
    error.issues.map((i) => {
      const path = full(i.path);
      return { ...check.locate(path), path, message: i.message, code: i.code ?? error.code };
    }),
  );
}

export { PolicyError };
