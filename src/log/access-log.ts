/**
 * Structured access log: one fixed-shape event per request, built at response finish from plain
 * values and the request's `RealipContext`, written to a logger-like object (pino, Fastify's
 * `request.log`, or anything with `info`/`warn`).
 *
 * Field names follow OpenTelemetry semantic conventions (`client.address`, `network.peer.address`,
 * `http.request.method`, `http.route`, `url.path`, `http.response.status_code`) and optionally ECS
 * (`client.ip`, `source.ip`, `client.geo.country_iso_code`, `client.as.number`). realip's own facts
 * live under `realip.*`. Every address goes through the anonymiser.
 *
 * Floods cannot flood the log: for the suppressed statuses (403 and 429 by default) the first
 * response per client per window is written and the rest are counted into that client's next
 * line's `suppressed` field (or into one summary line when the client does not come back). Memory
 * is bounded by `suppress.maxKeys`; beyond it, all further clients share one overflow key.
 *
 * Imports no logger library: the core entry stays free of pino.
 *
 * Size: about 600 lines, over the guide's 500: event building and flood suppression still share
 * this file (its options moved to src/log/spec.ts); issue 15 splits them.
 */
import { IssueCollector, joinPath } from '../errors.js';
import type { GeoInfo, RealipContext, Resolution } from '../types.js';
import { parseOptions } from '../spec/spec.js';
import { accessLogSpec, ADDRESS_HEADERS as ADDRESS_HEADER_NAMES } from './spec.js';
import type { AccessLogLevel, AccessLogOptions, FieldStyle } from './spec.js';
import type { AnonymizeMode, HmacKey } from './anonymize-spec.js';
import { compileExemptPaths } from '../core/paths.js';
import { canonicalIp } from '../core/ip.js';
import type { Anonymizer } from './anonymize.js';
import { createAnonymizer, REDACTED } from './anonymize.js';

export type { AccessLogOptions, AccessLogLevel, FieldStyle, SuppressOptions } from './spec.js';

/** What realip needs from a logger: pino, Fastify's `request.log` and most others fit. */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
  /** When present, consulted first so a disabled level costs nothing. */
  isLevelEnabled?(level: string): boolean;
}

/** What realip's stages did to the request. */
export type PolicyDecision = 'allowed' | 'denied' | 'limited';

/** Headers whose values carry addresses: anonymised with `anonymizer.text()` when logged. */
const ADDRESS_HEADERS = new Set([...ADDRESS_HEADER_NAMES, 'via']);

/** Plain per-request values the adapters hand to the builder (reused; never retained). */
export class AccessLogInput {
  method: string | undefined = undefined;
  /** Route template (`/users/:id`), when the framework knows it. */
  route: string | undefined = undefined;
  /** Request URL as received (`req.url` / `originalUrl`); the query is stripped before logging. */
  url: string | undefined = undefined;
  statusCode = 0;
  durationMs = 0;
  /** Socket address, used only when no resolution exists. */
  remoteAddress: string | undefined = undefined;
  remotePort: number | undefined = undefined;
  context: RealipContext | undefined = undefined;
  headers: Readonly<Record<string, string | string[] | undefined>> | undefined = undefined;
  /** The client went away before the response finished. */
  aborted = false;
}

/** A log event: flat dotted keys; `undefined` values are left out by pino and JSON.stringify. */
export type AccessLogEvent = Record<string, unknown>;

/** The compiled access log. */
export interface AccessLog {
  /**
   * Builds the event and writes it (or counts it as suppressed) to `logger`, by default the
   * `logger` option (without either, nothing is written). Never throws on request data.
   */
  write(input: AccessLogInput, logger?: LoggerLike, rootLogger?: LoggerLike): void;
  /** Builds the event only (no suppression, no writing). */
  build(input: AccessLogInput): AccessLogEvent;
  /** Writes pending suppression counts (call at shutdown) to `logger`, by default the `logger` option. */
  flush(logger?: LoggerLike): void;
  /**
   * Whether lines read `input.headers` (the `headers` or `requestIdHeader` options). When false,
   * adapters leave it unset: Node builds `req.headers` from the raw header list on first access,
   * about 1.5 µs a request that nothing else may need.
   */
  readonly needsHeaders: boolean;
  readonly anonymizer: Anonymizer;
  readonly options: Readonly<{ fieldStyle: FieldStyle; message: string }>;
}

