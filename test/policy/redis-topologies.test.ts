/**
 * `rateLimit.redis` beyond one URL: a Sentinel-monitored master group (`sentinels` + `name`, with
 * passwords from the environment) and a Redis Cluster (`cluster`), from the policy file to the
 * stack's decisions, against real processes this test starts (redis-server, redis-server
 * --sentinel, redis-cli --cluster create). Plus the policy checks of the connection modes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkPolicyText } from '../../src/policy/parse.js';
import { formatPolicyIssue } from '../../src/policy/errors.js';
import {
  createStack,
  loadPolicyFile,
  parsePolicy,
  type PolicyStack,
  type RealipEvent,
} from '../../src/policy/index.js';
import {
  makeTlsFiles,
  opensslAvailable,
  redisCli as cli,
  redisToolsAvailable,
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
  until,
  type RedisCluster,
  type RedisSentinel,
  type TlsFiles,
} from '../support/redis-servers.js';
import type { RealipWarning } from '../../src/types.js';
import { parsePrometheusText, valueOf } from '../logmetrics/prom-text.js';
import { burst, runs, send, silentLogger } from './helpers.js';

const problems = (yaml: string) =>
  checkPolicyText(
    `rateLimit:\n  store: redis\n${yaml}  tiers: [{ name: a, limits: [{ points: 1, duration: 1 }] }]\n`,
    {
      filename: 'p.yaml',
    },
  ).issues.map(formatPolicyIssue);

describe('rateLimit.redis: the policy checks of the connection modes', () => {
  it.each([
    ['  redis: { sentinels: ["s:26379"], name: mymaster, passwordEnv: P, sentinelPasswordEnv: S, db: 2, username: app }\n', []],
    ['  redis: { cluster: ["10.0.0.5:6379", "[fd00::5]:6379", "redis-0.redis:6379"], passwordEnv: P }\n', []],
    ['  redis: { urlEnv: REDIS_URL }\n', []],
    [
      '  redis: {}\n',
      ['p.yaml:3: rateLimit.redis: needs a connection (got none of url, urlEnv, sentinels, cluster; expected exactly one)'],
    ],
    [
      '  redis: { url: "redis://x", cluster: ["x:1"] }\n',
      ['p.yaml:3: rateLimit.redis: needs exactly one connection (got url and cluster; expected one of url, urlEnv, sentinels, cluster)'],
    ],
    [
      '  redis: { sentinels: ["s:26379"] }\n',
      ['p.yaml:3: rateLimit.redis.name: sentinels need the master group name (got none, expected e.g. name: mymaster)'],
    ],
    [
      '  redis: { sentinels: ["s:26379", "s", "s:70000", "a b:1"], name: m }\n',
      [
        'p.yaml:3: rateLimit.redis.sentinels[1]: not a host:port (expected e.g. redis-sentinel:26379, 10.0.0.5:6379 or [fd00::5]:6379)',
        'p.yaml:3: rateLimit.redis.sentinels[2]: not a host:port (expected e.g. redis-sentinel:26379, 10.0.0.5:6379 or [fd00::5]:6379)',
        'p.yaml:3: rateLimit.redis.sentinels[3]: not a host:port (expected e.g. redis-sentinel:26379, 10.0.0.5:6379 or [fd00::5]:6379)',
      ],
    ],
    [
      '  redis: { url: "redis://x", passwordEnv: P }\n',
      ['p.yaml:3: rateLimit.redis.passwordEnv: is not used with url (a URL carries its own user, password and database; remove it)'],
    ],
    [
      '  redis: { url: "redis://x", name: m }\n',
      ['p.yaml:3: rateLimit.redis.name: is not used with url (it applies to sentinels only; remove it)'],
    ],
    [
      '  redis: { cluster: ["x:1"], db: 1 }\n',
      ['p.yaml:3: rateLimit.redis.db: is not used with cluster (it applies to sentinels only; remove it)'],
    ],
    ['  redis: { cluster: [] }\n', ['p.yaml:3: rateLimit.redis.cluster: too few entries (got 0, expected at least 1 entry)']],
    ['  redis: { url: "rediss://x", tls: { caFile: ca.pem, serverName: redis.internal } }\n', []],
    [
      '  redis: { url: "rediss://x", tls: { certFile: c.pem } }\n',
      ['p.yaml:3: rateLimit.redis.tls.keyFile: a client certificate needs both certFile and keyFile (got one of them)'],
    ],
    [
      '  redis: { url: "rediss://x", tls: { insecure: true } }\n',
      ['p.yaml:3: rateLimit.redis.tls.insecure: unknown key (expected one of caFile, certFile, keyFile, serverName)'],
    ],
  ])('%s', (yaml, expected) => {
    expect(problems(yaml)).toEqual(expected);
  }); // prettier-ignore

  it('a password variable that is not set fails the build of the stack, naming it', async () => {
    delete process.env.REALIP_TEST_UNSET_PASSWORD;
    const policy = parsePolicy(
      JSON.stringify({
        rateLimit: {
          store: 'redis',
          redis: { sentinels: ['127.0.0.1:1'], name: 'm', passwordEnv: 'REALIP_TEST_UNSET_PASSWORD' },
          tiers: [{ name: 'a', limits: [{ points: 1, duration: 1 }] }],
        },
      }),
    );
    await expect(createStack(policy, { logger: silentLogger })).rejects.toThrow(
      /rateLimit\.redis\.passwordEnv: environment variable REALIP_TEST_UNSET_PASSWORD is not set/,
    );
  });
});

const runnable = redisToolsAvailable();
const open: PolicyStack[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function stackWith(
  redis: Record<string, unknown>,
  points = 5,
  onWarning: (w: RealipWarning) => void = () => {},
): Promise<PolicyStack> {
  const policy = parsePolicy(
    JSON.stringify({
      rateLimit: {
        store: 'redis',
        redis,
        prefix: `realip-topology-${process.pid}-`,
        tiers: [{ name: 'default', limits: [{ points, duration: 60 }] }],
      },
    }),
  );
  const stack = await createStack(policy, { logger: silentLogger, onWarning });
  open.push(stack);
  return stack;
}

let n = 0;
/** A client address no other test uses. */
const freshClient = () => `198.51.${100 + (process.pid % 100)}.${++n}`;

