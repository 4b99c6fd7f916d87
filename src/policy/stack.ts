/**
 * The composed stack: a policy turned into the running stages, in order
 *
 *   resolve -> geo -> access -> rate limit -> (the app) -> log and metrics at response close
 *
 * `createStack(policy)` is framework-agnostic and implements the sidecar's `SidecarStack`
 * (`handle(req, res, conn)`); the Express `realip(policy)` and Fastify `realip` plugin run the
 * same {@link Pipeline}. Each stage is the library's own (`createResolver`, `openGeoTagger`,
 * `createAccessPolicy`, `createRateLimiter`, `createAccessLog`, `createRealipMetrics`); this file
 * only maps policy sections to their options, orders them and writes the responses.
 *
 * Hot reload: `stack.update(policy)` (or `watch: path`) builds a complete new pipeline, and only
 * when every stage constructed does it swap one reference; requests already running finish on the
 * pipeline they started with. Rate-limit counters carry over for tiers whose name and limits are
 * unchanged (see ./carry-store.ts); with Redis they live in Redis anyway.
 *
 * Optional integrations are loaded only when the policy uses them (`import()`): maxmind for
 * `geo`, prom-client for `metrics`, pino for the default logger, ioredis for `store: redis`.
 *
 * Events: the access logger receives access-log lines only. Reload results (policy file, lists,
 * GeoIP databases, Redis TLS files) and warnings go to `onEvent` / `onWarning` (the sidecar CLI
 * writes both as JSON lines on stderr; see docs/sidecar.md, "Logs").
 *
 * Size: about 1,000 lines, over the guide's 500: the policy-to-options mapping of every stage
 * lives here until each stage owns its spec (issues 14 and 15 move it into the stages).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError, RealipError, type ConfigIssue } from '../errors.js';
import { Context } from '../http/context.js';
import { createResolver, type Resolver } from '../resolve/resolver.js';
import {
  createIpLists,
  type IpListReloadError,
  type IpListReloadEvent,
  type ManagedIpLists,
} from '../access/lists.js';
import { createAccessPolicy, type AccessPolicy as AccessStage } from '../access/access.js';
import {
  createRateLimiter,
  rateLimitResponse,
  type RateLimitDecision,
  type RateLimiter,
} from '../rate-limit/limiter.js';
import type { RateLimitStore } from '../rate-limit/stores/store.js';
import type { HeaderTarget } from '../rate-limit/headers.js';
import { createAnonymizer, type Anonymizer } from '../log/anonymize.js';
import { AccessLogInput, createAccessLog, type AccessLog, type LoggerLike } from '../log/access-log.js';
import { createHeavyHitters, type HeavyHitters } from '../metrics/heavy-hitters.js';
import { NODE_RESPONSE, sendProblemResponse, type ProblemResponse } from '../http/problem.js';
import { watchFileContent, type FileWatcher } from '../core/watch.js';
import { WarningEmitter } from '../core/warnings.js';
import { createEvent, warningsTo, type EventHandler } from '../core/events.js';
import type { GeoInfo, RealipContext, RealipMetricsHooks, ResolveInput, WarningHandler } from '../types.js';
import type { GeoReloadEvent, GeoTagger } from '../geo/tagger.js';
import type * as GeoEntry from '../geo/index.js';
import type * as MetricsEntry from '../metrics/index.js';
import type * as RedisEntry from '../redis/index.js';
import type { RealipMetrics } from '../metrics/metrics.js';
import type { Registry } from 'prom-client';
import type { SidecarConnection, SidecarRequest, SidecarStack } from '../sidecar/types.js';
import { createCarryOverMemoryStore, type CarryOverMemoryStore } from './carry-store.js';
import { PolicyError, formatPolicyIssue, parsePath, pathToString, type PolicyIssue } from './errors.js';
import { geoDatabasePath, EMBEDDED_GEO_PACKAGE } from './files.js';
import { EMBEDDED_GEO, EMBEDDED_GEO_NAME } from '../geo/spec.js';
import { policySource } from './parse.js';
import { ownRedis, waitReady, closeRedis, type IoredisModule, type OwnedRedis } from './redis-connect.js';
import { redisSpec, type ReadFile } from './redis-spec.js';
import { readPolicyFile, secretFromEnv } from './secrets.js';
import type { Policy } from './schema.js';
import { watchPolicyFile, type PolicyLogger, type PolicyReloadStats, type PolicyWatcher } from './watch.js';

/** Options of {@link createStack} (things a policy file cannot hold). */
export interface StackOptions {
  /**
   * Where access-log lines go (pino, or anything with `info`/`warn`). realip never configures or
   * closes it.
   * @default a pino logger at `log.level` writing to `log.destination` (created when `log` is enabled)
   */
  logger?: LoggerLike;
  /**
   * The prom-client registry for the stack's metrics (share the app's to serve one `/metrics`).
   * @default a new Registry (served by `stack.metrics()`, i.e. the sidecar's admin `/metrics`)
   */
  registry?: Registry;
  /**
   * A Redis client (ioredis or node-redis) for `rateLimit.store: redis`, instead of `redis.url`.
   */
  redisClient?: unknown;
  /**
   * Receives warnings of every stage.
   * @default `onEvent` (as `warning` events) when given, else process.emitWarning, once per code
   */
  onWarning?: WarningHandler;
  /**
   * Receives lifecycle events: `policy-reloaded`, `policy-reload-failed`, `policy-watch-error`
   * (with `watch`), `list-reloaded`, `geo-reloaded`, `redis-tls-reloaded`, and `warning` events when
   * `onWarning` is not given. Never access-log lines. The catalogue is in docs/sidecar.md, "Logs".
   * @default policy-file events go to `logger` when one is given, else to stderr as JSON lines;
   * other reloads are only counted (failures are warnings)
   */
  onEvent?: EventHandler;
  /** Watch this policy file and apply valid new versions (ConfigMap-safe). @default no watching */
  watch?: string;
  /** Watch timing of the policy file, list files and Redis TLS files (tests). */
  watchOptions?: { pollMs?: number; debounceMs?: number };
  /** Milliseconds clock of the rate limiter (tests). @default Date.now */
  clock?: () => number;
}

