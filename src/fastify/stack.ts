/**
 * The composed stack for Fastify: `await fastify.register(realip, policy)` runs resolve -> geo ->
 * access -> rate limit in a root `onRequest` hook (404s included) and logs and counts every
 * request in `onResponse`. Same pipeline as the sidecar and Express (`createStack`).
 *
 * The plugin is named `realip-client-ip` because it provides `request.clientIp` and
 * `request.realip`: single-stage plugins that depend on the resolver (e.g. an extra `rateLimit`
 * for one route) can be registered after it. Access-log lines go to `request.log` unless a
 * `logger` is given. A policy a stage refuses fails `register()` / `ready()` with the PolicyError.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { Context } from '../http/context.js';
import { sendProblemResponse } from '../http/problem.js';
import type { RateLimitDecision } from '../rate-limit/limiter.js';
import type { Policy } from '../policy/schema.js';
import type { Pipeline, PolicyStack, StackOptions, StackResponse } from '../policy/stack.js';
import './augment.js';
import { FASTIFY_REPLY, ReplyHeaderTarget } from './reply-headers.js';

/** Options of the Fastify {@link realip} plugin: a policy plus stack options. */
export type FastifyRealipOptions = Policy | { policy: Policy; options?: StackOptions };

const STACKS = new WeakMap<object, PolicyStack>();

/**
 * The composed stack registered on `fastify` (the policy in force, `metrics()`, `topClients()`,
 * `update()`), or undefined before `register(realip, ...)` completed. (A function rather than a
 * typed decorator: a declaration merged into Fastify's types by both the ESM and the CJS typings of
 * this package would conflict in projects that see both.)
 */
export function getRealipStack(fastify: FastifyInstance): PolicyStack | undefined {
  // Encapsulated child instances inherit from their parent (Object.create).
  for (let o: object | null = fastify; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const stack = STACKS.get(o);
    if (stack !== undefined) return stack;
  }
  return undefined;
}

function send(reply: FastifyReply, r: StackResponse): void {
  sendProblemResponse(FASTIFY_REPLY, reply, r, false);
}

function isWrapped(o: FastifyRealipOptions): o is { policy: Policy; options?: StackOptions } {
  return (
    typeof o === 'object' &&
    o !== null &&
    'policy' in o &&
    typeof (o as { policy: unknown }).policy === 'object'
  );
}

async function plugin(fastify: FastifyInstance, opts: FastifyRealipOptions): Promise<void> {
  // Fastify adds `prefix`, `logLevel`, ... to plugin options: take only the policy's own keys.
  const { policy, options } = isWrapped(opts)
    ? { policy: opts.policy, options: opts.options ?? {} }
    : { policy: stripRegisterKeys(opts), options: {} };
  // The policy layer (yaml, the policy parser, every stage) loads here, when the plugin is
  // registered, not with `realip/fastify`: `clientIp()` users do not pay for it.
  const { createStackInternal } = await import('../policy/stack.js');
  const stack = await createStackInternal(policy, options, true);
  STACKS.set(fastify, stack);
  fastify.decorateRequest('clientIp', null as unknown as string | undefined);
  fastify.decorateRequest('realip', null as unknown as Context);
  const logger = options.logger;

  fastify.addHook(
    'onRequest',
    function realipStack(request: FastifyRequest, reply: FastifyReply, next: HookHandlerDoneFunction): void {
      const p = stack.pipeline;
      const raw = request.raw;
      const ctx = new Context();
      request.realip = ctx;
      const socket = raw.socket as typeof raw.socket | null;
      p.begin(ctx, socket === null ? undefined : socket.remoteAddress, raw.headers, raw.url, undefined);
      request.clientIp = ctx.resolution!.ip;
      if (!ctx.access!.allowed) {
        send(reply, p.denial(ctx));
        return;
      }
      const d = p.limit(ctx, raw, raw.url);
      if (d === undefined) {
        next();
      } else if (d instanceof Promise) {
        d.then((r) => finish(p, ctx, reply, r, next), next);
      } else {
        finish(p, ctx, reply, d, next);
      }
    },
  );

  fastify.addHook(
    'onResponse',
    function realipObserve(
      request: FastifyRequest,
      reply: FastifyReply,
      next: HookHandlerDoneFunction,
    ): void {
      const p = stack.pipeline;
      if (p.observes) {
        const raw = request.raw;
        p.observe(
          raw,
          reply.raw,
          request.realip ?? undefined,
          reply.elapsedTime, // Fastify times every request that has onResponse hooks
          request.routeOptions.url,
          raw.url,
          logger ?? request.log,
        );
      }
      next();
    },
  );

  fastify.addHook('onClose', async () => {
    await stack.close();
  });
}

const headerTarget = new ReplyHeaderTarget();

function finish(
  p: Pipeline,
  ctx: Context,
  reply: FastifyReply,
  d: RateLimitDecision,
  next: HookHandlerDoneFunction,
): void {
  let stop: StackResponse | undefined;
  try {
    stop = p.applyLimit(ctx, headerTarget.use(reply), d);
  } finally {
    headerTarget.release();
  }
  if (stop === undefined) next();
  else send(reply, stop);
}

const REGISTER_KEYS = new Set(['prefix', 'logLevel', 'logSerializers']);

function stripRegisterKeys(o: Policy): Policy {
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(o)) {
    if (REGISTER_KEYS.has(k)) {
      out ??= { ...o };
      delete out[k];
    }
  }
  return (out as Policy | undefined) ?? o;
}

/**
 * The whole realip stack as one Fastify plugin.
 *
 * @example
 * import { realip } from 'realip/fastify';
 * import { loadPolicyFile } from 'realip/policy';
 * await fastify.register(realip, await loadPolicyFile('policy.yaml'));
 * // or with stack options: fastify.register(realip, { policy, options: { watch: 'policy.yaml' } })
 */
export const realip = fp(plugin, { fastify: '5.x', name: 'realip-client-ip' });
