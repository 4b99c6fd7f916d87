/**
 * The sidecar's own counters and their Prometheus text exposition (no prom-client needed: the
 * stack's metrics, when it has any, are rendered by the stack and placed before these).
 */
import type { ProxyProtocolStats } from './proxy-listener.js';

/** Counters kept by the sidecar. */
export class SidecarCounters {
  /** Responses by status code. */
  readonly responses = new Map<number, number>();
  /** Upstream failures by kind (`ECONNREFUSED`, `connect-timeout`, `response-timeout`, `idle-timeout`, ...). */
  readonly upstreamErrors = new Map<string, number>();
  readonly proxyProtocol: ProxyProtocolStats = { accepted: {}, direct: 0, refused: {} };
  inflight = 0;
  tunnels = 0;
  bodyTooLarge = 0;
  stackErrors = 0;
  clientErrors = 0;
  upstreamRetries = 0;
  /** Requests refused before the app (framing.ts), by reason. */
  readonly refusedRequests = new Map<string, number>();
  /** Requests answered 503 because no app connection was free in time, by reason. */
  readonly upstreamBusyByReason = new Map<string, number>();
  /** Clients gone before the whole response was sent, by phase (`before-head`, `during-body`). */
  readonly clientAborts = new Map<string, number>();
  clientBodyTimeouts = 0;
  /** Read at render time: connections held to the app, requests waiting for one, buffered bytes. */
  upstreamState: () => { active: number; waiting: number; buffered: number } = () => ({
    active: 0,
    waiting: 0,
    buffered: 0,
  });

  upstreamBusy(reason: string): void {
    this.upstreamBusyByReason.set(reason, (this.upstreamBusyByReason.get(reason) ?? 0) + 1);
  }

  clientAborted(phase: 'before-head' | 'during-body'): void {
    this.clientAborts.set(phase, (this.clientAborts.get(phase) ?? 0) + 1);
  }

  refused(reason: string): void {
    this.refusedRequests.set(reason, (this.refusedRequests.get(reason) ?? 0) + 1);
  }

  countStatus(status: number): void {
    this.responses.set(status, (this.responses.get(status) ?? 0) + 1);
  }

