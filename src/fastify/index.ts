/** Fastify 5 adapters. One export line per stage. */
import './augment.js';
export {};
export { rateLimit, type RateLimitRouteOptions } from './rate-limit.js';
export { clientIp, type FastifyClientIpOptions } from './client-ip.js';
