/**
 * Express access log: one structured line per request, written when the response closes
 * (finished or aborted), read from `req.realip`. Mount it first, so every request is timed and
 * logged even when a later stage ends it.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ConfigError } from '../errors.js';
import { AccessLogInput, createAccessLog } from '../log/access-log.js';
import type { AccessLog, AccessLogOptions, LoggerLike } from '../log/access-log.js';

/** Options of the Express {@link accessLog} middleware. */
export interface ExpressAccessLogOptions extends AccessLogOptions {
  /**
   * The application's logger (a pino instance or anything with `info`/`warn`). realip only calls
   * its methods: it never creates, configures or closes the transport.
   */
  logger: LoggerLike;
}

/** The middleware, with the compiled log for flushing at shutdown. */
export interface ExpressAccessLog extends RequestHandler {
  /** Writes pending suppression counts; call at shutdown. */
  flush(): void;
  readonly accessLog: AccessLog;
}

const START = Symbol('realip.accessLog.start');

interface Timed {
  [START]?: number;
}

/** Creates the access-log middleware. Throws `ConfigError` listing every bad option. */
export function accessLog(options: ExpressAccessLogOptions): ExpressAccessLog {
  // Express has no request logger to fall back on: the logger is required here (its shape is
  // checked by the access log's spec, with every other option).
  if (options?.logger === undefined) {
    throw new ConfigError([
      {
        path: 'logger',
        message: 'missing (expected a logger with info() and warn(), such as a pino instance)',
        code: 'ERR_REALIP_LOG_NO_LOGGER',
      },
    ]);
  }
  const log = createAccessLog(options);
  const logger = options.logger;
  const input = new AccessLogInput();

  // One listener function for every request (`this` is the response): no closure per request.
  function onClose(this: Response & Timed): void {
    const req = this.req as Request | undefined;
    if (req === undefined) return;
    const route = req.route as { path?: unknown } | undefined;
    input.method = req.method;
    input.route =
      route !== undefined && typeof route.path === 'string' ? req.baseUrl + route.path : undefined;
    input.url = req.originalUrl ?? req.url;
    // Gone before the head was sent: 499 (nginx's convention), not the unsent default 200.
    input.statusCode = this.headersSent || this.writableFinished ? this.statusCode : 499;
    input.durationMs = performance.now() - (this[START] ?? performance.now());
    const socket = req.socket;
    input.remoteAddress = socket?.remoteAddress;
    input.remotePort = socket?.remotePort;
    input.context = (req as { realip?: Request['realip'] }).realip;
    input.headers = log.needsHeaders ? req.headers : undefined;
    input.aborted = !this.writableFinished;
    log.write(input, logger);
    input.context = undefined;
    input.headers = undefined;
  }

  const middleware = function realipAccessLog(_req: Request, res: Response, next: NextFunction): void {
    (res as Response & Timed)[START] = performance.now();
    res.once('close', onClose);
    next();
  } as ExpressAccessLog;
  Object.defineProperties(middleware, {
    flush: { value: () => log.flush(logger) },
    accessLog: { value: log },
  });
  return middleware;
}
