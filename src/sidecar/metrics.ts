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
    bump(this.upstreamBusyByReason, reason);
  }

  clientAborted(phase: 'before-head' | 'during-body'): void {
    bump(this.clientAborts, phase);
  }

  refused(reason: string): void {
    bump(this.refusedRequests, reason);
  }

  countStatus(status: number): void {
    bump(this.responses, status);
  }

  upstreamError(kind: string): void {
    bump(this.upstreamErrors, kind);
  }
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function family(out: string[], name: string, type: 'counter' | 'gauge', help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** A family with one unlabelled sample. */
function single(out: string[], name: string, type: 'counter' | 'gauge', help: string, value: number): void {
  family(out, name, type, help);
  out.push(`${name} ${value}`);
}

/** A counter family with one sample per value of one label, in label order. */
function byLabel(
  out: string[],
  name: string,
  help: string,
  labelName: string,
  counts: Iterable<[string | number, number]>,
): void {
  family(out, name, 'counter', help);
  const rows = [...counts].sort((x, y) =>
    typeof x[0] === 'number' && typeof y[0] === 'number'
      ? x[0] - y[0]
      : String(x[0]) < String(y[0])
        ? -1
        : String(x[0]) > String(y[0])
          ? 1
          : 0,
  );
  for (const [value, n] of rows) out.push(`${name}{${labelName}="${label(String(value))}"} ${n}`);
}

/** Renders the counters in the Prometheus text format (version 0.0.4). */
export function renderSidecarMetrics(c: SidecarCounters, draining: boolean): string {
  const out: string[] = [];
  const p = 'realip_sidecar_';
  byLabel(
    out,
    `${p}responses_total`,
    'Responses sent on the public listener, by status code.',
    'code',
    c.responses,
  );
  byLabel(
    out,
    `${p}upstream_errors_total`,
    'Failed exchanges with the app, by kind.',
    'kind',
    c.upstreamErrors,
  );
  single(
    out,
    `${p}upstream_retries_total`,
    'counter',
    'Idempotent requests retried after a stale keep-alive connection.',
    c.upstreamRetries,
  );
  byLabel(
    out,
    `${p}upstream_busy_total`,
    'Requests answered 503 because no connection to the app was free within the queue bounds, by reason.',
    'reason',
    c.upstreamBusyByReason,
  );
  const up = c.upstreamState();
  single(out, `${p}upstream_connections`, 'gauge', 'Requests holding a connection to the app.', up.active);
  single(out, `${p}upstream_queue`, 'gauge', 'Requests waiting for a connection to the app.', up.waiting);
  single(
    out,
    `${p}request_buffer_bytes`,
    'gauge',
    'Memory reserved by request bodies being buffered before they go to the app.',
    up.buffered,
  );
  byLabel(
    out,
    `${p}client_aborts_total`,
    'Clients gone before the response was complete: before its head (counted as 499) or during its body.',
    'phase',
    c.clientAborts,
  );
  single(
    out,
    `${p}client_body_timeouts_total`,
    'counter',
    'Requests answered 408: the client paused longer than the client body timeout.',
    c.clientBodyTimeouts,
  );
  single(out, `${p}body_too_large_total`, 'counter', 'Requests refused with 413.', c.bodyTooLarge);
  byLabel(
    out,
    `${p}requests_refused_total`,
    'Requests refused before reaching the app (ambiguous framing, CONNECT, unsupported transfer coding), by reason.',
    'reason',
    c.refusedRequests,
  );
  single(
    out,
    `${p}stack_errors_total`,
    'counter',
    'Requests on which the stack failed (500).',
    c.stackErrors,
  );
  single(out, `${p}client_errors_total`, 'counter', 'Malformed HTTP from clients.', c.clientErrors);
  single(out, `${p}inflight_requests`, 'gauge', 'Requests being handled.', c.inflight);
  single(out, `${p}tunnels`, 'gauge', 'Open WebSocket/Upgrade tunnels.', c.tunnels);
  single(out, `${p}draining`, 'gauge', '1 once shutdown has started.', draining ? 1 : 0);
  const pp = c.proxyProtocol;
  family(
    out,
    `${p}proxy_protocol_accepted_total`,
    'counter',
    'PROXY protocol headers accepted, by version and command.',
  );
  for (const key of Object.keys(pp.accepted).sort()) {
    const [version, command] = key.split('-');
    out.push(
      `${p}proxy_protocol_accepted_total{version="${label(version ?? '')}",command="${label(command ?? '')}"} ${pp.accepted[key]}`,
    );
  }
  byLabel(
    out,
    `${p}proxy_protocol_refused_total`,
    'Connections closed before HTTP, by reason.',
    'reason',
    Object.entries(pp.refused),
  );
  single(
    out,
    `${p}proxy_protocol_direct_total`,
    'counter',
    'Connections from untrusted peers served without PROXY protocol.',
    pp.direct,
  );
  return out.join('\n') + '\n';
}
