/**
 * `realip demo` (what `npm start` runs): the echo app on 127.0.0.1 behind the realip sidecar with
 * the built-in default policy (Local mode, embedded GeoIP when installed, 10 r/s burst 20 per
 * client). Prints where to send requests and where logs and metrics are.
 */
import type { Server } from 'node:http';
import { parseCli, formatHelp, UsageError, type CliOptions } from './args.js';
import { startEchoApp } from './echo-app.js';
import { DEFAULT_POLICY } from '../policy/default.js';
import { describePolicy } from '../policy/describe.js';
import { PolicyError, formatPolicyIssue } from '../policy/errors.js';
import { loadPolicyFile } from '../policy/parse.js';
import { createStack, type PolicyStack } from '../policy/stack.js';
import type { Policy } from '../policy/schema.js';
import { createSidecar, type Sidecar } from '../sidecar/sidecar.js';
import { parseListenAddress } from './sidecar.js';

const OPTIONS: CliOptions = {
  listen: { type: 'string', value: 'ADDR', description: 'public listener (default 127.0.0.1:8080)' },
  'admin-listen': {
    type: 'string',
    value: 'ADDR',
    description: 'admin listener: /metrics /readyz /healthz (default 127.0.0.1:9901)',
  },
  'app-port': {
    type: 'string',
    value: 'PORT',
    description: 'port of the echo app on 127.0.0.1 (default: any free port)',
  },
  config: {
    type: 'string',
    value: 'FILE',
    description: 'a policy file instead of the built-in default policy',
  },
  help: { type: 'boolean', short: 'h', description: 'this text' },
};

const HELP = formatHelp(
  'realip demo [options]',
  'Runs an echo app ({"message":"Hello","yourIP":...}) on 127.0.0.1 behind the realip sidecar\nwith the built-in default policy, and prints how to try it. Ctrl-C stops it.',
  OPTIONS,
  'Addresses: 127.0.0.1:8080, [::]:8080, :8080 or 8080 (0 picks a free port).',
);

/** A running demo. */
export interface Demo {
  readonly url: string;
  readonly adminUrl: string;
  readonly appUrl: string;
  readonly policy: Policy;
  readonly stack: PolicyStack;
  close(): Promise<void>;
}

export interface DemoOptions {
  listen?: { host: string; port: number };
  adminListen?: { host: string; port: number };
  appPort?: number;
  policy?: Policy;
  /** Rate-limit clock (tests). */
  clock?: () => number;
  /** Access-log sink (default: JSON lines on stdout). */
  logger?: {
    info(o: object, m?: string): void;
    warn(o: object, m?: string): void;
    error?(o: object, m?: string): void;
  };
}

