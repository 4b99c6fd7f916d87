/**
 * `realip explain`: the dispatcher spawned from the TypeScript source (no build needed, no race with
 * other suites building dist/), plus the same run() in-process for the argument tables.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/explain.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = 'src/cli/main.ts';

function spawnCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: ROOT, encoding: 'utf8', timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  return { stream, text: () => text };
}

async function runInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = sink();
  const err = sink();
  const code = await run(args, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

const ISSUE_EXAMPLE = [
  'explain',
  '--trust',
  '10.0.0.0/8',
  '--trust',
  'loopback',
  '--remote',
  '10.0.0.1',
  '-H',
  'X-Forwarded-For: 203.0.113.9, 10.1.2.3',
];

describe('realip explain (spawned)', () => {
  it("prints the client and the explanation for the issue's example", async () => {
    const { code, stdout, stderr } = await spawnCli(ISSUE_EXAMPLE);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^client: +203\.0\.113\.9$/m);
    expect(stdout).toMatch(/^source: +header \(x-forwarded-for\)$/m);
    expect(stdout).toMatch(/^peer: +10\.0\.0\.1$/m);
    // The explanation follows the summary and mentions the peer.
    const explanation = stdout.split('\n\n').slice(1).join('\n\n');
    expect(explanation).toContain('10.0.0.1');
  });

  it('--json prints every Resolution field plus the explanation', async () => {
    const { code, stdout } = await spawnCli([...ISSUE_EXAMPLE, '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(Object.keys(result).sort()).toEqual(
      ['chain', 'complete', 'explanation', 'header', 'ip', 'peer', 'reason', 'source', 'warnings'].sort(),
    );
    expect(result).toMatchObject({
      ip: '203.0.113.9',
      source: 'header',
      header: 'x-forwarded-for',
      peer: '10.0.0.1',
      complete: true,
      reason: 'untrusted-entry',
      warnings: [],
    });
    expect(result.chain[0]).toBe('203.0.113.9');
    expect(typeof result.explanation).toBe('string');
    expect(result.explanation.length).toBeGreaterThan(0);
  });

  it('bad CIDR: exit 2, the ConfigError lines, no stack trace', async () => {
    const { code, stdout, stderr } = await spawnCli([
      'explain',
      '--trust',
      '10.0.0/8',
      '--remote',
      '10.0.0.1',
    ]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^realip explain: invalid options \(ERR_REALIP_CIDR_INVALID\):$/m);
    expect(stderr).toMatch(/^ {2}trustedProxies\[0\] \(--trust\): .*10\.0\.0\/8/m);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('unknown flag: exit 2, no stack trace', async () => {
    const { code, stderr } = await spawnCli(['explain', '--trusted', '10.0.0.0/8']);
    expect(code).toBe(2);
    expect(stderr).toContain("Unknown option '--trusted'");
    expect(stderr).toContain('realip explain --help');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('--help: exit 0 and lists every option', async () => {
    const { code, stdout } = await spawnCli(['explain', '--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--trust',
      '--remote',
      '--request-header',
      '--header',
      '--hops',
      '--preset',
      '--require-header',
      '--json',
      '--help',
    ]) {
      expect(stdout).toContain(flag);
    }
  });
});

describe('realip explain (arguments)', () => {
  it.each([
    ['a positional argument', ['stray'], /Unexpected argument 'stray'/],
    ['a flag without its value', ['--remote'], /--remote/],
    ['a non-integer --hops', ['--hops', 'two'], /--hops: expected a non-negative integer, got "two"/],
    ['a negative --hops', ['--hops', '-1'], /--hops/],
    [
      'a non-integer --max-entries',
      ['--max-entries', '1e3'],
      /--max-entries: expected a non-negative integer/,
    ],
    ['a header line without a colon', ['-H', 'X-Forwarded-For 1.2.3.4'], /-H: expected "Name: value"/],
    ['an invalid header name', ['-H', 'X Forwarded: 1.2.3.4'], /-H: invalid header name "X Forwarded"/],
    ['--remote with a port', ['--remote', '10.0.0.1:8080'], /--remote: expected an IP address/],
    ['--remote bracketed with a port', ['--remote', '[::1]:8080'], /--remote: expected an IP address/],
    ['--remote not an IP', ['--remote', 'localhost'], /--remote: expected an IP address/],
    ['--remote in a legacy form', ['--remote', '127.1'], /--remote: expected an IP address/],
    ['an empty --trust rule', ['--trust', '10.0.0.0/8,'], /--trust: empty rule/],
    ['--require-header without --preset', ['--require-header', 'X-Azure-FDID: abc'], /need --preset/],
    ['--tenant without --preset', ['--tenant', 'abc'], /need --preset/],
    [
      '--require-header values for two names',
      ['--preset', 'azure-front-door', '--require-header', 'A: 1', '--require-header', 'B: 2'],
      /same header name/,
    ],
    ['a malformed --preset-option', ['--preset', 'cloudflare', '--preset-option', 'novalue'], /KEY=VALUE/],
    ['an unknown preset', ['--preset', 'no-such-cdn', '--remote', '10.0.0.1'], /preset/],
    [
      'a bad CIDR among several',
      ['--trust', 'loopback,10.0.0/8', '--remote', '10.0.0.1'],
      /trustedProxies\[1\]/,
    ],
  ])('exit 2 for %s', async (_name, args, message) => {
    const { code, stdout, stderr } = await runInProcess(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('comma-separated --trust rules equal repeated flags', async () => {
    const a = await runInProcess([...ISSUE_EXAMPLE.slice(1), '--json']);
    const b = await runInProcess([
      '--trust',
      '10.0.0.0/8, loopback',
      '--remote',
      '10.0.0.1',
      '-H',
      'X-Forwarded-For: 203.0.113.9, 10.1.2.3',
      '--json',
    ]);
    expect(JSON.parse(b.stdout)).toEqual(JSON.parse(a.stdout));
  });

  it('no --remote: undeterminable, still exit 0', async () => {
    const { code, stdout } = await runInProcess([
      '--trust',
      '10.0.0.0/8',
      '-H',
      'X-Forwarded-For: 203.0.113.9',
      '--json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.ip).toBeNull();
    expect(result.peer).toBeNull();
    expect(result.complete).toBe(false);
  });

  it('no trusted proxies: the peer, headers ignored', async () => {
    const { code, stdout } = await runInProcess([
      '--remote',
      '198.51.100.4',
      '-H',
      'X-Forwarded-For: 6.6.6.6',
      '--json',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      ip: '198.51.100.4',
      source: 'socket',
      reason: 'no-trusted-proxies',
    });
  });

  it('--header selects the one header read', async () => {
    const args = [
      '--trust',
      '10.0.0.0/8',
      '--remote',
      '10.0.0.1',
      '-H',
      'X-Forwarded-For: 6.6.6.6',
      '-H',
      'X-Real-IP: 198.51.100.8',
      '--json',
    ];
    const xff = JSON.parse((await runInProcess(args)).stdout);
    const real = JSON.parse((await runInProcess([...args, '--header', 'x-real-ip'])).stdout);
    expect(xff.ip).toBe('6.6.6.6');
    expect(real).toMatchObject({ ip: '198.51.100.8', header: 'x-real-ip' });
  });

  it('IPv4-mapped --remote is canonicalised', async () => {
    const { stdout } = await runInProcess(['--remote', '::ffff:198.51.100.4', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ ip: '198.51.100.4', peer: '198.51.100.4' });
  });
});

describe('realip explain (presets)', () => {
  it('--tenant and --require-header feed the preset tenant check', async () => {
    const base = [
      '--preset',
      'azure-front-door',
      '--trust',
      '147.243.0.0/16',
      '--remote',
      '147.243.1.1',
      '-H',
      'X-Azure-SocketIP: 203.0.113.9',
    ];
    const ok = await runInProcess([...base, '--tenant', 'abc', '-H', 'X-Azure-FDID: abc', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ip: '203.0.113.9', header: 'x-azure-socketip' });
    const wrong = await runInProcess([
      ...base,
      '--require-header',
      'X-Azure-FDID: abc',
      '-H',
      'X-Azure-FDID: other',
      '--json',
    ]);
    expect(wrong.code).toBe(0);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ ip: '147.243.1.1', reason: 'tenant-mismatch' });
    const both = await runInProcess([...base, '--tenant', 'a', '--require-header', 'X-Azure-FDID: b']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
  });

  it('a preset that needs deployment addresses fails with exit 2 and names the flag', async () => {
    const { code, stderr } = await runInProcess(['--preset', 'azure-front-door', '--remote', '10.0.0.1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^ {2}trustedProxies \(--trust\): /m);
  });

  it('--hops with --preset is the preset hops option', async () => {
    const args = [
      '--preset',
      'gcp-lb',
      '--remote',
      '35.191.0.1',
      '-H',
      'X-Forwarded-For: 1.1.1.1, 203.0.113.9, 34.1.1.1',
      '--json',
    ];
    expect(JSON.parse((await runInProcess(args)).stdout).ip).toBe('203.0.113.9');
    expect(JSON.parse((await runInProcess([...args, '--hops', '3'])).stdout).ip).toBe('1.1.1.1');
  });

  it('warnings go to stderr in text mode and into "warnings" with --json', async () => {
    const args = ['--remote', '10.0.0.1', '-H', 'X-Forwarded-For: 203.0.113.9'];
    const text = await runInProcess(args);
    expect(text.stderr).toMatch(/^warning WRN_REALIP_UNTRUSTED_FORWARDED: /m);
    const json = await runInProcess([...args, '--json']);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout).warnings.map((w: { code: string }) => w.code)).toEqual([
      'WRN_REALIP_UNTRUSTED_FORWARDED',
    ]);
  });

  it('repeated -H lines reach the resolver as separate values (ambiguous single-IP header)', async () => {
    const { stdout } = await runInProcess([
      '--trust',
      '10.0.0.0/8',
      '--header',
      'x-real-ip',
      '--remote',
      '10.0.0.1',
      '-H',
      'X-Real-IP: 203.0.113.1',
      '-H',
      'X-Real-IP: 203.0.113.2',
      '--json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ ip: '10.0.0.1', complete: false, reason: 'ambiguous-header' });
  });
});
