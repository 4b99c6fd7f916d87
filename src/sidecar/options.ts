/**
 * Validation and defaults for `createSidecar()`: every problem is reported at once.
 */
import { ConfigError, IssueCollector } from '../errors.js';
import { writeEventLine } from '../core/events.js';
import { validateProxyProtocolOptions } from './proxy-listener.js';
import type {
  ListenAddress,
  ProxyProtocolOptions,
  SidecarEvent,
  SidecarOptions,
  SidecarStack,
} from './types.js';

/** Defaults, shared by the CLI help, the docs and the Kubernetes manifest tests. */
export const SIDECAR_DEFAULTS = Object.freeze({
  listen: Object.freeze({ host: '::', port: 8080 }),
  adminListen: Object.freeze({ host: '::', port: 9901 }),
  maxBodyBytes: 10 * 1024 * 1024,
  requestBufferBytes: 64 * 1024,
  requestBufferMemoryBytes: 32 * 1024 * 1024,
  clientBodyTimeoutMs: 60_000,
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 60_000,
  upstreamConnections: 128,
  upstreamQueue: 1024,
  upstreamQueueTimeoutMs: 5_000,
  idleTimeoutMs: 300_000,
  shutdownDelayMs: 10_000,
  drainTimeoutMs: 20_000,
  proxyProtocolTimeoutMs: 5_000,
});

/** Admin paths. */
export const ADMIN_PATHS = Object.freeze({
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  topClients: '/top-clients',
});

/** Fully defaulted options. */
export interface ResolvedSidecarOptions {
  readonly upstream: URL;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  /** Path prefix of the upstream URL without the trailing slash ('' for none). */
  readonly upstreamBasePath: string;
  readonly stack: SidecarStack;
  readonly listen: ListenAddress;
  readonly adminListen: ListenAddress | false;
  readonly proxyProtocol: ProxyProtocolOptions | undefined;
  readonly maxBodyBytes: number;
  readonly requestBufferBytes: number;
  readonly requestBufferMemoryBytes: number;
  readonly clientBodyTimeoutMs: number;
  readonly upstreamConnections: number;
  readonly upstreamQueue: number;
  readonly upstreamQueueTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly shutdownDelayMs: number;
  readonly drainTimeoutMs: number;
  readonly geoHeaders: boolean;
  readonly stripHeaders: readonly string[];
  readonly onEvent: (event: SidecarEvent) => void;
}

function checkDuration(
  issues: IssueCollector,
  path: string,
  value: number | undefined,
  fallback: number,
  allowZero: boolean,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < (allowZero ? 0 : 1) ||
    value > 86_400_000
  ) {
    issues.add(
      path,
      `must be a number of milliseconds, ${allowZero ? '0' : '1'}-86400000 (got ${JSON.stringify(value)})`,
    );
    return fallback;
  }
  return value;
}

function checkCount(
  issues: IssueCollector,
  path: string,
  value: number | undefined,
  fallback: number,
  min: number,
  unit: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    issues.add(path, `must be a whole number of ${unit} >= ${min} (got ${JSON.stringify(value)})`);
    return fallback;
  }
  return value;
}

function checkListen(
  issues: IssueCollector,
  path: string,
  value: ListenAddress | undefined,
  fallback: ListenAddress,
): ListenAddress {
  if (value === undefined) return { ...fallback };
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.host !== 'string' ||
    !Number.isInteger(value.port) ||
    value.port < 0 ||
    value.port > 65535
  ) {
    issues.add(path, `must be { host, port } with a port 0-65535 (got ${JSON.stringify(value)})`);
    return { ...fallback };
  }
  return { host: value.host, port: value.port };
}

