/**
 * `realip sidecar`: runs the reverse-proxy sidecar.
 *
 *   realip sidecar --upstream http://127.0.0.1:3000 [--config policy.yaml] [--listen [::]:8080]
 *                  [--admin-listen [::]:9901] [--proxy-protocol --proxy-protocol-trusted <cidr>...]
 *
 * SIGTERM runs the Kubernetes sequence (readyz fails, keep serving for --shutdown-delay, drain,
 * exit 0); SIGINT or a second signal closes at once.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { createSidecar } from '../sidecar/sidecar.js';
import { SIDECAR_DEFAULTS } from '../sidecar/options.js';
import type { ListenAddress, SidecarEvent, SidecarOptions, SidecarStack } from '../sidecar/types.js';
import { writeEventLine } from '../core/events.js';

const HELP = `Usage: realip sidecar --upstream <url> [options]

Runs the realip stack in front of the app in the same pod.

Options:
  --upstream <url>                  the app, e.g. http://127.0.0.1:3000 (required; env REALIP_UPSTREAM)
  --config <file>                   policy file (YAML or JSON), hot-reloaded; without it the built-in
                                    default policy runs: no proxy trusted (the socket peer is the
                                    client), 10 r/s burst 20 per IP, access log, metrics
  --listen <addr>                   public listener (default [::]:${SIDECAR_DEFAULTS.listen.port})
  --admin-listen <addr|off>         /healthz /readyz /metrics /top-clients (default [::]:${SIDECAR_DEFAULTS.adminListen.port})
  --proxy-protocol                  require a PROXY protocol v1/v2 header on every public connection
  --proxy-protocol-trusted <cidr>   peers allowed to send one (repeatable or comma-separated; required
                                    with --proxy-protocol)
  --proxy-protocol-timeout <dur>    time to receive the header (default 5s)
  --proxy-protocol-untrusted <m>    reject | direct: what happens to other peers (default reject)
  --trusted-proxy <cidr>            built-in stack only: trust this proxy's X-Forwarded-For (repeatable)
  --header <name>                   built-in stack only: the header trusted proxies write
                                    (default x-forwarded-for)
  --undeterminable <deny|allow>     built-in stack only: requests without a client IP (default deny)
  --max-body-size <size>            largest request body, e.g. 10mb (default 10mb); larger gets 413
  --request-buffer-size <size>      bodies up to this size are read whole before they go to the app
                                    (default 64kb; 0 streams every body)
  --request-buffer-memory <size>    memory all buffered bodies may reserve (default 32mb); then stream
  --client-body-timeout <dur>       longest gap between two reads of a request body (default 60s;
                                    0 disables); then 408
  --connect-timeout <dur>           connecting to the app (default 5s); then 504
  --response-timeout <dur>          from the request's last byte sent to the app's response headers
                                    (default 60s); then 504
  --idle-timeout <dur>              silence in a response body, a WebSocket tunnel or on a client
                                    connection (default 5m; 0 disables)
  --upstream-connections <n>        most connections to the app at once (default 128)
  --upstream-queue <n>              most requests waiting for one (default 1024); beyond, 503
  --upstream-queue-timeout <dur>    longest wait for one (default 5s); then 503 with Retry-After
  --shutdown-delay <dur>            on SIGTERM: keep serving while /readyz fails (default 10s)
  --drain-timeout <dur>             then: time for in-flight requests (default 20s)
  --no-geo-headers                  do not send X-Client-Country/-Continent/-ASN to the app
  --strip-header <name>             also remove this request header (repeatable)
  -h, --help                        this text

Durations: 500ms, 10s, 5m, 1h (0 disables where allowed). Sizes: 512kb, 10mb, 1gb, or bytes.
Addresses: [::]:8080, 0.0.0.0:8080, 127.0.0.1:8080, :8080 or 8080.`;

/** Parses `10s`, `500ms`, `5m`, `1h`, `0`; returns milliseconds or undefined. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (m === null) return text.trim() === '0' ? 0 : undefined;
  const n = Number(m[1]);
  const unit = m[2];
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Parses `10mb`, `512kb`, `1gb`, `1048576`; binary multiples. Returns bytes or undefined. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*(b|kb|k|kib|mb|m|mib|gb|g|gib)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = unit.startsWith('k')
    ? 1024
    : unit.startsWith('m')
      ? 1024 ** 2
      : unit.startsWith('g')
        ? 1024 ** 3
        : 1;
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Parses `[::]:8080`, `0.0.0.0:8080`, `host:8080`, `:8080` or `8080`. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const t = text.trim();
  let host = '::';
  let portText = t;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0 || t[close + 1] !== ':') return undefined;
    host = t.slice(1, close);
    portText = t.slice(close + 2);
  } else if (t.includes(':')) {
    const colon = t.lastIndexOf(':');
    if (t.indexOf(':') !== colon) return undefined; // bare IPv6 needs brackets
    host = colon === 0 ? '::' : t.slice(0, colon);
    portText = t.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || host === '') return undefined;
  return { host, port };
}

function list(values: string[] | undefined): string[] {
  const out: string[] = [];
  for (const v of values ?? [])
    for (const part of v.split(',')) if (part.trim() !== '') out.push(part.trim());
  return out;
}

/**
 * The event stream: the sidecar's events, the stack's (reloads) and warnings, each one JSON line
 * on stderr (`time` ISO 8601, `level`, `event`, fields; docs/sidecar.md, "Logs"). Only the access
 * log goes to its own destination.
 */
