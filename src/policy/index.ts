/**
 * realip/policy: one YAML or JSON file describing the whole stack (resolve -> geo -> access ->
 * rate limit -> log and metrics), validated once with every problem reported at its line.
 */
export {
  EMBEDDED_GEO,
  type Policy,
  type PolicyInput,
  type ResolvePolicy,
  type AccessPolicy,
  type GeoPolicy,
  type RateLimitPolicy,
  type RateLimitTierPolicy,
  type LogPolicy,
  type MetricsPolicy,
  type ListsPolicy,
} from './schema.js';
/** Provider presets known to the resolver (one list, with the presets themselves). */
export { PRESET_NAMES } from '../core/presets.js';
export {
  parsePolicy,
  loadPolicyFile,
  checkPolicyText,
  checkPolicyFile,
  mapConfigError,
  type ParsePolicyOptions,
  type PolicyCheck,
} from './parse.js';
export { PolicyError, formatPolicyIssue, type PolicyIssue, type PathSegment } from './errors.js';
export { DEFAULT_POLICY, defaultPolicy } from './default.js';
export { policyJsonSchema } from './json-schema.js';
export { embeddedGeoDatabase, geoDatabasePath, parseListText, EMBEDDED_GEO_PACKAGE } from './files.js';
export {
  watchPolicyFile,
  type PolicyWatcher,
  type PolicyWatchOptions,
  type PolicyReloadStats,
  type PolicyLogger,
} from './watch.js';
export {
  createStack,
  describeStackError,
  Pipeline,
  sendStackResponse,
  type PolicyStack,
  type StackOptions,
  type StackResponse,
  type HeaderTarget,
} from './stack.js';
export { formatEventLine, type RealipEvent, type EventLevel, type EventHandler } from '../core/events.js';
export { createCarryOverMemoryStore, type CarryOverMemoryStore } from './carry-store.js';
export { describePolicy } from './describe.js';
export { policySource, type PolicySourceInfo } from './parse.js';
