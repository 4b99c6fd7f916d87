/**
 * The sidecar image without a Docker daemon: the Dockerfile is linted (dockerfile-utils), then its
 * stages are replayed on this machine, each in its own directory standing in for the stage's root
 * filesystem: the build context is only what .dockerignore lets through, WORKDIR/COPY/COPY
 * --from/ENV/RUN run as written (RUN through `sh -c`; only the final stage's user creation is not
 * run, since it would change this machine's users), and the result is started the way the image
 * starts it (ENTRYPOINT + CMD's flags, as the USER uid when this runs as root). It must serve: the
 * built-in default policy with the embedded GeoIP database, admin probes, proxying to an upstream.
 *
 * The replay installs from the npm registry (about a minute): it runs under CI (.ci/run) or with
 * REALIP_TEST_IMAGE=1, and is skipped with a message otherwise.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IN_CI, requireAvailable } from '../support/env.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

describe('Dockerfile lint (dockerfile-utils)', () => {
  it('reports no problems', () => {
    expect(validate(DOCKERFILE).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('would report a broken file (the check can fail)', () => {
    expect(validate(`${DOCKERFILE}\nUSER\nEXPOSE\n`).length).toBeGreaterThan(0);
  });
});

/** The build context: the repository files .dockerignore (an allow-list: `*` then `!path`) lets through. */
function buildContext(into: string): void {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  expect(lines[0]).toBe('*');
  for (const l of lines.slice(1)) {
    expect(l.startsWith('!')).toBe(true);
    const rel = l.slice(1).replace(/\/\*\*$/, '');
    cpSync(join(ROOT, rel), join(into, rel), { recursive: true });
  }
}

interface Stage {
  name: string | undefined;
  root: string;
  cwd: string;
  env: Record<string, string>;
}

/** Docker's COPY: several sources or a trailing `/` copy into a directory; one directory copies its contents. */
function copy(sources: string[], dest: string): void {
  const intoDir = sources.length > 1 || dest.endsWith('/');
  for (const src of sources) {
    if (!existsSync(src)) throw new Error(`COPY source missing: ${src}`);
    const target = intoDir && !statSync(src).isDirectory() ? join(dest, basename(src)) : dest;
    mkdirSync(dirname(target), { recursive: true });
    cpSync(src, target, { recursive: true });
  }
}

/** Only the final stage's account creation is not replayed; anything else in a RUN is. */
const USER_CREATION = /^groupadd [^&|;]+&& useradd [^&|;]+$/;

interface Image {
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  entrypoint: string[];
  cmd: string[];
  skipped: string[];
}

