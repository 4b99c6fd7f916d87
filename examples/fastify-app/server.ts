/**
 * A Fastify service using realip directly: the whole stack from one policy file as one plugin,
 * the client IP on `request.clientIp`, access-log lines through Fastify's own logger.
 *
 *   node --import tsx examples/fastify-app/server.ts        # PORT=3000 by default
 *
 * In your own project the imports are `realip/fastify` and `realip/policy`.
 */
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { getRealipStack, realip } from '../../src/fastify/index.js';
import { loadPolicyFile } from '../../src/policy/index.js';

export async function createApp(
  options: { policyFile?: string; logger?: boolean } = {},
): Promise<FastifyInstance> {
  const policy = await loadPolicyFile(
    options.policyFile ?? fileURLToPath(new URL('policy.yaml', import.meta.url)),
  );
  // Fastify's own per-request logging is off: realip writes one line per request (to request.log).
  const fastify = Fastify({
    logger: options.logger ?? true,
    logController: new LogController({ disableRequestLogging: true }),
  });
  await fastify.register(realip, policy);

  fastify.get('/', async (request) => ({
    message: 'Hello',
    yourIP: request.clientIp,
    country: request.realip.geo?.country,
    rateLimit: request.realip.rateLimit && {
      tier: request.realip.rateLimit.tier,
      remaining: request.realip.rateLimit.remaining,
    },
  }));
  fastify.get('/healthz', async () => 'ok');
  fastify.get('/metrics', async (_request, reply) => {
    reply.type('text/plain; version=0.0.4');
    return getRealipStack(fastify)!.metrics();
  });
  return fastify;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fastify = await createApp();
  await fastify.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
}
