/**
 * Fastify access log: one structured line per request from a root `onResponse` hook (so 404s and
 * responses sent by earlier hooks are covered), read from `request.realip`. Writes to
 * `request.log` by default, so lines carry Fastify's `reqId`; realip never touches the transport.
 *
 * To get exactly one line per request, turn off Fastify's own request lines:
 * `Fastify({ logger, logController: new LogController({ disableRequestLogging: true }) })`
 * (Fastify >= 5.12; older 5.x: `disableRequestLogging: true`).
 */
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { AccessLogInput, createAccessLog } from '../core/log.js';
import type { AccessLog, AccessLogOptions, LoggerLike } from '../core/log.js';

/** Options of the Fastify {@link accessLog} plugin. */
export interface FastifyAccessLogOptions extends AccessLogOptions {
  /**
   * A logger to write to instead of `request.log` (realip only calls its methods).
   * @default request.log (lines carry reqId)
   */
  logger?: LoggerLike;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The compiled realip access log (for `flush()` and its anonymiser). */
    realipAccessLog: AccessLog;
  }
}

const plugin: FastifyPluginCallback<FastifyAccessLogOptions> = (fastify, options, done) => {
  const { logger, ...rest } = options;
  let log: AccessLog;
  try {
    log = createAccessLog(rest);
  } catch (err) {
    done(err as Error);
    return;
  }
  const input = new AccessLogInput();
  const root: LoggerLike = logger ?? fastify.log;
  fastify.decorate('realipAccessLog', log);
  fastify.addHook('onResponse', function realipAccessLog(request, reply, next) {
    const raw = request.raw;
    input.method = request.method;
    input.route = request.routeOptions.url;
    input.url = raw.url;
    input.statusCode = reply.statusCode;
    input.durationMs = reply.elapsedTime;
    input.remoteAddress = raw.socket?.remoteAddress;
    input.remotePort = raw.socket?.remotePort;
    input.context = request.realip ?? undefined;
    input.headers = raw.headers;
    input.aborted = false;
    log.write(input, logger ?? request.log, root);
    input.context = undefined;
    input.headers = undefined;
    next();
  });
  fastify.addHook('onClose', (_instance, next) => {
    log.flush(root);
    next();
  });
  done();
};

/** Fastify plugin: structured access log (`realip-access-log`). Register after the resolver plugin. */
export const accessLog = fp(plugin, {
  fastify: '5.x',
  name: 'realip-access-log',
  dependencies: ['realip-client-ip'],
});
