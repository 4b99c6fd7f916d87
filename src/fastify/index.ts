/** Fastify 5 adapters. */
export {};
