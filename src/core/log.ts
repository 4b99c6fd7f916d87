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
 */
import { IssueCollector, joinPath, ConfigError } from '../errors.js';
import type { ConfigIssue } from '../errors.js';
import type { GeoInfo, RealipContext, Resolution } from '../types.js';
import { compileExemptPaths } from './paths.js';
import type { PathExemption } from './paths.js';
import { canonicalIp } from './ip.js';
import type { Anonymizer, AnonymizeMode, AnonymizeOptions } from './anonymize.js';
import { createAnonymizer, REDACTED } from './anonymize.js';
import type { HeavyHitters } from './heavy-hitters.js';

/** What realip needs from a logger: pino, Fastify's `request.log` and most others fit. */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
  /** When present, consulted first so a disabled level costs nothing. */
  isLevelEnabled?(level: string): boolean;
}

/** Which naming convention the event's fields follow. */
export type FieldStyle = 'otel' | 'ecs' | 'both';

/** Log levels the access log can write at. */
export type AccessLogLevel = 'info' | 'warn' | 'error';

/** What realip's stages did to the request. */
export type PolicyDecision = 'allowed' | 'denied' | 'limited';

/** Header names never logged unless `allowSensitiveHeaders` is set: credentials and address carriers. */
export const SENSITIVE_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
  'x-csrf-token',
  'x-xsrf-token',
  'x-amz-security-token',
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-azure-clientip',
  'x-envoy-external-address',
];

/** Headers whose values carry addresses: anonymised with `anonymizer.text()` when logged. */
const ADDRESS_HEADERS = new Set([
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-azure-clientip',
  'x-envoy-external-address',
  'via',
]);

/** Flood suppression for repeated denials. */
export interface SuppressOptions {
  /**
   * Window per client: the first suppressed-status response in a window is logged, the rest counted.
   * @default 60000
   */
  windowMs?: number;
  /**
   * Clients tracked at once; beyond this, new clients share one overflow entry, so memory stays
   * bounded under a distributed flood.
   * @default 10000
   */
  maxKeys?: number;
  /**
   * Response statuses subject to suppression.
   * @default [403, 429]
   */
  statuses?: readonly number[];
}

/** Options of {@link createAccessLog} (policy file: `log`). */
export interface AccessLogOptions extends Omit<AnonymizeOptions, 'anonymize'> {
  /**
   * Field naming: OpenTelemetry, ECS, or both in one line.
   * @default 'otel'
   */
  fieldStyle?: FieldStyle;
  /**
   * How addresses appear (`none`, `truncate`, `hmac`, `drop`), or a shared anonymiser so logs,
   * metrics and top-clients agree. See docs/logging.md.
   * @default 'none'
   */
  anonymize?: AnonymizeMode | Anonymizer;
  /**
   * The log message of request lines.
   * @default 'request completed'
   */
  message?: string;
  /**
   * Level per outcome.
   * @default { allowed: 'info', denied: 'warn', limited: 'warn', serverError: 'error' }
   */
  levels?: {
    allowed?: AccessLogLevel;
    denied?: AccessLogLevel;
    limited?: AccessLogLevel;
    serverError?: AccessLogLevel;
  };
  /**
   * Flood suppression of repeated 403/429 lines per client, or `false` to log every line (a flood
   * then floods the log pipeline).
   * @default { windowMs: 60000, maxKeys: 10000, statuses: [403, 429] }
   */
  suppress?: SuppressOptions | false;
  /**
   * Request headers to log, lower-case (e.g. `['user-agent']`), as `http.request.header.<name>`.
   * @default [] (no headers: they carry credentials and addresses)
   */
  headers?: readonly string[];
  /**
   * Allows names from {@link SENSITIVE_HEADERS} in `headers`. Address-carrying headers are still
   * anonymised; credentials are written as sent, so think twice.
   * @default false
   */
  allowSensitiveHeaders?: boolean;
  /**
   * Log the resolved chain (`realip.chain`, anonymised): useful while setting up trusted proxies.
   * @default false
   */
  chain?: boolean;
  /**
   * Add the resolver's step-by-step explanation (`realip.explain`, every address anonymised) to
   * denied/limited lines, to every line, or never.
   * @default 'never'
   */
  explain?: 'never' | 'denied' | 'always';
  /**
   * How much an ordinary line carries. `'lean'`: allowed requests with a complete resolution get the
   * core fields (client, peer, method, route, path, status, duration, geo, source, decision); the
   * details (`realip.trusted_hops`, `.header`, `.reason`, `.complete`, the rule, the tier and the
   * limiter's numbers, the peer port) are added on the lines they explain: denied, limited,
   * incomplete resolutions, and lines with `chain` or `explain`. `'full'`: every line carries
   * everything. Every field costs serialisation time on every request, and counting trusted hops
   * needs the resolver's chain, which realip's resolver builds lazily (about a second resolve).
   * @default 'lean'
   */
  detail?: 'lean' | 'full';
  /**
   * Log GeoIP latitude/longitude. Off by default: coordinates pinpoint more than a country.
   * @default false
   */
  geoLocation?: boolean;
  /**
   * Log `url.path` (the path without the query string; the query is never logged).
   * @default true
   */
  path?: boolean;
  /**
   * Fields to leave out of request lines, by the names the chosen `fieldStyle` writes (e.g.
   * `['network.peer.address', 'url.path']`). Every field costs serialisation and bytes on every
   * request; drop the ones nobody reads. `suppressed` cannot be omitted.
   * @default []
   */
  omit?: readonly string[];
  /**
   * A request header whose value is logged as `http.request.id` (e.g. `x-request-id`). Fastify lines
   * already carry `reqId`.
   */
  requestIdHeader?: string;
  /**
   * Paths not logged (`/healthz`, prefixes ending in `/`); see `compileExemptPaths`.
   * @default []
   */
  exempt?: readonly string[];
  /**
   * A top-clients sketch to feed with each request's client address; each completed window is
   * logged once (`realip.top_clients`). Feed a sketch from one stage only (this or metrics).
   */
  topClients?: HeavyHitters;
}

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
  /** Builds the event and writes it (or counts it as suppressed). Never throws on request data. */
  write(input: AccessLogInput, logger: LoggerLike, rootLogger?: LoggerLike): void;
  /** Builds the event only (no suppression, no writing). */
  build(input: AccessLogInput): AccessLogEvent;
  /** Writes pending suppression counts (call at shutdown). */
  flush(logger: LoggerLike): void;
  /**
   * Whether lines read `input.headers` (the `headers` or `requestIdHeader` options). When false,
   * adapters leave it unset: Node builds `req.headers` from the raw header list on first access,
   * about 1.5 µs a request that nothing else may need.
   */
  readonly needsHeaders: boolean;
  readonly anonymizer: Anonymizer;
  readonly options: Readonly<{ fieldStyle: FieldStyle; message: string }>;
}

