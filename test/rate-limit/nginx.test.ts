/**
 * Differential test against a real nginx (`limit_req zone=z burst=5 nodelay`, rate=1r/s): the
 * same volleys, sent from distinct 127.0.0.x source addresses over connections opened beforehand
 * (on an unlimited location), must be admitted in the same numbers by nginx and by our in-memory
 * limiter fed the send times. The rate is slow enough that the spread of a volley on a loaded
 * machine (well under a second) cannot change nginx's answer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter, type RateLimitDecision, type RateLimiter } from '../../src/rate-limit/limiter.js';
import { canConnect, requireCommand } from '../support/env.js';
import { ctx } from './helpers.js';

const hasNginx = requireCommand('nginx', 'nginx-light');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function get(port: number, path: string, localAddress: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!hasNginx)('nginx limit_req differential (rate=1r/s burst=5 nodelay)', () => {
  let dir: string;
  let port: number;
  let nginx: ChildProcess | undefined;
  let ours: RateLimiter;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'realip-nginx-'));
    mkdirSync(join(dir, 'www'));
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'www', 'index.html'), 'ok\n');
    port = await freePort();
    const t = join(dir, 'tmp');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${t}/body; proxy_temp_path ${t}/proxy; fastcgi_temp_path ${t}/fcgi;
  uwsgi_temp_path ${t}/uwsgi; scgi_temp_path ${t}/scgi;
  limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;
  limit_req_status 429;
  server {
    listen 127.0.0.1:${port};
    location / { root ${dir}/www; limit_req zone=z burst=5 nodelay; }
    location /warm/ { alias ${dir}/www/; }
  }
}
`,
    );
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100 && !(await canConnect(port, '127.0.0.1', 200)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    ours = createRateLimiter({ tiers: [{ name: 'z', limits: [{ points: 1, duration: 1, burst: 5 }] }] });
  });

  afterAll(() => {
    nginx?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  const agents: Agent[] = [];
  afterAll(() => {
    for (const a of agents) a.destroy();
  });

  /** A keep-alive agent for `ip` with `n` connections already open (on the unlimited location). */
  async function warmAgent(ip: string, n: number): Promise<Agent> {
    const agent = new Agent({ keepAlive: true, maxSockets: n });
    agents.push(agent);
    const warm = await Promise.all(Array.from({ length: n }, () => get(port, '/warm/', ip, agent)));
    expect(warm.every((s) => s === 200)).toBe(true);
    return agent;
  }

  /** Sends `n` requests at once from `ip` to nginx and to our limiter; returns both admitted counts. */
  async function volley(ip: string, n: number, agent: Agent): Promise<[number, number]> {
    const sent: Promise<number>[] = [];
    let oursAdmitted = 0;
    for (let i = 0; i < n; i++) {
      sent.push(get(port, '/', ip, agent));
      if (!(ours.consume(ctx(ip)) as RateLimitDecision).limited) oursAdmitted++;
    }
    const statuses = await Promise.all(sent);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    return [statuses.filter((s) => s === 200).length, oursAdmitted];
  }

  it('30 requests at once: exactly burst + 1 = 6 admitted by both', async () => {
    const [nginxOk, oursOk] = await volley('127.0.0.11', 30, await warmAgent('127.0.0.11', 30));
    expect(nginxOk).toBe(6);
    expect(oursOk).toBe(6);
  });

  it('after 3.5 s of drain, a second volley of 10: both admit the same number (3)', async () => {
    const agent = await warmAgent('127.0.0.12', 10);
    const [a, b] = await volley('127.0.0.12', 6, agent);
    expect([a, b]).toEqual([6, 6]);
    await new Promise((r) => setTimeout(r, 3500));
    const [nginxOk, oursOk] = await volley('127.0.0.12', 10, agent);
    // 3.5 s at 1 r/s drains 3500 of excess 5000: candidates 2500, 3500, 4500 fit burst 5000.
    expect(nginxOk).toBe(oursOk);
    expect(oursOk).toBe(3);
  });
});
