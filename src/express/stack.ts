/**
 * The composed stack for Express: `app.use(realip(policy))` runs resolve -> geo -> access -> rate
 * limit before your routes and logs and counts every request when its response closes. It is
 * the same pipeline as the sidecar's (`createStack`), so a policy behaves identically in both.
 *
 * Construction is asynchronous (the policy layer is imported, GeoIP databases are read, optional
 * modules loaded): requests that arrive before it finishes wait for it. `await middleware.ready` at
 * startup to fail fast on a policy a stage refuses (a `PolicyError` with file positions when the
 * policy came from a file).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Context } from '../http/context.js';
import type { RateLimitDecision } from '../rate-limit/limiter.js';
import type { Policy } from '../policy/schema.js';
import type * as PolicyLayer from '../policy/stack.js';
import type { Pipeline, PolicyStack, StackOptions } from '../policy/stack.js';
import './augment.js';
import { attachContext } from './request-props.js';

type StackModule = typeof PolicyLayer;

/**
 * The policy layer (yaml, the policy parser, every stage) is imported when the first `realip()`
 * stack is built, not with `realip/express`: `clientIp()` users do not pay for it. Set once the
 * module is loaded, before any stack is ready, so requests never wait for an import.
 */
let sendStackResponse: StackModule['sendStackResponse'];
let policyLayer: Promise<StackModule> | undefined;

function loadPolicyLayer(): Promise<StackModule> {
  return (policyLayer ??= import('../policy/stack.js').then((m) => {
    sendStackResponse = m.sendStackResponse;
    return m;
  }));
}

/** Options of the Express {@link realip} middleware. */
export interface ExpressRealipOptions extends StackOptions {
  /**
   * Make `req.ip` return the resolved client IP (as `clientIp()` does), so morgan, pino-http and
   * your code see the same answer as realip.
   * @default true
   */
  setReqIp?: boolean;
}

/** The middleware, with its stack. */
export interface RealipMiddleware extends RequestHandler {
  /** Resolves when the stack is built; rejects with the PolicyError when a stage refuses the policy. */
  readonly ready: Promise<PolicyStack>;
  /** Stops watchers and flushes logs. */
  close(): Promise<void>;
}

/**
 * Observes `res` when it closes. A closure per request rather than properties on `res`: Express
 * re-prototypes `req` and `res`, and every property added to them takes V8's slow path.
 */
function observeOnClose(p: Pipeline, req: Request, res: Response, ctx: Context): void {
  const startedAt = performance.now();
  res.on('close', () => {
    const route = req.route as { path?: unknown } | undefined;
    p.observe(
      req,
      res,
      ctx,
      performance.now() - startedAt,
      route !== undefined && typeof route.path === 'string' ? req.baseUrl + route.path : undefined,
      req.originalUrl ?? req.url,
      undefined,
    );
  });
}

function run(stack: PolicyStack, setReqIp: boolean, req: Request, res: Response, next: NextFunction): void {
  const p = stack.pipeline;
  const ctx = new Context();
  if (p.observes) observeOnClose(p, req, res, ctx);
  const url = req.originalUrl ?? req.url;
  const socket = req.socket as Request['socket'] | null;
  p.begin(ctx, socket === null ? undefined : socket.remoteAddress, req.headers, url, undefined);
  attachContext(req, ctx, setReqIp);
  const head = req.method === 'HEAD';
  if (!ctx.access!.allowed) {
    sendStackResponse(res, p.denial(ctx), head);
    return;
  }
  const d = p.limit(ctx, req, url);
  if (d === undefined) {
    next();
  } else if (d instanceof Promise) {
    d.then((r) => finish(p, ctx, res, r, head, next), next);
  } else {
    finish(p, ctx, res, d, head, next);
  }
}

function finish(
  p: Pipeline,
  ctx: Context,
  res: Response,
  d: RateLimitDecision,
  head: boolean,
  next: NextFunction,
): void {
  const stop = p.applyLimit(ctx, res, d);
  if (stop === undefined) next();
  else sendStackResponse(res, stop, head);
}

/**
 * The whole realip stack as one Express middleware.
 *
 * @example
 * import { realip } from 'realip/express';
 * import { loadPolicyFile } from 'realip/policy';
 * const mw = realip(await loadPolicyFile('policy.yaml'), { logger: pino() });
 * await mw.ready; // optional: fail at startup, not on the first request
 * app.use(mw);
 */
export function realip(policy: Policy, options: ExpressRealipOptions = {}): RealipMiddleware {
  const { setReqIp = true, ...stackOptions } = options;
  let stack: PolicyStack | undefined;
  let failure: unknown;
  const ready = loadPolicyLayer()
    .then((m) => m.createStackInternal(policy, stackOptions, false))
    .then(
      (s) => {
        stack = s;
        return s;
      },
      (error: unknown) => {
        failure = error;
        throw error;
      },
    );
  // Awaiting `ready` is optional; a failure also reaches every request through next(err).
  ready.catch(() => undefined);

  const middleware = function realipStack(req: Request, res: Response, next: NextFunction): void {
    if (stack !== undefined) {
      run(stack, setReqIp, req, res, next);
      return;
    }
    if (failure !== undefined) {
      next(failure);
      return;
    }
    ready.then((s) => run(s, setReqIp, req, res, next), next);
  } as RealipMiddleware;
  Object.defineProperties(middleware, {
    ready: { value: ready },
    close: { value: async () => (await ready.catch(() => undefined))?.close() },
  });
  return middleware;
}
