/**
 * realip core: client-IP resolution, IP matching and shared types. Imports no framework,
 * GeoIP reader, Redis client, logger or metrics library.
 */
export { RealipError, ConfigError, type ConfigIssue } from './errors.js';
export {
  createIpMatcher,
  type IpMatcher,
  type IpRule,
  type IpBlock,
  type NamedRange,
  type Cidr,
} from './core/cidr.js';
// --- logmetrics: anonymisation, access-log event builder, top-clients sketch (no pino, no prom-client) ---
export {
  createAnonymizer,
  anonymizeProblem,
  type Anonymizer,
  type AnonymizeMode,
  type AnonymizeOptions,
  type HmacKey,
} from './log/anonymize.js';
export {
  createAccessLog,
  AccessLogInput,
  type AccessLog,
  type AccessLogEvent,
  type AccessLogLevel,
  type AccessLogOptions,
  type FieldStyle,
  type LoggerLike,
  type PolicyDecision,
  type SuppressOptions,
} from './log/access-log.js';
export {
  createHeavyHitters,
  type HeavyHitters,
  type HeavyHittersOptions,
  type SketchEntry,
  type TopClient,
  type TopClientsGranularity,
  type TopClientsSnapshot,
} from './metrics/heavy-hitters.js';
export type { RealipMetricsHooks } from './types.js';
// Adapters: resolve a node:http request (any server); Express and Fastify live in their own entries.
export { createRequestResolver, type ResolverLike, type RequestResolverOptions } from './http/request.js';
export type { RealipContext } from './types.js';
// --- resolve: client-IP resolver (src/resolve/resolver.ts, headers.ts, presets.ts, warnings.ts) ---
export {
  createResolver,
  type Resolver,
  type NormalizedResolverOptions,
  type NormalizedRequireHeader,
  type CreateResolverSettings,
} from './resolve/resolver.js';
export type { PresetSpec } from './resolve/presets.js';
export type {
  Resolution,
  ResolutionReason,
  ResolutionSource,
  ResolveInput,
  ResolverOptions,
  PresetOptions,
  RequireHeaderOptions,
  PresetName,
  RealipWarning,
  WarningHandler,
} from './types.js';
// Access: CIDR and country allow/deny, named IP lists with hot reload.
export {
  createAccessPolicy,
  type AccessOptions,
  type AccessPolicy,
  type AccessDenial,
  type CountryRules,
} from './access/access.js';
export {
  createIpLists,
  type ManagedIpLists,
  type IpListDefinitions,
  type IpListDefinition,
  type IpListFile,
  type IpListInline,
  type IpListsOptions,
  type IpListStats,
  type IpListReloadError,
  type IpListReloadEvent,
} from './access/lists.js';
export type { AccessDecision, IpLists, IpLookup, IpRuleOrList, ListRef } from './types.js';
// Rate limiting (rateLimit stage)
export {
  createRateLimiter,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimitOptions,
  type RateLimitKeyFunction,
  type RateLimitedEvent,
  type RateLimitStoreErrorEvent,
  type RateLimitStats,
  type RateLimitSource,
  type StoreFailurePolicy,
} from './rate-limit/limiter.js';
export type {
  RateLimitStore,
  StoreBinding,
  TierPlan,
  PolicyPlan,
  BindContext,
} from './rate-limit/stores/store.js';
export type { RateLimitSpec, RateLimitTier, RateLimitInfo } from './types.js';

// PROXY protocol (sidecar): the pure v1/v2 header parser, usable by any server.
export {
  parseProxyHeader,
  type ProxyHeader,
  type ProxyParseResult,
  type ProxyFeedResult,
  type ProxyErrorCode,
  type ProxyCommand,
  type ProxyFamily,
} from './resolve/proxy-protocol.js';