/** A running policy: the stages, ready to handle requests. */
export interface PolicyStack extends SidecarStack {
  /** The policy in force. */
  readonly policy: Policy;
  /** The pipeline in force (framework adapters run it). */
  readonly pipeline: Pipeline;
  /** Runs the stack on one `node:http` request; see `SidecarStack.handle`. */
  handle(req: SidecarRequest, res: ServerResponse, conn?: SidecarConnection): boolean | Promise<boolean>;
  /**
   * Builds the stages of `policy` and swaps them in once all constructed; throws a `PolicyError`
   * (and keeps the running policy) when any stage refuses it.
   */
  update(policy: Policy): Promise<void>;
  /** Reload counters (with `watch`). */
  reloads(): PolicyReloadStats | undefined;
  /** The metrics registry (undefined when `metrics.enabled` is false). */
  readonly registry: Registry | undefined;
  /** Prometheus text of the stack's metrics. */
  metrics(): Promise<string>;
  /** Top clients (JSON-serialisable), when `metrics.topClients.enabled`. */
  topClients(): unknown;
  ready(): boolean;
  close(): Promise<void>;
}

/** State shared by successive pipelines of one stack (so a reload keeps it). */
interface Shared {
  readonly options: StackOptions;
  readonly carry: CarryOverMemoryStore;
  registry: Registry | undefined;
  logger: LoggerLike | undefined;
  ownedLogger: { flushSync?: () => void } | undefined;
  geoModule: GeoModule | undefined;
  metricsModule: MetricsModule | undefined;
  redisModule: RedisModule | undefined;
  reloadFailures: number;
  reloadsApplied: number;
  /** Fastify: access-log lines go to `request.log` unless a logger was given. */
  readonly requestLogger: boolean;
  /** `realip check`: build every stage but connect to nothing and write nowhere. */
  readonly dryRun: boolean;
  /** Set by the stack: a file the pipeline read (Redis TLS certificates) changed; rebuild. */
  filesChanged: ((file: string) => void) | undefined;
}

type GeoModule = typeof GeoEntry;
type MetricsModule = typeof MetricsEntry;
type RedisModule = typeof RedisEntry;

/** Input to {@link Pipeline.begin}, reused per call (fixed shape). */
class StackInput implements ResolveInput {
  remoteAddress: string | undefined = undefined;
  headers: Readonly<Record<string, string | string[] | undefined>> | readonly string[] = [];
  proxyProtocol: { sourceAddress: string; sourcePort?: number } | undefined = undefined;
}

/**
 * The compiled stages of one policy. `begin()` runs resolve, geo and access; `limit()` the rate
 * limit; `writeDenial`/`finishLimit` write responses; `observe()` logs and counts at close.
 */
export class Pipeline {
  readonly input = new StackInput();
  private readonly logInput = new AccessLogInput();

  constructor(
    readonly policy: Policy,
    readonly resolver: Resolver,
    readonly geo: GeoTagger | undefined,
    readonly lists: ManagedIpLists | undefined,
    readonly access: AccessStage,
    readonly limiter: RateLimiter | undefined,
    readonly accessLog: AccessLog | undefined,
    readonly logger: LoggerLike | undefined,
    readonly metrics: RealipMetrics | undefined,
    readonly anonymizer: Anonymizer,
    readonly topClients: HeavyHitters | undefined,
    private readonly ownedRedis: readonly OwnedRedis[] = [],
    private readonly watchers: readonly FileWatcher[] = [],
  ) {}

