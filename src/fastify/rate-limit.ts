/**
 * Fastify adapter of the rate-limit stage: a root `onRequest` hook (so 404s and unknown routes are
 * limited too) that reads `request.realip` set by the `realip-client-ip` plugin.
 *
 * Per route: `config: { rateLimit: false }` exempts the route; `config: { rateLimit: { ... } }`
 * replaces the plugin's limits for that route with options merged over the plugin's, in buckets of
 * its own (key prefix `<METHOD> <url>:` unless it sets `prefix`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { RealipError } from '../errors.js';
import {
  createRateLimiter,
  rateLimitResponse,
  type RateLimitDecision,
  type RateLimitOptions,
  type RateLimiter,
} from '../rate-limit/limiter.js';
import { sendProblemResponse, type ProblemResponse } from '../http/problem.js';
import { FASTIFY_REPLY, ReplyHeaderTarget } from './reply-headers.js';

/** Route-level override: any plugin option; unspecified ones are inherited from the plugin. */
export type RateLimitRouteOptions = Partial<RateLimitOptions<FastifyRequest>>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` exempts the route; an object replaces the plugin's limits for it. */
    rateLimit?: RateLimitRouteOptions | false;
  }
  interface FastifyInstance {
    /** The app-wide limiter of `realip-rate-limit` (for `stats()`). */
    realipRateLimiter: RateLimiter;
  }
}

const headerTarget = new ReplyHeaderTarget();

function finish(
  limiter: RateLimiter,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
  d: RateLimitDecision,
): void {
  let stop: ProblemResponse | undefined;
  try {
    stop = rateLimitResponse(limiter, headerTarget.use(reply), d);
  } finally {
    headerTarget.release();
  }
  if (stop === undefined) done();
  else sendProblemResponse(FASTIFY_REPLY, reply, stop, false);
}

function rateLimitPlugin(
  fastify: FastifyInstance,
  options: RateLimitOptions<FastifyRequest>,
  done: (err?: Error) => void,
): void {
  let limiter: RateLimiter;
  try {
    limiter = createRateLimiter(options);
  } catch (err) {
    done(err as Error);
    return;
  }
  const overrides = new WeakMap<object, RateLimiter>();
  const routeLimiters: RateLimiter[] = [];
  let routeConfigs = false;
  const compileOverride = (o: RateLimitRouteOptions, method: unknown, url: unknown): RateLimiter => {
    const merged = { ...options, ...o } as RateLimitOptions<FastifyRequest>;
    if (o.prefix === undefined) {
      merged.prefix = `${options.prefix ?? ''}${Array.isArray(method) ? method.join(',') : String(method)} ${String(url)}:`;
    }
    const l = createRateLimiter(merged, 'config.rateLimit');
    overrides.set(o, l);
    routeLimiters.push(l);
    return l;
  };
  // The first registration's limiter (registering the plugin twice must not throw).
  if (!fastify.hasDecorator('realipRateLimiter')) fastify.decorate('realipRateLimiter', limiter);
  fastify.addHook('onRoute', (route) => {
    const o = route.config?.rateLimit;
    if (o !== undefined) routeConfigs = true;
    if (o !== undefined && o !== false && !overrides.has(o)) compileOverride(o, route.method, route.url);
  });
  fastify.addHook('onRequest', function realipRateLimit(request, reply, next) {
    const ctx = request.realip;
    if (ctx === undefined || ctx === null) {
      next(
        new RealipError(
          'ERR_REALIP_NO_CONTEXT',
          'register the realip-client-ip plugin before realip-rate-limit',
        ),
      );
      return;
    }
    let l = limiter;
    // request.routeOptions builds a frozen object per access: read it only when some route has an override.
    if (routeConfigs) {
      const route = request.routeOptions;
      const o = route.config === undefined ? undefined : route.config.rateLimit;
      if (o === false) {
        next();
        return;
      }
      if (o !== undefined) l = overrides.get(o) ?? compileOverride(o, route.method, route.url);
    }
    if (l.isExempt(request.url)) {
      next();
      return;
    }
    const r = l.consume(ctx, request);
    if (r === undefined) next();
    else if (r instanceof Promise) r.then((d) => finish(l, request, reply, next, d), next);
    else finish(l, request, reply, next, r);
  });
  fastify.addHook('onClose', (_instance, closed) => {
    Promise.all([limiter.close(), ...routeLimiters.map((l) => l.close())]).then(() => closed(), closed);
  });
  done();
}

/**
 * Rate limiting by the resolved client IP, as a Fastify plugin.
 *
 * @example
 * await app.register(clientIp, { trustedProxies: ['10.0.0.0/8'] });
 * await app.register(rateLimit, { tiers: [{ name: 'default', limits: [{ points: 100, duration: 60 }] }] });
 * app.post('/login', { config: { rateLimit: { tiers: [{ name: 'login', limits: [{ points: 5, duration: 60 }] }] } } }, h);
 */
export const rateLimit = fp(rateLimitPlugin, {
  fastify: '5.x',
  name: 'realip-rate-limit',
  dependencies: ['realip-client-ip'],
});
