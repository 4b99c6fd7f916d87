/** Express adapters (Express 4 and 5). One export line per stage. */
import './augment.js';
export {};
export { accessLog, type ExpressAccessLog, type ExpressAccessLogOptions } from './access-log.js';
export { clientIp, type ExpressClientIpOptions, type ExpressAdapterOptions } from './client-ip.js';
export { ipFilter, type ExpressAccessOptions, type IpFilterMiddleware } from './access.js';
export { rateLimit, type RateLimitMiddleware } from './rate-limit.js';
export { geoTag } from './geo.js';
export { realip, type ExpressRealipOptions, type RealipMiddleware } from './stack.js';
