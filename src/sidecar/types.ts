/**
 * The sidecar's contracts: the stack it runs on every public request (its options: spec.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
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

// The options interfaces live with their spec (one definition: types, defaults, bounds, docs).
export type { ListenAddress, ProxyProtocolOptions, SidecarOptions } from './spec.js';

/** A notable event, for logs. */
export interface SidecarEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}
