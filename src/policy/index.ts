/**
 * realip/policy: one YAML or JSON file describing the whole stack (resolve -> geo -> access ->
 * rate limit -> log and metrics), validated once with every problem reported at its line.
 */
export type {
  Policy,
  PolicyInput,
  ResolvePolicy,
  AccessPolicy,
  GeoPolicy,
  RateLimitPolicy,
  RateLimitTierPolicy,
  LogPolicy,
  MetricsPolicy,
  ListsPolicy,
} from './schema.js';
export { parsePolicy, loadPolicyFile, type ParsePolicyOptions } from './parse.js';
export { PolicyError, type PolicyIssue, type PathSegment } from './errors.js';
export { DEFAULT_POLICY } from './default.js';
export { policyJsonSchema } from './json-schema.js';
export type { PolicyReloadStats, PolicyLogger } from './watch.js';
export {
  createStack,
  type PolicyStack,
  type StackOptions,
  type StackResponse,
  type HeaderTarget,
} from './stack.js';
export { formatEventLine, type RealipEvent, type EventLevel, type EventHandler } from '../core/events.js';