const STYLES: readonly FieldStyle[] = ['otel', 'ecs', 'both'];
const LEVELS: readonly AccessLogLevel[] = ['info', 'warn', 'error'];
const EXPLAIN: readonly string[] = ['never', 'denied', 'always'];
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

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

function collectInto(issues: IssueCollector, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError)
      for (const i of err.issues as ConfigIssue[]) issues.add(i.path, i.message, i.code);
    else throw err;
  }
}

/**
 * Compiles the access log. Validates every option and throws one `ConfigError` listing all
 * problems (paths under `pathPrefix`, e.g. `log.headers[1]`).
 */
export function createAccessLog(options: AccessLogOptions = {}, pathPrefix = ''): AccessLog {
  const issues = new IssueCollector();
  const p = (k: string) => joinPath(pathPrefix, k);
  const fieldStyle = options.fieldStyle ?? 'otel';
  if (!STYLES.includes(fieldStyle)) issues.add(p('fieldStyle'), `expected one of ${STYLES.join(', ')}`);
  const message = options.message ?? 'request completed';
  if (typeof message !== 'string') issues.add(p('message'), 'expected a string');
  const lv = options.levels ?? {};
  const levels = {
    allowed: lv.allowed ?? 'info',
    denied: lv.denied ?? 'warn',
    limited: lv.limited ?? 'warn',
    serverError: lv.serverError ?? 'error',
  };
  for (const [k, v] of Object.entries(levels)) {
    if (!LEVELS.includes(v)) issues.add(p(`levels.${k}`), `expected one of ${LEVELS.join(', ')}`);
  }
  const detail = options.detail ?? 'lean';
  if (detail !== 'lean' && detail !== 'full') issues.add(p('detail'), 'expected "lean" or "full"');
  const full = detail === 'full';
  const explainMode = options.explain ?? 'never';
  if (!EXPLAIN.includes(explainMode)) issues.add(p('explain'), `expected one of ${EXPLAIN.join(', ')}`);

  let suppressWindow = 60_000;
  let maxKeys = 10_000;
  let suppressStatuses: readonly number[] = [403, 429];
  const suppressOn = options.suppress !== false;
  if (options.suppress !== undefined && options.suppress !== false) {
    const s = options.suppress;
    if (s === null || typeof s !== 'object')
      issues.add(p('suppress'), 'expected { windowMs, maxKeys, statuses } or false');
    else {
      suppressWindow = s.windowMs ?? suppressWindow;
      maxKeys = s.maxKeys ?? maxKeys;
      suppressStatuses = s.statuses ?? suppressStatuses;
      if (typeof suppressWindow !== 'number' || !(suppressWindow > 0) || !Number.isFinite(suppressWindow)) {
        issues.add(p('suppress.windowMs'), 'expected a positive number of milliseconds');
      }
      if (!Number.isInteger(maxKeys) || maxKeys < 1)
        issues.add(p('suppress.maxKeys'), 'expected a positive integer');
      if (!Array.isArray(suppressStatuses))
        issues.add(p('suppress.statuses'), 'expected an array of status codes');
      else
        suppressStatuses.forEach((st, i) => {
          if (!Number.isInteger(st) || st < 100 || st > 599) {
            issues.add(joinPath(p('suppress.statuses'), i), 'expected an HTTP status code (100-599)');
          }
        });
    }
  }

  const headerNames: string[] = [];
  const headerKeys: string[] = [];
  const headerIsAddress: boolean[] = [];
  if (options.headers !== undefined) {
    if (!Array.isArray(options.headers)) issues.add(p('headers'), 'expected an array of header names');
    else
      options.headers.forEach((h, i) => {
        const hp = joinPath(p('headers'), i);
        if (typeof h !== 'string' || !HEADER_NAME.test(h)) {
          issues.add(hp, 'expected a lower-case header name such as "user-agent"');
          return;
        }
        if (SENSITIVE_HEADERS.includes(h) && options.allowSensitiveHeaders !== true) {
          issues.add(
            hp,
            `"${h}" carries credentials or client addresses and is never logged by default; set allowSensitiveHeaders: true to log it anyway`,
            'ERR_REALIP_LOG_SENSITIVE_HEADER',
          );
          return;
        }
        headerNames.push(h);
        headerKeys.push('http.request.header.' + h);
        headerIsAddress.push(ADDRESS_HEADERS.has(h));
      });
  }
  const requestIdHeader = options.requestIdHeader;
  if (
    requestIdHeader !== undefined &&
    (typeof requestIdHeader !== 'string' || !HEADER_NAME.test(requestIdHeader))
  ) {
    issues.add(p('requestIdHeader'), 'expected a lower-case header name such as "x-request-id"');
  }
  let exempt: PathExemption = () => false;
  collectInto(issues, () => {
    exempt = compileExemptPaths(options.exempt, p('exempt'), issues);
  });
  let anon: Anonymizer | undefined;
  const anonymizeOption = options.anonymize;
  if (typeof anonymizeOption === 'function') anon = anonymizeOption;
  else
    collectInto(issues, () => {
      anon = createAnonymizer({ ...options, anonymize: anonymizeOption ?? 'none' }, pathPrefix);
    });
  const topClients = options.topClients;
  if (
    topClients !== undefined &&
    (topClients === null || typeof topClients.add !== 'function' || typeof topClients.previous !== 'function')
  ) {
    issues.add(p('topClients'), 'expected a sketch from createHeavyHitters()');
  }
  // `omit` names fields of the chosen style, checked with the other options so one error lists every
  // problem. The names come from build()'s own object literal, through a plain log of the same style
  // and headers (the header names were checked above).
  const omitted: string[] = [];
  if (options.omit !== undefined && STYLES.includes(fieldStyle)) {
    if (!Array.isArray(options.omit)) issues.add(p('omit'), 'expected an array of field names');
    else {
      const probe = createAccessLog({ fieldStyle, headers: headerNames, allowSensitiveHeaders: true });
      const known = Object.keys(probe.build(new AccessLogInput())).filter((k) => k !== 'suppressed');
      options.omit.forEach((k, i) => {
        if (typeof k === 'string' && known.includes(k)) omitted.push(k);
        else
          issues.add(
            joinPath(p('omit'), i),
            `unknown field ${JSON.stringify(k)} for fieldStyle "${fieldStyle}"; expected one of ${known.join(', ')}`,
          );
      });
    }
  }
  issues.throwIfAny();

  const anonymize = anon!;
  const mode = anonymize.mode;
  const anonymized = mode !== 'none';
  const modeField = anonymized ? mode : undefined;
  // ECS `client.ip` and `source.ip` are IP-typed in Elasticsearch: only real addresses may go there.
  const ipTyped = mode === 'none' || mode === 'truncate';
  const withChain = options.chain === true;
  const withLocation = options.geoLocation === true;
  const withPath = options.path !== false;
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

  function write(input: AccessLogInput, logger: LoggerLike, rootLogger: LoggerLike = logger): void {
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
    flush(logger: LoggerLike) {
      if (suppressOn) sweep(Date.now(), logger, true);
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