  /**
   * Resolve, geo, access. Fills and returns `ctx`. `url` is the request target (exemptions).
   */
  begin(
    ctx: RealipContext,
    remoteAddress: string | undefined,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    url: string | undefined,
    proxyProtocol: SidecarConnection['proxyProtocol'],
  ): RealipContext {
    const input = this.input;
    input.remoteAddress = remoteAddress;
    input.headers = headers;
    input.proxyProtocol = proxyProtocol;
    const resolution = this.resolver.resolve(input);
    input.headers = EMPTY;
    input.proxyProtocol = undefined;
    ctx.resolution = resolution;
    const ip = resolution.ip;
    let geo: GeoInfo | undefined;
    if (this.geo !== undefined) {
      geo = this.geo.tag(ip);
      ctx.geo = geo;
    }
    ctx.access = this.access.decide(ip, geo, url);
    return ctx;
  }

  /** The access stage's 403 (RFC 9457), for a denied `ctx`. */
  denial(ctx: RealipContext): StackResponse {
    return this.access.denial(ctx.access!, ctx.resolution?.ip);
  }

  /**
   * Records the rate-limit decision on `ctx` and sets its headers on `res` (`RateLimit`,
   * `RateLimit-Policy`, legacy `X-RateLimit-*`). Returns the response that ends the request (429,
   * or 503 for `storeFailure: closed`), or undefined when it goes on.
   */
  applyLimit(ctx: RealipContext, res: HeaderTarget, d: RateLimitDecision): StackResponse | undefined {
    if (ctx.rateLimit === undefined) ctx.rateLimit = d;
    return rateLimitResponse(this.limiter!, res, d);
  }

  /** Counts the request in the rate limiter, or undefined when it is not limited at all. */
  limit(
    ctx: RealipContext,
    req: object,
    url: string | undefined,
  ): RateLimitDecision | Promise<RateLimitDecision> | undefined {
    const limiter = this.limiter;
    if (limiter === undefined) return undefined;
    // consume() itself never counts one request twice (and records the decision on ctx).
    if (url !== undefined && limiter.isExempt(url)) return undefined;
    return limiter.consume(ctx, req);
  }

  /** True when something must run at response close (log or metrics). */
  get observes(): boolean {
    return this.accessLog !== undefined || this.metrics !== undefined;
  }

  /** Logs and counts one finished (or aborted) request that took `durationMs`. */
  observe(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RealipContext | undefined,
    durationMs: number,
    route: string | undefined,
    url: string | undefined,
    logger: LoggerLike | undefined,
  ): void {
    if (this.metrics !== undefined) this.metrics.observe(ctx, url);
    const log = this.accessLog;
    const sink = logger ?? this.logger;
    if (log === undefined || sink === undefined) return;
    const input = this.logInput;
    input.method = req.method;
    input.route = route;
    input.url = url;
    // A client gone before the response head was sent is logged as 499 (nginx's convention), never
    // as the 200 a response object starts with; gone later, the status sent stays and `aborted` says so.
    input.statusCode = res.headersSent || res.writableFinished ? res.statusCode : 499;
    input.durationMs = durationMs;
    const socket = req.socket as IncomingMessage['socket'] | null;
    input.remoteAddress = socket?.remoteAddress;
    input.remotePort = socket?.remotePort;
    input.context = ctx;
    input.headers = log.needsHeaders ? req.headers : undefined;
    input.aborted = !res.writableFinished;
    log.write(input, sink);
    input.context = undefined;
    input.headers = undefined;
  }

  /**
   * Whether the Redis clients this pipeline created (for `rateLimit.redis`) are all connected, and
   * the connection errors they reported since; undefined when it created none.
   */
  redisStatus(): { ready: boolean; errors: readonly string[] } | undefined {
    if (this.ownedRedis.length === 0) return undefined;
    return {
      ready: this.ownedRedis.every((r) => r.client.status === 'ready'),
      errors: this.ownedRedis.flatMap((r) => r.errors()),
    };
  }

  /** Stops watchers this pipeline owns (lists, geo) and releases the limiter. */
  async close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.lists?.close();
    this.geo?.close();
    this.access.close();
    this.metrics?.close();
    if (this.limiter !== undefined) await this.limiter.close();
    for (const r of this.ownedRedis) await closeRedis(r.client);
  }
}

const EMPTY: Readonly<Record<string, string | string[] | undefined>> = Object.freeze({});