function urlOf(host: string, port: number): string {
  const h = host === '::' || host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** Starts the echo app, the stack and the sidecar. */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const policy = options.policy ?? DEFAULT_POLICY;
  const app = await startEchoApp(options.appPort ?? 0);
  let stack: PolicyStack | undefined;
  let sidecar: Sidecar | undefined;
  try {
    stack = await createStack(policy, {
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    sidecar = createSidecar({
      upstream: `http://127.0.0.1:${app.port}`,
      stack,
      listen: options.listen ?? { host: '127.0.0.1', port: 8080 },
      adminListen: options.adminListen ?? { host: '127.0.0.1', port: 9901 },
      shutdownDelayMs: 0,
      drainTimeoutMs: 2000,
      onEvent: () => {},
    });
    const addr = await sidecar.listen();
    const s = sidecar;
    const st = stack;
    return {
      url: urlOf(addr.public.address, addr.public.port),
      adminUrl: urlOf(addr.admin!.address, addr.admin!.port),
      appUrl: `http://127.0.0.1:${app.port}`,
      policy,
      stack: st,
      async close() {
        await s.close();
        await st.close();
        await closeServer(app.server);
      },
    };
  } catch (error) {
    await sidecar?.close().catch(() => undefined);
    await stack?.close().catch(() => undefined);
    await closeServer(app.server);
    throw error;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** The banner: URLs, commands to try, where logs and metrics are. */
export function banner(demo: Demo, fromFile: string | undefined): string {
  const u = demo.url;
  const geo = demo.policy.geo !== undefined;
  const lines = [
    '',
    'realip demo',
    '===========',
    `  app (echo, 127.0.0.1 only): ${demo.appUrl}`,
    `  realip sidecar in front:    ${u}`,
    `  admin (metrics, probes):    ${demo.adminUrl}`,
    '',
    `Policy: ${fromFile ?? 'the built-in default policy (docs/configuration.md#the-default-policy)'}`,
    ...describePolicy(demo.policy).map((l) => `  ${l}`),
    '',
    'Try:',
    `  curl ${u}/`,
    '      -> {"message":"Hello","yourIP":"127.0.0.1"}',
    `  curl -H 'X-Forwarded-For: 203.0.113.9' ${u}/`,
    '      -> still 127.0.0.1: no proxy is trusted, so the spoofed header is ignored',
    '         (and removed before the request reaches the app)',
    `  curl -i ${u}/`,
    '      -> RateLimit and RateLimit-Policy headers',
    `  curl -s --parallel --parallel-immediate -o /dev/null -w '%{http_code}\\n' '${u}/?n=[1-40]' 2>/dev/null | sort | uniq -c`,
    '      -> about 21 x 200 (burst 20 + 1, then 10 per second), the rest 429 with Retry-After',
    '',
    'Logs:    one JSON line per request on this console (stdout; client.address, realip.decision, ...)',
    `Metrics: curl ${demo.adminUrl}/metrics   (Prometheus; admin listener only)`,
    `Probes:  curl ${demo.adminUrl}/readyz    curl ${demo.adminUrl}/healthz`,
    ...(geo
      ? [
          '',
          'GeoIP: @ip-location-db/geo-whois-asn-country-mmdb (IP data CC BY 4.0, NRO, via ip-location-db).',
          '       Loopback and private addresses are tagged as such, not looked up.',
        ]
      : []),
    '',
    'Ctrl-C stops the demo. Next: docs/getting-started.md',
    '',
  ];
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseCli(argv, OPTIONS).values;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`realip demo: ${error.message}\n\n${HELP}`);
      return 2;
    }
    throw error;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const address = (name: string, fallback: { host: string; port: number }) => {
    const v = values[name];
    if (typeof v !== 'string') return fallback;
    const a = parseListenAddress(v);
    if (!a) throw new UsageError(`--${name}: expected host:port, [v6]:port or a port (got "${v}")`);
    return a;
  };
  let listen;
  let adminListen;
  let appPort: number | undefined;
  try {
    listen = address('listen', { host: '127.0.0.1', port: 8080 });
    adminListen = address('admin-listen', { host: '127.0.0.1', port: 9901 });
    if (typeof values['app-port'] === 'string') {
      appPort = Number(values['app-port']);
      if (!Number.isInteger(appPort) || appPort < 0 || appPort > 65535)
        throw new UsageError(`--app-port: expected a port (got "${values['app-port']}")`);
    }
  } catch (error) {
    process.stderr.write(`realip demo: ${(error as Error).message}\n`);
    return 2;
  }
  const config = typeof values.config === 'string' ? values.config : undefined;
  let demo: Demo;
  try {
    const policy = config ? await loadPolicyFile(config) : undefined;
    demo = await startDemo({
      listen,
      adminListen,
      ...(appPort !== undefined ? { appPort } : {}),
      ...(policy ? { policy } : {}),
    });
  } catch (error) {
    if (error instanceof PolicyError) {
      for (const i of error.issues) process.stderr.write(formatPolicyIssue(i) + '\n');
      return 2;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      process.stderr.write(
        `realip demo: cannot listen (${code}: ${(error as Error).message}).\nAnother process uses the port; try: npm start -- --listen 127.0.0.1:18080 --admin-listen 127.0.0.1:19901\n`,
      );
      return 1;
    }
    throw error;
  }
  process.stdout.write(banner(demo, config) + '\n');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write('\nrealip demo: stopping\n');
  await demo.close();
  return 0;
}
