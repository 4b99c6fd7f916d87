/**
 * The sidecar's contracts: the stack it runs on every public request, and its options.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IpRule } from '../core/cidr.js';
import type { RealipContext } from '../types.js';

/** A request as the sidecar hands it to the stack; the stack sets `realip`. */
export type SidecarRequest = IncomingMessage & { realip?: RealipContext | undefined };

/** What the connection carried besides the HTTP request. */
export interface SidecarConnection {
  /**
   * The PROXY protocol source, when the public listener requires PROXY protocol and the header
   * announced one. Absent for LOCAL/UNKNOWN/UNSPEC/UNIX headers: the socket address stays the peer.
   */
  readonly proxyProtocol?: { readonly sourceAddress: string; readonly sourcePort?: number } | undefined;
}

/**
 * What the sidecar runs on every request of the public listener (resolve, geo, access, rate limit,
 * log, metrics: whatever the policy composes). This is the only coupling between the proxy and the
 * stages, so any stack plugs in.
 */
export interface SidecarStack {
  /**
   * Runs the stack on one request. Returns `true` to forward it upstream, after setting
   * `req.realip` (a `RealipContext` with at least `resolution`, and `geo` when known); returns
   * `false` when it already answered (403, 429, ...) on `res`. May return a promise (rate-limit
   * stores are async). Must not throw for request data; a rejection answers 500.
   */
  handle(req: SidecarRequest, res: ServerResponse, conn: SidecarConnection): boolean | Promise<boolean>;
  /** Prometheus text exposition of the stack's metrics, for `/metrics` on the admin listener. */
  metrics?(): Promise<string> | string;
  /** The heaviest clients (JSON-serialisable), for `/top-clients` on the admin listener. */
  topClients?(): unknown;
  /** False while the stack cannot serve (e.g. a required store is down); `/readyz` answers 503. */
  ready?(): boolean | Promise<boolean>;
  /** Releases timers, watchers and connections at shutdown. */
  close?(): void | Promise<void>;
}

/** `host:port`, `[v6]:port` or a bare port; see `parseListenAddress`. */
export interface ListenAddress {
  host: string;
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
   * Time a trusted peer has to deliver a complete header, in milliseconds.
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

/** Options of `createSidecar()`. Durations are milliseconds. */
export interface SidecarOptions {
  /** The app: `http://127.0.0.1:3000` (http only; the app lives in the same pod). */
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
  /** Time to open a connection to the upstream before answering 504. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Time from the last request byte handed to the app (the head, without a body) to its response
   * headers, before 504. A slow upload does not count against it.
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
   * Most connections to the app at once (requests in flight to it). WebSocket handshakes count
   * while they are made; open tunnels do not (each has a connection of its own).
   * @default 128
   */
  upstreamConnections?: number;
  /** Most requests waiting for a connection to the app; beyond, 503 with Retry-After. @default 1024 */
  upstreamQueue?: number;
  /** Longest wait for a connection to the app; then 503 with Retry-After. @default 5000 */
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
   * Extra request headers removed before forwarding (lower case), in addition to the built-in
   * spoofable set (X-Forwarded-*, Forwarded, X-Real-IP, X-Client-*, True-Client-IP, ...).
   * @default []
   */
  stripHeaders?: readonly string[];
  /** Receives one line per notable event (start, shutdown steps, upstream errors). @default stderr JSON lines */
  onEvent?: (event: SidecarEvent) => void;
}

/** A notable event, for logs. */
export interface SidecarEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}
