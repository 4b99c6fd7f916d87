/**
 * realip core: client-IP resolution, IP matching and shared types. Imports no framework,
 * GeoIP reader, Redis client, logger or metrics library.
 */
export { RealipError, ConfigError, type ConfigIssue } from './errors.js';
export { canonicalIp } from './core/ip.js';
export {
  createIpMatcher,
  parseCidr,
  NAMED_RANGES,
  type IpMatcher,
  type IpRule,
  type IpBlock,
  type NamedRange,
  type Cidr,
} from './core/cidr.js';
// Access: CIDR and country allow/deny, named IP lists with hot reload.
export {
  createAccessPolicy,
  type AccessOptions,
  type AccessPolicy,
  type AccessDenial,
  type CountryRules,
} from './core/access.js';
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
} from './core/lists.js';
export type { AccessDecision, IpLists, IpLookup, IpRuleOrList, ListRef } from './types.js';
// Adapters: resolve a node:http request (any server); Express and Fastify live in their own entries.
export {
  createRequestResolver,
  isResolverLike,
  type ResolverLike,
  type RequestResolverOptions,
} from './core/http.js';
export type { RealipContext } from './types.js';
// --- resolve: client-IP resolver (src/core/resolve.ts, headers.ts, presets.ts, warnings.ts) ---
export {
  createResolver,
  ClientResolution,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_HEADER_BYTES,
  type Resolver,
  type NormalizedResolverOptions,
  type NormalizedRequireHeader,
  type CreateResolverSettings,
} from './core/resolve.js';
export { PRESETS, PRESET_NAMES, type PresetSpec } from './core/presets.js';
export type {
  Resolution,
  ResolutionReason,
  ResolutionSource,
  ResolveInput,
  ResolverOptions,
  PresetName,
  RealipWarning,
  WarningHandler,
} from './types.js';