/** `watchOptions` as the file watchers take them (only the timings that were given). */
function watchTimings(options: StackOptions): { pollMs?: number; debounceMs?: number } {
  const w = options.watchOptions;
  return {
    ...(w?.pollMs !== undefined ? { pollMs: w.pollMs } : {}),
    ...(w?.debounceMs !== undefined ? { debounceMs: w.debounceMs } : {}),
  };
}

/** Changed Redis TLS files could not be applied (docs/errors.md). */
const WRN_TLS_RELOAD = 'WRN_REALIP_REDIS_TLS_RELOAD_FAILED';

/** Where rate-limit headers go (`ServerResponse`, Fastify's `reply.raw`): the core's own type. */
export type { HeaderTarget };

/** A response the stack sends instead of the app's (403, 429, 503). */
export type StackResponse = ProblemResponse;

/** Sends a stack response on a `node:http` response (HEAD gets no body): the shared writer. */
export function sendStackResponse(res: ServerResponse, r: StackResponse, head: boolean): void {
  sendProblemResponse(NODE_RESPONSE, res, r, head);
}

// ---------------------------------------------------------------------------------------------
// Building a pipeline from a policy
// ---------------------------------------------------------------------------------------------

/** Collects stage construction errors with their policy paths (then one PolicyError). */
class StageErrors {
  readonly issues: ConfigIssue[] = [];

  run<T>(section: string, build: () => T): T | undefined {
    try {
      return build();
    } catch (error) {
      this.add(section, error);
      return undefined;
    }
  }

  async runAsync<T>(section: string, build: () => Promise<T>): Promise<T | undefined> {
    try {
      return await build();
    } catch (error) {
      this.add(section, error);
      return undefined;
    }
  }

  add(section: string, error: unknown): void {
    if (error instanceof ConfigError) {
      for (const i of error.issues) {
        const p = i.path;
        const path =
          p === section || p.startsWith(`${section}.`) || p.startsWith(`${section}[`)
            ? p
            : p === ''
              ? section
              : p.startsWith('[')
                ? section + p
                : `${section}.${p}`;
        this.issues.push({ path, message: i.message, ...(i.code ? { code: i.code } : {}) });
      }
    } else if (error instanceof RealipError) {
      this.issues.push({ path: section, message: error.message, code: error.code });
    } else {
      throw error;
    }
  }

  /** Throws a PolicyError with file positions when the policy came from a file. */
  throwIfAny(policy: Policy): void {
    if (this.issues.length === 0) return;
    const source = policySource(policy);
    const issues: PolicyIssue[] = this.issues.map((i) => {
      const at = source?.locate(parsePath(i.path));
      return {
        file: at?.file ?? '<policy>',
        line: at?.line ?? 0,
        column: at?.column ?? 0,
        path: i.path,
        message: i.message,
        code: i.code ?? 'ERR_REALIP_CONFIG',
      };
    });
    throw new PolicyError(issues);
  }
}

function resolverOptions(
  policy: Policy,
  options: StackOptions,
  errors: StageErrors,
): Record<string, unknown> {
  const r = { ...(policy.resolve ?? {}) } as Record<string, unknown>;
  const preset = policy.resolve?.preset;
  if (preset && typeof preset === 'object') {
    const p = { ...preset } as Record<string, unknown>;
    const rh = preset.requireHeader;
    if (rh) {
      const { valueEnv, ...rest } = rh;
      const value =
        valueEnv !== undefined
          ? secretFromEnv(valueEnv, 'resolve.preset.requireHeader.valueEnv', errors)
          : rh.value;
      p.requireHeader = { ...rest, value };
    }
    r.preset = p;
  }
  if (options.onWarning) r.onWarning = options.onWarning;
  return r;
}

function hmacKey(policy: Policy, errors: StageErrors): string | undefined {
  const log = policy.log;
  if (log?.anonymize !== 'hmac') return undefined;
  if (log.hmacKeyEnv) return secretFromEnv(log.hmacKeyEnv, 'log.hmacKeyEnv', errors);
  if (log.hmacKeyFile) return readPolicyFile(log.hmacKeyFile, 'log.hmacKeyFile', errors)?.trim();
  return undefined;
}

async function loadOptional<T>(
  what: string,
  section: string,
  load: () => Promise<T>,
  errors: StageErrors,
): Promise<T | undefined> {
  try {
    return await load();
  } catch (error) {
    errors.issues.push({
      path: section,
      message: `needs the optional dependency ${what}, which could not be loaded (${(error as Error).message.split('\n')[0]}); install it or remove the section`,
      code: 'ERR_REALIP_POLICY_DEPENDENCY',
    });
    return undefined;
  }
}

