import type { AccessDecision, GeoInfo, RateLimitInfo, RealipContext, Resolution } from '../types.js';

/** The per-request context object: every field assigned in the constructor (one hidden class). */
export class Context implements RealipContext {
  resolution: Resolution | undefined = undefined;
  geo: GeoInfo | undefined = undefined;
  access: AccessDecision | undefined = undefined;
  rateLimit: RateLimitInfo | undefined = undefined;
}

/** Creates an empty context. */
export function createContext(): RealipContext {
  return new Context();
}
