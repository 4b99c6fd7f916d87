/**
 * Fastify access log: one structured line per request from a root `onResponse` hook (so 404s and
 * responses sent by earlier hooks are covered), read from `request.realip`. Writes to
 * `request.log` by default, so lines carry Fastify's `reqId`; realip never touches the transport.
 *
 * To get exactly one line per request, turn off Fastify's own request lines:
 * `Fastify({ logger, logController: new LogController({ disableRequestLogging: true }) })`
 * (Fastify >= 5.12; older 5.x: `disableRequestLogging: true`).
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { RealipError } from '../errors.js';
import fp from 'fastify-plugin';
import { AccessLogInput, createAccessLog } from '../log/access-log.js';
import type { AccessLog, AccessLogOptions, LoggerLike } from '../log/access-log.js';

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
    writeLine(log, input, request, reply, reply.statusCode, false, logger ?? request.log, root);
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

/** Fills the reused input from a finished Fastify request and writes its line. */
function writeLine(
  log: AccessLog,
  input: AccessLogInput,
  request: FastifyRequest,
  reply: FastifyReply,
  statusCode: number,
  aborted: boolean,
  logger: LoggerLike,
  root: LoggerLike,
): void {
  const raw = request.raw;
  const socket = raw.socket as typeof raw.socket | null | undefined;
  input.method = request.method;
  input.route = request.routeOptions.url;
  input.url = raw.url;
  input.statusCode = statusCode;
  input.durationMs = reply.elapsedTime;
  input.remoteAddress = socket?.remoteAddress;
  input.remotePort = socket?.remotePort;
  input.context = request.realip ?? undefined;
  input.headers = log.needsHeaders ? raw.headers : undefined;
  input.aborted = aborted;
  log.write(input, logger, root);
  input.context = undefined;
  input.headers = undefined;
}

/** The part of Fastify's `LogController` class (Fastify >= 5.12) the controller extends. */
export interface LogControllerClass {
  new (options?: { disableRequestLogging?: boolean }): {
    incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: unknown): void;
    routeNotFound?(request: FastifyRequest, reply: FastifyReply, metadata?: unknown): void;
    requestCompleted(error: unknown, request: FastifyRequest, reply: FastifyReply, metadata?: unknown): void;
  };
}

/**
 * Fastify's own request logging, replaced by realip's access line: a `LogController` for
 * `Fastify({ logController })` that writes one realip line per request where Fastify writes its
 * "request completed" line, and neither "incoming request" nor "Route ... not found" (Fastify's
 * error logs, with stack traces, are kept). No hook is added (cheaper than the
 * {@link accessLog} plugin's `onResponse` hook); lines go to `request.log` (with reqId) unless a
 * `logger` is given. Pass Fastify's own class, so the controller is an instance of it whatever
 * Fastify copy the app uses. Suppressed-line counts (`suppressStatuses`) are flushed on later
 * writes; call `controller.accessLog.flush(logger)` at shutdown to write the last ones.
 *
 * @example
 * import Fastify, { LogController } from 'fastify';
 * import { accessLogController, clientIp } from 'realip/fastify';
 * const app = Fastify({ logger: true, logController: accessLogController(LogController, { fieldStyle: 'otel' }) });
 * await app.register(clientIp, { trustedProxies: ['10.0.0.0/8'] });
 */
export function accessLogController<C extends LogControllerClass>(
  Base: C,
  options: FastifyAccessLogOptions = {},
): InstanceType<C> & { readonly accessLog: AccessLog } {
  if (typeof Base !== 'function' || typeof Base.prototype?.requestCompleted !== 'function') {
    throw new RealipError(
      'ERR_REALIP_OPTION_INVALID',
      "accessLogController: expected Fastify's LogController class as the first argument (import { LogController } from 'fastify'; Fastify >= 5.12)",
    );
  }
  const { logger, ...rest } = options;
  const log = createAccessLog(rest);
  const input = new AccessLogInput();
  class RealipLogController extends (Base as LogControllerClass) {
    readonly accessLog = log;
    override incomingRequest(): void {}
    // The access line covers 404s; Fastify's error logs (stack traces) stay as they are.
    override routeNotFound(): void {}
    override requestCompleted(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
      const status = error !== undefined && error !== null && reply.statusCode < 400 ? 500 : reply.statusCode;
      const sink = logger ?? request.log;
      writeLine(
        log,
        input,
        request,
        reply,
        status,
        !reply.raw.writableFinished,
        sink,
        logger ?? request.server.log,
      );
    }
  }
  return new RealipLogController({ disableRequestLogging: false }) as InstanceType<C> & {
    readonly accessLog: AccessLog;
  };
}