async function defaultLogger(
  policy: Policy,
  shared: Shared,
  errors: StageErrors,
): Promise<LoggerLike | undefined> {
  if (shared.options.logger) return shared.options.logger;
  if (shared.logger) return shared.logger;
  const pinoModule = await loadOptional('pino', 'log', () => import('pino'), errors);
  if (!pinoModule) return undefined;
  const pino = pinoModule.default;
  const dest = policy.log?.destination ?? 'stdout';
  const destination = pino.destination({
    dest: dest === 'stdout' ? 1 : dest === 'stderr' ? 2 : dest,
    sync: false,
    ...(dest === 'stdout' || dest === 'stderr' ? {} : { mkdir: true }),
  });
  const logger = pino({ level: policy.log?.level ?? 'info', base: undefined }, destination);
  shared.logger = logger;
  shared.ownedLogger = destination as { flushSync?: () => void };
  return logger;
}

/** Builds every stage of `policy`; throws one PolicyError listing every stage's problems. */
async function buildPipeline(policy: Policy, shared: Shared): Promise<Pipeline> {
  const options = shared.options;
  const errors = new StageErrors();
  const ownedRedis: OwnedRedis[] = [];

  const resolver = errors.run('resolve', () =>
    createResolver(resolverOptions(policy, options, errors), { path: 'resolve' }),
  );

  const lists =
    policy.lists === undefined
      ? undefined
      : errors.run('lists', () =>
          createIpLists(policy.lists as Parameters<typeof createIpLists>[0], {
            path: 'lists',
            ...watchTimings(options),
            ...listReporting(options),
          }),
        );

  // Metrics first: other stages report into its hooks.
  let metrics: RealipMetrics | undefined;
  let topClients: HeavyHitters | undefined;
  const key = hmacKey(policy, errors);
  const log = policy.log;
  const anonymizer =
    errors.run('log', () =>
      createAnonymizer({
        anonymize: log?.anonymize ?? 'none',
        ...(key !== undefined ? { hmacKey: key } : {}),
        ...(log?.hmacLength !== undefined ? { hmacLength: log.hmacLength } : {}),
        ...(log?.truncate !== undefined ? { truncate: log.truncate } : {}),
      }),
    ) ?? createAnonymizer({ anonymize: 'drop' });
  const m = policy.metrics;
  if (m?.enabled !== false) {
    const mod = (shared.metricsModule ??= await loadOptional(
      'prom-client',
      'metrics',
      () => import('../metrics/index.js'),
      errors,
    ));
    if (mod) {
      if (shared.registry === undefined) {
        const prom = await import('prom-client');
        shared.registry = options.registry ?? new prom.Registry();
      }
      const registry = shared.registry;
      if (m?.topClients?.enabled) {
        const { enabled: _enabled, ...tc } = m.topClients;
        topClients = errors.run('metrics.topClients', () =>
          createHeavyHitters({ ...tc, anonymize: anonymizer }),
        );
      }
      metrics = errors.run('metrics', () =>
        mod.createRealipMetrics({
          registry,
          ...(m?.prefix !== undefined ? { prefix: m.prefix } : {}),
          ...(m?.countries !== undefined ? { countries: m.countries } : {}),
          ...(m?.maxLabelValues !== undefined ? { maxLabelValues: m.maxLabelValues } : {}),
          ...(m?.exempt !== undefined ? { exempt: m.exempt } : {}),
          ...(topClients !== undefined ? { topClients } : {}),
        }),
      );
    }
  }
  const hooks: RealipMetricsHooks | undefined = metrics?.hooks;

  let geo: GeoTagger | undefined;
  if (policy.geo) {
    const g = policy.geo;
    const mod = (shared.geoModule ??= await loadOptional(
      'maxmind',
      'geo',
      () => import('../geo/index.js'),
      errors,
    ));
    if (mod) {
      const databases = g.databases.map((d, i) => {
        const entry = typeof d === 'string' ? d : d.path;
        const path = geoDatabasePath(entry);
        if (path === undefined) {
          errors.issues.push({
            path: `geo.databases[${i}]`,
            message: `the embedded database is not installed (npm install ${EMBEDDED_GEO_PACKAGE})`,
            code: 'ERR_REALIP_POLICY_FILE',
          });
        }
        // The name the policy's uniqueness rule assumed (src/geo/spec.ts).
        const name = entry === EMBEDDED_GEO ? EMBEDDED_GEO_NAME : undefined;
        return typeof d === 'string'
          ? { path: path ?? d, ...(name ? { name } : {}) }
          : { ...(name ? { name } : {}), ...d, path: path ?? d.path };
      });
      geo = await errors.runAsync('geo', () =>
        mod.openGeoTagger({
          databases,
          ...(g.cache !== undefined ? { cache: g.cache } : {}),
          ...(g.locales !== undefined ? { locales: g.locales } : {}),
          ...(g.specialNetworks !== undefined ? { specialNetworks: g.specialNetworks } : {}),
          ...(g.watch !== undefined ? { watch: g.watch } : {}),
          ...(g.allowOlder !== undefined ? { allowOlder: g.allowOlder } : {}),
          ...(g.maxClockSkewMs !== undefined ? { maxClockSkewMs: g.maxClockSkewMs } : {}),
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
          ...(hooks || options.onEvent
            ? {
                onReload: (e: GeoReloadEvent) => {
                  hooks?.geoDatabase(e.database, e.current.buildEpoch.getTime() / 1000);
                  // A rejected file is a warning (WRN_REALIP_GEO_RELOAD_FAILED), reported by the tagger.
                  if (e.ok && options.onEvent) {
                    options.onEvent(
                      createEvent('geo-reloaded', {
                        database: e.database,
                        file: e.path,
                        buildEpoch: e.current.buildEpoch.toISOString(),
                      }),
                    );
                  }
                },
              }
            : {}),
        }),
      );
      if (geo && hooks) {
        for (const db of geo.databases()) hooks.geoDatabase(db.name, db.metadata.buildEpoch.getTime() / 1000);
      }
    }
  }

  const access = errors.run('access', () =>
    createAccessPolicy({ ...(policy.access ?? {}), ...(lists ? { lists } : {}) }, { path: 'access' }),
  );

  let limiter: RateLimiter | undefined;
  const rl = policy.rateLimit;
  const readFiles: ReadFile[] = [];
  if (rl) {
    let store: RateLimitStore | undefined = shared.carry;
    if (rl.store === 'redis' && !shared.dryRun) {
      store = undefined;
      const mod = (shared.redisModule ??= await loadOptional(
        'ioredis',
        'rateLimit.store',
        () => import('../redis/index.js'),
        errors,
      ));
      let client: unknown = options.redisClient;
      const spec = client === undefined ? redisSpec(rl.redis, errors, readFiles) : undefined;
      if (mod && spec !== undefined) {
        // Our own ioredis client, connected before the first request so it does not start on the
        // insurance limiter; closed with the pipeline.
        const io = await loadOptional('ioredis', 'rateLimit.store', () => import('ioredis'), errors);
        if (io) {
          try {
            const owned = ownRedis(
              io as unknown as IoredisModule,
              spec,
              options.onWarning,
              rl.storeFailure ?? 'insurance',
            );
            ownedRedis.push(owned);
            await waitReady(owned.client, 2000);
            client = owned.client;
          } catch (error) {
            errors.issues.push({
              path: 'rateLimit.redis',
              message: (error as Error).message,
              code: 'ERR_REALIP_POLICY_REDIS',
            });
          }
        }
      }
      if (mod && client !== undefined) {
        store = errors.run('rateLimit.redis', () =>
          mod.createRedisStore({ client: client as Parameters<typeof mod.createRedisStore>[0]['client'] }),
        );
      }
    }
    if (store !== undefined) {
      const { store: _s, redis: _r, ...rest } = rl;
      limiter = errors.run('rateLimit', () =>
        createRateLimiter(
          {
            ...rest,
            store: store!,
            ...(lists ? { lists } : {}),
            ...(options.clock ? { clock: options.clock } : {}),
            ...(options.onWarning ? { onWarning: options.onWarning } : {}),
            ...(hooks ? { metrics: hooks } : {}),
          } as Parameters<typeof createRateLimiter>[0],
          'rateLimit',
        ),
      );
    }
  }

  let accessLog: AccessLog | undefined;
  let logger: LoggerLike | undefined;
  if (log?.enabled !== false) {
    const {
      enabled: _e,
      level: _l,
      destination: _d,
      hmacKeyEnv: _k1,
      hmacKeyFile: _k2,
      hmacLength: _h,
      truncate: _t,
      anonymize: _a,
      ...rest
    } = log ?? {};
    accessLog = errors.run('log', () => createAccessLog({ ...rest, anonymize: anonymizer }, 'log'));
    logger =
      shared.dryRun || (shared.requestLogger && !options.logger)
        ? undefined
        : await defaultLogger(policy, shared, errors);
  }

  if (errors.issues.length > 0 || !resolver || !access) {
    // Release what was built before reporting.
    lists?.close();
    geo?.close();
    access?.close();
    metrics?.close();
    await limiter?.close();
    for (const r of ownedRedis) r.client.disconnect();
    errors.throwIfAny(policy);
  }
  // Certificates rotate (cert-manager, a Secret update): a change rebuilds the pipeline from the
  // same policy, which reads them again; a broken new file keeps this pipeline.
  const watchers = readFiles.map((f) =>
    watchFileContent(f.path, f.content, () => shared.filesChanged?.(f.path), watchTimings(options)),
  );
  return new Pipeline(
    policy,
    resolver!,
    geo,
    lists,
    access!,
    limiter,
    accessLog,
    logger,
    metrics,
    anonymizer,
    topClients,
    ownedRedis,
    watchers,
  );
}

