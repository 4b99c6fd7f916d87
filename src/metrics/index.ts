/**
 * realip/metrics: Prometheus metrics on prom-client (bounded labels, never an address), `/metrics`
 * and top-clients handlers for Express and Fastify. The only realip entry that loads prom-client.
 */
export { createRealipMetrics, type RealipMetrics, type RealipMetricsOptions } from './metrics.js';
export { expressMetrics, expressMetricsEndpoint, expressTopClientsEndpoint } from './express.js';
export {
  fastifyMetrics,
  fastifyMetricsEndpoint,
  fastifyTopClientsEndpoint,
  type FastifyMetricsOptions,
} from './fastify.js';
// The top-clients sketch (`createHeavyHitters`) is exported by the core entry (`realip`): it needs no prom-client.
export type { HeavyHitters, HeavyHittersOptions, TopClient, TopClientsSnapshot } from './heavy-hitters.js';
export type { RealipMetricsHooks } from '../types.js';
