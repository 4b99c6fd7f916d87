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
import { flagDefault, flagFor, sidecarFlagsSpec, SIDECAR_FLAGS, type SidecarFlag } from '../sidecar/spec.js';
import { checkOptions } from '../spec/spec.js';
import type { ListenAddress, SidecarEvent, SidecarOptions, SidecarStack } from '../sidecar/types.js';
import { writeEventLine } from '../core/events.js';

/** An option's default as its flag writes it (src/sidecar/spec.ts). */
const d = (path: string): string => flagDefault(path) ?? '';

const HELP = `Usage: realip sidecar --upstream <url> [options]

Runs the realip stack in front of the app in the same pod.

Options:
  --upstream <url>                  the app, e.g. http://127.0.0.1:3000 (required; env REALIP_UPSTREAM)
  --config <file>                   policy file (YAML or JSON), hot-reloaded; without it the built-in
                                    default policy runs: no proxy trusted (the socket peer is the
                                    client), 10 r/s burst 20 per IP, access log, metrics
  --listen <addr>                   public listener (default ${d('listen')})
  --admin-listen <addr|off>         /healthz /readyz /metrics /top-clients (default ${d('adminListen')})
  --proxy-protocol                  require a PROXY protocol v1/v2 header on every public connection
  --proxy-protocol-trusted <cidr>   peers allowed to send one (repeatable or comma-separated; required
                                    with --proxy-protocol)
  --proxy-protocol-timeout <dur>    time to receive the header (default ${d('proxyProtocol.timeoutMs')})
  --proxy-protocol-untrusted <m>    reject | direct: what happens to other peers (default ${d('proxyProtocol.untrusted')})
  --trusted-proxy <cidr>            built-in stack only: trust this proxy's X-Forwarded-For (repeatable)
  --header <name>                   built-in stack only: the header trusted proxies write
                                    (default x-forwarded-for)
  --undeterminable <deny|allow>     built-in stack only: requests without a client IP (default deny)
  --max-body-size <size>            largest request body, e.g. 10mb (default ${d('maxBodyBytes')}); larger gets 413
  --request-buffer-size <size>      bodies up to this size are read whole before they go to the app
                                    (default ${d('requestBufferBytes')}; 0 streams every body)
  --request-buffer-memory <size>    memory all buffered bodies may reserve (default ${d('requestBufferMemoryBytes')}); then stream
  --client-body-timeout <dur>       longest gap between two reads of a request body (default ${d('clientBodyTimeoutMs')};
                                    0 disables); then 408
  --connect-timeout <dur>           connecting to the app (default ${d('connectTimeoutMs')}); then 504
  --response-timeout <dur>          from the request's last byte sent to the app's response headers
                                    (default ${d('responseTimeoutMs')}); then 504
  --idle-timeout <dur>              silence in a response body, a WebSocket tunnel or on a client
                                    connection (default ${d('idleTimeoutMs')}; 0 disables)
  --upstream-connections <n>        most connections to the app at once (default ${d('upstreamConnections')})
  --upstream-queue <n>              most requests waiting for one (default ${d('upstreamQueue')}); beyond, 503
  --upstream-queue-timeout <dur>    longest wait for one (default ${d('upstreamQueueTimeoutMs')}); then 503 with Retry-After
  --shutdown-delay <dur>            on SIGTERM: keep serving while /readyz fails (default ${d('shutdownDelayMs')})
  --drain-timeout <dur>             then: time for in-flight requests (default ${d('drainTimeoutMs')})
  --no-geo-headers                  do not send X-Client-Country/-Continent/-ASN to the app
  --strip-header <name>             also remove this request header (repeatable)
  -h, --help                        this text

Durations: 500ms, 10s, 5m, 1h (0 disables where allowed). Sizes: 512kb, 10mb, 1gb, or bytes.
Addresses: [::]:8080, 0.0.0.0:8080, 127.0.0.1:8080, :8080 or 8080.`;

/**
 * Parses `10s`, `500ms`, `1.5s`, `5m`, `1h`, `0`; returns milliseconds or undefined. A fraction of
 * a millisecond (`0.5ms`) is returned as it is: the spec then rejects it, as it does in code.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (m === null) return text.trim() === '0' ? 0 : undefined;
  const n = Number(m[1]);
  const unit = m[2];
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  // 1.1s is 1100.0000000000002 in floating point: drop the noise, keep real fractions.
  return Number.isFinite(ms) ? Math.round(ms * 1e6) / 1e6 : undefined;
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
  const { createStack, DEFAULT_POLICY: base } = await import('../policy/index.js');
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

/** The parseArgs definition of a flag that sets an option. */
function argOf(f: SidecarFlag): { type: 'boolean' } | { type: 'string'; multiple?: true } {
  if (f.kind === 'switch' || f.kind === 'negated-switch') return { type: 'boolean' };
  return f.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' };
}

