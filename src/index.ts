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
