/**
 * Fastify pieces of realip/metrics: the per-request counter plugin (root `onResponse` hook, so 404s
 * count), the `/metrics` route handler and the opt-in top-clients JSON handler.
 */
import '../fastify/augment.js';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import type { HeavyHitters } from './heavy-hitters.js';
import type { RealipContext } from '../types.js';
import type { RealipMetrics } from './metrics.js';

/** Options of {@link fastifyMetrics}. */
export interface FastifyMetricsOptions {
  /** The stack from `createRealipMetrics()`. */
  metrics: RealipMetrics;
}

const plugin: FastifyPluginCallback<FastifyMetricsOptions> = (fastify, options, done) => {
  const metrics = options?.metrics;
  if (metrics === null || typeof metrics !== 'object' || typeof metrics.observe !== 'function') {
    done(new TypeError('fastifyMetrics: expected { metrics: createRealipMetrics() }'));
    return;
  }
  fastify.addHook('onResponse', function realipMetrics(request, _reply, next) {
    // Read without the request augmentation, so this entry does not depend on realip/fastify's types.
    const ctx = (request as { realip?: RealipContext | null }).realip;
    metrics.observe(ctx ?? undefined, request.raw.url);
    next();
  });
  done();
};

/** Fastify plugin `realip-metrics`: counts every finished request. Register after the resolver plugin. */
export const fastifyMetrics = fp(plugin, {
  fastify: '5.x',
  name: 'realip-metrics',
  dependencies: ['realip-client-ip'],
});

/** Route handler for `GET /metrics`: `fastify.get('/metrics', fastifyMetricsEndpoint(registry))`. */
export function fastifyMetricsEndpoint(registry: Registry) {
  return async function realipMetricsEndpoint(
    _request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<string> {
    const text = await registry.metrics();
    reply.header('Content-Type', registry.contentType).header('Cache-Control', 'no-store');
    return text;
  };
}

/**
 * Route handler for the top-clients JSON (opt-in; mount it on an internal listener or behind
 * authentication).
 */
export function fastifyTopClientsEndpoint(topClients: HeavyHitters) {
  if (topClients === null || typeof topClients !== 'object' || typeof topClients.toJSON !== 'function') {
    throw new TypeError('fastifyTopClientsEndpoint(topClients): expected the result of createHeavyHitters()');
  }
  return async function realipTopClients(_request: FastifyRequest, reply: FastifyReply): Promise<string> {
    reply.header('Content-Type', 'application/json; charset=utf-8').header('Cache-Control', 'no-store');
    return JSON.stringify(topClients.toJSON());
  };
}
