/** Fastify 5 adapters. One export line per stage. */
import './augment.js';
export {};
export { accessLog, type FastifyAccessLogOptions } from './access-log.js';
export { clientIp, type FastifyClientIpOptions } from './client-ip.js';
