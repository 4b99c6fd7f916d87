/**
 * The Redis connection a policy's `rateLimit.redis` describes, turned into a connection spec:
 * secrets read from the environment, TLS files read and checked (PEM, a CA bundle that parses, a key
 * that matches its certificate). The stack builds the client from it (./redis-connect.ts) and
 * watches the files it read.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { parseRedisNode, type RedisConnectionSpec, type RedisTls } from './redis-connect.js';
import type { Policy } from './schema.js';
import { readPolicyFile, secretFromEnv, type IssueSink } from './secrets.js';

/** A file read while building a pipeline, watched for changes while the pipeline is in use. */
export interface ReadFile {
  path: string;
  content: string;
}

/**
 * The policy's own Redis connection, secrets read from the environment, TLS files read (into
 * `files`); undefined on a problem.
 */
export function redisSpec(
  redis: NonNullable<Policy['rateLimit']>['redis'],
  errors: IssueSink,
  files: ReadFile[],
): RedisConnectionSpec | undefined {
  if (redis === undefined) return undefined;
  const env = (name: string | undefined, key: string): string | undefined =>
    name === undefined ? undefined : secretFromEnv(name, `rateLimit.redis.${key}`, errors);
  const missing = errors.issues.length;
  const tls = redis.tls === undefined ? undefined : redisTls(redis.tls, errors, files);
  const password = env(redis.passwordEnv, 'passwordEnv');
  const sentinelPassword = env(redis.sentinelPasswordEnv, 'sentinelPasswordEnv');
  const url = redis.urlEnv !== undefined ? env(redis.urlEnv, 'urlEnv') : redis.url;
  if (errors.issues.length > missing) return undefined; // a secret or file is missing: do not connect
  const withTls = tls === undefined ? {} : { tls };
  if (url !== undefined) return { kind: 'url', url, ...withTls };
  const nodes = (list: string[]) => list.map((n) => parseRedisNode(n)!); // the schema checked them
  const auth = {
    ...(redis.username !== undefined ? { username: redis.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...withTls,
  };
  if (redis.sentinels !== undefined) {
    return {
      kind: 'sentinel',
      sentinels: nodes(redis.sentinels),
      name: redis.name!,
      ...(redis.db !== undefined ? { db: redis.db } : {}),
      ...auth,
      ...(redis.sentinelUsername !== undefined ? { sentinelUsername: redis.sentinelUsername } : {}),
      ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
    };
  }
  if (redis.cluster !== undefined) return { kind: 'cluster', nodes: nodes(redis.cluster), ...auth };
  return undefined;
}

/**
 * The TLS files of `rateLimit.redis.tls`, read now (into `files`, which the pipeline watches: a
 * rotated certificate rebuilds it) and checked by building a TLS context from them, so a broken
 * PEM or a key that does not match its certificate is a policy problem, not a connection that
 * never comes up.
 */
function redisTls(
  tls: NonNullable<NonNullable<NonNullable<Policy['rateLimit']>['redis']>['tls']>,
  errors: IssueSink,
  files: ReadFile[],
): RedisTls {
  const out: RedisTls = {};
  const read = (file: string | undefined, key: string) => {
    if (file === undefined) return undefined;
    const content = readPolicyFile(file, `rateLimit.redis.tls.${key}`, errors);
    if (content !== undefined) files.push({ path: file, content });
    return content;
  };
  const ca = read(tls.caFile, 'caFile');
  const cert = read(tls.certFile, 'certFile');
  const key = read(tls.keyFile, 'keyFile');
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (tls.serverName !== undefined) out.servername = tls.serverName;
  const problem = ca === undefined ? undefined : caBundleProblem(ca);
  if (problem !== undefined) {
    errors.issues.push({
      path: 'rateLimit.redis.tls.caFile',
      message: problem,
      code: 'ERR_REALIP_POLICY_FILE',
    });
  }
  try {
    createSecureContext(out);
  } catch (error) {
    errors.issues.push({
      path: 'rateLimit.redis.tls',
      message: `the certificate files are not usable (${(error as Error).message}); expected PEM files, and a key that matches certFile`,
      code: 'ERR_REALIP_POLICY_FILE',
    });
  }
  return out;
}

/** Node accepts any text as `ca` (it skips what is not a certificate): what is wrong with the bundle. */
function caBundleProblem(ca: string): string | undefined {
  const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return 'no PEM certificate in it (expected -----BEGIN CERTIFICATE----- blocks)';
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `a certificate in it is not valid (${(error as Error).message})`;
    }
  }
  return undefined;
}
