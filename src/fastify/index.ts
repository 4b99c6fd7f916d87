/** Fastify 5 adapters. One export line per stage. */
import './augment.js';
export {};
export {
  accessLog,
  accessLogController,
  type FastifyAccessLogOptions,
  type LogControllerClass,
} from './access-log.js';
export { clientIp, type FastifyClientIpOptions } from './client-ip.js';
export { ipFilter, type FastifyAccessOptions } from './access.js';
export { rateLimit, type RateLimitRouteOptions } from './rate-limit.js';
export { geoTag, type FastifyGeoTagOptions } from './geo.js';
export { realip, getRealipStack, type FastifyRealipOptions } from './stack.js';
