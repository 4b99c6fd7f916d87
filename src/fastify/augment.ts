/** Fastify request augmentation: `request.clientIp` and `request.realip`. */
import type {} from 'fastify';
import type { RealipContext } from '../types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The resolved client IP (canonical), or undefined when it cannot be determined. */
    clientIp: string | undefined;
    /** What realip knows about this request; stages fill it in order. */
    realip: RealipContext;
  }
}

export {};
