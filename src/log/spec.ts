/**
 * The log stage's options, defined once: `createAccessLog` (and the Express/Fastify `accessLog`
 * adapters) and `createAnonymizer` validate through these schemas, the policy file's `log` section
 * is composed from the same field objects, and the JSON Schema and docs/configuration.md's table
 * are generated from their docs. See src/spec/spec.ts.
 *
 * Anonymisation options (`anonymize`, `hmacLength`, `truncate`, ...) are read by `createAnonymizer`
 * and, in code, given at the access log's top level too (it builds its anonymiser from them); in a
 * policy file they sit in `log`, with the key named by `hmacKeyEnv`/`hmacKeyFile` instead of a
 * secret in the file.
 */
import { ENV_NAME, exemptPaths, EXEMPT_DOC, headerName } from '../spec/common.js';
import * as z from 'zod/mini';
import { doc, opt, rules, runtime, type Rule } from '../spec/spec.js';

import type { Anonymizer } from './anonymize.js';
import type { HeavyHitters } from '../metrics/heavy-hitters.js';
import type { LoggerLike } from './access-log.js';
import type { SameKeys } from '../spec/spec.js';
import { FIELD_STYLES, LOG_FIELDS, type FieldStyle } from './fields.js';
import {
  ANONYMIZE_MODES,
  anonymizeCodeFields,
  anonymizeDataFields,
  anonymizeMode,
  keyOptions,
  uniqueKeyIds,
  type AnonymizeMode,
  type AnonymizeOptions,
  type KeysShape,
} from './anonymize-spec.js';

// ---------------------------------------------------------------------------------------------
// access log
// ---------------------------------------------------------------------------------------------

export { FIELD_STYLES, LOG_FIELDS, type FieldStyle } from './fields.js';

/** Log levels the access log can write at. */
export type AccessLogLevel = 'info' | 'warn' | 'error';

/** Headers whose values carry client addresses (anonymised when logged; `via` is added there). */
export const ADDRESS_HEADERS: readonly string[] = [
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
  ...ADDRESS_HEADERS,
];

interface LogShape {
  fieldStyle?: unknown;
  headers?: unknown;
  requestIdHeader?: unknown;
  allowSensitiveHeaders?: unknown;
  omit?: unknown;
}

const isHeaderName = (h: unknown): h is string =>
  typeof h === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h);

/** Credential and address headers only with `allowSensitiveHeaders` (`headers` and `requestIdHeader`). */
const sensitiveHeaders: Rule<LogShape> = (o, report) => {
  if (o.allowSensitiveHeaders === true) return;
  const check = (h: unknown, path: (string | number)[]) => {
    if (typeof h === 'string' && SENSITIVE_HEADERS.includes(h.toLowerCase()))
      report(
        path,
        `"${h}" carries credentials or client addresses and is never logged by default; set allowSensitiveHeaders: true to log it anyway`,
        'ERR_REALIP_LOG_SENSITIVE_HEADER',
      );
  };
  if (Array.isArray(o.headers)) o.headers.forEach((h: unknown, i) => check(h, ['headers', i]));
  check(o.requestIdHeader, ['requestIdHeader']);
};

/** `omit` names fields the chosen style writes (`suppressed` cannot be omitted). */
const omitKnownFields: Rule<LogShape> = (o, report) => {
  const style = (o.fieldStyle ?? 'otel') as FieldStyle;
  if (!Array.isArray(o.omit) || !FIELD_STYLES.includes(style)) return;
  const headers = Array.isArray(o.headers) ? o.headers.filter(isHeaderName) : [];
  const known = [...LOG_FIELDS[style], ...headers.map((h) => `http.request.header.${h.toLowerCase()}`)];
  o.omit.forEach((k: unknown, i) => {
    if (typeof k === 'string' && k.length > 0 && !known.includes(k))
      report(
        ['omit', i],
        `unknown field ${JSON.stringify(k)} for fieldStyle "${style}"; expected one of ${known.join(', ')}`,
      );
  });
};

