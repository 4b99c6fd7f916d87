import http from 'node:http';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PolicyError,
  createStack,
  parsePolicy,
  type PolicyStack,
  type StackOptions,
} from '../../src/policy/index.js';
import { createSidecar } from '../../src/sidecar/index.js';
import { burst, runs, send, silentLogger } from './helpers.js';

const now = 5_000_000;
const clock = () => now;
const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!();
});

async function stack(text: string, options: StackOptions = {}): Promise<PolicyStack> {
  const s = await createStack(parsePolicy(text, { filename: 'p.yaml' }), {
    logger: silentLogger,
    clock,
    onWarning: () => {},
    ...options,
  });
  open.push(() => s.close());
  return s;
}

const TIERS = (a: string, extra = '') =>
  `rateLimit:\n  tiers:\n${extra}    - name: everyone\n      limits: [${a}]\nmetrics: { enabled: false }\n`;

describe('createStack', () => {
  it('runs the stages in order and fills req.realip', async () => {
    const s = await stack(
      'resolve: { trustedProxies: [10.0.0.0/8] }\naccess: { deny: [192.0.2.0/24] }\n' +
        TIERS('{ points: 5, duration: 60 }'),
    );
    const ok = await send(s, { peer: '10.0.0.1', headers: { 'x-forwarded-for': '198.51.100.4' } });
    expect(ok.forwarded).toBe(true);
    expect(ok.ctx.resolution?.ip).toBe('198.51.100.4');
    expect(ok.ctx.access).toMatchObject({ allowed: true });
    expect(ok.ctx.rateLimit).toMatchObject({ tier: 'everyone', remaining: 4 });
    expect(ok.headers['ratelimit']).toBe('"everyone-5-per-60s";r=4;t=60');
    // Denied requests are not counted by the rate limiter (access runs first).
    const denied = await send(s, { peer: '10.0.0.1', headers: { 'x-forwarded-for': '192.0.2.1' } });
    expect(denied.status).toBe(403);
    expect(denied.ctx.rateLimit).toBeUndefined();
  });

  it('answers HEAD without a body', async () => {
    const s = await stack('access: { allow: [10.0.0.0/8] }\nmetrics: { enabled: false }\n');
    const r = await send(s, { peer: '198.51.100.1', method: 'HEAD' });
    expect(r.status).toBe(403);
    expect(r.body).toBe('');
  });

  it('refuses a preset without the deployment addresses at its line (when it is parsed)', () => {
    const text = 'resolve:\n  preset: aws-alb\naccess:\n  allow: [10.0.0.0/8]\n';
    let error: unknown;
    try {
      parsePolicy(text, { filename: 'p.yaml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).message).toMatch(
      /^p\.yaml:1: resolve\.trustedProxies: preset "aws-alb" needs the addresses of your own deployment/,
    );
    expect((error as PolicyError).issues[0]?.code).toBe('ERR_REALIP_PRESET_TRUST_REQUIRED');
  });

  it('reports an unknown log.omit field at its line in the policy file (when it is parsed)', () => {
    const text = 'log:\n  omit:\n    - url.path\n    - client.adress\nmetrics: { enabled: false }\n';
    expect(() => parsePolicy(text, { filename: 'p.yaml' })).toThrow(
      /p\.yaml:4: log\.omit\[1\]: unknown field "client\.adress" for fieldStyle "otel"; expected one of client\.address, /,
    );
  });

  it('reports a missing secret from the environment', async () => {
    delete process.env.REALIP_TEST_NO_SUCH_KEY;
    const text =
      'log:\n  anonymize: hmac\n  hmacKeyEnv: REALIP_TEST_NO_SUCH_KEY\nmetrics: { enabled: false }\n';
    await expect(
      createStack(parsePolicy(text, { filename: 'p.yaml' }), { logger: silentLogger }),
    ).rejects.toThrow(/p\.yaml:3: log\.hmacKeyEnv: environment variable REALIP_TEST_NO_SUCH_KEY is not set/);
  });

  it('exposes Prometheus metrics and creating two stacks on one registry does not throw', async () => {
    const a = await stack('rateLimit: { tiers: [{ name: t, limits: [{ points: 1, duration: 60 }] }] }\n');
    await send(a, { peer: '198.51.100.1' });
    await send(a, { peer: '198.51.100.1' });
    const b = await stack('access: {}\n', { registry: a.registry });
    expect(b.registry).toBe(a.registry);
    // Observed at response close: emulate the close the sidecar's server would emit.
    const text = await a.metrics();
    expect(text).toContain('realip_resolutions_total');
  });

  it('builds from lower-case metrics countries and mixed-case log header names (the schema allows any case)', async () => {
    const s = await stack(
      'geo: { databases: [embedded] }\nmetrics: { countries: [de, us] }\n' +
        'log: { headers: [User-Agent], requestIdHeader: X-Request-Id }\n',
    );
    expect((await send(s, { peer: '198.51.100.7' })).forwarded).toBe(true);
  });
});

describe('hot reload (stack.update)', () => {
  it('keeps rate-limit counters of tiers whose name and limits did not change', async () => {
    const s = await stack(TIERS('{ points: 1, duration: 1, burst: 2 }'));
    const spec = { peer: '198.51.100.8' };
    expect(runs(await burst(s, 4, spec))).toBe('200x3 429x1');
    // A new tier in front, same "everyone" tier: still limited.
    await s.update(
      parsePolicy(
        TIERS(
          '{ points: 1, duration: 1, burst: 2 }',
          '    - { name: office, match: [10.0.0.0/8], limits: [{ points: 100, duration: 1 }] }\n',
        ),
      ),
    );
    expect(runs(await burst(s, 1, spec))).toBe('429x1');
    expect((await send(s, { peer: '10.1.1.1' })).ctx.rateLimit?.tier).toBe('office');
    // The tier's limits changed: it starts from zero.
    await s.update(parsePolicy(TIERS('{ points: 1, duration: 1, burst: 3 }')));
    expect(runs(await burst(s, 5, spec))).toBe('200x4 429x1');
  });

  it('keeps the running policy when a new one is refused by a stage', async () => {
    const s = await stack('access: { allow: [10.0.0.0/8] }\nmetrics: { enabled: false }\n');
    await expect(
      s.update(
        parsePolicy(
          'resolve: { preset: { name: cloudflare, requireHeader: { name: x-t, valueEnv: REALIP_TEST_NO_SUCH_TENANT } } }\n',
          { filename: 'new.yaml' },
        ),
      ),
    ).rejects.toThrow(/new\.yaml:1: resolve\.preset\.requireHeader\.valueEnv: environment variable/);
    expect((await send(s, { peer: '198.51.100.1' })).status).toBe(403);
    expect(s.policy.access?.allow).toEqual(['10.0.0.0/8']);
  });

  it('watches the policy file: applies valid versions, keeps the old one on errors, counts both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'realip-stack-'));
    open.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'policy.yaml');
    const v1 = 'access: { allow: [10.0.0.0/8] }\nmetrics: { enabled: false }\n';
    await writeFile(path, v1);
    const errors: string[] = [];
    const logger = {
      info: () => {},
      warn: () => {},
      error: (o: object) => void errors.push(JSON.stringify(o)),
    };
    const s = await createStack(parsePolicy(v1, { filename: path }), {
      logger,
      watch: path,
      watchOptions: { pollMs: 50, debounceMs: 10 },
    });
    open.push(() => s.close());
    const replace = async (text: string) => {
      await writeFile(`${path}.tmp`, text);
      await rename(`${path}.tmp`, path);
    };
    const until = async (cond: () => boolean) => {
      const end = Date.now() + 5000;
      while (!cond()) {
        if (Date.now() > end) throw new Error('timeout');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await replace('access: { allow: [198.51.100.0/24] }\nmetrics: { enabled: false }\n');
    await until(() => s.reloads()?.reloads === 1);
    expect((await send(s, { peer: '198.51.100.1' })).forwarded).toBe(true);
    await replace('access: { allow: [198.51.100.0/33] }\n');
    await until(() => s.reloads()?.failures === 1);
    expect((await send(s, { peer: '198.51.100.1' })).forwarded).toBe(true);
    expect(errors.join('\n')).toContain('policy-reload-failed');
    expect(await s.metrics()).toContain('realip_policy_reloads_total{result="failure"} 1');
    expect(errors.join('\n')).toContain('access.allow[0]');
  });
});

describe('with the sidecar', () => {
  it('forwards allowed requests with the resolved IP, refuses the rest, serves metrics on the admin port', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const app = http.createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ message: 'Hello', yourIP: req.headers['x-real-ip'] }));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    open.push(() => new Promise((r) => app.close(() => r())));
    const s = await stack(
      'access: { deny: [127.0.0.2] }\n' +
        TIERS('{ points: 3, duration: 60 }').replace('metrics: { enabled: false }\n', ''),
      { clock: undefined },
    );
    const sidecar = createSidecar({
      upstream: `http://127.0.0.1:${(app.address() as { port: number }).port}`,
      stack: s,
      listen: { host: '127.0.0.1', port: 0 },
      adminListen: { host: '127.0.0.1', port: 0 },
      shutdownDelayMs: 0,
    });
    const addr = await sidecar.listen();
    open.push(() => sidecar.close());
    const base = `http://127.0.0.1:${addr.public.port}`;
    const r = await fetch(base, {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9' },
    });
    expect(await r.json()).toEqual({ message: 'Hello', yourIP: '127.0.0.1' });
    expect(seen[0]?.['x-forwarded-for']).toBe('127.0.0.1');
    expect(r.headers.get('ratelimit')).toContain('"everyone-3-per-60s";r=2');
    // 127.0.0.2 is denied (bind the client to that source address).
    const denied = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: addr.public.port, path: '/', localAddress: '127.0.0.2' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(denied).toBe(403);
    expect(seen).toHaveLength(1);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(base)).status);
    expect(statuses).toEqual([200, 200, 429]);
    const metrics = await (await fetch(`http://127.0.0.1:${addr.admin!.port}/metrics`)).text();
    expect(metrics).toMatch(
      /realip_requests_total\{decision="allowed",reason="no-allow-list",tier="everyone"\} 3/,
    );
    expect(metrics).toMatch(
      /realip_requests_total\{decision="limited",reason="ratelimit",tier="everyone"\} 1/,
    );
    expect(metrics).toMatch(/realip_requests_total\{decision="denied",reason="deny-list",tier="none"\} 1/);
  });
});
