/**
 * The sidecar's options, defined once: `createSidecar()` validates through `sidecarSpec`, and
 * `realip sidecar` builds the same options from its flags (`SIDECAR_FLAGS` names the flag of each
 * option) and checks them against `sidecarFlagsSpec`, the same fields without the runtime-only
 * `stack` and `onEvent`. `createProxyProtocolServer()` validates through `proxyProtocolSpec`.
 * docs/sidecar.md's options table is generated from these docs (scripts/gen-config-docs.mjs), and
 * `SIDECAR_DEFAULTS` is derived from them. See src/spec/spec.ts.
 */
import { HEADER_TOKEN, ipRules } from '../spec/common.js';
import * as z from 'zod/mini';
import { defaultsOf, doc, isFunction, opt, runtime } from '../spec/spec.js';

import type { IpRule } from '../core/cidr.js';
import type { SameKeys } from '../spec/spec.js';
import type { SidecarEvent, SidecarStack } from './types.js';

/** The longest duration any sidecar timer accepts (24 h). */
const DAY_MS = 86_400_000;

/** Milliseconds, a whole number in `[min, 24 h]`. */
const duration = (min: 0 | 1) => z.int().check(z.minimum(min), z.maximum(DAY_MS));
/** A whole number of bytes, requests or connections. */
const count = (min: 0 | 1) => z.int().check(z.minimum(min));

/** `{ host, port }`. */
const listenAddress = doc(
  z.strictObject({
    host: doc(z.string().check(z.minLength(1)), {
      description: 'Address to bind: an IP or a host name (`::` also accepts IPv4).',
    }),
    port: doc(z.int().check(z.minimum(0), z.maximum(65535)), {
      description: 'TCP port (0: any free port).',
    }),
  }),
  { description: 'Where to listen.' },
);

/** Checks an upstream URL as the forwarder needs it: http, no query, fragment or credentials. */
function upstreamProblem(value: string | URL): string | undefined {
  let url: URL;
  try {
    url = value instanceof URL ? value : new URL(value);
  } catch {
    return `not a URL (got ${JSON.stringify(String(value))}, expected http://127.0.0.1:3000)`;
  }
  if (url.protocol !== 'http:')
    return `only http:// upstreams are supported (got ${url.protocol}); the app runs in the same pod`;
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    return `must not carry a query, fragment or credentials (got ${url.href})`;
  return undefined;
}

const urlObject = doc(
  runtime<URL>('a URL such as "http://127.0.0.1:3000" (a string or a URL object)', (v) => v instanceof URL),
  { title: 'URL', description: 'A WHATWG URL object.' },
);

const upstream = doc(
  z.union([z.string(), urlObject]).check(
    z.superRefine((value, ctx) => {
      const problem = upstreamProblem(value);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value });
    }),
  ),
  {
    description:
      'The app: `http://127.0.0.1:3000`. `http://` only (the app is in the same pod); no query, fragment or credentials. A path is a prefix: `http://127.0.0.1:3000/api` sends `/x` to `/api/x`. The flag falls back to the environment variable `REALIP_UPSTREAM`.',
    code: 'ERR_REALIP_UPSTREAM_INVALID',
  },
);

/** `createProxyProtocolServer(http, options)` and `createSidecar({ proxyProtocol })`. */
export const proxyProtocolSpec = z.strictObject({
  trusted: doc(
    ipRules().check(
      z.refine((list) => list.length > 0, {
        error:
          'at least one trusted sender is required (a PROXY header names the client, so an open listener lets anyone pick their IP)',
        params: { code: 'ERR_REALIP_PROXY_PROTOCOL_UNTRUSTED' },
      }),
    ),
    {
      description:
        'Peers allowed to send a PROXY header: IPs, CIDRs, named ranges (`private`, `loopback`, ...) or `{ cidr, except }` blocks (the flag: repeatable and comma-separated). Required and non-empty: a PROXY header names the client, so accepting it from anyone lets anyone choose their IP.',
    },
  ),
  timeoutMs: opt(z.int().check(z.minimum(1), z.maximum(600_000)), {
    description:
      'Time a trusted peer has to deliver the whole header, in milliseconds (the specification asks for at least 3 s); then the connection is closed.',
    default: 5_000,
  }),
  untrusted: opt(z.enum(['reject', 'direct']), {
    description:
      'A connection from a peer outside `trusted`: `reject` closes it; `direct` serves it as plain HTTP with the socket address as the peer (in-cluster clients that do not pass through the balancer). Deciding by source address is configuration, not guessing: a trusted peer must always send a header, an untrusted one never can.',
    default: 'reject',
  }),
});

