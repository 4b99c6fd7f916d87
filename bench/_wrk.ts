/**
 * Shared by the HTTP benchmarks (the leading underscore keeps bench/run.mjs from running it): wrk
 * on CPU 1 with the servers on CPU 0, X-Forwarded-For scripts, and a process's CPU time.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** True when `cmd` is on PATH. */
export const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Servers can be pinned to CPU 0 and the load to CPU 1. */
export const CAN_PIN = has('taskset') && cpus().length > 1;
/** wrk is installed and can run pinned apart from the servers. */
export const PINNED_WRK = has('wrk') && CAN_PIN;

/** `argv` prefixed to run on `cpu` when pinning is possible. */
export function pinnedTo(cpu: number, argv: string[]): string[] {
  return CAN_PIN ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

/** CPU time (user + system, all threads) of a process so far, in µs. */
export function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000; // utime, stime in clock ticks (100 Hz)
}

/**
 * A wrk Lua script sending `X-Forwarded-For: ips[n]` in turn. `fill` is Lua that sets
 * `ips[i + 1]` for `i` in 0 .. count-1 (`band` and `rshift` are in scope).
 */
export function xffScript(count: number, fill: string): string {
  return `
local band, rshift = bit.band, bit.rshift
local ips = {}
for i = 0, ${count - 1} do
  ${fill}
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/", { ["X-Forwarded-For"] = ips[(n % ${count}) + 1] })
end
`;
}

export interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: boolean;
}

/** One wrk run (one thread) on CPU 1 against `url`, with a script file or fixed headers. */
export function runWrk(
  url: string,
  o: { duration: number; connections: number; script?: string; headers?: string[] },
): WrkResult {
  const argv = ['wrk', '-t1', `-c${o.connections}`, `-d${o.duration}s`];
  if (o.script !== undefined) argv.push('-s', o.script);
  for (const h of o.headers ?? []) argv.push('-H', h);
  argv.push(url);
  const [cmd, ...args] = pinnedTo(1, argv);
  const out = execFileSync(cmd!, args, { encoding: 'utf8' });
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    requests: Number(/(\d+) requests in/.exec(out)![1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: /Socket errors/.test(out),
  };
}

/**
 * Starts a benchmark server: `argv` (a node command line) in a child process, pinned to CPU 0 when
 * `pin` and pinning is possible, resolved with its port once it prints `PORT <n>`.
 */
export function startServer(
  label: string,
  argv: string[],
  pin = true,
): Promise<{ child: ChildProcess; port: number }> {
  const [cmd, ...rest] = pin ? pinnedTo(0, argv) : argv;
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /PORT (\d+)/.exec(buf);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${label} exited with ${code}`)));
  });
}
