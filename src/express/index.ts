/** Express adapters (Express 4 and 5). One export line per stage. */
import './augment.js';
export {};
export { rateLimit, type RateLimitMiddleware } from './rate-limit.js';
export { clientIp, type ExpressClientIpOptions, type ExpressAdapterOptions } from './client-ip.js';
