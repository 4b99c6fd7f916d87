/**
 * Redis options, defined once: `createRedisStore` (realip/redis) validates through `redisStoreSpec`,
 * and the policy file's `rateLimit.redis` connection (policy only: code passes a client) is
 * `redisConnectionPolicy`, used by the rate-limit spec (./spec.ts). See src/spec/spec.ts.
 */
import { parseRedisNode } from '../policy/redis-connect.js';
import { ENV_NAME } from '../spec/common.js';
import * as z from 'zod/mini';
import { doc, isFunction, opt, runtime, type Rule, type SameKeys } from '../spec/spec.js';
import type { IoredisLike, NodeRedisLike } from '../redis/index.js';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined;

// ---------------------------------------------------------------------------------------------
// the policy's Redis connection (policy only: code passes a client to createRedisStore)
// ---------------------------------------------------------------------------------------------

/** The keys of `rateLimit.redis.tls` that name files (relative to the policy file). */
export const REDIS_TLS_FILES = ['caFile', 'certFile', 'keyFile'] as const;

const envName = () =>
  z.string().check(z.regex(ENV_NAME, 'expected an environment variable name (letters, digits and _)'));

const redisNodes = () =>
  z
    .array(
      z.string().check(
        z.refine((s) => parseRedisNode(s) !== undefined, {
          error: 'not a host:port (expected e.g. redis-sentinel:26379, 10.0.0.5:6379 or [fd00::5]:6379)',
        }),
      ),
    )
    .check(z.minLength(1), z.maxLength(64));

const REDIS_MODES = ['url', 'urlEnv', 'sentinels', 'cluster'] as const;
/** Options that belong to one connection mode (the others reject them). */
const REDIS_MODE_OPTIONS: Record<string, readonly string[]> = {
  name: ['sentinels'],
  db: ['sentinels'],
  sentinelUsername: ['sentinels'],
  sentinelPasswordEnv: ['sentinels'],
  username: ['sentinels', 'cluster'],
  passwordEnv: ['sentinels', 'cluster'],
};

/** Exactly one connection mode, and only that mode's options; a client certificate has its key. */
export const redisConnection: Rule<unknown> = (value, report) => {
  const conn = rec(value);
  if (!conn) return;
  const modes = REDIS_MODES.filter((m) => conn[m] !== undefined);
  if (modes.length !== 1) {
    report(
      [],
      modes.length === 0
        ? 'needs a connection (got none of url, urlEnv, sentinels, cluster; expected exactly one)'
        : `needs exactly one connection (got ${modes.join(' and ')}; expected one of url, urlEnv, sentinels, cluster)`,
    );
  }
  if (conn.sentinels !== undefined && conn.name === undefined)
    report(['name'], 'sentinels need the master group name (got none, expected e.g. name: mymaster)');
  const tls = rec(conn.tls);
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    report(
      ['tls', tls.certFile === undefined ? 'certFile' : 'keyFile'],
      'a client certificate needs both certFile and keyFile (got one of them)',
    );
  }
  const mode = modes.length === 1 ? modes[0]! : undefined;
  for (const [key, modesOf] of Object.entries(REDIS_MODE_OPTIONS)) {
    if (conn[key] === undefined || mode === undefined || modesOf.includes(mode)) continue;
    const why =
      (mode === 'url' || mode === 'urlEnv') && (key === 'username' || key === 'passwordEnv' || key === 'db')
        ? 'a URL carries its own user, password and database'
        : `it applies to ${modesOf.join(' or ')} only`;
    report([key], `is not used with ${mode} (${why}; remove it)`);
  }
};

const redisTls = doc(
  z.strictObject({
    caFile: opt(z.string().check(z.minLength(1)), {
      description:
        "PEM file of the CA(s) that signed the servers' certificates, instead of Node's trusted roots (private CAs, self-managed Redis).",
    }),
    certFile: opt(z.string().check(z.minLength(1)), {
      description:
        'PEM client certificate, for servers that verify clients (`tls-auth-clients yes`); with `keyFile`.',
    }),
    keyFile: opt(z.string().check(z.minLength(1)), { description: 'PEM private key of `certFile`.' }),
    serverName: opt(z.string().check(z.minLength(1), z.maxLength(253)), {
      description:
        'Name to verify the server certificate against (and send as SNI), when it is not the host connected to.',
    }),
  }),
  {
    description:
      'TLS to Redis (`tls: {}` for defaults); a `rediss://` URL turns TLS on too. With `sentinels` it applies to the Sentinels and the data nodes. Certificates are always verified. Paths are relative to the policy file; the files are watched, and a rotated certificate is used without a policy change.',
  },
);

