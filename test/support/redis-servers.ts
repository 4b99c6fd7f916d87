/**
 * Real Redis topologies for tests, started from the machine's redis-server (each test gets its own
 * processes on free ports, in a temporary directory):
 * - `startRedisServer()`: one plain server;
 * - `startRedisCluster(3)`: three cluster-enabled masters joined by `redis-cli --cluster create`;
 * - `startRedisSentinel()`: a master, a replica and one Sentinel (quorum 1) monitoring them, with
 *   optional passwords on the data nodes and on the Sentinel.
 * Callers check `redisToolsAvailable()` (skip outside CI, fail under CI) before starting one.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, requireCommand } from './env.js';

/** redis-server and redis-cli are installed (skips outside CI, throws under CI when not). */
export function redisToolsAvailable(): boolean {
  return requireCommand('redis-server', 'redis-server') && requireCommand('redis-cli', 'redis-tools');
}

/** A free TCP port on 127.0.0.1 whose cluster bus port (+10000) is free too. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (port + 10000 < 65536 && !(await canConnect(port + 10000))) return port;
  }
}

/** Polls `check` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `redis-cli -p port [-a password] [--tls] args...`, its trimmed output ('' when the command fails). */
export function redisCli(port: number, args: string[], password?: string, tls?: TlsFiles): string {
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  const secure =
    tls === undefined ? [] : ['--tls', '--cacert', tls.ca, '--cert', tls.clientCert, '--key', tls.clientKey];
  try {
    return execFileSync('redis-cli', ['-p', String(port), ...auth, ...secure, ...args], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}

/** A private CA, a server certificate for 127.0.0.1/localhost and a client certificate (PEM files). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

/** openssl is installed (skips outside CI, throws under CI when not). */
export function opensslAvailable(): boolean {
  return requireCommand('openssl', 'openssl');
}

/**
 * Makes the CA and certificates in `dir` with openssl. The server certificate names localhost and,
 * unless `ipSan` is false, 127.0.0.1 (without it, only clients that connect by name can verify it).
 */
export function makeTlsFiles(dir: string, o: { ipSan?: boolean } = {}): TlsFiles {
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore', timeout: 30_000 });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=realip test CA');
  writeFileSync(f('server.ext'), `subjectAltName=DNS:localhost${o.ipSan === false ? '' : ',IP:127.0.0.1'}\n`);
  for (const [name, ext] of [['server', ['-extfile', f('server.ext')]], ['client', []]] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name === 'server' ? 'localhost' : 'realip client'}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', ...ext);
  }
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
} // prettier-ignore

/** redis-server flags serving TLS only on `port` (clients must present a certificate when `verifyClients`). */
function tlsFlags(port: number, tls: TlsFiles, verifyClients: boolean): string[] {
  return [
    '--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key,
    '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', verifyClients ? 'yes' : 'no',
  ]; // prettier-ignore
}

const BASE = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];

export interface RedisTopology {
  /** Kills every process and removes the directory. */
  stop(): void;
}

export interface RedisServer extends RedisTopology {
  port: number;
  process: ChildProcess;
}

/**
 * Runs `build` with a fresh directory and a `redis-server` launcher. The result's `stop()` kills
 * every process launched and removes the directory; a failing `build` does that at once.
 */