const level = z.enum(['info', 'warn', 'error']);

/** Data options of the access log (code and policy alike), in the policy file's order. */
const logFields = {
  levels: opt(
    z.strictObject({
      allowed: opt(level, { description: 'Requests let through.', default: 'info' }),
      denied: opt(level, { description: 'Requests refused by access (403).', default: 'warn' }),
      limited: opt(level, { description: 'Requests refused by the rate limit (429).', default: 'warn' }),
      serverError: opt(level, { description: 'Responses with status 500 and above.', default: 'error' }),
    }),
    {
      description: 'Level of the access-log line per outcome.',
      default: { allowed: 'info', denied: 'warn', limited: 'warn', serverError: 'error' },
    },
  ),
  fieldStyle: opt(z.enum(['otel', 'ecs', 'both']), {
    description: 'Field names: OpenTelemetry (`client.address`), ECS (`client.ip`), or both in one line.',
    default: 'otel',
  }),
  suppress: opt(
    z.union(
      [
        z.literal(false),
        z.strictObject({
          // Whole milliseconds: the clock it is compared with (Date.now) has no finer grain.
          windowMs: opt(z.int().check(z.minimum(1)), {
            description:
              'Window per client, in milliseconds: the first suppressed-status response in a window is logged, the rest counted.',
            default: 60_000,
          }),
          maxKeys: opt(z.int().check(z.minimum(1)), {
            description:
              'Clients tracked at once; beyond it, new clients share one overflow entry, so memory stays bounded under a distributed flood.',
            default: 10_000,
          }),
          statuses: opt(z.array(z.int().check(z.minimum(100), z.maximum(599))), {
            description: 'Response statuses subject to suppression.',
            default: [403, 429],
          }),
        }),
      ],
      { error: 'expected false or { windowMs, maxKeys, statuses }' },
    ),
    {
      description:
        'Flood suppression: the first 403/429 per client per window is logged, the rest counted into that client’s next line’s `suppressed` (or one summary line); `false` logs every line, so a flood then floods the log pipeline.',
      default: { windowMs: 60_000, maxKeys: 10_000, statuses: [403, 429] },
    },
  ),
  message: opt(z.string().check(z.minLength(1)), {
    description: 'The message of request lines.',
    default: 'request completed',
  }),
  headers: opt(z.array(headerName()), {
    description:
      'Request headers to log, as `http.request.header.<name>` (any case; written lower case). None by default: they carry credentials and addresses. Credential and address headers need `allowSensitiveHeaders`.',
    default: [],
  }),
  allowSensitiveHeaders: opt(z.boolean(), {
    description:
      'Allow credential and address headers (`authorization`, `cookie`, `x-forwarded-for`, ...) in `headers` and `requestIdHeader`. Address headers in `headers` are still anonymised; credentials are written as sent.',
    default: false,
  }),
  chain: opt(z.boolean(), {
    description:
      'Log the walked forwarding chain (`realip.chain`, anonymised): useful while setting up trusted proxies.',
    default: false,
  }),
  explain: opt(z.enum(['never', 'denied', 'always']), {
    description:
      "Add the resolver's step-by-step explanation (`realip.explain`, every address anonymised) to denied/limited lines, to every line, or never.",
    default: 'never',
  }),
  detail: opt(z.enum(['lean', 'full']), {
    description:
      '`lean`: allowed requests with a complete resolution get the core fields, the details (trusted hops, header, reason, rule, tier, limiter numbers, peer port) go on the lines they explain (denied, limited, incomplete resolutions, `chain` or `explain`); `full`: every line carries everything (each field costs serialisation time on every request).',
    default: 'lean',
  }),
  geoLocation: opt(z.boolean(), {
    description: 'Log GeoIP latitude/longitude (off: coordinates pinpoint more than a country).',
    default: false,
  }),
  path: opt(z.boolean(), {
    description: 'Log `url.path` (the path without the query string; the query is never logged).',
    default: true,
  }),
  omit: opt(z.array(z.string().check(z.minLength(1))), {
    description:
      'Fields to leave out of request lines, by the names the `fieldStyle` writes (e.g. `network.peer.address`): every field costs serialisation and bytes on every request. `suppressed` cannot be omitted.',
    default: [],
  }),
  requestIdHeader: opt(headerName(), {
    description:
      'A request header logged as `http.request.id` (e.g. `x-request-id`; any case). Fastify lines already carry `reqId`.',
  }),
  exempt: opt(exemptPaths(), {
    description: `${EXEMPT_DOC} Not logged: probes, health checks.`,
    default: [],
    examples: [['/healthz', '/static/']],
  }),
};