// ---------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------

function finishLimit(
  p: Pipeline,
  ctx: RealipContext,
  res: ServerResponse,
  d: RateLimitDecision,
  head: boolean,
): boolean {
  const stop = p.applyLimit(ctx, res, d);
  if (stop === undefined) return true;
  sendStackResponse(res, stop, head);
  return false;
}

/**
 * Observes `res` when it closes. A closure per request rather than properties on `res`: adding
 * properties to Node's (or Express's re-prototyped) response objects costs more than the closure.
 */
function observeOnClose(p: Pipeline, req: IncomingMessage, res: ServerResponse, ctx: RealipContext): void {
  const startedAt = performance.now();
  res.on('close', () =>
    p.observe(req, res, ctx, performance.now() - startedAt, undefined, req.url, undefined),
  );
}

class Stack implements PolicyStack {
  private current: Pipeline;
  private watcher: PolicyWatcher | undefined;
  private closed = false;

  constructor(
    pipeline: Pipeline,
    private readonly shared: Shared,
  ) {
    this.current = pipeline;
    // Rejected certificate files: reported once until changed files are applied again.
    const warnings = new WarningEmitter(shared.options.onWarning);
    shared.filesChanged = (file) => {
      if (this.closed) return;
      this.update(this.current.policy).then(
        () => {
          warnings.forget(WRN_TLS_RELOAD);
          this.shared.options.onEvent?.(createEvent('redis-tls-reloaded', { file }));
        },
        (error: unknown) => {
          // Keep the pipeline in use; say why the new files were not taken.
          this.shared.reloadFailures++;
          if (warnings.bump(WRN_TLS_RELOAD)) return;
          const message = error instanceof Error ? error.message : String(error);
          warnings.emit(
            WRN_TLS_RELOAD,
            `rateLimit.redis.tls: the changed certificate files were not applied: ${message}`,
          );
        },
      );
    };
  }

