/**
 * The published package, as a user gets it: build a private copy of the source (no race with other
 * suites building dist/), `npm pack` it, install the tarball offline into temp consumer projects,
 * then import every entry from ESM and CJS, run the bin, type-check TypeScript consumers (ESM and
 * CJS, NodeNext) and prove that the core entry loads no optional integration.
 *
 * Entries that are still stubs export nothing: the test asserts that they load and that ESM and CJS
 * agree on their export names, so it keeps working as they fill in.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_MODULES = realpathSync(join(ROOT, 'node_modules'));
const ENTRIES = [
  'realip',
  'realip/express',
  'realip/fastify',
  'realip/geo',
  'realip/metrics',
  'realip/redis',
  'realip/policy',
  'realip/sidecar',
];
/** Optional integrations the core entry must never load. */
const FORBIDDEN_IN_CORE = [
  'express',
  'fastify',
  'maxmind',
  'mmdb-lib',
  'pino',
  'prom-client',
  'ioredis',
  'redis',
  '@redis/client',
];

function sh(
  command: string,
  args: string[],
  cwd: string,
  timeout = 420_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd,
        encoding: 'utf8',
        timeout,
        maxBuffer: 16 * 1024 * 1024,
        env: {
          ...process.env,
          npm_config_update_notifier: 'false',
          npm_config_fund: 'false',
          npm_config_audit: 'false',
        },
      },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

async function must(command: string, args: string[], cwd: string): Promise<string> {
  const r = await sh(command, args, cwd);
  if (r.code !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${r.code}) in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let work = '';
let consumer = '';
let tarball = '';
let packed: {
  exports: Record<string, unknown>;
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
};
let installMode = '';

/** Links a package from the repo's node_modules into the consumer (peers and types are not installed by npm). */
function linkFromRepo(name: string): void {
  const target = join(NODE_MODULES, name);
  const link = join(consumer, 'node_modules', name);
  if (!existsSync(target) || existsSync(link)) return;
  mkdirSync(join(link, '..'), { recursive: true });
  symlinkSync(target, link, 'dir');
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'realip-package-'));
  // 1. A private copy of what the build reads, with the repo's node_modules.
  const pkgDir = join(work, 'pkg');
  mkdirSync(pkgDir);
  for (const f of [
    'package.json',
    'tsup.config.ts',
    'tsconfig.json',
    'README.md',
    'CHANGELOG.md',
    'LICENSE',
    'src',
  ]) {
    if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(pkgDir, f), { recursive: true });
  }
  symlinkSync(NODE_MODULES, join(pkgDir, 'node_modules'), 'dir');
  await must('npm', ['run', 'build', '--silent'], pkgDir);
  // 2. Pack.
  const packOut = await must('npm', ['pack', '--json', '--pack-destination', work], pkgDir);
  const info = JSON.parse(packOut.slice(packOut.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = join(work, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);
  packed = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  // 3. A consumer project: the tarball installed by npm, offline (its dependencies come from the
  //    npm cache that `npm ci` filled); optional peers are never installed by npm, so they (and the
  //    type packages the TS consumer needs) are linked from the repo's node_modules.
  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  );
  const install = await sh(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--legacy-peer-deps', tarball],
    consumer,
  );
  if (install.code === 0) {
    installMode = 'npm install --offline';
  } else {
    // The npm cache lacks a dependency's metadata (a machine where npm ci ran from a lockfile only):
    // unpack the tarball as npm would and link its dependencies from the repo instead.
    installMode = `tar + links (npm install --offline failed: ${install.stderr.split('\n').find((l) => l.includes('ERR')) ?? install.code})`;
    const dest = join(consumer, 'node_modules', 'realip');
    mkdirSync(dest, { recursive: true });
    await must('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1'], consumer);
    for (const dep of Object.keys(packed.dependencies ?? {})) linkFromRepo(dep);
    mkdirSync(join(consumer, 'node_modules', '.bin'), { recursive: true });
    symlinkSync('../realip/dist/cli/main.js', join(consumer, 'node_modules', '.bin', 'realip'));
  }
  for (const peer of Object.keys(packed.peerDependencies ?? {})) linkFromRepo(peer);
  for (const name of ['express', 'fastify', '@types/node', '@types/express']) linkFromRepo(name);
}, 480_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