  upstreamError(kind: string): void {
    this.upstreamErrors.set(kind, (this.upstreamErrors.get(kind) ?? 0) + 1);
  }
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function family(out: string[], name: string, type: 'counter' | 'gauge', help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** Renders the counters in the Prometheus text format (version 0.0.4). */
export function renderSidecarMetrics(c: SidecarCounters, draining: boolean): string {
  const out: string[] = [];
  family(
    out,
    'realip_sidecar_responses_total',
    'counter',
    'Responses sent on the public listener, by status code.',
  );
  for (const [code, n] of [...c.responses].sort((a, b) => a[0] - b[0])) {
    out.push(`realip_sidecar_responses_total{code="${code}"} ${n}`);
  }
  family(out, 'realip_sidecar_upstream_errors_total', 'counter', 'Failed exchanges with the app, by kind.');
  for (const [kind, n] of [...c.upstreamErrors].sort()) {
    out.push(`realip_sidecar_upstream_errors_total{kind="${label(kind)}"} ${n}`);
  }
  family(
    out,
    'realip_sidecar_upstream_retries_total',
    'counter',
    'Idempotent requests retried after a stale keep-alive connection.',
  );
  out.push(`realip_sidecar_upstream_retries_total ${c.upstreamRetries}`);
  family(
    out,
    'realip_sidecar_upstream_busy_total',
    'counter',
    'Requests answered 503 because no connection to the app was free within the queue bounds, by reason.',
  );
  for (const [reason, n] of [...c.upstreamBusyByReason].sort()) {
    out.push(`realip_sidecar_upstream_busy_total{reason="${label(reason)}"} ${n}`);
  }
  const up = c.upstreamState();
  family(out, 'realip_sidecar_upstream_connections', 'gauge', 'Requests holding a connection to the app.');
  out.push(`realip_sidecar_upstream_connections ${up.active}`);
  family(out, 'realip_sidecar_upstream_queue', 'gauge', 'Requests waiting for a connection to the app.');
  out.push(`realip_sidecar_upstream_queue ${up.waiting}`);
  family(
    out,
    'realip_sidecar_request_buffer_bytes',
    'gauge',
    'Memory reserved by request bodies being buffered before they go to the app.',
  );
  out.push(`realip_sidecar_request_buffer_bytes ${up.buffered}`);
  family(
    out,
    'realip_sidecar_client_aborts_total',
    'counter',
    'Clients gone before the response was complete: before its head (counted as 499) or during its body.',
  );
  for (const [phase, n] of [...c.clientAborts].sort()) {
    out.push(`realip_sidecar_client_aborts_total{phase="${label(phase)}"} ${n}`);
  }
  family(
    out,
    'realip_sidecar_client_body_timeouts_total',
    'counter',
    'Requests answered 408: the client paused longer than the client body timeout.',
  );
  out.push(`realip_sidecar_client_body_timeouts_total ${c.clientBodyTimeouts}`);
  family(out, 'realip_sidecar_body_too_large_total', 'counter', 'Requests refused with 413.');
  out.push(`realip_sidecar_body_too_large_total ${c.bodyTooLarge}`);
  family(
    out,
    'realip_sidecar_requests_refused_total',
    'counter',
    'Requests refused before reaching the app (ambiguous framing, CONNECT, unsupported transfer coding), by reason.',
  );
  for (const [reason, n] of [...c.refusedRequests].sort()) {
    out.push(`realip_sidecar_requests_refused_total{reason="${label(reason)}"} ${n}`);
  }
  family(out, 'realip_sidecar_stack_errors_total', 'counter', 'Requests on which the stack failed (500).');
  out.push(`realip_sidecar_stack_errors_total ${c.stackErrors}`);
  family(out, 'realip_sidecar_client_errors_total', 'counter', 'Malformed HTTP from clients.');
  out.push(`realip_sidecar_client_errors_total ${c.clientErrors}`);
  family(out, 'realip_sidecar_inflight_requests', 'gauge', 'Requests being handled.');
  out.push(`realip_sidecar_inflight_requests ${c.inflight}`);
  family(out, 'realip_sidecar_tunnels', 'gauge', 'Open WebSocket/Upgrade tunnels.');
  out.push(`realip_sidecar_tunnels ${c.tunnels}`);
  family(out, 'realip_sidecar_draining', 'gauge', '1 once shutdown has started.');
  out.push(`realip_sidecar_draining ${draining ? 1 : 0}`);
  const pp = c.proxyProtocol;
  family(
    out,
    'realip_sidecar_proxy_protocol_accepted_total',
    'counter',
    'PROXY protocol headers accepted, by version and command.',
  );
  for (const key of Object.keys(pp.accepted).sort()) {
    const [version, command] = key.split('-');
    out.push(
      `realip_sidecar_proxy_protocol_accepted_total{version="${label(version ?? '')}",command="${label(command ?? '')}"} ${pp.accepted[key]}`,
    );
  }
  family(
    out,
    'realip_sidecar_proxy_protocol_refused_total',
    'counter',
    'Connections closed before HTTP, by reason.',
  );
  for (const reason of Object.keys(pp.refused).sort()) {
    out.push(`realip_sidecar_proxy_protocol_refused_total{reason="${label(reason)}"} ${pp.refused[reason]}`);
  }
  family(
    out,
    'realip_sidecar_proxy_protocol_direct_total',
    'counter',
    'Connections from untrusted peers served without PROXY protocol.',
  );
  out.push(`realip_sidecar_proxy_protocol_direct_total ${pp.direct}`);
  return out.join('\n') + '\n';
}