  get policy(): Policy {
    return this.current.policy;
  }

  get pipeline(): Pipeline {
    return this.current;
  }

  get registry(): Registry | undefined {
    return this.current.metrics === undefined ? undefined : this.shared.registry;
  }

  startWatching(path: string): void {
    // Never the stack's own access logger (it writes to `log.destination`): reload results are
    // events, not access-log lines. A logger the caller passed is their application log.
    const { onEvent, logger } = this.shared.options;
    this.watcher = watchPolicyFile(path, {
      onChange: (policy) => this.update(policy),
      ...(onEvent ? { onEvent } : logger ? { logger: pinoLike(logger) } : {}),
      ...watchTimings(this.shared.options),
    });
  }

  handle(req: SidecarRequest, res: ServerResponse, conn?: SidecarConnection): boolean | Promise<boolean> {
    const p = this.current;
    const ctx = new Context();
    req.realip = ctx;
    const url = req.url;
    if (p.observes) observeOnClose(p, req, res, ctx);
    const socket = req.socket as IncomingMessage['socket'] | null;
    p.begin(ctx, socket === null ? undefined : socket.remoteAddress, req.headers, url, conn?.proxyProtocol);
    const head = req.method === 'HEAD';
    if (!ctx.access!.allowed) {
      sendStackResponse(res, p.denial(ctx), head);
      return false;
    }
    const d = p.limit(ctx, req, url);
    if (d === undefined) return true;
    if (d instanceof Promise) return d.then((r) => finishLimit(p, ctx, res, r, head));
    return finishLimit(p, ctx, res, d, head);
  }

  async update(policy: Policy): Promise<void> {
    if (this.closed) throw new RealipError('ERR_REALIP_STACK_CLOSED', 'the stack is closed');
    const next = await buildPipeline(policy, this.shared);
    const previous = this.current;
    this.current = next;
    this.shared.reloadsApplied++;
    // Requests that began on the previous pipeline finished their synchronous part already;
    // give async (Redis) ones a moment before closing its stages.
    setTimeout(() => void previous.close(), 1000).unref();
  }

  reloads(): PolicyReloadStats | undefined {
    return this.watcher?.stats();
  }

  async metrics(): Promise<string> {
    const registry = this.registry;
    let text = registry === undefined ? '' : await registry.metrics();
    const stats = this.watcher?.stats();
    if (stats !== undefined) {
      const prefix = this.current.policy.metrics?.prefix ?? 'realip_';
      if (text !== '' && !text.endsWith('\n')) text += '\n';
      text +=
        `# HELP ${prefix}policy_reloads_total Policy file versions applied (success) or rejected (failure; the previous policy stayed).\n` +
        `# TYPE ${prefix}policy_reloads_total counter\n` +
        `${prefix}policy_reloads_total{result="success"} ${stats.reloads}\n` +
        `${prefix}policy_reloads_total{result="failure"} ${stats.failures}\n`;
    }
    return text;
  }

