/**
 * An Express service using realip directly: the whole stack from one policy file, the client IP
 * on `req.clientIp` (and `req.ip`), metrics on `/metrics`.
 *
 *   node --import tsx examples/express-app/server.ts        # PORT=3000 by default
 *
 * In your own project the imports are `realip/express` and `realip/policy`.
 */
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import pino from 'pino';
import { realip, type RealipMiddleware } from '../../src/express/index.js';
import { loadPolicyFile } from '../../src/policy/index.js';
import type { LoggerLike } from '../../src/index.js';

export async function createApp(
  options: { policyFile?: string; logger?: LoggerLike } = {},
): Promise<{ app: Express; stack: RealipMiddleware }> {
  const policy = await loadPolicyFile(
    options.policyFile ?? fileURLToPath(new URL('policy.yaml', import.meta.url)),
  );
  const logger = options.logger ?? pino();
  const stack = realip(policy, { logger });
  await stack.ready; // fail at startup on a policy a stage refuses, not on the first request

  const app = express();
  app.use(stack);
  app.get('/', (req, res) => {
    res.json({
      message: 'Hello',
      yourIP: req.clientIp,
      country: req.realip.geo?.country,
      rateLimit: req.realip.rateLimit && {
        tier: req.realip.rateLimit.tier,
        remaining: req.realip.rateLimit.remaining,
      },
    });
  });
  app.get('/healthz', (_req, res) => res.send('ok'));
  app.get('/metrics', async (_req, res) => {
    const registry = (await stack.ready).registry;
    res.type('text/plain; version=0.0.4').send(registry ? await registry.metrics() : '');
  });
  return { app, stack };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { app } = await createApp();
  const port = Number(process.env.PORT ?? 3000);
  app.listen(port, '127.0.0.1', () => console.log(`express-app on http://127.0.0.1:${port}`));
}
