/**
 * nginx as a reference reverse proxy for the framing tests: a throw-away nginx (own temp dir for
 * pid, logs and body/proxy temp files) proxying to one upstream port with a keep-alive pool, set
 * up the way a careful operator would put nginx in front of an app.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect } from '../../support/env.js';

export interface Nginx {
  port: number;
  /** Error log so far (for failure messages). */
  log(): string;
  close(): Promise<void>;
}

const live = new Set<{ child: ChildProcess; dir: string }>();
let exitHook = false;

/** Last-resort cleanup if a test run dies without reaching its afterAll. */
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const n of live) {
      n.child.kill('SIGKILL');
      rmSync(n.dir, { recursive: true, force: true });
    }
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts nginx on a free 127.0.0.1 port in front of 127.0.0.1:`upstreamPort`. */
export async function startNginx(upstreamPort: number): Promise<Nginx> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'realip-framing-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const errorLog = join(dir, 'error.log');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${errorLog} info;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  # Forward header names as the client sent them (the sidecar does not filter names either).
  underscores_in_headers on;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${port};
    # Leave targets alone (no slash merging), like the sidecar.
    merge_slashes off;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      # One upstream request per client request: never retry on another attempt.
      proxy_next_upstream off;
      # Stream responses like the sidecar does (bodies still buffered on the request side).
      proxy_buffering off;
      proxy_read_timeout 10s;
    }
  }
}
`,
  );
  const child = spawn(
    'nginx',
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', errorLog, '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const entry = { child, dir };
  live.add(entry);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const log = (): string => {
    try {
      return out + readFileSync(errorLog, 'utf8');
    } catch {
      return out;
    }
  };
  const close = async (): Promise<void> => {
    if (!live.has(entry)) return;
    live.delete(entry);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited early (${child.exitCode}): ${log()}`);
      if (await canConnect(port)) break;
      if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { port, log, close };
}