/**
 * Two stacks on `redis` (two replicas of one policy with 5 per minute): the first request is decided
 * by the store, and the sixth, on either replica, is limited. Returns the stacks.
 */
async function sharesOneLimit(redis: Record<string, unknown>): Promise<[PolicyStack, PolicyStack]> {
  const a = await stackWith(redis);
  const b = await stackWith(redis);
  const spec = { peer: freshClient() };
  expect((await send(a, spec)).ctx.rateLimit?.source).toBe('store');
  expect(runs([...(await burst(b, 2, spec)), ...(await burst(a, 3, spec))])).toBe('200x4 429x1');
  return [a, b];
}

describe.skipIf(!runnable)('rateLimit.redis.sentinels: a real Sentinel, master and replica', () => {
  let redis: RedisSentinel | undefined;
  const env = { REALIP_TEST_REDIS_PASSWORD: 'data-secret', REALIP_TEST_SENTINEL_PASSWORD: 'sentinel-secret' };

  beforeAll(async () => {
    Object.assign(process.env, env);
    redis = await startRedisSentinel({ password: env.REALIP_TEST_REDIS_PASSWORD, sentinelPassword: env.REALIP_TEST_SENTINEL_PASSWORD });
  }, 60_000); // prettier-ignore

  afterAll(() => {
    redis?.stop();
    for (const k of Object.keys(env)) delete process.env[k];
  });

  const conn = () => ({
    sentinels: [`127.0.0.1:${redis!.sentinelPort}`],
    name: redis!.name,
    passwordEnv: 'REALIP_TEST_REDIS_PASSWORD',
    sentinelPasswordEnv: 'REALIP_TEST_SENTINEL_PASSWORD',
  });

  it('two replicas of the policy share one limit through the master the Sentinel names', async () => {
    await sharesOneLimit(conn());
    // The counters live on the master (and were replicated), under the policy's prefix.
    const keys = cli(redis!.masterPort(), ['--scan', '--pattern', `*realip-topology-${process.pid}-*`], env.REALIP_TEST_REDIS_PASSWORD);
    expect(keys).not.toBe('');
  }); // prettier-ignore

  it.each([
    ['SENTINEL FAILOVER', 'the promoted replica', () => redis!.failover()],
    ['a master that hangs (stopped, connections open)', 'the node the Sentinel promotes', () => redis!.hangMaster()],
  ] as const)('follows %s: counts written before it still hold on %s', async (_how, _where, switchMaster) => {
    const a = await stackWith(conn());
    const spec = { peer: freshClient() };
    expect(runs(await burst(a, 3, spec))).toBe('200x3');
    const before = redis!.masterPort();
    const after = await switchMaster();
    expect(after).not.toBe(before);
    // Until the client has moved, decisions come from the insurance limiter (storeFailure), never
    // an error; then from the store again, on the new master.
    const probe = { peer: freshClient() };
    await until(
      async () => (await send(a, probe)).ctx.rateLimit?.source === 'store',
      15_000,
      'decisions from the store on the new master',
    );
    expect(runs(await burst(a, 3, spec))).toBe('200x2 429x1'); // 3 + 2 = 5: the count survived
  }, 60_000); // prettier-ignore

  it('a wrong password never fails a request: the insurance limiter decides', async () => {
    process.env.REALIP_TEST_WRONG_PASSWORD = 'wrong';
    try {
      const a = await stackWith({ ...conn(), passwordEnv: 'REALIP_TEST_WRONG_PASSWORD' }, 2);
      const spec = { peer: freshClient() };
      const first = await send(a, spec);
      expect(first.ctx.rateLimit?.source).toBe('insurance');
      expect(runs([first.status, ...(await burst(a, 2, spec))])).toBe('200x2 429x1');
    } finally {
      delete process.env.REALIP_TEST_WRONG_PASSWORD;
    }
  }, 20_000);
});

