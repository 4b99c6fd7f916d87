/**
 * Turns zod issues into messages a user can act on: `what is wrong (got X, expected Y)`, one per
 * problem, with the path of the offending key. Union failures are narrowed to the branch the
 * input was evidently written for (an object with a typo gets "unknown key", not "expected a
 * string"), and unknown keys get a "did you mean".
 */
import type * as z from 'zod/mini';
import { closest, describeValue, type PathSegment } from './paths.js';

/** A problem before it is given a file position. */
export interface Problem {
  path: PathSegment[];
  message: string;
  code?: string;
  /** Point at the key rather than the value (unknown keys). */
  atKey?: boolean;
  /** The problem is an unknown key (a typo, usually). */
  unknownKey?: boolean;
}

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping (key: value)',
  record: 'a mapping (name: value)',
  literal: 'a fixed value',
};

/** Converts zod issues (parsed with `reportInput: true`) into problems. */
export function problemsFromZod(issues: readonly Issue[], root: unknown, schema: AnySchema): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) convert(issue, [], root, schema, out);
  return out;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function convert(
  issue: Issue,
  prefix: PathSegment[],
  root: unknown,
  schema: AnySchema,
  out: Problem[],
): void {
  const path = [...prefix, ...(issue.path as PathSegment[])];
  const input = 'input' in issue ? issue.input : valueAt(root, path);
  const got = describeValue(input, path);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (input === undefined) {
        out.push({ path, message: `missing (expected ${expected})` });
      } else if (issue.expected === 'array' && typeof input === 'string') {
        out.push({
          path,
          message: `wrong type (got ${got}, expected a list; write it as [${input}] or "- ${input}" on its own line)`,
        });
      } else if (issue.expected === 'int' && typeof input === 'number') {
        out.push({ path, message: `not a whole number (got ${got}, expected an integer)` });
      } else {
        out.push({ path, message: `wrong type (got ${got}, expected ${expected})` });
      }
      return;
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => JSON.stringify(v));
      const expected = values.length === 1 ? values[0]! : `one of ${values.join(', ')}`;
      const hint =
        typeof input === 'string'
          ? closest(
              input,
              issue.values.filter((v): v is string => typeof v === 'string'),
            )
          : undefined;
      out.push({
        path,
        message: `not a valid value (got ${got}, expected ${expected})${hint ? `; did you mean "${hint}"?` : ''}`,
      });
      return;
    }
    case 'unrecognized_keys': {
      const present = input && typeof input === 'object' ? Object.keys(input) : [];
      const allowed = allowedKeys(schema, path, present);
      for (const key of issue.keys) {
        const hint = allowed ? closest(key, allowed) : undefined;
        const expected = allowed ? `expected one of ${allowed.join(', ')}` : 'not part of the schema';
        out.push({
          path: [...path, key],
          message: `unknown key (${expected})${hint ? `; did you mean "${hint}"?` : ''}`,
          atKey: true,
          unknownKey: true,
        });
      }
      return;
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const what = issue.code === 'too_small' ? 'too small' : 'too large';
      let expected: string;
      if (issue.origin === 'array') {
        expected = `${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} entr${Number(bound) === 1 ? 'y' : 'ies'}`;
        out.push({
          path,
          message: `${issue.code === 'too_small' ? 'too few entries' : 'too many entries'} (got ${Array.isArray(input) ? input.length : got}, expected ${expected})`,
        });
        return;
      }
      if (issue.origin === 'string') {
        expected =
          issue.code === 'too_small' && Number(bound) === 1
            ? 'a non-empty string'
            : `${op} ${String(bound)} characters`;
        out.push({ path, message: `${what} (got ${got}, expected ${expected})` });
        return;
      }
      out.push({ path, message: `${what} (got ${got}, expected a number ${op} ${String(bound)})` });
      return;
    }
    case 'invalid_format': {
      const custom = !issue.message.startsWith('Invalid');
      out.push({
        path,
        message: `invalid format (got ${got}, ${custom ? issue.message : `expected ${issue.format}`})`,
      });
      return;
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      const msg = inner && !inner.message.startsWith('Invalid') ? inner.message : 'invalid name';
      out.push({ path, message: `invalid name (got ${got}, ${msg})`, atKey: true });
      return;
    }
    case 'invalid_union': {
      // Pick the branch the input was written for: one whose problems are not "this is the
      // wrong kind of value" at the union's own position.
      const branches = issue.errors.filter(
        (errs) =>
          !(
            errs.length === 1 &&
            errs[0]!.path.length === 0 &&
            (errs[0]!.code === 'invalid_type' || errs[0]!.code === 'invalid_value')
          ),
      );
      if (branches.length >= 1) {
        const best = branches.reduce((a, b) => (b.length < a.length ? b : a));
        for (const e of best) convert(e, path, root, schema, out);
        return;
      }
      const expected = issue.message.startsWith('expected')
        ? issue.message.slice('expected '.length)
        : 'another kind of value';
      out.push({
        path,
        message:
          input === undefined
            ? `missing (expected ${expected})`
            : `wrong type (got ${got}, expected ${expected})`,
      });
      return;
    }
    case 'custom':
      out.push({
        path,
        message: issue.message,
        ...(issue.params?.code ? { code: String(issue.params.code) } : {}),
      });
      return;
    default:
      out.push({ path, message: issue.message });
  }
}