/** The options after `upstream` that `realip sidecar` can set from flags. */
const listenerAndLimitFields = {
  listen: opt(listenAddress, {
    description:
      'Public listener. Flag forms: `[::]:8080`, `0.0.0.0:8080`, `127.0.0.1:8080`, `:8080`, `8080`; `[::]` also accepts IPv4.',
    default: { host: '::', port: 8080 },
  }),
  adminListen: opt(
    z.union([listenAddress, z.literal(false)], { error: 'expected { host, port } or false' }),
    {
      description:
        'Admin listener (`/healthz`, `/readyz`, `/metrics`, `/top-clients`): plain HTTP, never PROXY protocol, never rate-limited, no authentication (keep it off public Services). `false` (flag: `off`) disables it.',
      default: { host: '::', port: 9901 },
    },
  ),
  proxyProtocol: opt(proxyProtocolSpec, {
    description:
      'Require a PROXY protocol v1 or v2 header at the start of every public connection. Off when absent.',
  }),
  maxBodyBytes: opt(count(0), {
    description:
      'Largest request body forwarded, in bytes; larger ones get 413 (checked on `Content-Length` at once, and while streaming a chunked body). Protects the app from bodies it never meant to accept.',
    default: 10 * 1024 * 1024,
  }),
  requestBufferBytes: opt(count(0), {
    description:
      "Request bodies up to this size in bytes (declared, or chunked ones that end within it) are read whole before they take a connection to the app, and sent with `Content-Length` (nginx's `proxy_request_buffering`): a slow uploader holds sidecar memory instead of an app connection. Larger bodies stream; 0 streams every body.",
    default: 64 * 1024,
  }),
  requestBufferMemoryBytes: opt(count(0), {
    description:
      'Most memory, in bytes, all bodies being buffered may reserve at once (their declared length, or `requestBufferBytes` for a chunked body); past it, new bodies stream.',
    default: 32 * 1024 * 1024,
  }),
  clientBodyTimeoutMs: opt(duration(0), {
    description:
      "Longest gap between two reads of a request body, in milliseconds (nginx's `client_body_timeout`); then 408 `ERR_REALIP_CLIENT_BODY_TIMEOUT`, and the request to the app, if it started, is aborted. 0 disables it.",
    default: 60_000,
  }),
  connectTimeoutMs: opt(duration(1), {
    description: 'Time to open a connection to the app, in milliseconds; then 504.',
    default: 5_000,
  }),
  responseTimeoutMs: opt(duration(1), {
    description:
      "Time from the request's last byte handed to the app (its head, when there is no body) to the app's response headers, in milliseconds; then 504. A slow upload does not count against it.",
    default: 60_000,
  }),
  idleTimeoutMs: opt(duration(0), {
    description:
      'Longest silence inside a response body from the app, in a WebSocket tunnel (either direction) and on a client connection, in milliseconds; 0 disables it. Long-lived streams (SSE) should send a comment line more often.',
    default: 300_000,
  }),
  upstreamConnections: opt(count(1), {
    description:
      'Most connections to the app at once (requests in flight to it). WebSocket handshakes count while they are made; open tunnels do not (each has a connection of its own).',
    default: 128,
  }),
  upstreamQueue: opt(count(0), {
    description:
      'Most requests waiting for a connection to the app; beyond, 503 `ERR_REALIP_UPSTREAM_BUSY` with `Retry-After`.',
    default: 1024,
  }),
  upstreamQueueTimeoutMs: opt(duration(1), {
    description: 'Longest wait for a connection to the app, in milliseconds; then 503 with `Retry-After`.',
    default: 5_000,
  }),
  shutdownDelayMs: opt(duration(0), {
    description:
      'On `shutdown()` (the CLI: SIGTERM): time `/readyz` fails while the public listener keeps serving, in milliseconds.',
    default: 10_000,
  }),
  drainTimeoutMs: opt(duration(0), {
    description:
      'After the delay: time in-flight requests and WebSocket tunnels get to finish before connections are closed, in milliseconds.',
    default: 20_000,
  }),
  geoHeaders: opt(z.boolean(), {
    description:
      'Send `X-Client-Country`, `X-Client-Continent` and `X-Client-ASN` from `req.realip.geo` to the app. The client-sent versions are always removed.',
    default: true,
  }),
  stripHeaders: opt(
    z.array(z.string().check(z.regex(HEADER_TOKEN, 'expected an HTTP header name such as "x-debug"'))),
    {
      description:
        'Extra request headers removed before forwarding (any case), in addition to the built-in spoofable set (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `X-Client-*`, `True-Client-IP`, ...). The flag is repeatable.',
      default: [],
    },
  ),
};