/** Validates and defaults; throws one ConfigError listing every problem. */
export function resolveSidecarOptions(options: SidecarOptions): ResolvedSidecarOptions {
  const issues = new IssueCollector();
  let upstream: URL | undefined;
  try {
    upstream = options.upstream instanceof URL ? options.upstream : new URL(String(options.upstream));
  } catch {
    issues.add(
      'upstream',
      `not a URL (got ${JSON.stringify(String(options.upstream))}, expected http://127.0.0.1:3000)`,
      'ERR_REALIP_UPSTREAM_INVALID',
    );
  }
  if (upstream !== undefined) {
    if (upstream.protocol !== 'http:') {
      issues.add(
        'upstream',
        `only http:// upstreams are supported (got ${upstream.protocol}); the app runs in the same pod`,
        'ERR_REALIP_UPSTREAM_INVALID',
      );
    }
    if (
      upstream.search !== '' ||
      upstream.hash !== '' ||
      upstream.username !== '' ||
      upstream.password !== ''
    ) {
      issues.add(
        'upstream',
        'must not carry a query, fragment or credentials (got ' + upstream.href + ')',
        'ERR_REALIP_UPSTREAM_INVALID',
      );
    }
  }
  const stack = options.stack;
  if (stack === null || typeof stack !== 'object' || typeof stack.handle !== 'function') {
    issues.add('stack', 'must be an object with a handle(req, res, conn) method');
  }
  const listen = checkListen(issues, 'listen', options.listen, SIDECAR_DEFAULTS.listen);
  const adminListen =
    options.adminListen === false
      ? false
      : checkListen(issues, 'adminListen', options.adminListen, SIDECAR_DEFAULTS.adminListen);
  if (options.proxyProtocol !== undefined) {
    validateProxyProtocolOptions(options.proxyProtocol, 'proxyProtocol', issues);
  }
  const d = SIDECAR_DEFAULTS;
  const maxBodyBytes = checkCount(issues, 'maxBodyBytes', options.maxBodyBytes, d.maxBodyBytes, 0, 'bytes');
  const requestBufferBytes = checkCount(
    issues,
    'requestBufferBytes',
    options.requestBufferBytes,
    d.requestBufferBytes,
    0,
    'bytes',
  );
  const requestBufferMemoryBytes = checkCount(
    issues,
    'requestBufferMemoryBytes',
    options.requestBufferMemoryBytes,
    d.requestBufferMemoryBytes,
    0,
    'bytes',
  );
  const clientBodyTimeoutMs = checkDuration(
    issues,
    'clientBodyTimeoutMs',
    options.clientBodyTimeoutMs,
    d.clientBodyTimeoutMs,
    true,
  );
  const upstreamConnections = checkCount(
    issues,
    'upstreamConnections',
    options.upstreamConnections,
    d.upstreamConnections,
    1,
    'connections',
  );
  const upstreamQueue = checkCount(
    issues,
    'upstreamQueue',
    options.upstreamQueue,
    d.upstreamQueue,
    0,
    'requests',
  );
  const upstreamQueueTimeoutMs = checkDuration(
    issues,
    'upstreamQueueTimeoutMs',
    options.upstreamQueueTimeoutMs,
    d.upstreamQueueTimeoutMs,
    false,
  );
  const connectTimeoutMs = checkDuration(
    issues,
    'connectTimeoutMs',
    options.connectTimeoutMs,
    d.connectTimeoutMs,
    false,
  );
  const responseTimeoutMs = checkDuration(
    issues,
    'responseTimeoutMs',
    options.responseTimeoutMs,
    d.responseTimeoutMs,
    false,
  );
  const idleTimeoutMs = checkDuration(issues, 'idleTimeoutMs', options.idleTimeoutMs, d.idleTimeoutMs, true);
  const shutdownDelayMs = checkDuration(
    issues,
    'shutdownDelayMs',
    options.shutdownDelayMs,
    d.shutdownDelayMs,
    true,
  );
  const drainTimeoutMs = checkDuration(
    issues,
    'drainTimeoutMs',
    options.drainTimeoutMs,
    d.drainTimeoutMs,
    true,
  );
  const stripHeaders = options.stripHeaders ?? [];
  if (
    !Array.isArray(stripHeaders) ||
    stripHeaders.some((h) => typeof h !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h))
  ) {
    issues.add('stripHeaders', 'must be a list of header names');
  }
  if (options.geoHeaders !== undefined && typeof options.geoHeaders !== 'boolean') {
    issues.add('geoHeaders', `must be true or false (got ${JSON.stringify(options.geoHeaders)})`);
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    issues.add('onEvent', 'must be a function');
  }
  if (!issues.ok || upstream === undefined) throw new ConfigError(issues.issues);
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname;
  return Object.freeze({
    upstream,
    upstreamHost: upstream.hostname.startsWith('[') ? upstream.hostname.slice(1, -1) : upstream.hostname,
    upstreamPort: upstream.port === '' ? 80 : Number(upstream.port),
    upstreamBasePath: base,
    stack,
    listen,
    adminListen,
    proxyProtocol: options.proxyProtocol,
    maxBodyBytes,
    requestBufferBytes,
    requestBufferMemoryBytes,
    clientBodyTimeoutMs,
    upstreamConnections,
    upstreamQueue,
    upstreamQueueTimeoutMs,
    connectTimeoutMs,
    responseTimeoutMs,
    idleTimeoutMs,
    shutdownDelayMs,
    drainTimeoutMs,
    geoHeaders: options.geoHeaders ?? true,
    stripHeaders: stripHeaders.map((h) => h.toLowerCase()),
    onEvent: options.onEvent ?? writeEventLine,
  });
}
