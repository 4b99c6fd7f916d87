/**
 * Express adapter of the rate-limit stage: `app.use(rateLimit({ tiers }))` after `clientIp()`.
 * Per-route limits: mount another instance on the route (`app.post('/login', rateLimit(...), h)`);
 * both count. Exempt a route from an app-wide instance with `exempt`.
 */
import type { NextFunction, Request, Response } from 'express';
import { RealipError } from '../errors.js';
import {
  createRateLimiter,
  rateLimitResponse,
  type RateLimitDecision,
  type RateLimitOptions,
  type RateLimiter,
} from '../rate-limit/limiter.js';
import { NODE_RESPONSE, sendProblemResponse } from '../http/problem.js';

/** An Express middleware with its limiter attached (for `stats()` and `close()`). */
export interface RateLimitMiddleware {
  (req: Request, res: Response, next: NextFunction): void;
  readonly limiter: RateLimiter;
}

function finish(
  limiter: RateLimiter,
  res: Response,
  next: NextFunction,
  req: Request,
  d: RateLimitDecision,
): void {
  const stop = rateLimitResponse(limiter, res, d);
  if (stop === undefined) next();
  else sendProblemResponse(NODE_RESPONSE, res, stop, req.method === 'HEAD');
}

/**
 * Rate limiting by the resolved client IP.
 *
 * @example
 * app.use(clientIp({ trustedProxies: ['10.0.0.0/8'] }));
 * app.use(rateLimit({ tiers: [{ name: 'default', limits: [{ points: 100, duration: 60 }] }] }));
 */
export function rateLimit(options: RateLimitOptions<Request>): RateLimitMiddleware {
  const limiter = createRateLimiter(options);
  const middleware = function realipRateLimit(req: Request, res: Response, next: NextFunction): void {
    const ctx = req.realip;
    if (ctx === undefined || ctx === null) {
      next(new RealipError('ERR_REALIP_NO_CONTEXT', 'mount clientIp() before rateLimit()'));
      return;
    }
    if (limiter.isExempt(req.originalUrl ?? req.url)) {
      next();
      return;
    }
    const r = limiter.consume(ctx, req);
    if (r === undefined) {
      next();
    } else if (r instanceof Promise) {
      r.then((d) => finish(limiter, res, next, req, d), next);
    } else {
      finish(limiter, res, next, req, r);
    }
  } as RateLimitMiddleware;
  Object.defineProperty(middleware, 'limiter', { value: limiter, enumerable: true });
  return middleware;
}
