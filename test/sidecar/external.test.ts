/**
 * End to end through real proxies: HAProxy sending PROXY protocol v1 and v2 to the sidecar, and
 * nginx in front writing X-Forwarded-For. Clients connect from 127.0.0.2 so the client address
 * differs from the proxies' (127.0.0.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, requireCommand } from '../support/env.js';
import {
  deadPort,
  localStack,
  request,
  startApp,
  startSidecar,
  type App,
  type Running,
  type Seen,
} from './helpers.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
let app: App;
const running: Running[] = [];

beforeAll(async () => {
  app = await startApp();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const r of running) await r.sidecar.close();
  await app.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function waitPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited early (${child.exitCode}): ${output()}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not ready: ${output()}`);
}

function launch(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  return { child, output: () => out };
}

const hasHaproxy = requireCommand('haproxy', 'haproxy');
const hasNginx = requireCommand('nginx', 'nginx-light');

describe.runIf(hasHaproxy)('HAProxy send-proxy / send-proxy-v2', () => {
  it.each([
    ['send-proxy', 'v1'],
    ['send-proxy-v2', 'v2'],
  ])('%s: the app sees the client HAProxy saw', async (directive, version) => {
    const s = await startSidecar(app.url, { proxyProtocol: { trusted: ['127.0.0.1'] } });
    running.push(s);
    const dir = mkdtempSync(join(tmpdir(), 'realip-haproxy-'));
    dirs.push(dir);
    const front = await deadPort();
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'global',
        '  maxconn 100',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        'frontend fe',
        `  bind 127.0.0.1:${front}`,
        '  default_backend be',
        'backend be',
        `  server sidecar 127.0.0.1:${s.port} ${directive}`,
        '',
      ].join('\n'),
    );
    const { child, output } = launch('haproxy', ['-f', cfg, '-db']);
    await waitPort(front, child, output);
    const r = await request(`http://127.0.0.1:${front}/through-haproxy`, {
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6' },
      localAddress: '127.0.0.2',
    });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as Seen;
    expect(seen.headers['x-real-ip']).toBe('127.0.0.2');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.2');
    const m = await request(`${s.adminUrl}/metrics`);
    // at least the request (the readiness probe's connection also went through HAProxy)
    expect(m.body).toMatch(
      new RegExp(`proxy_protocol_accepted_total\\{version="${version}",command="proxy"\\} [1-9]`),
    );
    child.kill('SIGTERM');
  });
});

describe.runIf(hasHaproxy)('HAProxy health checks over send-proxy-v2', () => {
  it('check-send-proxy sends LOCAL headers; the checks are served with the socket address', async () => {
    const s = await startSidecar(app.url, { proxyProtocol: { trusted: ['127.0.0.1'] } });
    running.push(s);
    const dir = mkdtempSync(join(tmpdir(), 'realip-haproxy-'));
    dirs.push(dir);
    const front = await deadPort();
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        '  timeout check 2s',
        'frontend fe',
        `  bind 127.0.0.1:${front}`,
        '  default_backend be',
        'backend be',
        '  option httpchk GET /haproxy-check',
        `  server sidecar 127.0.0.1:${s.port} send-proxy-v2 check check-send-proxy inter 100`,
        '',
      ].join('\n'),
    );
    const before = app.seen.length;
    const { child } = launch('haproxy', ['-f', cfg, '-db']);
    const deadline = Date.now() + 10_000;
    while (!app.seen.slice(before).some((x) => x.url === '/haproxy-check') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const check = app.seen.slice(before).find((x) => x.url === '/haproxy-check');
    expect(check?.headers['x-real-ip']).toBe('127.0.0.1');
    const m = await request(`${s.adminUrl}/metrics`);
    expect(m.body).toMatch(/proxy_protocol_accepted_total\{version="v2",command="local"\} [1-9]/);
    child.kill('SIGTERM');
  });
});

describe.runIf(hasNginx)('nginx in front writing X-Forwarded-For', () => {
  it('the sidecar trusts nginx, takes the client from X-Forwarded-For and ignores the spoofed part', async () => {
    const s = await startSidecar(app.url, { stack: localStack(['127.0.0.1']) });
    running.push(s);
    const dir = mkdtempSync(join(tmpdir(), 'realip-nginx-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'tmp'));
    const front = await deadPort();
    const cfg = join(dir, 'nginx.conf');
    writeFileSync(
      cfg,
      `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${front};
    location / {
      proxy_pass http://127.0.0.1:${s.port};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Connection "";
    }
  }
}
`,
    );
    const { child, output } = launch('nginx', ['-c', cfg, '-p', dir, '-e', 'stderr']);
    await waitPort(front, child, output);
    const r = await request(`http://127.0.0.1:${front}/through-nginx`, {
      headers: { 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-client-country': 'XX' },
      localAddress: '127.0.0.2',
    });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as Seen;
    expect(seen.headers['x-real-ip']).toBe('127.0.0.2');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.2');
    expect(seen.headers['x-forwarded-proto']).toBe('https'); // written by the trusted nginx
    expect(seen.headers.forwarded).toBeUndefined();
    expect(seen.headers['x-client-country']).toBeUndefined();
    child.kill('SIGTERM');
  });
});
