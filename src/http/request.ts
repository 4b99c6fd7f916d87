/**
 * The seam between node:http-shaped requests and the core resolver, shared by every adapter
 * (Express, Fastify, plain node:http). Reads only `req.socket.remoteAddress` and `req.headers`:
 * never `req.ip`, `req.ips` or a framework's trust setting, because the resolver is the one source
 * of truth about the client.
 */
import type { IncomingMessage } from 'node:http';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Resolution, ResolveInput, ResolverOptions, WarningHandler } from '../types.js';
import { createResolver } from '../resolve/resolver.js';
import { WarningEmitter } from '../core/warnings.js';

/**
 * Anything that resolves like `createResolver()`'s result. Adapters accept a prebuilt resolver so
 * one compiled configuration (and one set of warning counters) can serve several apps.
 */
export interface ResolverLike {
  resolve(input: ResolveInput): Resolution;
  /** The resolver's warning channel (once per code, then counted); adapters report through it. */
  warn?(code: string, message: string): void;
}

/** The code of an adapter option with the wrong type or combination (as the resolver's own). */
const OPTION_INVALID = 'ERR_REALIP_OPTION_INVALID';

/** Reports an adapter warning: once per code, then counted. @internal */
export type WarnFn = (code: string, message: string) => void;

/** Options of {@link createRequestResolver}: the resolver's options, or `{ resolver }` to reuse one. */
export type RequestResolverOptions = ResolverOptions | { resolver: ResolverLike };

/** True for an object with a `resolve` function (a resolver), false for plain options. */
export function isResolverLike(value: unknown): value is ResolverLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { resolve?: unknown }).resolve === 'function'
  );
}

/**
 * Splits adapter options into the resolver and the adapter's own keys, validating both once.
 *
 * `input` may be a resolver, `{ resolver, ...adapterKeys }`, or `{ ...resolverOptions, ...adapterKeys }`.
 * `adapterKeys` lists the keys the adapter consumes (they are not passed to `createResolver`, which
 * rejects unknown keys). `ignoredKeys` are dropped silently (e.g. Fastify's `prefix`, `logLevel`).
 * @internal
 */
export function splitAdapterOptions(
  input: unknown,
  adapterKeys: readonly string[],
  ignoredKeys: readonly string[] = [],
): {
  resolver: ResolverLike;
  adapter: Record<string, unknown>;
  warn: WarnFn;
} {
  if (isResolverLike(input)) {
    return { resolver: input, adapter: {}, warn: warnerFor(input, undefined) };
  }
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw new ConfigError([
      {
        path: '',
        message: `options must be an object or a resolver from createResolver(), got ${describe(input)}`,
        code: OPTION_INVALID,
      },
    ]);
  }
  const source = (input ?? {}) as Record<string, unknown>;
  const adapter: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    if (adapterKeys.includes(key)) adapter[key] = source[key];
    else if (!ignoredKeys.includes(key)) rest[key] = source[key];
  }
  const onWarning = typeof rest.onWarning === 'function' ? (rest.onWarning as WarningHandler) : undefined;
  if ('resolver' in rest) {
    const issues: ConfigIssue[] = [];
    if (!isResolverLike(rest.resolver)) {
      issues.push({
        path: 'resolver',
        message: `must be a resolver from createResolver(), got ${describe(rest.resolver)}`,
        code: OPTION_INVALID,
      });
    }
    for (const key of Object.keys(rest)) {
      if (key !== 'resolver' && key !== 'onWarning') {
        issues.push({
          path: key,
          message:
            'resolver options cannot be combined with a prebuilt `resolver`: configure it in createResolver()',
          code: OPTION_INVALID,
        });
      }
    }
    if (issues.length > 0) throw new ConfigError(issues);
    const resolver = rest.resolver as ResolverLike;
    return { resolver, adapter, warn: warnerFor(resolver, onWarning) };
  }
  // Paths relative to the options object the user passed (`trustedProxies[2]`), not `resolve.`.
  const resolver = createResolver(rest as ResolverOptions, { path: '' });
  return { resolver, adapter, warn: warnerFor(resolver, undefined) };
}

/**
 * Where adapter warnings go: an explicit `onWarning` next to a prebuilt resolver, else the
 * resolver's own channel (so every warning of one configuration is counted in one place), else
 * `process.emitWarning`, once per code.
 */
function warnerFor(resolver: ResolverLike, onWarning: WarningHandler | undefined): WarnFn {
  if (onWarning === undefined && typeof resolver.warn === 'function') {
    return (code, message) => resolver.warn!(code, message);
  }
  const emitter = new WarningEmitter(onWarning);
  return (code, message) => emitter.emit(code, message);
}

/** Reads an optional boolean adapter option, collecting an issue when it has another type. @internal */
export function booleanOption(
  adapter: Record<string, unknown>,
  key: string,
  fallback: boolean,
  issues: ConfigIssue[],
): boolean {
  const value = adapter[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    issues.push({ path: key, message: `must be a boolean, got ${describe(value)}`, code: OPTION_INVALID });
    return fallback;
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value;
}

/**
 * Resolves a node:http request. The input object is built per call (two fields): the resolver may
 * keep it for `explain()`, so it is never reused across requests.
 * @internal
 */
export function resolveIncoming(resolver: ResolverLike, req: IncomingMessage): Resolution {
  // `req.socket` is null only on a request object that was never attached to a connection (tests,
  // some proxies' synthetic requests); that peer is undeterminable, never "localhost".
  const socket = req.socket as IncomingMessage['socket'] | null;
  return resolver.resolve({
    remoteAddress: socket === null ? undefined : socket.remoteAddress,
    headers: req.headers,
  });
}

/**
 * Creates a request resolver for any `node:http` (or `node:https`, `node:http2` compat) server:
 * `(req) => Resolution`. Everything is compiled here; each call only resolves.
 *
 * ```ts
 * const resolveClient = createRequestResolver({ trustedProxies: ['10.0.0.0/8'] });
 * http.createServer((req, res) => res.end(resolveClient(req).ip ?? 'unknown'));
 * ```
 * @throws ConfigError when the options are invalid (every problem at once).
 */
export function createRequestResolver(
  options?: RequestResolverOptions | ResolverLike,
): (req: IncomingMessage) => Resolution {
  const { resolver } = splitAdapterOptions(options, []);
  return function resolveRequest(req: IncomingMessage): Resolution {
    return resolveIncoming(resolver, req);
  };
}
