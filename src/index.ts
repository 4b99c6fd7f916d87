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

// PROXY protocol (sidecar): the pure v1/v2 header parser, usable by any server.
export {
  parseProxyHeader,
  ProxyHeaderParser,
  type ProxyHeader,
  type ProxyParseResult,
  type ProxyFeedResult,
  type ProxyErrorCode,
  type ProxyCommand,
  type ProxyFamily,
} from './core/proxy-protocol.js';