async function topology<T extends object>(
  prefix: string,
  build: (dir: string, run: (args: string[]) => ChildProcess) => Promise<T>,
): Promise<T & RedisTopology> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const procs: ChildProcess[] = [];
  const stop = () => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const run = (args: string[]) => {
    const p = spawn('redis-server', args, { stdio: 'ignore' });
    procs.push(p);
    return p;
  };
  try {
    return { ...(await build(dir, run)), stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/** A server on `port`: plain, or TLS only (plus `tlsExtra`) with `tls`. */
function listenOn(
  port: number,
  tls: TlsFiles | undefined,
  tlsExtra: string[] = [],
  verifyClients = false,
): string[] {
  return tls === undefined ? ['--port', String(port)] : [...tlsFlags(port, tls, verifyClients), ...tlsExtra];
}

/** One redis-server; with `tls`, TLS only (and client certificates required when `verifyClients`). */
export function startRedisServer(o: { tls?: TlsFiles; verifyClients?: boolean } = {}): Promise<RedisServer> {
  return topology('realip-redis-', async (dir, run) => {
    const port = await freePort();
    const proc = run([...listenOn(port, o.tls, [], o.verifyClients), ...BASE, '--dir', dir]);
    await until(() => canConnect(port), 5000, `redis-server on ${port}`);
    return { port, process: proc };
  });
}

export interface RedisCluster extends RedisTopology {
  ports: number[];
}

/**
 * `size` cluster-enabled masters; with `tls`, TLS only (client and cluster bus). With
 * `announceHostname`, nodes announce that name instead of their address (as managed clusters do).
 */
export function startRedisCluster(
  size = 3,
  tls?: TlsFiles,
  o: { announceHostname?: string } = {},
): Promise<RedisCluster> {
  return topology('realip-redis-cluster-', async (dir, run) => {
    const ports: number[] = [];
    for (let i = 0; i < size; i++) ports.push(await freePort());
    const announce =
      o.announceHostname === undefined
        ? []
        : [
            '--cluster-announce-hostname',
            o.announceHostname,
            '--cluster-preferred-endpoint-type',
            'hostname',
          ];
    const secure =
      tls === undefined
        ? []
        : ['--tls', '--cacert', tls.ca, '--cert', tls.clientCert, '--key', tls.clientKey];
    for (const port of ports) {
      run([
        ...listenOn(port, tls, ['--tls-cluster', 'yes']), ...announce, ...BASE,
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir,
      ]); // prettier-ignore
    }
    for (const port of ports) await until(() => canConnect(port), 5000, `redis-server on ${port}`);
    execFileSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes', ...secure],
      { stdio: 'ignore', timeout: 15_000 },
    ); // prettier-ignore
    await until(
      () => ports.every((p) => redisCli(p, ['cluster', 'info'], undefined, tls).includes('cluster_state:ok')),
      10_000,
      'cluster_state:ok on every node',
    );
    return { ports };
  });
}

export interface RedisSentinel extends RedisTopology {
  /** The group name the Sentinel monitors. */
  name: string;
  sentinelPort: number;
  /** Data node ports: [first master, first replica]. */
  dataPorts: [number, number];
  /** The port of the current master, as the Sentinel reports it. */
  masterPort(): number;
  /** Runs `SENTINEL FAILOVER` and waits until the Sentinel names the other node and it accepts writes. */
  failover(): Promise<number>;
  /**
   * Stops the master process (SIGSTOP: its connections stay open, nothing answers) and waits until
   * the Sentinel has promoted the other node. The stopped node is never resumed.
   */
  hangMaster(): Promise<number>;
}

/**
 * A master, a replica and one Sentinel with quorum 1. `password` protects the data nodes (the
 * replica and the Sentinel authenticate with it); `sentinelPassword` protects the Sentinel.
 */
export function startRedisSentinel(
  o: { name?: string; password?: string; sentinelPassword?: string; tls?: TlsFiles } = {},
): Promise<RedisSentinel> {
  const name = o.name ?? 'mymaster';
  return topology('realip-redis-sentinel-', async (dir, run) => {
    const [m, r, s] = [await freePort(), await freePort(), await freePort()];
    const auth = o.password === undefined ? [] : ['--requirepass', o.password, '--masterauth', o.password];
    const listen = (port: number) => listenOn(port, o.tls, ['--tls-replication', 'yes']);
    const cli = (port: number, args: string[], password?: string) => redisCli(port, args, password, o.tls);
    const byPort = new Map<number, ChildProcess>([
      [m, run([...listen(m), ...BASE, '--dir', dir, ...auth])],
      [r, run([...listen(r), ...BASE, '--dir', dir, ...auth, '--replicaof', '127.0.0.1', String(m)])],
    ]);
    await until(
      () => cli(r, ['info', 'replication'], o.password).includes('master_link_status:up'),
      10_000,
      'the replica to sync',
    );
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        ...(o.tls === undefined
          ? [`port ${s}`]
          : [
              'port 0',
              `tls-port ${s}`,
              `tls-cert-file ${o.tls.cert}`,
              `tls-key-file ${o.tls.key}`,
              `tls-ca-cert-file ${o.tls.ca}`,
              'tls-auth-clients no',
              'tls-replication yes',
            ]),
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${m} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 3000`,
        ...(o.password === undefined ? [] : [`sentinel auth-pass ${name} ${o.password}`]),
        ...(o.sentinelPassword === undefined ? [] : [`requirepass ${o.sentinelPassword}`]),
        '',
      ].join('\n'),
    );
    run([conf, '--sentinel']);
    const sentinel = (args: string[]) => cli(s, args, o.sentinelPassword);
    const masterPort = () => Number(sentinel(['sentinel', 'get-master-addr-by-name', name]).split('\n')[1]);
    await until(() => masterPort() === m, 10_000, 'the Sentinel to monitor the master');
    await until(
      () => sentinel(['sentinel', 'replicas', name]).includes(String(r)),
      15_000,
      'the Sentinel to discover the replica',
    );
    // The replica has every write the master took (WAIT answers 1), so a test sees every count
    // written before a switch. (A replica reconfigured by an earlier failover may still be syncing.)
    const replicated = (from: number) =>
      until(() => cli(from, ['wait', '1', '1000'], o.password) === '1', 20_000, 'the replica to acknowledge');
    const failover = async (): Promise<number> => {
      const from = masterPort();
      const to = from === m ? r : m;
      await replicated(from);
      await until(
        () => sentinel(['sentinel', 'failover', name]) === 'OK',
        15_000,
        'the Sentinel to accept SENTINEL FAILOVER',
      );
      await promoted(to);
      // The Sentinel turns the old master into a replica when its next INFO (every 10 s) shows it
      // still a master; do it now so the next test starts from a master with a synced replica.
      cli(from, ['replicaof', '127.0.0.1', String(to)], o.password);
      await until(
        () => cli(from, ['info', 'replication'], o.password).includes('master_link_status:up'),
        15_000,
        `${from} to replicate ${to}`,
      );
      return to;
    };
    const promoted = async (to: number) => {
      await until(() => masterPort() === to, 20_000, `the Sentinel to name ${to} the master`);
      await until(
        () => cli(to, ['info', 'replication'], o.password).includes('role:master'),
        15_000,
        `${to} to become master`,
      );
    };
    const hangMaster = async (): Promise<number> => {
      const from = masterPort();
      const to = from === m ? r : m;
      await replicated(from);
      byPort.get(from)!.kill('SIGSTOP');
      await promoted(to);
      return to;
    };
    return { name, sentinelPort: s, dataPorts: [m, r] as [number, number], masterPort, failover, hangMaster };
  });
}
