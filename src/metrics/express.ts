/**
 * Express pieces of realip/metrics: the per-request counter middleware, the `/metrics` handler and
 * the opt-in top-clients JSON handler.
 */
import '../express/augment.js';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Registry } from 'prom-client';
import type { HeavyHitters } from './heavy-hitters.js';
import type { RealipContext } from '../types.js';
import type { RealipMetrics } from './metrics.js';

/**
 * Counts every finished request into `metrics` (mount it next to `clientIp()`; it reads
 * `req.realip` when the response closes, so it sees the decisions of every later stage).
 */
export function expressMetrics(metrics: RealipMetrics): RequestHandler {
  if (metrics === null || typeof metrics !== 'object' || typeof metrics.observe !== 'function') {
    throw new TypeError('expressMetrics(metrics): expected the result of createRealipMetrics()');
  }
  function onClose(this: Response): void {
    const req = this.req as (Request & { realip?: RealipContext }) | undefined;
    if (req !== undefined) metrics.observe(req.realip, req.originalUrl ?? req.url);
  }
  return function realipMetrics(_req: Request, res: Response, next: NextFunction): void {
    res.once('close', onClose);
    next();
  };
}

/** `GET /metrics`: the registry in the Prometheus text format (or OpenMetrics, per the registry). */
export function expressMetricsEndpoint(registry: Registry): RequestHandler {
  return function realipMetricsEndpoint(_req: Request, res: Response): void {
    registry.metrics().then(
      (text) => {
        res.setHeader('Content-Type', registry.contentType);
        res.setHeader('Cache-Control', 'no-store');
        res.end(text);
      },
      () => {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end('metrics collection failed\n');
      },
    );
  };
}

/**
 * The top-clients JSON (current and last complete window), anonymised as the sketch is configured.
 * Opt-in: mount it on an internal listener or behind authentication.
 */
export function expressTopClientsEndpoint(topClients: HeavyHitters): RequestHandler {
  if (topClients === null || typeof topClients !== 'object' || typeof topClients.toJSON !== 'function') {
    throw new TypeError('expressTopClientsEndpoint(topClients): expected the result of createHeavyHitters()');
  }
  return function realipTopClients(_req: Request, res: Response): void {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify(topClients.toJSON()));
  };
}
