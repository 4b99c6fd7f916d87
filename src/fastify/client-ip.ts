/**
 * Fastify 5 adapter of the resolver: `await fastify.register(clientIp, options)`.
 */
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import fp from 'fastify-plugin';
import { Context } from '../http/context.js';
import { resolveIncoming, splitAdapterOptions, type ResolverLike } from '../http/request.js';
import type { ResolverOptions, WarningHandler } from '../types.js';
import './augment.js';

/**
 * Options of the `clientIp` plugin: the resolver's options, or `{ resolver }` to reuse a prebuilt
 * resolver (one compiled configuration shared by several instances).
 */
export type FastifyClientIpOptions =
  ResolverOptions | { resolver: ResolverLike; onWarning?: WarningHandler | undefined };

export const WRN_FASTIFY_TRUST_PROXY = 'WRN_REALIP_FASTIFY_TRUST_PROXY';

/** Keys Fastify itself reads from `register()` options; they are not resolver options. */
const FASTIFY_REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const;

const plugin: FastifyPluginCallback<FastifyClientIpOptions> = function realipClientIpPlugin(
  fastify: FastifyInstance,
  options: FastifyClientIpOptions,
  done: (err?: Error) => void,
): void {
  let split: ReturnType<typeof splitAdapterOptions>;
  try {
    split = splitAdapterOptions(options, [], FASTIFY_REGISTER_KEYS);
  } catch (error) {
    // Reported through register()/ready(), not as an uncaught exception.
    done(error as Error);
    return;
  }
  const { resolver, warn } = split;

  if (fastifyTrustsProxies(fastify)) {
    warn(
      WRN_FASTIFY_TRUST_PROXY,
      "Fastify's `trustProxy` option is set while realip resolves the client IP: request.ip, " +
        'request.ips, request.host and request.protocol follow `trustProxy`, request.clientIp follows ' +
        'realip, and two sources of truth disagree on who the client is. Remove trustProxy and ' +
        'configure trustedProxies in realip only (read request.clientIp, not request.ip).',
    );
  }

  // Declared up front (null, then assigned per request) so every request object has one shape.
  // (The typings want the final type; null is the placeholder Fastify recommends for per-request values.)
  fastify.decorateRequest('clientIp', null as unknown as string | undefined);
  fastify.decorateRequest('realip', null as unknown as Context);

  // A root onRequest hook (the plugin is not encapsulated) runs for every request, 404s included,
  // before parsing, validation and every other stage's hook.
  fastify.addHook(
    'onRequest',
    function realipClientIp(
      request: FastifyRequest,
      _reply: FastifyReply,
      next: HookHandlerDoneFunction,
    ): void {
      const resolution = resolveIncoming(resolver, request.raw);
      const context = new Context();
      context.resolution = resolution;
      request.clientIp = resolution.ip;
      request.realip = context;
      next();
    },
  );
  done();
};

/**
 * Registers the resolver on a Fastify 5 instance:
 *
 * ```ts
 * await fastify.register(clientIp, { trustedProxies: ['10.0.0.0/8'] });
 * fastify.get('/', (request) => request.clientIp ?? 'unknown');
 * ```
 *
 * Decorates `request.clientIp` (`string | undefined`) and `request.realip` (with `.resolution`).
 * Plugin name `realip-client-ip`: later realip stages declare it as a dependency.
 * @throws ConfigError (at registration) when the options are invalid (every problem at once).
 */
export const clientIp = fp(plugin, { fastify: '5.x', name: 'realip-client-ip' });

/**
 * True when Fastify's own `trustProxy` is configured (truthy, as Fastify itself tests it). Reads
 * `initialConfig.trustProxy` when Fastify exposes it, else the instance's options symbol.
 */
function fastifyTrustsProxies(fastify: FastifyInstance): boolean {
  const initial = fastify.initialConfig as { trustProxy?: unknown } | undefined;
  if (initial !== undefined && initial.trustProxy !== undefined) return Boolean(initial.trustProxy);
  // Child instances inherit the root's symbols through the prototype chain.
  for (let o: object | null = fastify; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    for (const symbol of Object.getOwnPropertySymbols(o)) {
      if (symbol.description === 'fastify.options') {
        const opts = (o as Record<symbol, unknown>)[symbol];
        return (
          typeof opts === 'object' && opts !== null && Boolean((opts as { trustProxy?: unknown }).trustProxy)
        );
      }
    }
  }
  return false;
}