/**
 * Converts a flag's text into its option's value (syntax only: bounds are the spec's). Returns
 * undefined, after recording the problem, when the text is not of the flag's kind.
 */
function flagValue(f: SidecarFlag, raw: string | boolean | string[], problems: string[]): unknown {
  const text = String(raw);
  const bad = (what: string, example: string): undefined => {
    problems.push(`--${f.flag}: not ${what} (got "${text}", expected e.g. ${example})`);
    return undefined;
  };
  switch (f.kind) {
    case 'switch':
      return raw === true;
    case 'negated-switch':
      return raw !== true;
    case 'list':
      return list(raw as string[]);
    case 'url':
    case 'choice':
      return text;
    case 'address-or-off':
      if (text === 'off' || text === 'false') return false;
      return parseListenAddress(text) ?? bad('an address', '[::]:8080 or off');
    case 'address':
      return parseListenAddress(text) ?? bad('an address', '[::]:8080');
    case 'duration':
      return parseDuration(text) ?? bad('a duration', '10s or 500ms');
    case 'size':
      return parseSize(text) ?? bad('a size', '10mb');
    case 'count':
      return /^\d+$/.test(text.trim()) ? Number(text.trim()) : bad('a whole number', '128');
  }
}

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
        config: { type: 'string' },
        'trusted-proxy': { type: 'string', multiple: true },
        header: { type: 'string' },
        undeterminable: { type: 'string' },
        ...Object.fromEntries(Object.values(SIDECAR_FLAGS).map((f) => [f.flag, argOf(f)])),
      },
    });
  } catch (error) {
    return { kind: 'invalid', problems: [error instanceof Error ? error.message : String(error)] };
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help) return { kind: 'help' };
  const problems: string[] = [];

  // Every option flag, converted by its kind and set at its option's path (src/sidecar/spec.ts).
  const options: Record<string, unknown> = {};
  const proxyProtocol: Record<string, unknown> = {};
  let proxyProtocolFlags = false;
  for (const [path, f] of Object.entries(SIDECAR_FLAGS)) {
    const raw = v[f.flag] ?? (path === 'upstream' ? env.REALIP_UPSTREAM : undefined);
    if (raw === undefined) continue;
    const nested = path.startsWith('proxyProtocol.');
    if (nested) proxyProtocolFlags = true;
    const value = flagValue(f, raw, problems);
    if (value === undefined) continue;
    if (nested) proxyProtocol[path.slice('proxyProtocol.'.length)] = value;
    else if (path !== 'proxyProtocol') options[path] = value;
  }
  if (options.upstream === undefined)
    problems.push('--upstream is required (e.g. --upstream http://127.0.0.1:3000)');
  if (v['proxy-protocol']) options.proxyProtocol = { trusted: [], ...proxyProtocol };
  else if (proxyProtocolFlags) problems.push('--proxy-protocol-* options need --proxy-protocol');

  const undeterminable = v.undeterminable as string | undefined;
  if (undeterminable !== undefined && undeterminable !== 'deny' && undeterminable !== 'allow') {
    problems.push(`--undeterminable: expected deny or allow (got "${undeterminable}")`);
  }
  const trustedProxies = list(v['trusted-proxy'] as string[] | undefined);
  const header = v.header as string | undefined;
  const config = v.config as string | undefined;
  if (
    config !== undefined &&
    (trustedProxies.length > 0 || header !== undefined || undeterminable !== undefined)
  ) {
    problems.push(
      '--trusted-proxy, --header and --undeterminable configure the built-in stack; with --config set them in the policy file',
    );
  }
  // The values reach the same validation as createSidecar()'s: the spec's bounds and messages,
  // each problem named by its flag and option path.
  for (const issue of checkOptions(sidecarFlagsSpec, options, '')) {
    if (issue.path === 'upstream' && options.upstream === undefined) continue; // reported above
    const flag = flagFor(issue.path);
    problems.push(`${flag === undefined ? '' : `${flag} `}(${issue.path}): ${issue.message}`);
  }
  if (problems.length > 0) return { kind: 'invalid', problems };
  return {
    kind: 'ok',
    options: options as unknown as Omit<SidecarOptions, 'stack'>,
    config,
    builtin: {
      trustedProxies,
      header,
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