const logRules = rules<LogShape>(sensitiveHeaders, omitKnownFields);

const isAnonymizer = (v: unknown): boolean =>
  typeof v === 'function' && typeof (v as Anonymizer).text === 'function';
const isLogger = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as LoggerLike).info === 'function' &&
  typeof (v as LoggerLike).warn === 'function';
const isSketch = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as HeavyHitters).add === 'function' &&
  typeof (v as HeavyHitters).previous === 'function';

const ANONYMIZER_ONLY = ['hmacKey', 'hmacKeys', 'hmacLength', 'truncate', 'cacheSize'] as const;

/** Options an anonymiser instance makes meaningless (they configure the anonymiser it replaces). */
const unusedWithInstance: Rule<Record<string, unknown>> = (o, report) => {
  if (typeof o.anonymize !== 'function') return;
  for (const k of ANONYMIZER_ONLY)
    if (o[k] !== undefined)
      report([k], 'is unused when anonymize is an anonymiser (configure that anonymiser instead)');
};

/** `createAccessLog(options)` (and the `accessLog` adapters). */
export const accessLogSpec = z
  .strictObject({
    fieldStyle: logFields.fieldStyle,
    message: logFields.message,
    levels: logFields.levels,
    detail: logFields.detail,
    explain: logFields.explain,
    suppress: logFields.suppress,
    headers: logFields.headers,
    allowSensitiveHeaders: logFields.allowSensitiveHeaders,
    requestIdHeader: logFields.requestIdHeader,
    exempt: logFields.exempt,
    anonymize: opt(
      runtime<AnonymizeMode | Anonymizer>(
        '"none", "truncate", "hmac", "drop" or an anonymiser from createAnonymizer()',
        (v) => ANONYMIZE_MODES.includes(v as AnonymizeMode) || isAnonymizer(v),
      ),
      {
        description:
          'How addresses appear (`none`, `truncate`, `hmac`, `drop`), or a shared anonymiser so logs, metrics and top clients agree.',
        default: 'none',
      },
    ),
    ...anonymizeDataFields,
    ...anonymizeCodeFields,
    chain: logFields.chain,
    geoLocation: logFields.geoLocation,
    path: logFields.path,
    omit: logFields.omit,
    topClients: opt(runtime<HeavyHitters>('a sketch from createHeavyHitters()', isSketch), {
      description:
        'A top-clients sketch fed with each request’s client address; each completed window is logged once (`realip.top_clients`).',
    }),
    logger: opt(runtime<LoggerLike>('a logger with info() and warn() (a pino instance)', isLogger), {
      description:
        'Where lines go when `write()`/`flush()` are given no logger (the Express adapter requires it). realip only calls its methods, never configures or closes it.',
      code: 'ERR_REALIP_LOG_NO_LOGGER',
    }),
  })
  .check(logRules, rules<KeysShape>(keyOptions, uniqueKeyIds), rules(unusedWithInstance));

interface PolicyKeyShape {
  anonymize?: unknown;
  hmacKeyEnv?: unknown;
  hmacKeyFile?: unknown;
}

