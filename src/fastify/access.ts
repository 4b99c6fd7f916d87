/**
 * Fastify access stage: `app.register(clientIp, {...}); app.register(ipFilter, { deny: [...] })`.
 * A root `onRequest` hook, so unknown routes (404s) are filtered too. Reads the client IP only
 * from `request.realip.resolution` (set by the `realip-client-ip` plugin).
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createAccessPolicy, type AccessOptions, type AccessPolicy } from '../access/access.js';
import { sendProblemResponse } from '../http/problem.js';
import { RealipError } from '../errors.js';
import type { AccessDecision } from '../types.js';
import './augment.js';
import { FASTIFY_REPLY } from './reply-headers.js';

/** Options of the {@link ipFilter} plugin: the access options plus a response hook. */
export interface FastifyAccessOptions extends AccessOptions {
  /**
   * Replaces the default 403 response for denied requests. The hook owns the response: send it
   * with `reply` (returning the promise, if any). When it returns without sending, the default
   * 403 is sent. `request.realip.access` already holds the decision.
   * @default a 403 with an RFC 9457 `application/problem+json` body
   */
  onDenied?: (request: FastifyRequest, reply: FastifyReply, decision: AccessDecision) => unknown;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The compiled access policy of the `realip-access` plugin. */
    realipAccess: AccessPolicy;
  }
}

const plugin: FastifyPluginCallback<FastifyAccessOptions> = (fastify, options, done) => {
  // Fastify passes its own registration keys (prefix, logLevel, ...) along with the options.
  const { onDenied, ...rest } = options;
  const own: Record<string, unknown> = {};
  for (const key of Object.keys(rest)) {
    if (key !== 'prefix' && key !== 'logLevel' && key !== 'logSerializers') {
      own[key] = (rest as Record<string, unknown>)[key];
    }
  }
  let policy: AccessPolicy;
  try {
    policy = createAccessPolicy(own as AccessOptions);
  } catch (error) {
    done(error as Error);
    return;
  }
  if (onDenied !== undefined && typeof onDenied !== 'function') {
    policy.close();
    done(new RealipError('ERR_REALIP_CONFIG', 'access.onDenied: expected a function'));
    return;
  }
  fastify.decorate('realipAccess', policy);
  fastify.addHook('onClose', (_instance, next) => {
    policy.close();
    next();
  });

  const sendDefault = (request: FastifyRequest, reply: FastifyReply, d: AccessDecision) => {
    sendProblemResponse(FASTIFY_REPLY, reply, policy.denial(d, request.realip.resolution?.ip), false);
  };

  fastify.addHook('onRequest', (request, reply, next) => {
    const ctx = request.realip;
    if (ctx === undefined || ctx === null) {
      next(new RealipError('ERR_REALIP_NO_CONTEXT', 'register the realip-client-ip plugin before ipFilter'));
      return;
    }
    const d = policy.decide(ctx.resolution?.ip, ctx.geo, request.url);
    ctx.access = d;
    if (d.allowed) {
      next();
      return;
    }
    if (onDenied === undefined) {
      sendDefault(request, reply, d);
      return;
    }
    let result: unknown;
    try {
      result = onDenied(request, reply, d);
    } catch (error) {
      next(error as Error);
      return;
    }
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as PromiseLike<unknown>).then === 'function'
    ) {
      (result as PromiseLike<unknown>).then(
        () => {
          if (!reply.sent) sendDefault(request, reply, d);
        },
        (error: unknown) => next(error as Error),
      );
      return;
    }
    if (!reply.sent) sendDefault(request, reply, d);
  });
  done();
};

/**
 * CIDR and country allow/deny for Fastify 5, as a plugin named `realip-access` that depends on
 * `realip-client-ip`. Register it on the root instance (it is not encapsulated) so every route,
 * including 404s, is filtered.
 *
 * @example
 * await app.register(clientIp, { trustedProxies: ['10.0.0.0/8'] });
 * await app.register(ipFilter, { deny: [{ list: 'blocked' }], lists, exempt: ['/healthz'] });
 */
export const ipFilter = fp(plugin, {
  fastify: '5.x',
  name: 'realip-access',
  dependencies: ['realip-client-ip'],
});