/** The keys an object schema at `path` accepts (for "unknown key" hints). */
export function allowedKeys(
  schema: AnySchema,
  path: readonly PathSegment[],
  present: readonly string[] = [],
): string[] | undefined {
  let s: AnySchema | undefined = schema;
  for (const seg of path) {
    s = unwrap(s);
    if (!s) return undefined;
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'object' && typeof seg === 'string') s = (def.shape as Record<string, AnySchema>)[seg];
    else if (def.type === 'array' && typeof seg === 'number') s = def.element as AnySchema;
    else if (def.type === 'record') s = def.valueType as AnySchema;
    else if (def.type === 'union') {
      s = (def.options as AnySchema[]).map(unwrap).find((o) => o && childOf(o, seg) !== undefined);
      s = s && childOf(s, seg);
    } else return undefined;
  }
  s = unwrap(s);
  if (!s) return undefined;
  const keysOf = (o: AnySchema) => Object.keys((o._zod.def as unknown as { shape: object }).shape);
  const objects = objectOptions(s);
  if (objects.length === 0) return undefined;
  // Of a union of objects, the ones the input was written for (sharing a key with it).
  const written = objects.filter((o) => keysOf(o).some((k) => present.includes(k)));
  return [...new Set((written.length ? written : objects).flatMap(keysOf))];
}

function childOf(s: AnySchema, seg: PathSegment): AnySchema | undefined {
  const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
  if (def.type === 'object' && typeof seg === 'string') return (def.shape as Record<string, AnySchema>)[seg];
  if (def.type === 'array' && typeof seg === 'number') return def.element as AnySchema;
  if (def.type === 'record') return def.valueType as AnySchema;
  return undefined;
}

function objectOptions(s: AnySchema): AnySchema[] {
  const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
  if (def.type === 'object') return [s];
  if (def.type === 'union')
    return (def.options as AnySchema[]).map(unwrap).flatMap((o) => (o ? objectOptions(o) : []));
  return [];
}

function unwrap(s: AnySchema | undefined): AnySchema | undefined {
  let cur = s;
  for (let i = 0; i < 10 && cur; i++) {
    const def = cur._zod.def as unknown as Record<string, unknown> & { type: string };
    if (
      def.type === 'optional' ||
      def.type === 'default' ||
      def.type === 'nullable' ||
      def.type === 'readonly'
    ) {
      cur = def.innerType as AnySchema;
    } else if (def.type === 'pipe') {
      cur = def.in as AnySchema;
    } else break;
  }
  return cur;
}

/** Every schema met walking `path` from `schema`, wrappers included (for per-option codes). */
export function schemasAlong(schema: AnySchema, path: readonly PathSegment[]): AnySchema[] {
  const out: AnySchema[] = [];
  let s: AnySchema | undefined = schema;
  const visit = (x: AnySchema | undefined): AnySchema | undefined => {
    let cur = x;
    for (let i = 0; i < 10 && cur; i++) {
      out.push(cur);
      const next = unwrapOnce(cur);
      if (!next) break;
      cur = next;
    }
    return cur;
  };
  s = visit(s);
  for (const seg of path) {
    if (!s) break;
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    let child: AnySchema | undefined;
    if (def.type === 'union') {
      const options = (def.options as AnySchema[]).map(unwrap);
      child = options.map((o) => o && childOf(o, seg)).find((c) => c !== undefined);
    } else child = childOf(s, seg);
    s = visit(child);
  }
  return out;
}

function unwrapOnce(s: AnySchema): AnySchema | undefined {
  const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
  if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'readonly')
    return def.innerType as AnySchema;
  if (def.type === 'pipe') return def.in as AnySchema;
  return undefined;
}
