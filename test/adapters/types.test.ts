/**
 * Public typings of the adapters: checked by `tsc --noEmit` (npm run typecheck) and, for the
 * runtime half, by vitest. The packed package gets the same checks in test/package.
 */
import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createRequestResolver,
  createResolver,
  type RealipContext,
  type Resolution,
} from '../../src/index.js';
import { clientIp, type ExpressClientIpOptions } from '../../src/express/index.js';
import { clientIp as fastifyClientIp, type FastifyClientIpOptions } from '../../src/fastify/index.js';

describe('adapter typings', () => {
  it('Express: clientIp() is a RequestHandler and augments Request', () => {
    expectTypeOf(clientIp({ trustedProxies: ['10.0.0.0/8'] })).toMatchTypeOf<RequestHandler>();
    expectTypeOf<Request['clientIp']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Request['realip']>().toEqualTypeOf<RealipContext>();
    expectTypeOf<{ setReqIp: false }>().toMatchTypeOf<ExpressClientIpOptions>();
    expectTypeOf<{ setReqIp: 'no' }>().not.toMatchTypeOf<ExpressClientIpOptions>();
    expectTypeOf<{
      resolver: ReturnType<typeof createResolver>;
      setReqIp: boolean;
    }>().toMatchTypeOf<ExpressClientIpOptions>();
  });

  it('Fastify: the plugin registers with typed options and augments FastifyRequest', async () => {
    expectTypeOf<FastifyRequest['clientIp']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<FastifyRequest['realip']>().toEqualTypeOf<RealipContext>();
    expectTypeOf<{ trustedProxies: string[] }>().toMatchTypeOf<FastifyClientIpOptions>();
    expectTypeOf<{ trustedProxies: string }>().not.toMatchTypeOf<FastifyClientIpOptions>();
    const app = Fastify();
    await app.register(fastifyClientIp, { trustedProxies: ['10.0.0.0/8'] });
    await app.close();
  });

  it('node:http: createRequestResolver returns (req) => Resolution', () => {
    expectTypeOf(createRequestResolver({})).toEqualTypeOf<(req: IncomingMessage) => Resolution>();
  });
});