let packedFiles: string[] = [];

describe('npm pack', () => {
  it('ships every file the exports map and bin point to, and no sources or tests', () => {
    const targets = new Set<string>();
    const walk = (v: unknown): void => {
      if (typeof v === 'string') targets.add(v.replace(/^\.\//, ''));
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(packed.exports);
    walk((packed as { bin?: unknown }).bin);
    for (const target of targets) expect(packedFiles, `${target} in the tarball`).toContain(target);
    expect(packedFiles.filter((f) => /^(src|test|bench|node_modules)\//.test(f))).toEqual([]);
    expect(packedFiles).toContain('package.json');
  });

  it('installs from the tarball (install mode recorded)', () => {
    expect(existsSync(join(consumer, 'node_modules', 'realip', 'package.json'))).toBe(true);
    expect(installMode).not.toBe('');
    console.info(`package test: installed with ${installMode}`);
  });
});

const RUNTIME_CHECKS = (load: string) => `
const http = require_('node:http');
async function get(port, headers) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers }, (res) => {
      let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(JSON.parse(b)));
    }).on('error', reject);
  });
}
async function main() {
  const out = { exports: {}, checks: {} };
  for (const name of ${JSON.stringify(ENTRIES)}) {
    const m = await ${load}(name);
    out.exports[name] = Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule' && k !== 'module.exports').sort();
  }
  const core = await ${load}('realip');
  const resolver = core.createResolver({ trustedProxies: ['10.0.0.0/8'] });
  out.checks.core = resolver.resolve({ remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } }).ip;
  out.checks.configError = (() => { try { core.createResolver({ trustedProxies: ['10.0.0/8'] }); return 'no error'; } catch (e) { return e instanceof core.ConfigError ? e.code : String(e); } })();

  const expressMod = await ${load}('express');
  const express = expressMod.default ?? expressMod;
  const { clientIp } = await ${load}('realip/express');
  const app = express();
  app.use(clientIp({ trustedProxies: ['127.0.0.1'] }));
  app.get('/', (req, res) => res.json({ clientIp: req.clientIp, ip: req.ip, hasContext: req.realip.resolution !== undefined }));
  const server = http.createServer(app);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  out.checks.express = await get(server.address().port, { 'x-forwarded-for': '198.51.100.7' });
  await new Promise((r) => server.close(r));

  const fastifyMod = await ${load}('fastify');
  const Fastify = fastifyMod.default ?? fastifyMod;
  const { clientIp: plugin } = await ${load}('realip/fastify');
  const f = Fastify();
  await f.register(plugin, { trustedProxies: ['10.0.0.0/8'] });
  f.get('/', async (request) => ({ clientIp: request.clientIp }));
  const res = await f.inject({ url: '/missing', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '198.51.100.8' } });
  const res2 = await f.inject({ url: '/', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '198.51.100.8' } });
  out.checks.fastify = { status404: res.statusCode, clientIp: res2.json().clientIp };
  await f.close();
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
`;

describe('runtime consumers', () => {
  let esm: any;
  let cjs: any;

  beforeAll(async () => {
    writeFileSync(
      join(consumer, 'esm.mjs'),
      `import { createRequire } from 'node:module';\nconst require_ = createRequire(import.meta.url);\nconst load = (n) => import(n);\n${RUNTIME_CHECKS('load')}`,
    );
    writeFileSync(
      join(consumer, 'cjs.cjs'),
      `const require_ = require;\nconst load = async (n) => require(n);\n${RUNTIME_CHECKS('load')}`,
    );
    const [a, b] = await Promise.all([
      must(process.execPath, ['esm.mjs'], consumer),
      must(process.execPath, ['cjs.cjs'], consumer),
    ]);
    esm = JSON.parse(a);
    cjs = JSON.parse(b);
  }, 240_000);

  it.each(ENTRIES)('%s loads from ESM and CJS with the same export names', (entry) => {
    expect(esm.exports[entry]).toBeDefined();
    expect(cjs.exports[entry]).toEqual(esm.exports[entry]);
  });

  it('the core entry exports the public API', () => {
    for (const name of [
      'createResolver',
      'createRequestResolver',
      'createIpMatcher',
      'ConfigError',
      'RealipError',
    ]) {
      expect(esm.exports.realip).toContain(name);
    }
    expect(esm.exports['realip/express']).toContain('clientIp');
    expect(esm.exports['realip/fastify']).toContain('clientIp');
  });

  it.each([
    ['esm', () => esm],
    ['cjs', () => cjs],
  ])('%s: the entries work end to end', (_name, get) => {
    const checks = get().checks;
    expect(checks.core).toBe('203.0.113.9');
    expect(checks.configError).toMatch(/^ERR_REALIP_/);
    expect(checks.express).toEqual({ clientIp: '198.51.100.7', ip: '198.51.100.7', hasContext: true });
    expect(checks.fastify).toEqual({ status404: 404, clientIp: '198.51.100.8' });
  });

  it('the realip bin runs explain', async () => {
    const bin = join(consumer, 'node_modules', '.bin', 'realip');
    const r = await sh(
      bin,
      [
        'explain',
        '--trust',
        '10.0.0.0/8',
        '--remote',
        '10.0.0.1',
        '-H',
        'X-Forwarded-For: 203.0.113.9, 10.1.2.3',
        '--json',
      ],
      consumer,
      60_000,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ip).toBe('203.0.113.9');
    const bad = await sh(bin, ['explain', '--no-such-flag'], consumer, 60_000);
    expect(bad.code).toBe(2);
  });
});

describe('the core entry loads no optional integration', () => {
  // A resolve hook records every module URL the ESM loader resolves; the CJS side reads require.cache.
  const HOOKS = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(log, result.url + '\\n');
  return result;
}`;

  /** Package names in module paths or file URLs (the segment after the last node_modules/). */
  function loadedPackages(paths: string[]): string[] {
    const names = new Set<string>();
    for (const p of paths) {
      const i = p.lastIndexOf('node_modules/');
      if (i === -1) continue;
      const m = /^((?:@[^/]+\/)?[^/]+)\//.exec(p.slice(i + 'node_modules/'.length));
      if (m) names.add(decodeURIComponent(m[1]!));
    }
    return [...names].sort();
  }

  it('ESM: import("realip") resolves none of them (and the hook does see packages)', async () => {
    writeFileSync(join(consumer, 'hooks.mjs'), HOOKS);
    writeFileSync(
      join(consumer, 'isolation.mjs'),
      `import { register } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
const log = process.argv[2];
writeFileSync(log, '');
register('./hooks.mjs', import.meta.url, { data: { log } });
await import('realip');
const core = readFileSync(log, 'utf8').split('\\n').filter(Boolean);
await import('realip/fastify');
const withFastify = readFileSync(log, 'utf8').split('\\n').filter(Boolean);
process.stdout.write(JSON.stringify({ core, withFastify }));`,
    );
    const out = JSON.parse(
      await must(process.execPath, ['isolation.mjs', join(work, 'esm-resolved.log')], consumer),
    );
    const core = loadedPackages(out.core);
    expect(core).toContain('realip');
    for (const name of FORBIDDEN_IN_CORE) expect(core, `realip core loaded ${name}`).not.toContain(name);
    // Positive control: the hook sees a package the Fastify entry does load.
    expect(loadedPackages(out.withFastify)).toContain('fastify-plugin');
  });

  it('CJS: require("realip") loads none of them (require.cache)', async () => {
    writeFileSync(
      join(consumer, 'isolation.cjs'),
      `require('realip');
const core = Object.keys(require.cache);
require('realip/fastify');
process.stdout.write(JSON.stringify({ core, withFastify: Object.keys(require.cache) }));`,
    );
    const out = JSON.parse(await must(process.execPath, ['isolation.cjs'], consumer));
    const core = loadedPackages(out.core);
    expect(core).toContain('realip');
    for (const name of FORBIDDEN_IN_CORE) expect(core, `realip core loaded ${name}`).not.toContain(name);
    expect(loadedPackages(out.withFastify)).toContain('fastify-plugin');
  });
});

describe('TypeScript consumers (NodeNext)', () => {
  const USE = (kind: 'esm' | 'cjs') => `
import express from 'express';
import Fastify from 'fastify';
import type { IncomingMessage } from 'node:http';
import {
  ConfigError,
  createRequestResolver,
  createResolver,
  type RealipContext,
  type Resolution,
  type ResolverOptions,
} from 'realip';
import { clientIp } from 'realip/express';
import { clientIp as fastifyClientIp } from 'realip/fastify';
import * as geo from 'realip/geo';
import * as metrics from 'realip/metrics';
import * as redis from 'realip/redis';
import * as policy from 'realip/policy';
import * as sidecar from 'realip/sidecar';

export const entries = [geo, metrics, redis, policy, sidecar];

const options: ResolverOptions = { trustedProxies: ['10.0.0.0/8', 'loopback'], header: 'x-forwarded-for' };
const resolver = createResolver(options);
const r: Resolution = resolver.resolve({ remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } });
export const ip: string | undefined = r.ip;
export const text: string = r.explain();
export const isConfigError = (e: unknown): boolean => e instanceof ConfigError && e.issues.length > 0;

const resolveRequest: (req: IncomingMessage) => Resolution = createRequestResolver(options);
export { resolveRequest };

const app = express();
app.use(clientIp({ trustedProxies: ['10.0.0.0/8'], setReqIp: false }));
app.use(clientIp({ resolver }));
app.get('/', (req, res) => {
  const client: string | undefined = req.clientIp;
  const context: RealipContext = req.realip;
  const resolution: Resolution | undefined = context.resolution;
  // @ts-expect-error clientIp may be undefined
  const notUndefined: string = req.clientIp;
  res.json({ client, ip: resolution?.ip, notUndefined });
});
// @ts-expect-error setReqIp is a boolean
clientIp({ setReqIp: 'no' });

const f = Fastify();
${kind === 'esm' ? 'await ' : 'void '}f.register(fastifyClientIp, { trustedProxies: ['10.0.0.0/8'] });
f.register(fastifyClientIp, { resolver });
f.get('/', async (request) => {
  const client: string | undefined = request.clientIp;
  const context: RealipContext = request.realip;
  // @ts-expect-error request.clientIp is not a number
  const n: number = request.clientIp;
  return { client, ip: context.resolution?.ip, n };
});
// @ts-expect-error trustedProxies is a list
f.register(fastifyClientIp, { trustedProxies: '10.0.0.0/8' });
`;

  it('type-checks an ESM (.mts) and a CJS (.cts) consumer with tsc --noEmit', async () => {
    const dir = join(consumer, 'ts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'esm.mts'), USE('esm'));
    writeFileSync(join(dir, 'cjs.cts'), USE('cjs'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          esModuleInterop: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(consumer, 'node_modules', '@types')],
        },
        files: ['esm.mts', 'cjs.cts'],
      }),
    );
    const tsc = join(NODE_MODULES, 'typescript', 'bin', 'tsc');
    const r = await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], dir, 280_000);
    // Only errors in our package's declarations or the consumer count; third-party declaration
    // noise (skipLibCheck is off so realip's own .d.ts files are checked) is listed separately.
    const lines = (r.stdout + r.stderr).split('\n').filter((l) => /error TS/.test(l));
    const ours = lines.filter((l) => !/node_modules\/(?!realip\/)/.test(l));
    expect(ours).toEqual([]);
    if (lines.length > 0) console.info(`third-party declaration errors ignored:\n${lines.join('\n')}`);
  }, 300_000);
});
