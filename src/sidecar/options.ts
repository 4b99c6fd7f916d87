/**
 * Defaults and the resolved form of `createSidecar()`'s options. Validation is the spec's
 * (src/sidecar/spec.ts): every problem is reported at once.
 */
import { writeEventLine } from '../core/events.js';
import { defaultsOf, parseOptions } from '../spec/spec.js';
import { proxyProtocolSpec, sidecarSpec } from './spec.js';
import type {
  ListenAddress,
  ProxyProtocolOptions,
  SidecarEvent,
  SidecarOptions,
  SidecarStack,
} from './types.js';

const documented = defaultsOf(sidecarSpec);
const num = (key: string): number => documented[key] as number;
const address = (key: string): Readonly<ListenAddress> =>
  Object.freeze({ ...(documented[key] as ListenAddress) });

/**
 * The documented defaults (src/sidecar/spec.ts), shared by the CLI help and the Kubernetes
 * manifest tests.
 */
export const SIDECAR_DEFAULTS = Object.freeze({
  listen: address('listen'),
  adminListen: address('adminListen'),
  maxBodyBytes: num('maxBodyBytes'),
  requestBufferBytes: num('requestBufferBytes'),
  requestBufferMemoryBytes: num('requestBufferMemoryBytes'),
  clientBodyTimeoutMs: num('clientBodyTimeoutMs'),
  connectTimeoutMs: num('connectTimeoutMs'),
  responseTimeoutMs: num('responseTimeoutMs'),
  upstreamConnections: num('upstreamConnections'),
  upstreamQueue: num('upstreamQueue'),
  upstreamQueueTimeoutMs: num('upstreamQueueTimeoutMs'),
  idleTimeoutMs: num('idleTimeoutMs'),
  shutdownDelayMs: num('shutdownDelayMs'),
  drainTimeoutMs: num('drainTimeoutMs'),
  proxyProtocolTimeoutMs: defaultsOf(proxyProtocolSpec).timeoutMs as number,
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

/** Validates (the spec) and defaults; throws one ConfigError listing every problem. */
export function resolveSidecarOptions(options: SidecarOptions): ResolvedSidecarOptions {
  const o = parseOptions(sidecarSpec, options, '');
  const upstream = o.upstream instanceof URL ? o.upstream : new URL(o.upstream);
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname;
  const listen = o.listen as ListenAddress;
  const adminListen = o.adminListen as ListenAddress | false;
  return Object.freeze({
    upstream,
    upstreamHost: upstream.hostname.startsWith('[') ? upstream.hostname.slice(1, -1) : upstream.hostname,
    upstreamPort: upstream.port === '' ? 80 : Number(upstream.port),
    upstreamBasePath: base,
    stack: o.stack,
    listen: { host: listen.host, port: listen.port },
    adminListen: adminListen === false ? false : { host: adminListen.host, port: adminListen.port },
    proxyProtocol: o.proxyProtocol as ProxyProtocolOptions | undefined,
    maxBodyBytes: o.maxBodyBytes as number,
    requestBufferBytes: o.requestBufferBytes as number,
    requestBufferMemoryBytes: o.requestBufferMemoryBytes as number,
    clientBodyTimeoutMs: o.clientBodyTimeoutMs as number,
    upstreamConnections: o.upstreamConnections as number,
    upstreamQueue: o.upstreamQueue as number,
    upstreamQueueTimeoutMs: o.upstreamQueueTimeoutMs as number,
    connectTimeoutMs: o.connectTimeoutMs as number,
    responseTimeoutMs: o.responseTimeoutMs as number,
    idleTimeoutMs: o.idleTimeoutMs as number,
    shutdownDelayMs: o.shutdownDelayMs as number,
    drainTimeoutMs: o.drainTimeoutMs as number,
    geoHeaders: o.geoHeaders as boolean,
    stripHeaders: (o.stripHeaders as string[]).map((h) => h.toLowerCase()),
    onEvent: o.onEvent ?? writeEventLine,
  });
}
