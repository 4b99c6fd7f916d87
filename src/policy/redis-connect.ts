/**
 * The Redis connection a policy describes for `rateLimit.store: redis`, as an ioredis client the
 * stack owns: one server by URL, the master of a Sentinel-monitored group, or a Redis Cluster.
 *
 * The client fails fast (no offline queue, one retry per command): the rate limiter times out store
 * calls itself and falls back as `storeFailure` says, so queued commands would only arrive late.
 * Sentinel clients follow failovers: ioredis asks the Sentinels for the master on every reconnect,
 * and subscribes to their `+switch-master` so it also leaves a master that hangs without closing.
 */

import { WarningEmitter } from '../core/warnings.js';
import type { WarningHandler } from '../types.js';

/** One `host:port` of a Sentinel or Cluster node list. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Node `tls.connect()` options from `rateLimit.redis.tls` (files already read). */
export interface RedisTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** The connection, with secrets and TLS files already read. */
export type RedisConnectionSpec =
  | { kind: 'url'; url: string; tls?: RedisTls }
  | {
      kind: 'sentinel';
      sentinels: RedisNode[];
      name: string;
      db?: number;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
      tls?: RedisTls;
    }
  | { kind: 'cluster'; nodes: RedisNode[]; username?: string; password?: string; tls?: RedisTls };

/** The part of an ioredis `Redis` or `Cluster` the stack manages. */
export interface RedisClientLike {
  status: string;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** The ioredis module's constructors, as the stack uses them. */
export interface IoredisModule {
  default: unknown;
  Cluster: unknown;
}

const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/**
 * Parses `host:port` or `[v6]:port` (a DNS name, IPv4 or bracketed IPv6; port 1-65535), or returns
 * undefined.
 */
export function parseRedisNode(text: string): RedisNode | undefined {
  const m = HOST.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

const keepName = (address: string, callback: (error: Error | null, address: string) => void): void =>
  callback(null, address);

/** Creates (and starts connecting) the client `spec` describes. Throws what ioredis throws. */
function createRedisConnection(io: IoredisModule, spec: RedisConnectionSpec): RedisClientLike {
  const failFast = { enableOfflineQueue: false, maxRetriesPerRequest: 1 };
  if (spec.kind === 'url') {
    const Redis = io.default as new (url: string, o: object) => RedisClientLike;
    return new Redis(spec.url, { ...failFast, lazyConnect: false, ...(spec.tls ? { tls: spec.tls } : {}) });
  }
  if (spec.kind === 'sentinel') {
    const Redis = io.default as new (o: object) => RedisClientLike;
    return new Redis({
      ...failFast,
      sentinels: spec.sentinels,
      name: spec.name,
      ...(spec.db !== undefined ? { db: spec.db } : {}),
      ...(spec.username !== undefined ? { username: spec.username } : {}),
      ...(spec.password !== undefined ? { password: spec.password } : {}),
      ...(spec.sentinelUsername !== undefined ? { sentinelUsername: spec.sentinelUsername } : {}),
      ...(spec.sentinelPassword !== undefined ? { sentinelPassword: spec.sentinelPassword } : {}),
      // Follow the Sentinels' +switch-master: a master that hangs rather than closing its
      // connections (a partition, a stopped process) would otherwise keep the client forever.
      failoverDetector: true,
      ...(spec.tls ? { tls: spec.tls, sentinelTLS: spec.tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  const Cluster = io.Cluster as new (nodes: RedisNode[], o: object) => RedisClientLike;
  const auth = {
    ...(spec.username !== undefined ? { username: spec.username } : {}),
    ...(spec.password !== undefined ? { password: spec.password } : {}),
    ...(spec.tls ? { tls: spec.tls } : {}),
  };
  return new Cluster(spec.nodes, {
    enableOfflineQueue: false,
    redisOptions: { ...failFast, ...auth },
    // With TLS, connect to seed nodes by the name given, not by an address ioredis resolved: the
    // certificate names the host (managed clusters such as ElastiCache), and verification stays on.
    ...(spec.tls ? { dnsLookup: keepName } : {}),
  });
}

/** Waits until the client is ready, or `ms` passed (then requests use `storeFailure` until it is). */
export function waitReady(c: RedisClientLike, ms: number): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      c.removeListener('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    c.once('ready', done);
  });
}

/**
 * Closes the client: QUIT (pending replies first), or a plain disconnect when the server does not
 * answer within `ms` (a hung or partitioned server must not hold up shutdown or a policy reload).
 */
export async function closeRedis(c: RedisClientLike, ms = 1000): Promise<void> {
  // ioredis listens for one 'error' per socket; a TLS socket torn down mid-handshake can emit a
  // second (the server's alert after ours), which would be an uncaught exception. An error on a
  // socket being closed tells nothing: swallow it.
  (c as { stream?: { on?(event: 'error', listener: () => void): unknown } }).stream?.on?.('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    if ((await Promise.race([c.quit(), late])) === 'late') c.disconnect();
  } catch {
    c.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/** A connection error of the stack's own Redis client (docs/errors.md). */
const WRN_REDIS_CONNECTION = 'WRN_REALIP_REDIS_CONNECTION';

/**
 * Reports the client's connection errors (a wrong password, an untrusted certificate, unreachable
 * Sentinels) as `WRN_REALIP_REDIS_CONNECTION`, which store calls alone would only show as "not
 * ready": each different error once, and again after the client was ready in between.
 * The client retries every few hundred milliseconds; repeats of the same error are only counted.
 * Retry delays in ioredis' messages do not make an error a different one. Returns the errors
 * reported since the client was last ready.
 */
function reportConnectionErrors(
  c: RedisClientLike,
  onWarning: WarningHandler | undefined,
  storeFailure: string,
): () => readonly string[] {
  const warnings = new WarningEmitter(onWarning);
  // Errors reported since the client was last ready, by their text without retry delays (bounded:
  // past 16, new ones are dropped).
  const seen = new Map<string, string>();
  const report = (error: unknown, node?: unknown) => {
    const text = error instanceof Error ? error.message : String(error);
    const same = text.replace(/\d+ ?ms\b/g, 'N ms');
    if (warnings.bump(same) || seen.size >= 16) return;
    const message = typeof node === 'string' ? `${node}: ${text}` : text;
    seen.set(same, message);
    warnings.emit(
      WRN_REDIS_CONNECTION,
      `rateLimit.redis: ${message} (requests are decided by storeFailure "${storeFailure}" until Redis answers)`,
      same,
    );
  };
  c.on('error', (error: unknown) => report(error));
  // A Cluster reports each node's own error (the TLS or auth failure) as 'node error'; its 'error'
  // then only says "Failed to refresh slots cache.".
  c.on('node error', (error: unknown, node: unknown) => report(error, node));
  c.on('ready', () => {
    for (const same of seen.keys()) warnings.forget(same);
    seen.clear();
  });
  return () => [...seen.values()];
}

/** A Redis client a policy stack created, and the connection errors it reported since it was ready. */
export interface OwnedRedis {
  readonly client: RedisClientLike;
  errors(): readonly string[];
}

/** Creates the client `spec` describes and reports its connection errors (see above). */
export function ownRedis(
  io: IoredisModule,
  spec: RedisConnectionSpec,
  onWarning: WarningHandler | undefined,
  storeFailure: string,
): OwnedRedis {
  const client = createRedisConnection(io, spec);
  return { client, errors: reportConnectionErrors(client, onWarning, storeFailure) };
}