class SuppressState {
  until: number;
  suppressed = 0;
  constructor(until: number) {
    this.until = until;
  }
}

/** The policy decision recorded on the context. */
export function decisionOf(ctx: RealipContext | undefined): PolicyDecision {
  if (ctx === undefined) return 'allowed';
  if (ctx.access !== undefined && !ctx.access.allowed) return 'denied';
  if (ctx.rateLimit !== undefined && ctx.rateLimit.limited) return 'limited';
  return 'allowed';
}

/** Trusted proxies between the client and this server, counted from the resolution. */
export function trustedHops(r: Resolution): number {
  if (r.source !== 'header' || r.ip === undefined) return r.source === 'proxy-protocol' ? 1 : 0;
  const chain = r.chain;
  let hops = chain.length > 0 ? chain.length - 1 : 0;
  // The socket peer is a trusted hop too; count it unless the chain already ends with it.
  if (chain.length === 0 || chain[chain.length - 1] !== r.peer) hops++;
  return hops;
}

/**
 * A one-line explanation built only from a resolution's fields, every address anonymised:
 * `client 203.0.113.0 from header x-forwarded-for (untrusted-entry, complete), peer 10.0.0.0, 2 trusted hops`.
 */
export function redactedExplanation(r: Resolution, anonymize: Anonymizer): string {
  const client = r.ip === undefined ? 'undeterminable' : (anonymize(r.ip) ?? REDACTED);
  const peer = r.peer === undefined ? 'none' : (anonymize(r.peer) ?? REDACTED);
  const from = r.source === 'header' ? `header ${r.header ?? '?'}` : r.source;
  const chain = r.chain.map((a) => anonymize(a) ?? REDACTED).join(', ');
  return (
    `client ${client} from ${from} (${r.reason}, ${r.complete ? 'complete' : 'incomplete'}), peer ${peer}, ` +
    `${trustedHops(r)} trusted hops, chain [${chain}]`
  );
}

/** `resolution.explain()` with every address anonymised (and never throwing). */
export function anonymizedExplain(r: Resolution, anonymize: Anonymizer): string {
  let text: string;
  try {
    text = r.explain();
  } catch {
    return redactedExplanation(r, anonymize);
  }
  return anonymize.text(text);
}

/**
 * Compiles the access log. Validates every option and throws one `ConfigError` listing all
 * problems (paths under `pathPrefix`, e.g. `log.headers[1]`).
 */
