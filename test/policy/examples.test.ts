/**
 * Every policy in examples/policies: loaded from disk, validated, built into the real stack and
 * exercised with requests that show the decisions it is meant to make.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createStack, loadPolicyFile, type PolicyStack, type StackOptions } from '../../src/policy/index.js';
import { requireRedis } from '../support/env.js';
import { burst, runs, send, silentLogger } from './helpers.js';

const DIR = join(import.meta.dirname, '../../examples/policies');
const open: PolicyStack[] = [];
let now = 1_000_000;
const clock = () => now;

async function stackFor(file: string, options: StackOptions = {}): Promise<PolicyStack> {
  const policy = await loadPolicyFile(join(DIR, file));
  const stack = await createStack(policy, { logger: silentLogger, clock, onWarning: () => {}, ...options });
  open.push(stack);
  return stack;
}

afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

describe('examples/policies', () => {
  it('every example loads and validates (and has a test below)', async () => {
    const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual([
      'aws-alb.yaml',
      'aws-nlb-proxy-protocol.yaml',
      'cloudflare.yaml',
      'default.yaml',
      'gcp-lb.yaml',
      'hybrid.yaml',
      'ingress-nginx.yaml',
      'local-l4.yaml',
      'nginx-tiers.yaml',
      'partner-allowlist.yaml',
    ]);
    for (const f of files) await expect(loadPolicyFile(join(DIR, f))).resolves.toBeDefined();
  });

  it('default.yaml: Local mode ignores a spoofed X-Forwarded-For; 10 r/s burst 20 per client', async () => {
    const stack = await stackFor('default.yaml');
    const spoofed = await send(stack, { peer: '198.51.100.23', headers: { 'x-forwarded-for': '1.2.3.4' } });
    expect(spoofed).toMatchObject({ forwarded: true, ip: '198.51.100.23' });
    expect(spoofed.ctx.resolution?.source).toBe('socket');
    expect(spoofed.ctx.geo?.country).toMatch(/^[A-Z]{2}$/);
    // 21 at once (burst 20 + 1), then refused; another client is unaffected.
    expect(runs(await burst(stack, 22, { peer: '203.0.113.50' }))).toBe('200x21 429x1');
    expect((await send(stack, { peer: '203.0.113.51' })).status).toBe(200);
    // 100 ms later one more is admitted (10 per second).
    now += 100;
    expect(runs(await burst(stack, 2, { peer: '203.0.113.50' }))).toBe('200x1 429x1');
    // An undeterminable client (no socket address) is refused.
    expect((await send(stack, { peer: undefined })).status).toBe(403);
  });

  it('local-l4.yaml: socket peer is the client; probes are never limited; two limits', async () => {
    const stack = await stackFor('local-l4.yaml');
    expect((await send(stack, { peer: '2001:db8::7', headers: { 'x-real-ip': '9.9.9.9' } })).ip).toBe(
      '2001:db8::7',
    );
    expect(runs(await burst(stack, 42, { peer: '198.51.100.99' }))).toBe('200x41 429x1');
    expect(runs(await burst(stack, 60, { peer: '198.51.100.99', url: '/healthz' }))).toBe('200x60');
    const r = await send(stack, { peer: '198.51.100.100' });
    expect(String(r.headers['ratelimit-policy'])).toContain('q=1000;w=3600');
  });

  it('ingress-nginx.yaml: believes X-Forwarded-For only from the controller pods', async () => {
    const stack = await stackFor('ingress-nginx.yaml');
    const viaIngress = await send(stack, {
      peer: '10.244.1.5',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(viaIngress).toMatchObject({ forwarded: true, ip: '203.0.113.9' });
    expect(viaIngress.ctx.resolution?.source).toBe('header');
    // A client-prepended entry cannot change the answer.
    expect(
      (await send(stack, { peer: '10.244.1.5', headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.9' } })).ip,
    ).toBe('203.0.113.9');
    // Straight to the pod (not through the ingress): the header is ignored.
    expect((await send(stack, { peer: '198.51.100.1', headers: { 'x-forwarded-for': '6.6.6.6' } })).ip).toBe(
      '198.51.100.1',
    );
  });

  it('cloudflare.yaml: CF-Connecting-IP from Cloudflare only; deny list file; country deny', async () => {
    const stack = await stackFor('cloudflare.yaml');
    const viaCf = await send(stack, { peer: '173.245.48.1', headers: { 'cf-connecting-ip': '81.2.69.160' } });
    expect(viaCf).toMatchObject({ forwarded: true, ip: '81.2.69.160' });
    expect(viaCf.ctx.geo?.country).toBe('GB');
    // Bypassing the CDN: the header is not believed.
    expect(
      (await send(stack, { peer: '198.51.100.7', headers: { 'cf-connecting-ip': '81.2.69.160' } })).ip,
    ).toBe('198.51.100.7');
    // lists/abusers.txt holds 192.0.2.0/24.
    const abuser = await send(stack, { peer: '173.245.48.1', headers: { 'cf-connecting-ip': '192.0.2.10' } });
    expect(abuser.status).toBe(403);
    expect(abuser.headers['content-type']).toBe('application/problem+json');
    expect(abuser.body).not.toContain('192.0.2.10');
    // 175.45.176.0/22 is in KP in the embedded database.
    const kp = await send(stack, { peer: '173.245.48.1', headers: { 'cf-connecting-ip': '175.45.176.1' } });
    expect(kp.status).toBe(403);
    expect(kp.ctx.access?.reason).toBe('country-deny');
  });

  it('gcp-lb.yaml: the client is second from the right, only from the Google Front End', async () => {
    const stack = await stackFor('gcp-lb.yaml');
    expect(
      (await send(stack, { peer: '35.191.10.1', headers: { 'x-forwarded-for': '198.51.100.9, 34.120.1.1' } }))
        .ip,
    ).toBe('198.51.100.9');
    expect(
      (
        await send(stack, {
          peer: '130.211.0.5',
          headers: { 'x-forwarded-for': '1.1.1.1, 198.51.100.9, 34.120.1.1' },
        })
      ).ip,
    ).toBe('198.51.100.9');
    expect(
      (await send(stack, { peer: '8.8.8.8', headers: { 'x-forwarded-for': '198.51.100.9, 34.120.1.1' } })).ip,
    ).toBe('8.8.8.8');
  });

  describe('aws-alb.yaml (Redis)', async () => {
    const redis = await requireRedis();
    const saved = process.env.REDIS_URL;
    afterAll(() => {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    });
    it.runIf(redis)('believes the ALB subnets; replicas share one limit through Redis', async () => {
      process.env.REDIS_URL = 'redis://127.0.0.1:6379';
      // Two replicas of the same policy: one shared limit of 100 per minute per client.
      const a = await stackFor('aws-alb.yaml', { clock: undefined });
      const b = await stackFor('aws-alb.yaml', { clock: undefined });
      const client = `203.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      const spec = { peer: '10.0.1.10', headers: { 'x-forwarded-for': client } };
      const first = await send(a, spec);
      expect(first).toMatchObject({ forwarded: true, ip: client });
      expect(first.ctx.rateLimit?.source).toBe('store');
      const statuses = [
        ...(await burst(a, 50, spec)),
        ...(await burst(b, 50, spec)),
        ...(await burst(b, 2, spec)),
      ];
      expect(runs(statuses)).toBe('200x99 429x3'); // 100 per minute including `first`
      // Not from the ALB subnets: the header is ignored.
      expect((await send(a, { peer: '198.51.100.1', headers: { 'x-forwarded-for': client } })).ip).toBe(
        '198.51.100.1',
      );
    });
  });

  it('aws-nlb-proxy-protocol.yaml: the PROXY protocol source is the client', async () => {
    const stack = await stackFor('aws-nlb-proxy-protocol.yaml');
    const r = await send(stack, {
      peer: '10.0.5.5',
      proxyProtocol: '203.0.113.77',
      headers: { 'x-forwarded-for': '6.6.6.6' },
    });
    expect(r).toMatchObject({ forwarded: true, ip: '203.0.113.77' });
    expect(r.ctx.resolution?.source).toBe('proxy-protocol');
  });

  it('nginx-tiers.yaml: trusted networks 10 r/s burst 20, the internet 10 r/s burst 5 (nginx limit_req)', async () => {
    const stack = await stackFor('nginx-tiers.yaml');
    const trusted = { peer: '10.1.2.3' };
    const internet = { peer: '203.0.113.9' };
    expect(runs(await burst(stack, 23, trusted))).toBe('200x21 429x2');
    expect(runs(await burst(stack, 7, internet))).toBe('200x6 429x1');
    expect((await send(stack, trusted)).ctx.rateLimit?.tier).toBe('trusted');
    expect((await send(stack, internet)).ctx.rateLimit?.tier).toBe('internet');
    // One request per 100 ms drains: after 100 ms exactly one more from each.
    now += 100;
    expect(runs(await burst(stack, 2, trusted))).toBe('200x1 429x1');
    expect(runs(await burst(stack, 2, internet))).toBe('200x1 429x1');
  });

  it('partner-allowlist.yaml: only 203.0.113.0/24; probes open; no path tricks', async () => {
    const stack = await stackFor('partner-allowlist.yaml');
    expect((await send(stack, { peer: '203.0.113.44' })).forwarded).toBe(true);
    const other = await send(stack, { peer: '198.51.100.1' });
    expect(other.status).toBe(403);
    expect(other.ctx.access?.reason).toBe('not-allowed');
    expect(other.body).not.toContain('198.51.100.1');
    expect((await send(stack, { peer: '198.51.100.1', url: '/healthz' })).forwarded).toBe(true);
    expect((await send(stack, { peer: '198.51.100.1', url: '/healthz/../admin' })).status).toBe(403);
    expect((await send(stack, { peer: '198.51.100.1', url: '//healthz' })).status).toBe(403);
  });

  it('hybrid.yaml: internal tier for cluster callers; deny block with its exception; public limits', async () => {
    const stack = await stackFor('hybrid.yaml');
    const internal = await send(stack, { peer: '10.244.3.3' });
    expect(internal.ctx.rateLimit?.tier).toBe('internal');
    expect((await send(stack, { peer: '198.51.100.5' })).status).toBe(403);
    const excepted = await send(stack, { peer: '198.51.100.7' });
    expect(excepted.forwarded).toBe(true);
    expect(excepted.ctx.rateLimit?.tier).toBe('public');
    expect(runs(await burst(stack, 22, { peer: '203.0.113.1' }))).toBe('200x21 429x1');
    expect(runs(await burst(stack, 100, { peer: '10.96.0.10' }))).toBe('200x100');
  });
});