function replay(dir: string, npmCache: string): Image {
  const context = join(dir, 'context');
  buildContext(context);
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const skipped: string[] = [];
  let user: string | undefined;
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  const inStage = (s: Stage, p: string) => (isAbsolute(p) ? join(s.root, p) : join(s.cwd, p));
  for (const i of DockerfileParser.parse(DOCKERFILE).getInstructions() as Instruction[]) {
    const keyword = i.getKeyword();
    const args = i.getArguments().map((a) => a.getValue());
    const content = i.getArgumentsContent() ?? '';
    if (keyword === 'FROM') {
      expect(args[0]).toMatch(/^node:20[-.]/); // the replay runs on this machine's Node 20
      const root = join(dir, `stage-${stages.length}`);
      stage = { name: args[2], root, cwd: root, env: {} };
      stages.push(stage);
      user = undefined;
      continue;
    }
    const s = stage!;
    switch (keyword) {
      case 'WORKDIR':
        s.cwd = inStage(s, args[0]!);
        mkdirSync(s.cwd, { recursive: true });
        break;
      case 'ENV':
        for (const a of args) {
          const [k, ...v] = a.split('=');
          s.env[k!] = v.join('=');
        }
        break;
      case 'COPY': {
        const from = (i as unknown as { getFlags(): Array<{ getName(): string; getValue(): string }> })
          .getFlags()
          .find((f) => f.getName() === 'from')
          ?.getValue();
        const dest = inStage(s, args[args.length - 1]!) + (args[args.length - 1]!.endsWith('/') ? '/' : '');
        const src = args.slice(0, -1);
        if (from === undefined) {
          copy(
            src.map((p) => join(context, p)),
            dest,
          );
        } else {
          const other = stages.find((x) => x.name === from);
          if (!other) throw new Error(`COPY --from=${from}: no such stage`);
          copy(
            src.map((p) => inStage(other, p)),
            dest,
          );
        }
        break;
      }
      case 'RUN':
        if (s === stages[stages.length - 1] && USER_CREATION.test(content.replace(/\s+/g, ' ').trim())) {
          skipped.push(content);
          break;
        }
        execFileSync('sh', ['-c', content], {
          cwd: s.cwd,
          env: { PATH: process.env.PATH ?? '', HOME: dir, npm_config_cache: npmCache, ...s.env },
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: 300_000,
        });
        break;
      case 'USER':
        user = args[0];
        break;
      case 'ENTRYPOINT':
        entrypoint = JSON.parse(content) as string[];
        break;
      case 'CMD':
        cmd = JSON.parse(content) as string[];
        break;
      default:
        break; // EXPOSE, STOPSIGNAL, HEALTHCHECK: metadata (manifests.test.ts checks them)
    }
  }
  const last = stages[stages.length - 1]!;
  return { root: last.root, workdir: last.cwd, env: last.env, user, entrypoint, cmd, skipped };
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

const wanted = IN_CI || process.env.REALIP_TEST_IMAGE === '1';
if (!wanted) {
  console.warn(
    '[skip] the image replay installs from the npm registry; set REALIP_TEST_IMAGE=1 to run it (CI runs it)',
  );
}
const runnable =
  wanted && requireAvailable('sh and npm', existsSync('/bin/sh'), 'a POSIX shell and npm on PATH');

describe.skipIf(!runnable)('the sidecar image, replayed stage by stage', () => {
  let dir = '';
  let image: Image;
  let sidecar: ChildProcess | undefined;
  let upstream: http.Server;
  let seen: http.IncomingHttpHeaders[] = [];
  let log = '';
  const ports = { listen: 0, admin: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'realip-image-'));
    image = replay(dir, join(dir, 'npm-cache'));
    upstream = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end('upstream ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const free = () =>
      new Promise<number>((r) => {
        const s = http.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as AddressInfo).port;
          s.close(() => r(p));
        });
      });
    ports.listen = await free();
    ports.admin = await free();
    // The CMD's flags, pointed at this test's upstream and ports.
    const args = [...image.cmd];
    args[args.indexOf('--upstream') + 1] = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    args.push('--listen', `127.0.0.1:${ports.listen}`, '--admin-listen', `127.0.0.1:${ports.admin}`);
    args.push('--shutdown-delay', '300ms', '--drain-timeout', '2s');
    const [command, ...rest] = [...image.entrypoint, ...args];
    let argv = [command!, ...rest];
    const uid = image.user?.split(':');
    if (process.getuid?.() === 0 && uid !== undefined) {
      // The replayed files must be readable by the image's uid, as the image's files are.
      execFileSync('chmod', ['-R', 'a+rX', dir]);
      argv = ['setpriv', `--reuid=${uid[0]}`, `--regid=${uid[1] ?? uid[0]}`, '--clear-groups', ...argv];
    }
    sidecar = spawn(argv[0]!, argv.slice(1), {
      cwd: image.workdir,
      env: { PATH: process.env.PATH ?? '', ...image.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sidecar.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    sidecar.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await get(ports.admin, '/readyz').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline || sidecar.exitCode !== null)
        throw new Error(`the sidecar did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 600_000);

  afterAll(async () => {
    sidecar?.kill('SIGKILL');
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('replayed every step but the account creation; the runtime holds no dev tooling', () => {
    expect(image.skipped).toHaveLength(1);
    expect(image.user).toMatch(/^\d+:\d+$/);
    for (const dev of ['vitest', 'typescript', 'tsup', 'eslint', 'fast-check']) {
      expect(existsSync(join(image.workdir, 'node_modules', dev)), dev).toBe(false);
    }
    for (const runtime of ['zod', 'yaml', 'ipaddr.js', 'maxmind', 'pino', 'prom-client', 'ioredis']) {
      expect(existsSync(join(image.workdir, 'node_modules', runtime)), runtime).toBe(true);
    }
  });

  it('serves as the image would: probes, metrics on the admin port, the default policy in front of the app', async () => {
    expect((await get(ports.admin, '/healthz')).status).toBe(200);
    const metrics = await get(ports.admin, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('realip_');
    seen = [];
    const r = await get(ports.listen, '/hello', { 'x-forwarded-for': '6.6.6.6' });
    expect(r).toEqual({ status: 200, body: 'upstream ok' });
    // Default policy: Local mode, no proxy trusted: the spoofed header is replaced by the peer.
    expect(seen[0]!['x-real-ip']).toBe('127.0.0.1');
    expect(seen[0]!['x-forwarded-for']).toBe('127.0.0.1');
    expect(log).not.toMatch(/Error|EACCES/);
  });

  it('runs as the image user, not as root', () => {
    if (process.getuid?.() !== 0) return; // not root: the process already runs unprivileged
    const status = readFileSync(`/proc/${sidecar!.pid}/status`, 'utf8');
    // setpriv execs node in place: the spawned pid is the sidecar itself.
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(image.user!.split(':')[0]);
  });

  it('stops on the image STOPSIGNAL: /readyz fails at once, then the process exits 0', async () => {
    expect(DOCKERFILE).toMatch(/^STOPSIGNAL SIGTERM$/m);
    const exited = new Promise<number | null>((r) => sidecar!.once('exit', (code) => r(code)));
    sidecar!.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    expect((await get(ports.admin, '/readyz')).status).toBe(503);
    expect(await exited).toBe(0); // liveness: the test's own timeout bounds it
  }, 10_000);
});