describe.skipIf(!runnable)('rateLimit.redis.cluster: a real 3-node Redis Cluster', () => {
  let redis: RedisCluster | undefined;
  beforeAll(async () => {
    redis = await startRedisCluster(3);
  }, 40_000);
  afterAll(() => redis?.stop());

  it('two replicas of the policy share one limit; keys spread over the masters', async () => {
    const nodes = [`127.0.0.1:${redis!.ports[0]}`]; // one seed node: the client finds the rest
    const [a, b] = await sharesOneLimit({ cluster: nodes });
    for (let i = 0; i < 40; i++) {
      const r = await send(i % 2 ? a : b, { peer: freshClient() });
      expect(r.ctx.rateLimit?.source).toBe('store');
    }
    const perNode = redis!.ports.map((p) => Number(cli(p, ['dbsize'])));
    expect(perNode.every((k) => k > 0)).toBe(true);
  });
});

describe.skipIf(!runnable)('store health in the metrics (the sidecar serves them on /metrics)', () => {
  it('realip_store_healthy and realip_store_fallback_active follow Redis down and back', async () => {
    const redis = await startRedisServer();
    try {
      const policy = parsePolicy(
        JSON.stringify({
          rateLimit: {
            store: 'redis',
            redis: { url: `redis://127.0.0.1:${redis.port}` },
            tiers: [{ name: 'default', limits: [{ points: 100, duration: 60 }] }],
          },
          metrics: { enabled: true },
        }),
      );
      const stack = await createStack(policy, { logger: silentLogger, onWarning: () => {} });
      open.push(stack);
      const gauges = async () => {
        const p = parsePrometheusText(await stack.metrics());
        return [
          valueOf(p, 'realip_store_healthy', { store: 'redis' }),
          valueOf(p, 'realip_store_fallback_active', { store: 'redis' }),
        ];
      };
      expect(await gauges()).toEqual([1, 0]); // connected before the first request
      expect((await send(stack, { peer: freshClient() })).ctx.rateLimit?.source).toBe('store');
      redis.process.kill('SIGSTOP');
      expect((await send(stack, { peer: freshClient() })).ctx.rateLimit?.source).toBe('insurance');
      expect(await gauges()).toEqual([0, 1]);
      redis.process.kill('SIGCONT');
      await until(
        async () => (await send(stack, { peer: freshClient() })).ctx.rateLimit?.source === 'store',
        10_000,
        'the store to answer again',
      );
      expect(await gauges()).toEqual([1, 0]);
    } finally {
      redis.stop();
    }
  }, 30_000);

  it('the memory store reports healthy from the start', async () => {
    const stack = await createStack(
      parsePolicy(
        JSON.stringify({
          rateLimit: { tiers: [{ name: 'default', limits: [{ points: 1, duration: 60 }] }] },
          metrics: { enabled: true },
        }),
      ),
      { logger: silentLogger },
    );
    open.push(stack);
    const p = parsePrometheusText(await stack.metrics());
    expect(valueOf(p, 'realip_store_healthy', { store: 'memory' })).toBe(1);
    expect(valueOf(p, 'realip_store_fallback_active', { store: 'memory' })).toBe(0);
  });
});

