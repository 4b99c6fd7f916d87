/**
 * Fastify 5 through real sockets: clients bound to 127.0.0.x source addresses.
 */
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { createResolver } from '../../src/resolve/resolver.js';
import { clientIp, type FastifyClientIpOptions } from '../../src/fastify/index.js';
import { CASES, TRUSTED, get, warningSink } from './helpers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function echo(request: FastifyRequest) {
  const r = request.realip?.resolution;
  return {
    clientIp: request.clientIp ?? null,
    fastifyIp: request.ip,
    contextKeys: request.realip ? Object.keys(request.realip) : null,
    source: r?.source ?? null,
    peer: r?.peer ?? null,
  };
}

/** Builds an app with the plugin, an echo route and a root onSend hook that exposes clientIp on every reply. */
async function build(
  options: FastifyClientIpOptions,
  fastifyOptions: FastifyServerOptions = {},
): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify(fastifyOptions);
  apps.push(app);
  await app.register(clientIp, options);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-test-client-ip', request.clientIp ?? 'undefined');
    reply.header('x-test-source', request.realip?.resolution?.source ?? 'none');
  });
  app.get('/ip', echo);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return { app, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

describe('fastify 5', () => {
  const sink = warningSink();
  let noTrustPort = 0;
  let proxyPort = 0;
  const shared: FastifyInstance[] = [];

  beforeAll(async () => {
    const a = await build({ onWarning: sink.onWarning });
    const b = await build({ trustedProxies: TRUSTED, onWarning: sink.onWarning });
    // Keep these two for the whole file: take them out of the per-test cleanup list.
    apps.splice(0);
    shared.push(a.app, b.app);
    noTrustPort = a.port;
    proxyPort = b.port;
  });
  afterAll(async () => {
    await Promise.all(shared.map((a) => a.close()));
  });

  it.each(CASES)('$name', async (c) => {
    const reply = await get(c.trust === 'none' ? noTrustPort : proxyPort, '/ip', c.from, c.headers);
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body.clientIp).toBe(c.ip);
    expect(body.source).toBe(c.source);
    expect(body.peer).toBe(c.from);
    // Fastify's own request.ip is untouched (trustProxy is off): always the socket.
    expect(body.fastifyIp).toBe(c.from);
  });

  it.each(CASES)('404 is covered: $name', async (c) => {
    const reply = await get(
      c.trust === 'none' ? noTrustPort : proxyPort,
      '/no/such/route',
      c.from,
      c.headers,
    );
    expect(reply.status).toBe(404);
    expect(reply.headers['x-test-client-ip']).toBe(c.ip);
    expect(reply.headers['x-test-source']).toBe(c.source);
  });

  it('request.realip has the fixed context shape with the resolution set', async () => {
    const body = (await get(proxyPort, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.9' })).json();
    expect(body.contextKeys).toEqual(['resolution', 'geo', 'access', 'rateLimit']);
  });

  it('raises no framework warning when trustProxy is not configured', () => {
    expect(sink.codes()).not.toContain('WRN_REALIP_FASTIFY_TRUST_PROXY');
  });

  it('is named realip-client-ip so later stages can depend on it', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(clientIp, {});
    let ran = false;
    const { default: fp } = await import('fastify-plugin');
    await app.register(
      fp(
        async () => {
          ran = true;
        },
        { name: 'later-stage', dependencies: ['realip-client-ip'], fastify: '5.x' },
      ),
    );
    await app.ready();
    expect(ran).toBe(true);
    expect(app.hasRequestDecorator('clientIp')).toBe(true);
    expect(app.hasRequestDecorator('realip')).toBe(true);
  });

  it('decorates routes registered in encapsulated child contexts too', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(clientIp, { trustedProxies: TRUSTED });
    await app.register(
      async (child) => {
        child.get('/ip', echo);
      },
      { prefix: '/child' },
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const body = (await get(port, '/child/ip', '127.0.0.2', { 'x-forwarded-for': '198.51.100.4' })).json();
    expect(body.clientIp).toBe('198.51.100.4');
  });

  it('accepts a prebuilt resolver as { resolver }', async () => {
    const resolver = createResolver({ trustedProxies: TRUSTED });
    const { port } = await build({ resolver });
    const body = (await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '198.51.100.1' })).json();
    expect(body.clientIp).toBe('198.51.100.1');
  });

  it('ignores the register() keys Fastify itself reads (prefix, logLevel)', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(clientIp, { trustedProxies: TRUSTED, prefix: '/x', logLevel: 'warn' } as never);
    await app.ready();
  });

  it('fails registration with every option problem at once', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(app.register(clientIp, { trustedProxies: ['10.0.0/8'] })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it('fails registration for resolver options next to a prebuilt resolver', async () => {
    const app = Fastify();
    apps.push(app);
    const resolver = createResolver({});
    await expect(app.register(clientIp, { resolver, header: 'x-real-ip' } as never)).rejects.toThrow(
      /cannot be combined/,
    );
  });

  describe('Fastify trustProxy interplay', () => {
    it.each([
      ['true', true],
      ['a CIDR string', '127.0.0.0/8'],
      ['an address list', ['127.0.0.2']],
      ['a hop count', 1],
      ['a function', () => true],
    ])('warns once when trustProxy is %s', async (_label, trustProxy) => {
      const warnings = warningSink();
      const { port } = await build({ onWarning: warnings.onWarning }, { trustProxy } as never);
      await get(port, '/ip', '127.0.0.2');
      await get(port, '/ip', '127.0.0.3');
      expect(warnings.codes()).toEqual(['WRN_REALIP_FASTIFY_TRUST_PROXY']);
    });

    it('does not warn with trustProxy false', async () => {
      const warnings = warningSink();
      await build({ onWarning: warnings.onWarning }, { trustProxy: false });
      expect(warnings.seen).toEqual([]);
    });

    it('warns when registered inside a child context of an app with trustProxy', async () => {
      const warnings = warningSink();
      const app = Fastify({ trustProxy: true });
      apps.push(app);
      await app.register(async (child) => {
        await child.register(clientIp, { onWarning: warnings.onWarning });
      });
      await app.ready();
      expect(warnings.codes()).toEqual(['WRN_REALIP_FASTIFY_TRUST_PROXY']);
    });

    it('request.clientIp follows realip while request.ip follows trustProxy (the divergence warned about)', async () => {
      const { port } = await build({ onWarning: () => {} }, { trustProxy: true });
      const body = (await get(port, '/ip', '127.0.0.3', { 'x-forwarded-for': '6.6.6.6' })).json();
      expect(body.clientIp).toBe('127.0.0.3');
      expect(body.fastifyIp).toBe('6.6.6.6');
    });
  });
});