function logEvent(event: SidecarEvent): void {
  writeEventLine(event);
}

// ================================================================================================
// STACK SEAM: where the policy file's composed stack plugs in (src/policy: loadPolicyFile +
// createStack). The policy entry is loaded only here, when the sidecar starts.
// ================================================================================================
async function loadPolicyStack(path: string): Promise<SidecarStack> {
  const { createStack, loadPolicyFile } = await import('../policy/index.js');
  const policy = await loadPolicyFile(path);
  // Hot reload of the policy itself (ConfigMap-safe; the old policy stays on errors).
  return createStack(policy, { onEvent: logEvent, watch: path });
}

/**
 * Without --config: the built-in default policy (Local mode, per-IP limit, embedded GeoIP when
 * installed, access log, metrics), adjusted by --trusted-proxy, --header and --undeterminable.
 */
async function loadDefaultStack(b: {
  readonly trustedProxies: readonly string[];
  readonly header: string | undefined;
  readonly undeterminable: 'deny' | 'allow';
}): Promise<SidecarStack> {
  const { createStack, defaultPolicy } = await import('../policy/index.js');
  const base = defaultPolicy();
  const policy = {
    ...base,
    resolve: {
      ...base.resolve,
      trustedProxies: [...b.trustedProxies],
      ...(b.header === undefined ? {} : { header: b.header }),
    },
    access: { ...base.access, undeterminable: b.undeterminable },
  };
  return createStack(policy, { onEvent: logEvent });
}
// ======================================== END STACK SEAM ========================================

function fail(message: string): number {
  process.stderr.write(`realip sidecar: ${message}\n\nRun realip sidecar --help for the options.\n`);
  return 2;
}

/** The outcome of parsing `realip sidecar` arguments (no side effects). */
export type ParsedSidecarArgs =
  | { readonly kind: 'help' }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] }
  | {
      readonly kind: 'ok';
      /** Sidecar options without the stack. */
      readonly options: Omit<SidecarOptions, 'stack'>;
      /** The policy file, when given. */
      readonly config: string | undefined;
      /** Built-in stack settings (only without --config). */
      readonly builtin: {
        readonly trustedProxies: readonly string[];
        readonly header: string | undefined;
        readonly undeterminable: 'deny' | 'allow';
      };
    };

