/**
 * Differential test against Debian's nginx realip module (`real_ip_recursive on`): a few hundred
 * random X-Forwarded-For chains of canonical addresses (no ports: nginx accepts forms realip
 * rejects on purpose, see docs/resolve.md), one server block per random trusted set, requests
 * from 127.0.0.1 (trusted in every block).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIpMatcher, createResolver } from '../../src/index.js';
import { canonicalIp } from '../../src/core/ip.js';
import { parseCidr } from '../../src/core/cidr.js';
import { canConnect, requireCommand } from '../support/env.js';

const HAVE_NGINX = requireCommand('nginx', 'nginx-light');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function get(port: number, xff: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        headers: xff === '' ? {} : { 'x-forwarded-for': xff },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const MAPPED_FIRST = 0xffffn << 32n;
const MAPPED_LAST = MAPPED_FIRST | 0xffffffffn;
/** See property.test.ts: IPv6 rules spanning the mapped block are a documented cidr.ts choice. */
function spansMappedSpace(rule: string): boolean {
  const c = parseCidr(rule);
  return typeof c !== 'string' && c.kind === 6 && c.first <= MAPPED_LAST && c.last >= MAPPED_FIRST;
}

const v4 = fc.ipV4().map((s) => canonicalIp(s)!);
const v6 = fc.ipV6().map((s) => canonicalIp(s)!);
const addr = fc
  .oneof(v4, v6)
  .filter((a) => a !== '0.0.0.0' && a !== '::' && a !== '255.255.255.255' && a !== '127.0.0.1');

interface Block {
  port: number;
  trusted: string[];
  pool: string[];
}

const BLOCKS = 4;
const CHAINS_PER_BLOCK = 75;

describe.runIf(HAVE_NGINX)('agreement with nginx realip (real_ip_recursive on)', () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  const blocks: Block[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'realip-nginx-'));
    const servers: string[] = [];
    const rng = fc.sample(
      fc.uniqueArray(addr, { minLength: 3, maxLength: 8 }).chain((pool) =>
        fc.record({
          pool: fc.constant(pool),
          trusted: fc
            .uniqueArray(
              fc.tuple(fc.constantFrom(...pool), fc.integer({ min: 0, max: 99 })).map(([a, p]) => {
                const isV6 = a.includes(':');
                const prefix = p < 60 ? (isV6 ? 128 : 32) : isV6 ? 16 + (p % 113) : 8 + (p % 25);
                return parseCidr(`${a}/${prefix}`) as { text: string };
              }),
              { minLength: 1, maxLength: 4, selector: (c) => c.text },
            )
            .map((cs) => cs.map((c) => c.text).filter((t) => !spansMappedSpace(t) && !t.endsWith('/0'))),
        }),
      ),
      BLOCKS,
    );
    for (const { pool, trusted } of rng) {
      const port = await freePort();
      blocks.push({ port, trusted, pool });
      servers.push(`
    server {
      listen 127.0.0.1:${port};
      set_real_ip_from 127.0.0.1;
${trusted.map((t) => `      set_real_ip_from ${t};`).join('\n')}
      real_ip_header X-Forwarded-For;
      real_ip_recursive on;
      location / { return 200 $remote_addr; }
    }`);
    }
    const conf = `
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  default_type text/plain;
${servers.join('\n')}
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const bin = '/usr/sbin/nginx';
    nginx = spawn(
      bin,
      ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    nginx.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 10_000;
    for (const b of blocks) {
      while (!(await canConnect(b.port, '127.0.0.1', 200))) {
        if (nginx.exitCode !== null || Date.now() > deadline) {
          let log = '';
          try {
            log = readFileSync(join(dir, 'error.log'), 'utf8');
          } catch {
            // no log yet
          }
          throw new Error(`nginx did not start: ${stderr}\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (nginx.exitCode === null) nginx.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`same client on ${BLOCKS * CHAINS_PER_BLOCK} random chains`, async () => {
    let compared = 0;
    let fromHeader = 0;
    let allTrusted = 0;
    for (const b of blocks) {
      const resolver = createResolver({
        trustedProxies: ['127.0.0.1', ...b.trusted],
        onWarning: () => undefined,
      });
      const chains = fc.sample(fc.array(fc.constantFrom(...b.pool), { maxLength: 12 }), CHAINS_PER_BLOCK);
      // Make sure every block also exercises the "everything trusted: leftmost" rule.
      const m = createIpMatcher(b.trusted);
      const inside = b.pool.filter((a) => m.has(a));
      if (inside.length > 0) chains.push([inside[0]!], [...inside].reverse().concat(inside));
      for (const chain of chains) {
        const xff = chain.join(', ');
        const theirs = (await get(b.port, xff)).trim();
        const ours = resolver.resolve({
          remoteAddress: '127.0.0.1',
          headers: xff === '' ? {} : { 'x-forwarded-for': xff },
        });
        expect(ours.ip, `trusted ${b.trusted.join(' ')} xff "${xff}"`).toBe(canonicalIp(theirs) ?? theirs);
        compared++;
        if (ours.source === 'header') fromHeader++;
        if (ours.reason === 'all-trusted') allTrusted++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(BLOCKS * CHAINS_PER_BLOCK);
    // The comparison is not vacuous: many answers come from the header, some from a full walk.
    expect(fromHeader).toBeGreaterThan(compared / 4);
    expect(allTrusted).toBeGreaterThan(0);
  });
});