export function createAccessLog(options: AccessLogOptions = {}, pathPrefix = ''): AccessLog {
  const o = parseOptions(accessLogSpec, options, pathPrefix);
  const fieldStyle = o.fieldStyle as FieldStyle;
  const message = o.message as string;
  const lv = o.levels ?? {};
  const levels = {
    allowed: lv.allowed ?? 'info',
    denied: lv.denied ?? 'warn',
    limited: lv.limited ?? 'warn',
    serverError: lv.serverError ?? 'error',
  };
  const full = o.detail === 'full';
  const explainMode = o.explain as 'never' | 'denied' | 'always';
  const suppressOn = o.suppress !== false;
  const s = o.suppress === false ? {} : (o.suppress ?? {});
  const suppressWindow = s.windowMs ?? 60_000;
  const maxKeys = s.maxKeys ?? 10_000;
  const suppressStatuses: readonly number[] = s.statuses ?? [403, 429];
  // Header names are case-insensitive; Node's `req.headers` keys are lower case.
  const headerNames = (o.headers as string[]).map((h) => h.toLowerCase());
  const headerKeys = headerNames.map((h) => 'http.request.header.' + h);
  const headerIsAddress = headerNames.map((h) => ADDRESS_HEADERS.has(h));
  const requestIdHeader = o.requestIdHeader?.toLowerCase();
  const exempt = compileExemptPaths(
    o.exempt as string[],
    joinPath(pathPrefix, 'exempt'),
    new IssueCollector(),
  );
  const anonymizeOption = o.anonymize as AnonymizeMode | Anonymizer;
  const anonymize =
    typeof anonymizeOption === 'function'
      ? anonymizeOption
      : createAnonymizer(
          {
            anonymize: anonymizeOption,
            hmacLength: o.hmacLength,
            truncate: o.truncate,
            cacheSize: o.cacheSize,
            ...(o.hmacKey !== undefined ? { hmacKey: o.hmacKey as HmacKey } : {}),
            ...(o.hmacKeys !== undefined ? { hmacKeys: o.hmacKeys as HmacKey[] } : {}),
          },
          pathPrefix,
        );
  const topClients = o.topClients;
  const defaultLogger = o.logger;
  const omitted = (o.omit as string[]).slice();

  const mode = anonymize.mode;
  const anonymized = mode !== 'none';
  const modeField = anonymized ? mode : undefined;
  // ECS `client.ip` and `source.ip` are IP-typed in Elasticsearch: only real addresses may go there.
  const ipTyped = mode === 'none' || mode === 'truncate';
  const withChain = o.chain === true;
  const withLocation = o.geoLocation === true;
  const withPath = o.path !== false;
  const otel = fieldStyle !== 'ecs';
  const ecs = fieldStyle !== 'otel';
  const suppressSet = new Set(suppressStatuses);

  function keyIdField(): string | undefined {
    return mode === 'hmac' ? anonymize.keyId : undefined;
  }

  function pathOf(url: string | undefined): string | undefined {
    if (!withPath || url === undefined) return undefined;
    const q = url.indexOf('?');
    return q < 0 ? url : url.slice(0, q);
  }

  function chainOf(r: Resolution | undefined): (string | undefined)[] | undefined {
    if (!withChain || r === undefined || mode === 'drop') return undefined;
    const out = new Array<string | undefined>(r.chain.length);
    for (let i = 0; i < r.chain.length; i++) out[i] = anonymize(r.chain[i]);
    return out;
  }

  function build(input: AccessLogInput): AccessLogEvent {
    const ctx = input.context;
    const r = ctx?.resolution;
    const geo: GeoInfo | undefined = ctx?.geo;
    const access = ctx?.access;
    const rl = ctx?.rateLimit;
    const decision = decisionOf(ctx);
    // Lean lines: details only where they explain something (see the `detail` option).
    const denied = decision === 'denied' && access !== undefined;
    // Seconds with microsecond precision: shorter lines than the raw float.
    const seconds = Math.round(input.durationMs * 1000) / 1e6;
    const limited = decision === 'limited' && rl !== undefined;
    const explainText =
      r !== undefined && (explainMode === 'always' || (explainMode === 'denied' && decision !== 'allowed'))
        ? anonymizedExplain(r, anonymize)
        : undefined;
    const detailed =
      full ||
      decision !== 'allowed' ||
      (r !== undefined && !r.complete) ||
      withChain ||
      explainText !== undefined;
    const complete = r !== undefined && detailed && (full || !r.complete) ? r.complete : undefined;
    const hops = r !== undefined && detailed ? trustedHops(r) : undefined;
    const header = detailed ? r?.header : undefined;
    const reason = detailed ? r?.reason : undefined;
    const tier = detailed ? rl?.tier : undefined;
    const client = r !== undefined ? anonymize(r.ip) : undefined;
    const rawPeer =
      r !== undefined
        ? r.peer
        : input.remoteAddress === undefined
          ? undefined
          : canonicalIp(input.remoteAddress, { lenient: true });
    const peer = anonymize(rawPeer);
    // Every key sits in one object literal per style: keys added afterwards would push V8 into
    // dictionary mode and make pino's for-in serialisation several times slower.
    // A source port next to a truncated address re-identifies a CGNAT subscriber: only with `none`.
    const peerPort = anonymized || !detailed ? undefined : input.remotePort;
    const path = pathOf(input.url);
    let ev: AccessLogEvent;
    if (otel && !ecs) {
      ev = {
        'client.address': client,
        'network.peer.address': peer,
        'network.peer.port': peerPort,
        'http.request.method': input.method,
        'http.route': input.route,
        'url.path': path,
        'http.response.status_code': input.statusCode,
        'http.server.request.duration': seconds,
        'geo.country.iso_code': geo?.country,
        'geo.continent.code': geo?.continent,
        'geo.locality.name': geo?.city,
        'geo.location.lat': withLocation ? geo?.location?.latitude : undefined,
        'geo.location.lon': withLocation ? geo?.location?.longitude : undefined,
        'realip.asn': geo?.asn,
        'realip.as_org': geo?.org,
        'realip.network': geo?.network,
        'realip.source': r?.source,
        'realip.header': header,
        'realip.reason': reason,
        'realip.complete': complete,
        'realip.trusted_hops': hops,
        'realip.chain': chainOf(r),
        'realip.decision': decision,
        'realip.access.reason': denied || full ? access?.reason : undefined,
        'realip.access.rule': denied || full ? access?.rule : undefined,
        'realip.rate_limit.tier': tier,
        'realip.rate_limit.limit': limited || full ? rl?.limit : undefined,
        'realip.rate_limit.remaining': limited || full ? rl?.remaining : undefined,
        'realip.rate_limit.reset_ms': limited || full ? rl?.resetMs : undefined,
        'realip.anonymize': modeField,
        'realip.key_id': keyIdField(),
        'realip.explain': explainText,
        'realip.aborted': input.aborted ? true : undefined,
        'http.request.id':
          requestIdHeader !== undefined ? headerValue(input.headers, requestIdHeader) : undefined,
        suppressed: undefined,
      };
    } else if (ecs && !otel) {
      ev = {
        'client.address': client,
        'client.ip': ipTyped ? client : undefined,
        'source.address': peer,
        'source.ip': ipTyped ? peer : undefined,
        'source.port': peerPort,
        'http.request.method': input.method,
        'http.route': input.route,
        'url.path': path,
        'http.response.status_code': input.statusCode,
        'event.duration': Math.round(input.durationMs * 1e6),
        'client.geo.country_iso_code': geo?.country,
        'client.geo.continent_code': geo?.continent,
        'client.geo.city_name': geo?.city,
        'client.geo.location':
          withLocation && geo?.location !== undefined
            ? { lat: geo.location.latitude, lon: geo.location.longitude }
            : undefined,
        'client.as.number': geo?.asn,
        'client.as.organization.name': geo?.org,
        'realip.network': geo?.network,
        'realip.source': r?.source,
        'realip.header': header,
        'realip.reason': reason,
        'realip.complete': complete,
        'realip.trusted_hops': hops,
        'realip.chain': chainOf(r),
        'realip.decision': decision,
        'realip.access.reason': denied || full ? access?.reason : undefined,
        'realip.access.rule': denied || full ? access?.rule : undefined,
        'realip.rate_limit.tier': tier,
        'realip.rate_limit.limit': limited || full ? rl?.limit : undefined,
        'realip.rate_limit.remaining': limited || full ? rl?.remaining : undefined,
        'realip.rate_limit.reset_ms': limited || full ? rl?.resetMs : undefined,
        'realip.anonymize': modeField,
        'realip.key_id': keyIdField(),
        'realip.explain': explainText,
        'realip.aborted': input.aborted ? true : undefined,
        'http.request.id':
          requestIdHeader !== undefined ? headerValue(input.headers, requestIdHeader) : undefined,
        suppressed: undefined,
      };
    } else {
      ev = {
        'client.address': client,
        'client.ip': ipTyped ? client : undefined,
        'network.peer.address': peer,
        'network.peer.port': peerPort,
        'source.address': peer,
        'source.ip': ipTyped ? peer : undefined,
        'source.port': peerPort,
        'http.request.method': input.method,
        'http.route': input.route,
        'url.path': path,
        'http.response.status_code': input.statusCode,
        'http.server.request.duration': seconds,
        'event.duration': Math.round(input.durationMs * 1e6),
        'geo.country.iso_code': geo?.country,
        'geo.continent.code': geo?.continent,
        'geo.locality.name': geo?.city,
        'geo.location.lat': withLocation ? geo?.location?.latitude : undefined,
        'geo.location.lon': withLocation ? geo?.location?.longitude : undefined,
        'client.geo.country_iso_code': geo?.country,
        'client.geo.continent_code': geo?.continent,
        'client.geo.city_name': geo?.city,
        'client.geo.location':
          withLocation && geo?.location !== undefined
            ? { lat: geo.location.latitude, lon: geo.location.longitude }
            : undefined,
        'client.as.number': geo?.asn,
        'client.as.organization.name': geo?.org,
        'realip.network': geo?.network,
        'realip.source': r?.source,
        'realip.header': header,
        'realip.reason': reason,
        'realip.complete': complete,
        'realip.trusted_hops': hops,
        'realip.chain': chainOf(r),
        'realip.decision': decision,
        'realip.access.reason': denied || full ? access?.reason : undefined,
        'realip.access.rule': denied || full ? access?.rule : undefined,
        'realip.rate_limit.tier': tier,
        'realip.rate_limit.limit': limited || full ? rl?.limit : undefined,
        'realip.rate_limit.remaining': limited || full ? rl?.remaining : undefined,
        'realip.rate_limit.reset_ms': limited || full ? rl?.resetMs : undefined,
        'realip.anonymize': modeField,
        'realip.key_id': keyIdField(),
        'realip.explain': explainText,
        'realip.aborted': input.aborted ? true : undefined,
        'http.request.id':
          requestIdHeader !== undefined ? headerValue(input.headers, requestIdHeader) : undefined,
        suppressed: undefined,
      };
    }
    for (let i = 0; i < headerNames.length; i++) {
      let v = headerValue(input.headers, headerNames[i]!);
      if (v !== undefined && headerIsAddress[i] && anonymized) v = anonymize.text(v);
      ev[headerKeys[i]!] = v;
    }
    // Assigning undefined keeps the object's shape (a delete would not); pino skips undefined.
    for (let i = 0; i < omitted.length; i++) ev[omitted[i]!] = undefined;
    return ev;
  }

  // --- flood suppression -----------------------------------------------------------------------
  const tables = new Map<number, Map<string, SuppressState>>();
  const overflow = new Map<number, SuppressState>();
  for (const st of suppressSet) tables.set(st, new Map());
  let tracked = 0;
  let nextSweep = Date.now() + suppressWindow;

  /** Returns -1 to suppress the line, else the count suppressed since this key's last line. */
  function admit(status: number, key: string, now: number): number {
    const table = tables.get(status)!;
    let st = table.get(key);
    if (st === undefined) {
      if (tracked >= maxKeys) {
        st = overflow.get(status);
        if (st === undefined) {
          st = new SuppressState(0);
          overflow.set(status, st);
        }
      } else {
        st = new SuppressState(now + suppressWindow);
        table.set(key, st);
        tracked++;
        return 0;
      }
    }
    if (now < st.until) {
      st.suppressed++;
      return -1;
    }
    const n = st.suppressed;
    st.suppressed = 0;
    st.until = now + suppressWindow;
    return n;
  }

  /**
   * Drops keys idle for a whole window after their own window ended (a client that comes back in
   * the next window gets its count on its own line); their pending counts go into one summary line
   * per status.
   */
  function sweep(now: number, logger: LoggerLike, all: boolean): void {
    for (const [status, table] of tables) {
      let total = 0;
      let clients = 0;
      for (const [key, st] of table) {
        if (all || now >= st.until + suppressWindow) {
          if (st.suppressed > 0) {
            total += st.suppressed;
            clients++;
          }
          table.delete(key);
          tracked--;
        }
      }
      const ov = overflow.get(status);
      if (ov !== undefined && (all || now >= ov.until + suppressWindow) && ov.suppressed > 0) {
        total += ov.suppressed;
        clients++;
        ov.suppressed = 0;
      }
      if (total > 0) {
        emit(
          logger,
          'warn',
          {
            'http.response.status_code': status,
            suppressed: total,
            'realip.suppressed_clients': clients,
            'realip.anonymize': modeField,
          },
          'realip suppressed repeated responses',
        );
      }
    }
  }

  // --- top clients ------------------------------------------------------------------------------
  let nextTopCheck = 0;
  let lastTop: unknown;

  function emit(logger: LoggerLike, level: AccessLogLevel, obj: object, msg: string): void {
    if (logger.isLevelEnabled !== undefined && !logger.isLevelEnabled(level)) return;
    emitEnabled(logger, level, obj, msg);
  }

  function emitEnabled(logger: LoggerLike, level: AccessLogLevel, obj: object, msg: string): void {
    try {
      if (level === 'info') logger.info(obj, msg);
      else if (level === 'error' && logger.error !== undefined) logger.error(obj, msg);
      else logger.warn(obj, msg);
    } catch {
      // A broken logger must not break the response path.
    }
  }

  function write(
    input: AccessLogInput,
    logger: LoggerLike | undefined = defaultLogger,
    rootLogger: LoggerLike | undefined = logger,
  ): void {
    if (logger === undefined || rootLogger === undefined) return;
    try {
      writeUnsafe(input, logger, rootLogger);
    } catch {
      // Request data and user loggers never break the response path (this runs in 'close' listeners).
    }
  }

  function writeUnsafe(input: AccessLogInput, logger: LoggerLike, rootLogger: LoggerLike): void {
    if (input.url !== undefined && exempt(input.url)) return;
    const ctx = input.context;
    const r = ctx?.resolution;
    if (topClients !== undefined) topClients.add(r?.ip);
    const status = input.statusCode;
    const decision = decisionOf(ctx);
    const level =
      decision === 'denied'
        ? levels.denied
        : decision === 'limited'
          ? levels.limited
          : status >= 500
            ? levels.serverError
            : levels.allowed;
    let suppressedCount = 0;
    const suppressible = suppressOn && suppressSet.has(status);
    // The clock is read only when there is something to admit or sweep: an ordinary line with no
    // client tracked skips it (a skipped sweep had nothing to drop; the overflow entry only counts
    // while clients are tracked, and the sweep that drops the last of them drains it).
    if (suppressible || tracked > 0) {
      const now = Date.now();
      if (now >= nextSweep) {
        nextSweep = now + suppressWindow;
        sweep(now, rootLogger, false);
      }
      if (suppressible) {
        // Key on the raw client address (memory only, never written); undeterminable clients share ''.
        const key = r !== undefined ? (r.ip ?? '') : (input.remoteAddress ?? '');
        suppressedCount = admit(status, key, now);
        if (suppressedCount < 0) return;
      }
    }
    if (topClients !== undefined) {
      const now = Date.now();
      if (now >= nextTopCheck) {
        nextTopCheck = now + 1000;
        const prev = topClients.previous();
        if (prev !== undefined && prev !== lastTop) {
          lastTop = prev;
          emit(rootLogger, 'info', { 'realip.top_clients': prev }, 'realip top clients');
        }
      }
    }
    if (logger.isLevelEnabled !== undefined && !logger.isLevelEnabled(level)) return;
    let ev: AccessLogEvent;
    try {
      ev = build(input);
    } catch {
      return;
    }
    if (suppressible) ev['suppressed'] = suppressedCount;
    emitEnabled(logger, level, ev, message);
  }

  return {
    write,
    build,
    flush(logger: LoggerLike | undefined = defaultLogger) {
      if (suppressOn && logger !== undefined) sweep(Date.now(), logger, true);
    },
    anonymizer: anonymize,
    needsHeaders: headerNames.length > 0 || requestIdHeader !== undefined,
    options: Object.freeze({ fieldStyle, message }),
  };
}

function headerValue(
  headers: Readonly<Record<string, string | string[] | undefined>> | undefined,
  name: string,
): string | undefined {
  if (headers === undefined) return undefined;
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}