/** The options `realip sidecar` can set from flags (everything but the stack and the event sink). */
const sidecarFields = { upstream, ...listenerAndLimitFields };

const isStack = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as SidecarStack).handle === 'function';

/** `createSidecar(options)`. */
export const sidecarSpec = z.strictObject({
  upstream,
  stack: doc(runtime<SidecarStack>('an object with a handle(req, res, conn) method', isStack), {
    title: 'SidecarStack',
    description:
      'The stack run on every public request (resolve, geo, access, rate limit, log, metrics: whatever the policy composes). The CLI builds it from `--config`, or from the built-in default policy.',
  }),
  ...listenerAndLimitFields,
  onEvent: opt(
    doc(runtime<(event: SidecarEvent) => void>('a function', isFunction), {
      title: 'function',
      description: 'A function of one event.',
    }),
    {
      description:
        'Receives one event per notable occurrence (listening, shutdown steps, upstream errors). Default: one JSON line each on stderr (the CLI always).',
    },
  ),
});

/** The options `realip sidecar` sets from its flags, checked before the stack is built. */
export const sidecarFlagsSpec = z.strictObject(sidecarFields);

/** How a flag's text becomes an option's value. */
export type SidecarFlagKind =
  | 'url'
  | 'address'
  | 'address-or-off'
  | 'switch'
  | 'negated-switch'
  | 'list'
  | 'choice'
  | 'duration'
  | 'size'
  | 'count';

/** A flag of `realip sidecar` and the option it sets. */
export interface SidecarFlag {
  /** The flag without its dashes. */
  readonly flag: string;
  /** Its argument, as the help shows it (none for switches). */
  readonly arg?: string;
  readonly kind: SidecarFlagKind;
}

/**
 * The flag of each option (by option path). `realip sidecar` parses its flags from this map, names
 * the flag in each problem the spec reports, and the docs table shows it.
 */
export const SIDECAR_FLAGS: Readonly<Record<string, SidecarFlag>> = Object.freeze({
  upstream: { flag: 'upstream', arg: '<url>', kind: 'url' },
  listen: { flag: 'listen', arg: '<addr>', kind: 'address' },
  adminListen: { flag: 'admin-listen', arg: '<addr|off>', kind: 'address-or-off' },
  proxyProtocol: { flag: 'proxy-protocol', kind: 'switch' },
  'proxyProtocol.trusted': { flag: 'proxy-protocol-trusted', arg: '<cidr>', kind: 'list' },
  'proxyProtocol.timeoutMs': { flag: 'proxy-protocol-timeout', arg: '<dur>', kind: 'duration' },
  'proxyProtocol.untrusted': { flag: 'proxy-protocol-untrusted', arg: '<reject|direct>', kind: 'choice' },
  maxBodyBytes: { flag: 'max-body-size', arg: '<size>', kind: 'size' },
  requestBufferBytes: { flag: 'request-buffer-size', arg: '<size>', kind: 'size' },
  requestBufferMemoryBytes: { flag: 'request-buffer-memory', arg: '<size>', kind: 'size' },
  clientBodyTimeoutMs: { flag: 'client-body-timeout', arg: '<dur>', kind: 'duration' },
  connectTimeoutMs: { flag: 'connect-timeout', arg: '<dur>', kind: 'duration' },
  responseTimeoutMs: { flag: 'response-timeout', arg: '<dur>', kind: 'duration' },
  idleTimeoutMs: { flag: 'idle-timeout', arg: '<dur>', kind: 'duration' },
  upstreamConnections: { flag: 'upstream-connections', arg: '<n>', kind: 'count' },
  upstreamQueue: { flag: 'upstream-queue', arg: '<n>', kind: 'count' },
  upstreamQueueTimeoutMs: { flag: 'upstream-queue-timeout', arg: '<dur>', kind: 'duration' },
  shutdownDelayMs: { flag: 'shutdown-delay', arg: '<dur>', kind: 'duration' },
  drainTimeoutMs: { flag: 'drain-timeout', arg: '<dur>', kind: 'duration' },
  geoHeaders: { flag: 'no-geo-headers', kind: 'negated-switch' },
  stripHeaders: { flag: 'strip-header', arg: '<name>', kind: 'list' },
} satisfies Record<string, SidecarFlag>);

