/**
 * Express access stage: `app.use(clientIp(...), ipFilter({ deny: [...] }))`.
 * Reads the client IP only from `req.realip.resolution` (set by `clientIp()`), never from headers.
 */
import type { NextFunction, Request, Response } from 'express';
import { createAccessPolicy, type AccessOptions, type AccessPolicy } from '../access/access.js';
import { NODE_RESPONSE, sendProblemResponse } from '../http/problem.js';
import { RealipError } from '../errors.js';
import type { AccessDecision } from '../types.js';
import './augment.js';

/** Options of {@link ipFilter}: the access options plus a response hook. */
export interface ExpressAccessOptions extends AccessOptions {
  /**
   * Replaces the default 403 response for denied requests. The hook owns the response: send one,
   * or call `next()` / `next(error)`. `req.realip.access` already holds the decision.
   * @default a 403 with an RFC 9457 `application/problem+json` body
   */
  onDenied?: (req: Request, res: Response, next: NextFunction, decision: AccessDecision) => void;
}

/** The middleware, with the compiled policy and a `close()` that stops list watchers it owns. */
export interface IpFilterMiddleware {
  (req: Request, res: Response, next: NextFunction): void;
  readonly policy: AccessPolicy;
  close(): void;
}

/**
 * CIDR and country allow/deny for Express 4 and 5. Mount after `clientIp()` (and after the geo
 * stage when `countries` are used). Invalid options throw a `ConfigError` here, not per request.
 *
 * @example
 * app.use(clientIp({ trustedProxies: ['10.0.0.0/8'] }));
 * app.use(ipFilter({ allow: ['203.0.113.0/24', { list: 'partners' }], exempt: ['/healthz'], lists }));
 */
export function ipFilter(options: ExpressAccessOptions = {}): IpFilterMiddleware {
  const policy = createAccessPolicy(options, { extraKeys: ['onDenied'] });
  const onDenied = options.onDenied;
  if (onDenied !== undefined && typeof onDenied !== 'function') {
    policy.close();
    throw new RealipError('ERR_REALIP_CONFIG', 'access.onDenied: expected a function');
  }
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const ctx = req.realip;
    if (ctx === undefined || ctx === null) {
      next(new RealipError('ERR_REALIP_NO_CONTEXT', 'mount clientIp() before ipFilter()'));
      return;
    }
    const ip = ctx.resolution?.ip;
    const d = policy.decide(ip, ctx.geo, req.originalUrl ?? req.url);
    ctx.access = d;
    if (d.allowed) {
      next();
      return;
    }
    if (onDenied !== undefined) {
      try {
        onDenied(req, res, next, d);
      } catch (error) {
        next(error);
      }
      return;
    }
    sendProblemResponse(NODE_RESPONSE, res, policy.denial(d, ip), req.method === 'HEAD');
  };
  return Object.assign(middleware, { policy, close: () => policy.close() });
}