describe.skipIf(!runnable)('closing a stack whose Redis hangs', () => {
  it('close() gives up on QUIT after a second and disconnects', async () => {
    const redis = await startRedisServer();
    try {
      const a = await stackWith({ url: `redis://127.0.0.1:${redis.port}` });
      open.pop(); // closed here
      expect((await send(a, { peer: freshClient() })).ctx.rateLimit?.source).toBe('store');
      redis.process.kill('SIGSTOP'); // connection open, nothing answers
      const t0 = Date.now();
      await a.close();
      expect(Date.now() - t0).toBeLessThan(3000); // liveness: QUIT is never answered
    } finally {
      redis.stop();
    }
  });
});

describe.skipIf(!(runnable && opensslAvailable()))(
  'rateLimit.redis.tls: real TLS servers with a private CA',
  () => {
    let dir = '';
    let tls: TlsFiles;
    const stops: Array<() => void> = [];
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'realip-redis-tls-'));
      tls = makeTlsFiles(dir);
    }, 60_000);
    afterAll(() => {
      for (const stop of stops) stop();
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('rediss:// with caFile: limits shared through the TLS server; without the CA the certificate is refused', async () => {
      const redis = await startRedisServer({ tls });
      stops.push(redis.stop);
      const url = `rediss://127.0.0.1:${redis.port}`;
      await sharesOneLimit({ url, tls: { caFile: tls.ca } });
      // Node's trusted roots do not include the private CA: the store is never used, requests are
      // decided by the insurance limiter (storeFailure), never failed.
      const untrusted = await stackWith({ url, tls: {} });
      expect((await send(untrusted, { peer: freshClient() })).ctx.rateLimit?.source).toBe('insurance');
      // The certificate names 127.0.0.1 and localhost; another serverName fails verification.
      const wrongName = await stackWith({ url, tls: { caFile: tls.ca, serverName: 'redis.example' } });
      expect((await send(wrongName, { peer: freshClient() })).ctx.rateLimit?.source).toBe('insurance');
    }, 30_000);

    it('says why Redis is not ready: the connection error as one warning, repeats counted', async () => {
      const redis = await startRedisServer({ tls });
      stops.push(redis.stop);
      const warnings: RealipWarning[] = [];
      const stack = await stackWith({ url: `rediss://127.0.0.1:${redis.port}`, tls: {} }, 5, (w) =>
        warnings.push(w),
      );
      await send(stack, { peer: freshClient() });
      await new Promise((r) => setTimeout(r, 500)); // the client keeps retrying meanwhile
      const connection = warnings.filter((w) => w.code === 'WRN_REALIP_REDIS_CONNECTION');
      expect(connection).toHaveLength(1);
      expect(connection[0]!.message).toBe(
        'rateLimit.redis: self-signed certificate in certificate chain (requests are decided by storeFailure "insurance" until Redis answers)',
      );
      expect(connection[0]!.help).toBe('docs/errors.md#wrn-realip-redis-connection');
      // The store call itself only knows the client is not ready.
      expect(warnings.map((w) => w.code)).toContain('WRN_REALIP_RATELIMIT_STORE_ERROR');
    }, 30_000);

    it('a server that verifies clients (tls-auth-clients yes) accepts certFile + keyFile, from a policy file with relative paths', async () => {
      const redis = await startRedisServer({ tls, verifyClients: true });
      stops.push(redis.stop);
      const file = join(dir, 'policy.yaml');
      writeFileSync(
        file,
        [
          'rateLimit:',
          '  store: redis',
          '  redis:',
          `    url: "rediss://127.0.0.1:${redis.port}"`,
          '    tls: { caFile: ca.crt, certFile: client.crt, keyFile: client.key }',
          '  tiers: [{ name: default, limits: [{ points: 2, duration: 60 }] }]',
          '',
        ].join('\n'),
      );
      const stack = await createStack(await loadPolicyFile(file), {
        logger: silentLogger,
        onWarning: () => {},
      });
      open.push(stack);
      const spec = { peer: freshClient() };
      const first = await send(stack, spec);
      expect(first.ctx.rateLimit?.source).toBe('store');
      expect(runs([first.status, ...(await burst(stack, 2, spec))])).toBe('200x2 429x1');
      // A missing file is reported when the policy is loaded, at its line.
      writeFileSync(file, readFileSync(file, 'utf8').replace('client.key', 'missing.key'));
      await expect(loadPolicyFile(file)).rejects.toThrow(
        /policy\.yaml:5: rateLimit\.redis\.tls\.keyFile: cannot read .*missing\.key \(ENOENT\)/,
      );
    }, 30_000);

    it('a Redis Cluster over TLS (client connections and the cluster bus)', async () => {
      const redis = await startRedisCluster(3, tls);
      stops.push(redis.stop);
      const [a] = await sharesOneLimit({ cluster: [`127.0.0.1:${redis.ports[0]}`], tls: { caFile: tls.ca } });
      for (let i = 0; i < 30; i++)
        expect((await send(a, { peer: freshClient() })).ctx.rateLimit?.source).toBe('store');
    }, 60_000);

    it('a TLS Cluster whose certificate names only its host name (as managed clusters): reached by that name', async () => {
      const named = makeTlsFiles(mkdtempSync(join(dir, 'named-')), { ipSan: false });
      const redis = await startRedisCluster(3, named, { announceHostname: 'localhost' });
      stops.push(redis.stop);
      await sharesOneLimit({ cluster: [`localhost:${redis.ports[0]}`], tls: { caFile: named.ca } });
    }, 60_000);

    it('a Cluster that cannot connect: a few distinct warnings, naming the node, however often the client retries', async () => {
      const redis = await startRedisCluster(3, tls);
      stops.push(redis.stop);
      const warnings: RealipWarning[] = [];
      const stack = await stackWith({ cluster: [`127.0.0.1:${redis.ports[0]}`], tls: {} }, 5, (w) =>
        warnings.push(w),
      );
      expect((await send(stack, { peer: freshClient() })).ctx.rateLimit?.source).toBe('insurance');
      await new Promise((r) => setTimeout(r, 1000)); // the client retries meanwhile
      const connection = warnings
        .filter((w) => w.code === 'WRN_REALIP_REDIS_CONNECTION')
        .map((w) => w.message.replace(/ \(requests are decided .*$/, ''));
      // ioredis's Cluster hands on the node's failure only as a closed connection (the TLS reason
      // stays inside it): the warning names the node, and the slots refresh that failed.
      expect(connection.sort()).toEqual([
        `rateLimit.redis: 127.0.0.1:${redis.ports[0]}: Connection is closed.`,
        'rateLimit.redis: Failed to refresh slots cache.',
      ]);
    }, 60_000);

    it("unusable certificate files fail the build: not PEM, or a key that is not the certificate's", async () => {
      const garbage = join(dir, 'garbage.pem');
      writeFileSync(garbage, 'not a certificate\n');
      const build = (t: Record<string, string>) =>
        createStack(
          parsePolicy(
            JSON.stringify({
              rateLimit: {
                store: 'redis',
                redis: { url: 'rediss://127.0.0.1:1', tls: t },
                tiers: [{ name: 'd', limits: [{ points: 1, duration: 1 }] }],
              },
            }),
          ),
          { logger: silentLogger, onWarning: () => {} },
        );
      await expect(build({ caFile: garbage })).rejects.toThrow(
        /rateLimit\.redis\.tls\.caFile: no PEM certificate in it \(expected -----BEGIN CERTIFICATE----- blocks\)/,
      );
      writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      await expect(build({ caFile: garbage })).rejects.toThrow(
        /rateLimit\.redis\.tls\.caFile: a certificate in it is not valid \(.+\)/,
      );
      await expect(build({ certFile: garbage, keyFile: tls.clientKey })).rejects.toThrow(
        /rateLimit\.redis\.tls: the certificate files are not usable \(.+\); expected PEM files/,
      );
      await expect(build({ certFile: tls.clientCert, keyFile: tls.key })).rejects.toThrow(
        /rateLimit\.redis\.tls: the certificate files are not usable \(.*key values mismatch.*\)/,
      );
    });

    it('a rotated client certificate is picked up without a policy change', async () => {
      const redis = await startRedisServer({ tls, verifyClients: true });
      stops.push(redis.stop);
      const other = makeTlsFiles(mkdtempSync(join(dir, 'other-')));
      const rot = mkdtempSync(join(dir, 'rotating-'));
      const warnings: RealipWarning[] = [];
      const events: RealipEvent[] = [];
      const cert = join(rot, 'client.crt');
      const key = join(rot, 'client.key');
      // Start with a client certificate from a CA the server does not trust.
      writeFileSync(cert, readFileSync(other.clientCert));
      writeFileSync(key, readFileSync(other.clientKey));
      const stack = await createStack(
        parsePolicy(
          JSON.stringify({
            rateLimit: {
              store: 'redis',
              redis: {
                url: `rediss://127.0.0.1:${redis.port}`,
                tls: { caFile: tls.ca, certFile: cert, keyFile: key },
              },
              tiers: [{ name: 'd', limits: [{ points: 100, duration: 60 }] }],
            },
          }),
        ),
        {
          logger: silentLogger,
          onWarning: (w) => warnings.push(w),
          onEvent: (e) => void events.push(e),
          watchOptions: { pollMs: 100, debounceMs: 20 },
        },
      );
      open.push(stack);
      expect((await send(stack, { peer: freshClient() })).ctx.rateLimit?.source).toBe('insurance');
      // The rotation: a certificate the server trusts, as cert-manager would write it.
      writeFileSync(key, readFileSync(tls.clientKey));
      writeFileSync(cert, readFileSync(tls.clientCert));
      await until(
        async () => (await send(stack, { peer: freshClient() })).ctx.rateLimit?.source === 'store',
        10_000,
        'the rotated certificate to be used',
      );
      expect(events).toContainEqual({
        event: 'redis-tls-reloaded',
        level: 'info',
        file: expect.stringMatching(/client\.(crt|key)$/),
      });
      // A rotation caught halfway (a key that is not the certificate's): reported, connection kept.
      writeFileSync(key, readFileSync(tls.key));
      await until(
        () => warnings.some((w) => w.code === 'WRN_REALIP_REDIS_TLS_RELOAD_FAILED'),
        10_000,
        'the unusable files to be reported',
      );
      expect(warnings.find((w) => w.code === 'WRN_REALIP_REDIS_TLS_RELOAD_FAILED')!.message).toMatch(
        /^rateLimit\.redis\.tls: the changed certificate files were not applied: .*key values mismatch/,
      );
      expect((await send(stack, { peer: freshClient() })).ctx.rateLimit?.source).toBe('store');
    }, 30_000);

    it('sentinels over TLS: the Sentinel and the data nodes all speak TLS only', async () => {
      const redis = await startRedisSentinel({ tls });
      stops.push(redis.stop);
      const conn = {
        sentinels: [`127.0.0.1:${redis.sentinelPort}`],
        name: redis.name,
        tls: { caFile: tls.ca },
      };
      await sharesOneLimit(conn);
    }, 60_000);
  },
);