/**
 * The flag that sets the option at `path` (`stripHeaders[2]` is `--strip-header`), with the
 * option path for the message: `--upstream-connections (upstreamConnections)`.
 */
export function flagFor(path: string): string | undefined {
  let key = path.replace(/\[\d+\]/g, '');
  for (;;) {
    const f = SIDECAR_FLAGS[key];
    if (f) return `--${f.flag}`;
    const dot = key.lastIndexOf('.');
    if (dot < 0) return undefined;
    key = key.slice(0, dot);
  }
}

/** `60000` as the flags write it: `60s` (`5m`, `500ms`, `0`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % size === 0 && ms / size >= 2) return `${ms / size}${unit}`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** `10485760` as the flags write it: `10mb` (`64kb`, `1gb`, or bytes). */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['gb', 1024 ** 3],
    ['mb', 1024 ** 2],
    ['kb', 1024],
  ] as const)
    if (bytes > 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  return String(bytes);
}

/** The documented default of the option at `path`, as its flag writes it (`5s`, `10mb`, `[::]:8080`). */
export function flagDefault(path: string): string | undefined {
  const f = SIDECAR_FLAGS[path];
  const [head, child] = path.split('.') as [string, string | undefined];
  const top = defaultsOf(sidecarSpec)[head];
  const value = child === undefined ? top : defaultsOf(proxyProtocolSpec)[child];
  if (f === undefined || value === undefined) return undefined;
  switch (f.kind) {
    case 'duration':
      return formatDuration(value as number);
    case 'size':
      return formatSize(value as number);
    case 'address':
    case 'address-or-off': {
      const a = value as { host: string; port: number };
      return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    }
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

/** `host:port`, `[v6]:port` or a bare port; see `parseListenAddress`. */
export interface ListenAddress {
  /** Address to bind: an IP or a host name (`::` also accepts IPv4). */
  host: string;
  /** TCP port, 0-65535 (0: any free port). */
  port: number;
}

/** PROXY protocol on the public listener. */
export interface ProxyProtocolOptions {
  /**
   * Peers allowed to send a PROXY header (IPs, CIDRs, named ranges). Required and non-empty:
   * a PROXY header names the client, so accepting it from anyone lets anyone choose their IP.
   */
  trusted: readonly IpRule[];
  /**
   * Time a trusted peer has to deliver a complete header, in milliseconds (1-600000).
   * @default 5000 (the specification asks for at least 3 s)
   */
  timeoutMs?: number;
  /**
   * What to do with a connection from a peer outside `trusted`. `'reject'` closes it;
   * `'direct'` serves it as plain HTTP with the socket address as the peer (in-cluster clients
   * that do not pass through the balancer). Deciding by source address is configuration, not
   * guessing: a trusted peer must always send a header, an untrusted one never can.
   * @default 'reject'
   */
  untrusted?: 'reject' | 'direct';
}

/**
 * Options of `createSidecar()` (the CLI: `realip sidecar` flags, `SIDECAR_FLAGS`). Durations are
 * whole milliseconds, at most 24 h; sizes and counts whole numbers.
 */
export interface SidecarOptions {
  /**
   * The app: `http://127.0.0.1:3000` (http only; the app lives in the same pod). A path is a
   * prefix: `http://127.0.0.1:3000/api` sends `/x` to `/api/x`.
   */
  upstream: string | URL;
  /** The stack run on every public request. */
  stack: SidecarStack;
  /** Public listener. @default { host: '::', port: 8080 } */
  listen?: ListenAddress;
  /**
   * Admin listener (`/healthz`, `/readyz`, `/metrics`, `/top-clients`): plain HTTP, never PROXY
   * protocol, never rate-limited. `false` disables it.
   * @default { host: '::', port: 9901 }
   */
  adminListen?: ListenAddress | false;
  /** Require a PROXY protocol header on the public listener. @default undefined (off) */
  proxyProtocol?: ProxyProtocolOptions;
  /**
   * Largest request body forwarded, in bytes; larger bodies get 413. Protects the app from
   * bodies it never meant to accept.
   * @default 10485760 (10 MiB)
   */
  maxBodyBytes?: number;
  /**
   * Request bodies up to this size are read whole before they take a connection to the app
   * (request buffering, as nginx's `proxy_request_buffering`), so a slow uploader holds sidecar
   * memory instead of an app connection; larger bodies stream. 0 streams every body.
   * @default 65536 (64 KiB)
   */
  requestBufferBytes?: number;
  /**
   * Most memory all buffered bodies may reserve at once (by declared length, or
   * `requestBufferBytes` for a chunked body); past it, bodies stream.
   * @default 33554432 (32 MiB)
   */
  requestBufferMemoryBytes?: number;
  /**
   * Longest gap between two reads of the request body (nginx's `client_body_timeout`); then 408,
   * and the request to the app, if it started, is aborted. 0 disables it.
   * @default 60000
   */
  clientBodyTimeoutMs?: number;
  /** Time to open a connection to the upstream before answering 504 (at least 1). @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Time from the last request byte handed to the app (the head, without a body) to its response
   * headers, before 504 (at least 1). A slow upload does not count against it.
   * @default 60000
   */
  responseTimeoutMs?: number;
  /**
   * Longest silence inside a response body from the app, in a WebSocket tunnel, and on a client
   * connection; 0 disables it. Long-lived streams (SSE) should send keep-alive comments more often.
   * @default 300000
   */
  idleTimeoutMs?: number;
  /**
   * Most connections to the app at once (requests in flight to it), at least 1. WebSocket
   * handshakes count while they are made; open tunnels do not (each has a connection of its own).
   * @default 128
   */
  upstreamConnections?: number;
  /** Most requests waiting for a connection to the app; beyond, 503 with Retry-After. @default 1024 */
  upstreamQueue?: number;
  /** Longest wait for a connection to the app (at least 1); then 503 with Retry-After. @default 5000 */
  upstreamQueueTimeoutMs?: number;
  /** On `shutdown()`: time `/readyz` fails while the public listener keeps serving. @default 10000 */
  shutdownDelayMs?: number;
  /** After the delay: time in-flight requests get to finish before connections are closed. @default 20000 */
  drainTimeoutMs?: number;
  /**
   * Add `X-Client-Country`, `X-Client-Continent` and `X-Client-ASN` from `req.realip.geo`.
   * The client-sent versions are always removed.
   * @default true
   */
  geoHeaders?: boolean;
  /**
   * Extra request headers removed before forwarding (any case), in addition to the built-in
   * spoofable set (X-Forwarded-*, Forwarded, X-Real-IP, X-Client-*, True-Client-IP, ...).
   * @default []
   */
  stripHeaders?: readonly string[];
  /** Receives one line per notable event (start, shutdown steps, upstream errors). @default stderr JSON lines */
  onEvent?: (event: SidecarEvent) => void;
}

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the specs' (a missing or extra option is a type error here).
const _sidecarKeys: SameKeys<SidecarOptions, z.input<typeof sidecarSpec>> = true;
const _proxyProtocolKeys: SameKeys<ProxyProtocolOptions, z.input<typeof proxyProtocolSpec>> = true;
const _listenKeys: SameKeys<ListenAddress, z.input<typeof listenAddress>> = true;
const _flagKeys: SameKeys<Omit<SidecarOptions, 'stack' | 'onEvent'>, z.input<typeof sidecarFlagsSpec>> = true;
void _sidecarKeys;
void _proxyProtocolKeys;
void _listenKeys;
void _flagKeys;
