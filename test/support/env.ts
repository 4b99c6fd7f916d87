/**
 * External tools and services in tests: outside CI a missing tool skips the test with a clear
 * message (so `npm test` passes on a fresh laptop); under CI=true it fails, because .ci/run
 * installs everything and a silent skip would hide a broken pipeline.
 */
import { execFileSync } from 'node:child_process';
import { Socket } from 'node:net';

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** Absolute path of a command on PATH, or undefined. */
export function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** True when something accepts TCP connections at host:port within `timeoutMs`. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

/**
 * Decides whether a suite that needs `what` runs. Returns true to run. Outside CI, prints why it
 * is skipped and returns false; under CI, throws so the suite fails loudly.
 */
export function requireAvailable(what: string, available: boolean, hint: string): boolean {
  if (available) return true;
  const message = `${what} is not available (${hint})`;
  if (IN_CI) throw new Error(`${message}; CI must provide it (.ci/run installs it)`);
  console.warn(`[skip] ${message}; skipping. Install it to run these tests.`);
  return false;
}

/** Convenience: a command on PATH. */
export function requireCommand(command: string, debianPackage: string): boolean {
  return requireAvailable(command, which(command) !== undefined, `apt-get install ${debianPackage}`);
}

/** Convenience: Redis on 127.0.0.1:6379. */
export async function requireRedis(port = 6379): Promise<boolean> {
  return requireAvailable(`Redis on 127.0.0.1:${port}`, await canConnect(port), 'start redis-server');
}