/** The policy names its key by environment variable or file, one of them, and only for `hmac`. */
const policyKey: Rule<PolicyKeyShape> = (log, report) => {
  const hasKey = log.hmacKeyEnv !== undefined || log.hmacKeyFile !== undefined;
  if (log.anonymize === 'hmac' && !hasKey)
    report(['anonymize'], 'hmac needs a key (got no hmacKeyEnv or hmacKeyFile, expected one of them)');
  if (log.hmacKeyEnv !== undefined && log.hmacKeyFile !== undefined)
    report(['hmacKeyFile'], 'needs one of hmacKeyEnv or hmacKeyFile (got both)');
  if (hasKey && log.anonymize !== 'hmac')
    report(
      [log.hmacKeyEnv !== undefined ? 'hmacKeyEnv' : 'hmacKeyFile'],
      `is only used with anonymize: hmac (got anonymize ${JSON.stringify(log.anonymize ?? 'none')})`,
    );
};

/** The policy's `log` section. */
export const logPolicy = doc(
  z
    .strictObject({
      enabled: opt(z.boolean(), {
        description: 'One access-log event per request at response finish.',
        default: true,
      }),
      level: opt(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), {
        description:
          'Minimum level of the logger the sidecar (or `createStack`) creates; apps pass their own logger.',
        default: 'info',
      }),
      levels: logFields.levels,
      fieldStyle: logFields.fieldStyle,
      anonymize: anonymizeMode,
      hmacKeyEnv: opt(z.string().check(z.regex(ENV_NAME)), {
        description: 'Environment variable holding the HMAC secret (with `anonymize: hmac`).',
      }),
      hmacKeyFile: opt(z.string().check(z.minLength(1)), {
        description: 'File holding the HMAC secret, relative to the policy file (a mounted Secret).',
      }),
      ...anonymizeDataFields,
      suppress: logFields.suppress,
      message: logFields.message,
      headers: logFields.headers,
      allowSensitiveHeaders: logFields.allowSensitiveHeaders,
      chain: logFields.chain,
      explain: logFields.explain,
      detail: logFields.detail,
      geoLocation: logFields.geoLocation,
      path: logFields.path,
      omit: logFields.omit,
      requestIdHeader: logFields.requestIdHeader,
      exempt: logFields.exempt,
      destination: opt(z.string().check(z.minLength(1)), {
        description:
          "Where the sidecar writes the access log, and nothing else (its events go to stderr): `stdout`, `stderr` or a file path (libraries use the app's own logger).",
        default: 'stdout',
      }),
    })
    .check(logRules, rules(policyKey)),
  { description: 'Structured access log (pino): one line per request, OpenTelemetry or ECS fields.' },
);

// ---------------------------------------------------------------------------------------------
// options interfaces (the TSDoc users see)
// ---------------------------------------------------------------------------------------------

/** Flood suppression for repeated denials. */
export interface SuppressOptions {
  /**
   * Window per client, in whole milliseconds: the first suppressed-status response in a window is
   * logged, the rest counted.
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

/**
 * Options of {@link createAccessLog} (policy file: `log`). The anonymiser options (`hmacKey`,
 * `hmacLength`, `truncate`, ...) configure the log's own anonymiser; with a shared anonymiser in
 * `anonymize` they are refused.
 */
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
   * The log message of request lines (not empty).
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
   * Request headers to log (e.g. `['user-agent']`, any case), as `http.request.header.<name>` with
   * the name in lower case.
   * @default [] (no headers: they carry credentials and addresses)
   */
  headers?: readonly string[];
  /**
   * Allows the sensitive names (docs/logging.md, "Sensitive headers") in `headers` and
   * `requestIdHeader`. Address-carrying headers in `headers` are still anonymised; credentials are
   * written as sent, so think twice.
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
   * A request header whose value is logged as `http.request.id` (e.g. `x-request-id`, any case).
   * Fastify lines already carry `reqId`.
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
  /**
   * Where lines go when `write()` and `flush()` are called without a logger (a pino instance or
   * anything with `info`/`warn`). realip only calls its methods: it never creates, configures or
   * closes the transport.
   */
  logger?: LoggerLike;
}

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the specs' (a missing or extra option is a type error here).
const _accessLogKeys: SameKeys<AccessLogOptions, z.input<typeof accessLogSpec>> = true;
void _accessLogKeys;
