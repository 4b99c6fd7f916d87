/**
 * The machinery every stage spec is built with. A stage's `spec.ts` defines each option once, as a
 * zod schema with its documentation (`opt()`): the programmatic factory (`createResolver`, ...) and
 * the policy file both validate through it, the JSON Schema and the generated tables in
 * docs/configuration.md come from it, and the drift tests (test/spec/drift-*.test.ts) walk it.
 *
 * Why zod/mini, bundled: the core entry validates its options through the specs, so it loads the
 * validator. zod's classic build costs about 90 ms of import time on its own (bench/import-cost.mjs);
 * zod/mini, tree-shaken and bundled into dist (tsup `noExternal`, each spec importing `zod/mini`
 * directly so esbuild can drop what is unused), is a 145 KB shared chunk that costs about 12 ms.
 * Generating validators at build time would save those 12 ms but needs a code generator of our own;
 * bench/RESULTS.md ("Import cost") has the figures. Its schemas are zod core schemas, so the policy
 * composes them and `toJSONSchema` reads their documentation.
 *
 * Validation happens once, at construction; nothing here runs per request.
 */
import * as z from 'zod/mini';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { problemsFromZod, schemasAlong, type Problem } from './issues.js';
import { pathToString, type PathSegment } from './paths.js';

/** A zod schema of any build. */
export type Schema = z.core.$ZodType;

/** An option's documentation: the JSON Schema and the docs tables are generated from it. */
export interface OptionDoc {
  /** One or two sentences; where the option touches security, why. */
  description: string;
  /** The default (documentation: the factory applies it with `defaultsOf()`). */
  default?: unknown;
  examples?: readonly unknown[];
  /** The error code for problems with this option (else `ERR_REALIP_OPTION_INVALID`). */
  code?: string;
  /** The option's id in the JSON Schema's `$defs` (shared shapes such as `IpRule`). */
  id?: string;
  title?: string;
}

const CODES = new WeakMap<Schema, string>();

/** Attaches documentation (and an error code) to a schema; returns the same schema. */
export function doc<T extends Schema>(schema: T, d: OptionDoc): T {
  const { code, ...meta } = d;
  if (code !== undefined) CODES.set(schema, code);
  z.globalRegistry.add(schema, meta as z.core.GlobalMeta);
  return schema;
}

/** An optional option with its documentation. */
export function opt<T extends Schema>(schema: T, d: OptionDoc): z.ZodMiniOptional<T> {
  if (d.code !== undefined) CODES.set(schema, d.code);
  return doc(z.optional(schema), d);
}

/** The documented defaults of an object schema's options (`default` in their docs). */
export function defaultsOf(schema: Schema): Record<string, unknown> {
  const def = schema._zod.def as unknown as { type: string; shape?: Record<string, Schema> };
  const out: Record<string, unknown> = {};
  if (def.type !== 'object' || !def.shape) return out;
  for (const [key, child] of Object.entries(def.shape)) {
    const meta = z.globalRegistry.get(child);
    if (meta && meta.default !== undefined) out[key] = meta.default;
  }
  return out;
}

/** The code for a problem at `path`: the innermost option along it that declares one. */
export function codeAt(schema: Schema, path: readonly PathSegment[]): string | undefined {
  let code: string | undefined;
  for (const s of schemasAlong(schema, path)) code = CODES.get(s) ?? code;
  return code;
}

/** Joins a base path (`resolve`) and a problem's segments into `resolve.trustedProxies[2]`. */
function fullPath(base: string, path: readonly PathSegment[]): string {
  const rest = pathToString(path);
  if (!base) return rest;
  if (!rest) return base;
  return rest.startsWith('[') ? base + rest : `${base}.${rest}`;
}

/** Converts problems into the issues of a ConfigError, with codes from the spec. */
export function configIssues(schema: Schema, problems: readonly Problem[], base: string): ConfigIssue[] {
  return problems.map((p) => ({
    path: fullPath(base, p.path),
    message: p.message,
    code:
      p.code ??
      (p.unknownKey ? 'ERR_REALIP_OPTION_UNKNOWN' : (codeAt(schema, p.path) ?? 'ERR_REALIP_OPTION_INVALID')),
  }));
}

/** Validates input against a spec; every problem found is reported. */
export function checkOptions(schema: Schema, input: unknown, base: string): ConfigIssue[] {
  const r = z.safeParse(schema, input, { reportInput: true });
  if (r.success) return [];
  return configIssues(schema, problemsFromZod(r.error.issues, input, schema), base);
}

/**
 * Validates a factory's options against its spec and returns them with the documented defaults
 * filled in (top level). Throws a ConfigError listing every problem, each path under `base`.
 */
export function parseOptions<S extends Schema>(
  schema: S,
  input: unknown,
  base: string,
  ...more: readonly (() => unknown)[]
): z.output<S> & Record<string, unknown> {
  const r = z.safeParse(schema, input === undefined ? {} : input, { reportInput: true });
  const found = r.success ? [] : configIssues(schema, problemsFromZod(r.error.issues, input, schema), base);
  // Checks delegated to another stage's factory (an anonymiser, a store): their problems are
  // reported together with this spec's, not one ConfigError at a time.
  for (const check of more) {
    try {
      check();
    } catch (error) {
      if (error instanceof ConfigError) found.push(...error.issues);
      else throw error;
    }
  }
  if (found.length > 0 || !r.success) throw new ConfigError(found);
  const data = r.data as Record<string, unknown>;
  const out: Record<string, unknown> = { ...defaultsOf(schema) };
  for (const key of Object.keys(data)) if (data[key] !== undefined) out[key] = data[key];
  return out as z.output<S> & Record<string, unknown>;
}

/**
 * A cross-field rule: reads the parsed object and reports problems at their own paths. Rules live in
 * the spec next to the options they relate, and run for the factory and the policy alike.
 *
 * Rules run even when an option already has a problem of its own (zod would skip them), so one
 * error lists every problem; each rule therefore reads the values it needs defensively (a field
 * may hold the wrong type).
 */
export type Rule<T> = (
  value: T,
  report: (path: PathSegment[], message: string, code?: string) => void,
) => void;

/** Turns rules into a zod check (issues carry their code as `params.code`). */
export function rules<T>(...list: readonly Rule<T>[]): z.core.$ZodCheck<T> {
  return z.superRefine<T>(
    (value, ctx) => {
      const report = (path: PathSegment[], message: string, code?: string) =>
        ctx.addIssue({ code: 'custom', path, message, input: value, ...(code ? { params: { code } } : {}) });
      for (const rule of list) rule(value, report);
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  );
}

/** A value the policy file cannot hold (a function, a logger, a store): checked by a predicate. */
export function runtime<T>(what: string, is: (v: unknown) => boolean): z.ZodMiniCustom<T, T> {
  return z.custom<T>(is, { error: (iss) => `expected ${what} (got ${describeKind(iss.input)})` });
}

function describeKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  return typeof v;
}

export const isFunction = (v: unknown): boolean => typeof v === 'function';

/**
 * Compile-time check that an options interface (which carries the TSDoc users see) names exactly
 * the options its spec defines: `const _k: SameKeys<Options, z.input<typeof spec>> = true`.
 */
export type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never]
  ? true
  : { onlyInInterface: Exclude<keyof A, keyof B>; onlyInSpec: Exclude<keyof B, keyof A> };