/** Parses and checks the flags of `realip sidecar`, reporting every problem at once. */
export function parseSidecarArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedSidecarArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        upstream: { type: 'string' },
        config: { type: 'string' },
        listen: { type: 'string' },
        'admin-listen': { type: 'string' },
        'proxy-protocol': { type: 'boolean' },
        'proxy-protocol-trusted': { type: 'string', multiple: true },
        'proxy-protocol-timeout': { type: 'string' },
        'proxy-protocol-untrusted': { type: 'string' },
        'trusted-proxy': { type: 'string', multiple: true },
        header: { type: 'string' },
        undeterminable: { type: 'string' },
        'max-body-size': { type: 'string' },
        'request-buffer-size': { type: 'string' },
        'request-buffer-memory': { type: 'string' },
        'client-body-timeout': { type: 'string' },
        'upstream-connections': { type: 'string' },
        'upstream-queue': { type: 'string' },
        'upstream-queue-timeout': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'response-timeout': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'shutdown-delay': { type: 'string' },
        'drain-timeout': { type: 'string' },
        'no-geo-headers': { type: 'boolean' },
        'strip-header': { type: 'string', multiple: true },
      },
    });
  } catch (error) {
    return { kind: 'invalid', problems: [error instanceof Error ? error.message : String(error)] };
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  const problems: string[] = [];
  const duration = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined)
      problems.push(`--${flag}: not a duration (got "${text}", expected e.g. 10s or 500ms)`);
    return ms;
  };
  const address = (flag: string, text: string | undefined): ListenAddress | undefined => {
    if (text === undefined) return undefined;
    const a = parseListenAddress(text);
    if (a === undefined) problems.push(`--${flag}: not an address (got "${text}", expected e.g. [::]:8080)`);
    return a;
  };

  const upstream = v.upstream ?? env.REALIP_UPSTREAM;
  if (upstream === undefined) problems.push('--upstream is required (e.g. --upstream http://127.0.0.1:3000)');
  const listen = address('listen', v.listen);
  const adminOff = v['admin-listen'] === 'off' || v['admin-listen'] === 'false';
  const adminListen = adminOff ? undefined : address('admin-listen', v['admin-listen']);
  const size = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const bytes = parseSize(text);
    if (bytes === undefined) problems.push(`--${flag}: not a size (got "${text}", expected e.g. 10mb)`);
    return bytes;
  };
  const count = (flag: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      problems.push(`--${flag}: expected a whole number >= ${min} (got "${text}")`);
      return undefined;
    }
    return n;
  };
  const maxBodyBytes = size('max-body-size', v['max-body-size']);
  const requestBufferBytes = size('request-buffer-size', v['request-buffer-size']);
  const requestBufferMemoryBytes = size('request-buffer-memory', v['request-buffer-memory']);
  const upstreamConnections = count('upstream-connections', v['upstream-connections'], 1);
  const upstreamQueue = count('upstream-queue', v['upstream-queue'], 0);
  const trustedPp = list(v['proxy-protocol-trusted']);
  if (v['proxy-protocol'] && trustedPp.length === 0) {
    problems.push(
      '--proxy-protocol needs --proxy-protocol-trusted <cidr> (the load balancers allowed to send the header)',
    );
  }
  if (
    !v['proxy-protocol'] &&
    (trustedPp.length > 0 ||
      v['proxy-protocol-timeout'] !== undefined ||
      v['proxy-protocol-untrusted'] !== undefined)
  ) {
    problems.push('--proxy-protocol-* options need --proxy-protocol');
  }
  const untrusted = v['proxy-protocol-untrusted'];
  if (untrusted !== undefined && untrusted !== 'reject' && untrusted !== 'direct') {
    problems.push(`--proxy-protocol-untrusted: expected reject or direct (got "${untrusted}")`);
  }
  const undeterminable = v.undeterminable;
  if (undeterminable !== undefined && undeterminable !== 'deny' && undeterminable !== 'allow') {
    problems.push(`--undeterminable: expected deny or allow (got "${undeterminable}")`);
  }
  const trustedProxies = list(v['trusted-proxy']);
  if (
    v.config !== undefined &&
    (trustedProxies.length > 0 || v.header !== undefined || undeterminable !== undefined)
  ) {
    problems.push(
      '--trusted-proxy, --header and --undeterminable configure the built-in stack; with --config set them in the policy file',
    );
  }
  const ppTimeout = duration('proxy-protocol-timeout', v['proxy-protocol-timeout']);
  const clientBodyTimeoutMs = duration('client-body-timeout', v['client-body-timeout']);
  const upstreamQueueTimeoutMs = duration('upstream-queue-timeout', v['upstream-queue-timeout']);
  const connectTimeoutMs = duration('connect-timeout', v['connect-timeout']);
  const responseTimeoutMs = duration('response-timeout', v['response-timeout']);
  const idleTimeoutMs = duration('idle-timeout', v['idle-timeout']);
  const shutdownDelayMs = duration('shutdown-delay', v['shutdown-delay']);
  const drainTimeoutMs = duration('drain-timeout', v['drain-timeout']);
  if (problems.length > 0) return { kind: 'invalid', problems };

  const options: Omit<SidecarOptions, 'stack'> = {
    upstream: upstream!,
    geoHeaders: !v['no-geo-headers'],
    stripHeaders: list(v['strip-header']),
    ...(listen && { listen }),
    ...(adminOff ? { adminListen: false as const } : adminListen && { adminListen }),
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
    ...(requestBufferBytes !== undefined && { requestBufferBytes }),
    ...(requestBufferMemoryBytes !== undefined && { requestBufferMemoryBytes }),
    ...(clientBodyTimeoutMs !== undefined && { clientBodyTimeoutMs }),
    ...(upstreamConnections !== undefined && { upstreamConnections }),
    ...(upstreamQueue !== undefined && { upstreamQueue }),
    ...(upstreamQueueTimeoutMs !== undefined && { upstreamQueueTimeoutMs }),
    ...(connectTimeoutMs !== undefined && { connectTimeoutMs }),
    ...(responseTimeoutMs !== undefined && { responseTimeoutMs }),
    ...(idleTimeoutMs !== undefined && { idleTimeoutMs }),
    ...(shutdownDelayMs !== undefined && { shutdownDelayMs }),
    ...(drainTimeoutMs !== undefined && { drainTimeoutMs }),
    ...(v['proxy-protocol'] && {
      proxyProtocol: {
        trusted: trustedPp,
        ...(ppTimeout !== undefined && { timeoutMs: ppTimeout }),
        ...(untrusted !== undefined && { untrusted: untrusted as 'reject' | 'direct' }),
      },
    }),
  };
  return {
    kind: 'ok',
    options,
    config: v.config,
    builtin: {
      trustedProxies,
      header: v.header,
      undeterminable: (undeterminable as 'deny' | 'allow' | undefined) ?? 'deny',
    },
  };
}

/** Entry point of `realip sidecar`. Resolves with the exit code after shutdown. */
export async function run(argv: string[]): Promise<number> {
  const args = parseSidecarArgs(argv);
  if (args.kind === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (args.kind === 'invalid') return fail(args.problems.join('\n  '));

  let stack: SidecarStack;
  try {
    if (args.config !== undefined) {
      stack = await loadPolicyStack(args.config);
    } else {
      stack = await loadDefaultStack(args.builtin);
    }
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  const options: SidecarOptions = { ...args.options, stack, onEvent: logEvent };
  let sidecar;
  try {
    sidecar = createSidecar(options);
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  try {
    await sidecar.listen();
  } catch (error) {
    await sidecar.close();
    process.stderr.write(
      `realip sidecar: cannot listen: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      logEvent({ event: 'signal', signal });
      const done = (): void => {
        process.removeListener('SIGTERM', onSignal);
        process.removeListener('SIGINT', onSignal);
        resolve(0);
        // Anything still holding the event loop (a stack's stray timer) must not block the exit.
        setTimeout(() => process.exit(0), 2_000).unref();
      };
      if (signal === 'SIGTERM' && signals === 1) sidecar.shutdown().then(done, done);
      else sidecar.close().then(done, done);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