  topClients(): unknown {
    return this.current.topClients?.toJSON() ?? null;
  }

  ready(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    const p = this.current;
    if (p.accessLog && p.logger) p.accessLog.flush(p.logger);
    await p.close();
    const owned = this.shared.ownedLogger;
    try {
      owned?.flushSync?.();
    } catch {
      // an async destination not ready yet: nothing to flush
    }
  }
}

function pinoLike(logger: LoggerLike): PolicyLogger {
  return {
    info: (o, m) => logger.info(o, m),
    warn: (o, m) => logger.warn(o, m),
    error: (o, m) => (logger.error ? logger.error(o, m) : logger.warn(o, m)),
  };
}

/** Changed list files could not be applied (docs/errors.md). */
const WRN_LIST_RELOAD = 'WRN_REALIP_LIST_RELOAD_FAILED';

/**
 * How the stack's lists report reloads: a success is a `list-reloaded` event (with `onEvent`); a
 * failure a `WRN_REALIP_LIST_RELOAD_FAILED` warning to `onWarning`, once per list until it reloads
 * again (`count`: failures since then). Without either, the lists' own default (a process warning).
 */
function listReporting(options: StackOptions): {
  onReload?: (e: IpListReloadEvent) => void;
  onReloadError?: (e: IpListReloadError) => void;
} {
  const { onEvent, onWarning } = options;
  const warnings = new WarningEmitter(onWarning);
  return {
    ...(onEvent || onWarning
      ? {
          onReload: (e: IpListReloadEvent) => {
            warnings.forget(e.list);
            const { list, file, rules, ranges } = e;
            onEvent?.(createEvent('list-reloaded', { list, file, rules, ranges }));
          },
        }
      : {}),
    ...(onWarning
      ? {
          onReloadError: (e: IpListReloadError) => {
            if (warnings.bump(e.list)) return;
            warnings.emit(
              WRN_LIST_RELOAD,
              `lists.${e.list}: ${e.file} was not reloaded, the previous version stays in use: ${e.error.message}`,
              e.list,
            );
          },
        }
      : {}),
  };
}

function newShared(options: StackOptions, requestLogger = false, dryRun = false): Shared {
  return {
    requestLogger,
    dryRun,
    options,
    carry: createCarryOverMemoryStore(),
    registry: options.registry,
    logger: undefined,
    ownedLogger: undefined,
    geoModule: undefined,
    metricsModule: undefined,
    redisModule: undefined,
    filesChanged: undefined,
    reloadFailures: 0,
    reloadsApplied: 0,
  };
}

/**
 * Builds the whole stack from a validated policy (from `loadPolicyFile`, `parsePolicy` or
 * `DEFAULT_POLICY`). Throws a `PolicyError` listing every stage's problems, with file positions
 * when the policy came from a file.
 *
 * @example
 * const stack = await createStack(await loadPolicyFile('policy.yaml'), { watch: 'policy.yaml' });
 * http.createServer((req, res) => {
 *   const go = stack.handle(req, res);   // false: a 403/429 was already sent
 * });
 */
export async function createStack(policy: Policy, options: StackOptions = {}): Promise<PolicyStack> {
  return createStackInternal(policy, options, false);
}

/**
 * `onEvent` guarded (a throwing handler must not break a reload or a watcher), and, without
 * `onWarning`, warnings sent to it as `warning` events.
 */
function withEventWarnings(options: StackOptions): StackOptions {
  const handler = options.onEvent;
  if (handler === undefined) return options;
  const onEvent: EventHandler = (e) => {
    try {
      handler(e);
    } catch {
      // Reporting is best effort.
    }
  };
  return { ...options, onEvent, onWarning: options.onWarning ?? warningsTo(onEvent) };
}

/** @internal Framework adapters: `requestLogger` logs to Fastify's `request.log` by default. */
export async function createStackInternal(
  policy: Policy,
  options: StackOptions,
  requestLogger: boolean,
  dryRun = false,
): Promise<PolicyStack> {
  const shared = newShared(withEventWarnings(options), requestLogger, dryRun);
  const stack = new Stack(await buildPipeline(policy, shared), shared);
  if (options.watch !== undefined) stack.startWatching(options.watch);
  return stack;
}

/** Formats a PolicyError for a console (one problem per line). */
export function describeStackError(error: unknown): string {
  if (error instanceof PolicyError) return error.issues.map(formatPolicyIssue).join('\n');
  if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
  return error instanceof Error ? error.message : String(error);
}

export { pathToString };