/** The policy's `rateLimit.redis`. */
export const redisConnectionPolicy = doc(
  z.strictObject({
    url: opt(z.string().check(z.minLength(1)), {
      description:
        'One Redis server by URL (`redis://host:6379/0`, `rediss://` for TLS). Prefer `urlEnv` for URLs holding a password.',
    }),
    urlEnv: opt(envName(), { description: 'Read the Redis URL from this environment variable.' }),
    sentinels: opt(redisNodes(), {
      description:
        'Redis Sentinel: the Sentinels to ask for the master of group `name` (`host:port`, e.g. `redis-sentinel:26379`). Failovers are followed.',
      examples: [['redis-node-0.redis-headless:26379', 'redis-node-1.redis-headless:26379']],
    }),
    name: opt(z.string().check(z.minLength(1), z.maxLength(256)), {
      description: 'The Sentinel master group name (with `sentinels`).',
      examples: ['mymaster'],
    }),
    db: opt(z.int().check(z.minimum(0), z.maximum(1_000_000)), {
      description: 'Database number (with `sentinels`; a URL names its own, a Cluster has only 0).',
      default: 0,
    }),
    cluster: opt(redisNodes(), {
      description:
        'Redis Cluster: some of its nodes (`host:port`); the client discovers the rest. Keys of one request share a hash slot.',
      examples: [['redis-cluster-0.redis-cluster-headless:6379']],
    }),
    username: opt(z.string().check(z.minLength(1), z.maxLength(256)), {
      description: 'ACL user name for the Redis servers (with `sentinels` or `cluster`).',
    }),
    passwordEnv: opt(envName(), {
      description:
        "Read the Redis servers' password from this environment variable (with `sentinels` or `cluster`).",
    }),
    sentinelUsername: opt(z.string().check(z.minLength(1), z.maxLength(256)), {
      description: 'ACL user name for the Sentinels, when they require one.',
    }),
    sentinelPasswordEnv: opt(envName(), {
      description: "Read the Sentinels' password from this environment variable, when they require one.",
    }),
    tls: z.optional(redisTls),
  }),
  {
    description:
      'Redis connection (with `store: redis`): exactly one of `url`, `urlEnv`, `sentinels` (with `name`) or `cluster`.',
  },
);

/** The message of a fixed window Redis cannot count (code: the store's bind; policy: the rule below). */
export function wholeSecondsMessage(duration: number): string {
  return `not a whole number of seconds (got ${duration}, expected an integer: the Redis store counts fixed windows in whole seconds; or use a burst limit)`;
}

// ---------------------------------------------------------------------------------------------
// createRedisStore (realip/redis)
// ---------------------------------------------------------------------------------------------

/** Which client library a client object comes from, or undefined when it is neither. */
export function redisClientFlavour(client: unknown): 'ioredis' | 'node-redis' | undefined {
  if (client === null || typeof client !== 'object') return undefined;
  const c = client as Rec;
  if (typeof c.defineCommand === 'function') return 'ioredis';
  if (typeof c.evalSha === 'function' && typeof c.eval === 'function') return 'node-redis';
  return undefined;
}

const isRedisUrl = (s: string): boolean => {
  try {
    const url = new URL(s);
    return url.protocol === 'redis:' || url.protocol === 'rediss:';
  } catch {
    return false;
  }
};

/** `createRedisStore(options)`. */
export const redisStoreSpec = z.strictObject({
  client: doc(
    z.custom<IoredisLike | NodeRedisLike | string>(
      (v) => (typeof v === 'string' ? isRedisUrl(v) : redisClientFlavour(v) !== undefined),
      {
        error: (iss) =>
          typeof iss.input === 'string'
            ? `not a Redis URL (got ${JSON.stringify(iss.input.slice(0, 40))}, expected a redis:// or rediss:// URL, or a client)`
            : 'expected an ioredis Redis/Cluster, a node-redis client/cluster, or a redis:// URL',
      },
    ),
    {
      description:
        'An ioredis `Redis`/`Cluster`, a node-redis client/cluster (connected by you), or a `redis://` URL (an ioredis client, closed by `store.close()`).',
    },
  ),
  prefix: opt(
    z
      .string()
      .check(
        z.maxLength(1024),
        z.regex(/^[^{}\s]*$/, 'expected a string without braces or spaces, e.g. "myapp:rl:"'),
      ),
    {
      description:
        'Prefix of every key; give each application its own when they share a Redis. No braces (they would change the Cluster hash slot) and no spaces.',
      default: 'realip:rl:',
    },
  ),
  clock: opt(
    z.union([z.literal('redis'), runtime<() => number>('a function returning milliseconds', isFunction)], {
      error: 'expected "redis" or a function returning milliseconds',
    }),
    {
      description:
        "Clock of burst limits: `'redis'` (server `TIME`, one clock for all replicas) or a function returning milliseconds (tests).",
      default: 'redis',
    },
  ),
});

/** Options of `createRedisStore()`. */
export interface RedisStoreOptions {
  /**
   * An ioredis `Redis`/`Cluster`, a node-redis client/cluster (connected by you), or a
   * `redis://` URL (an ioredis client with `enableOfflineQueue: false`, closed by `store.close()`).
   * Security: pass a client with TLS and AUTH configured for anything beyond localhost.
   */
  client: IoredisLike | NodeRedisLike | string;
  /**
   * Prefix of every key (no braces, no spaces). Give each application its own when they share a
   * Redis.
   * @default 'realip:rl:'
   */
  prefix?: string;
  /**
   * Clock of burst limits: `'redis'` (server `TIME`, one clock for all replicas) or a function
   * returning milliseconds (tests).
   * @default 'redis'
   */
  clock?: 'redis' | (() => number);
}

// The interface carries the TSDoc users see; the compiler keeps its option names equal to the spec's.
const _redisStoreKeys: SameKeys<RedisStoreOptions, z.input<typeof redisStoreSpec>> = true;
void _redisStoreKeys;
