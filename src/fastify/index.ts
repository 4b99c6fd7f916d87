/** Fastify 5 adapters. One export line per stage. */
import './augment.js';
export {};
export { ipFilter, type FastifyAccessOptions } from './access.js';
export { clientIp, type FastifyClientIpOptions } from './client-ip.js';
