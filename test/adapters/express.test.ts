/**
 * Express 4 and 5 through real sockets: clients bound to 127.0.0.x source addresses.
 */
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import express5 from 'express';
import express4 from 'express4';
import { rateLimit } from 'express-rate-limit';
import { pinoHttp } from 'pino-http';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { createResolver } from '../../src/resolve/resolver.js';
import { clientIp } from '../../src/express/index.js';
import { CASES, TRUSTED, close, get, listen, warningSink } from './helpers.js';

type ExpressFactory = typeof express5;
const FRAMEWORKS: [string, ExpressFactory][] = [
  ['express 5', express5],
  ['express 4', express4 as unknown as ExpressFactory],
];

const servers: Server[] = [];
async function serve(app: (req: any, res: any) => void): Promise<number> {
  const server = createServer(app);
  servers.push(server);
  return listen(server);
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map(close));
});

/** Echoes what realip and Express know about the request. */
function echo(req: express5.Request, res: express5.Response): void {
  const r = req.realip?.resolution;
  res.json({
    clientIp: req.clientIp ?? null,
    ip: req.ip ?? null,
    contextKeys: req.realip ? Object.keys(req.realip) : null,
    source: r?.source ?? null,
    peer: r?.peer ?? null,
  });
}

describe.each(FRAMEWORKS)('%s', (_name, express) => {
  let noTrustPort = 0;
  let proxyPort = 0;
  const sink = warningSink();

  beforeAll(async () => {
    for (const trust of ['none', 'proxy'] as const) {
      const app = express();
      app.use(
        clientIp(
          trust === 'none'
            ? { onWarning: sink.onWarning }
            : { trustedProxies: TRUSTED, onWarning: sink.onWarning },
        ),
      );
      app.get('/ip', echo);
      const server = createServer(app);
      const port = await listen(server);
      afterAll(() => close(server));
      if (trust === 'none') noTrustPort = port;
      else proxyPort = port;
    }
  });

  it.each(CASES)('$name', async (c) => {
    const reply = await get(c.trust === 'none' ? noTrustPort : proxyPort, '/ip', c.from, c.headers);
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body.clientIp).toBe(c.ip);
    expect(body.source).toBe(c.source);
    expect(body.peer).toBe(c.from);
    // req.ip answers the same (an accessor on Express's request prototype reads req.realip).
    expect(body.ip).toBe(c.ip);
  });

  it('req.realip has the fixed context shape with the resolution set', async () => {
    const body = (await get(proxyPort, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.9' })).json();
    expect(body.contextKeys).toEqual(['resolution', 'geo', 'access', 'rateLimit']);
  });

  it('raises no framework warning when trust proxy is off', () => {
    expect(sink.codes()).not.toContain('WRN_REALIP_EXPRESS_TRUST_PROXY');
  });

  it('setReqIp: false leaves req.ip to Express', async () => {
    const app = express();
    app.use(clientIp({ trustedProxies: TRUSTED, setReqIp: false, onWarning: () => {} }));
    app.get('/ip', echo);
    const port = await serve(app);
    const body = (await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.9' })).json();
    expect(body.clientIp).toBe('203.0.113.9');
    // Express's trust proxy is off: its own answer is the socket.
    expect(body.ip).toBe('127.0.0.2');
  });

  it("routes mounted before the middleware keep Express's req.ip; mounted sub-apps see realip's", async () => {
    const app = express();
    app.set('trust proxy', false);
    app.get('/before', echo);
    app.use(clientIp({ trustedProxies: TRUSTED, onWarning: () => {} }));
    const sub = express();
    sub.get('/ip', echo);
    app.use('/sub', sub);
    const port = await serve(app);
    const h = { 'x-forwarded-for': '203.0.113.9' };
    const before = (await get(port, '/before', '127.0.0.2', h)).json();
    expect(before.clientIp).toBe(null);
    expect(before.ip).toBe('127.0.0.2');
    const inSub = (await get(port, '/sub/ip', '127.0.0.2', h)).json();
    expect(inSub.clientIp).toBe('203.0.113.9');
    expect(inSub.ip).toBe('203.0.113.9');
    // Another app of the same Express copy, without realip: Express's own answers.
    const plain = express();
    plain.get('/ip', echo);
    const plainPort = await serve(plain);
    const other = (await get(plainPort, '/ip', '127.0.0.3', h)).json();
    expect(other.clientIp).toBe(null);
    expect(other.ip).toBe('127.0.0.3');
  });

  it('setReqIp is per middleware: a later setReqIp: true stage takes req.ip back', async () => {
    const app = express();
    app.use(clientIp({ trustedProxies: TRUSTED, setReqIp: false, onWarning: () => {} }));
    app.get('/first', echo);
    app.use(clientIp({ trustedProxies: TRUSTED, onWarning: () => {} }));
    app.get('/second', echo);
    const port = await serve(app);
    const h = { 'x-forwarded-for': '203.0.113.9' };
    const first = (await get(port, '/first', '127.0.0.2', h)).json();
    expect([first.clientIp, first.ip]).toEqual(['203.0.113.9', '127.0.0.2']);
    const second = (await get(port, '/second', '127.0.0.2', h)).json();
    expect([second.clientIp, second.ip]).toEqual(['203.0.113.9', '203.0.113.9']);
  });

  it("a clientIp set by earlier middleware is replaced by realip's", async () => {
    const app = express();
    app.use((req, _res, next) => {
      (req as { clientIp?: string }).clientIp = '198.51.100.1'; // e.g. request-ip's middleware
      next();
    });
    app.use(clientIp({ trustedProxies: TRUSTED, onWarning: () => {} }));
    app.get('/ip', echo);
    const port = await serve(app);
    const body = (await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.9' })).json();
    expect(body.clientIp).toBe('203.0.113.9');
    expect(body.ip).toBe('203.0.113.9');
  });

  it('req.ip stays assignable by later middleware', async () => {
    const app = express();
    app.use(clientIp({ trustedProxies: TRUSTED }));
    app.use((req, _res, next) => {
      (req as { ip: string | undefined }).ip = 'overridden';
      next();
    });
    app.get('/ip', echo);
    const port = await serve(app);
    expect((await get(port, '/ip', '127.0.0.2')).json().ip).toBe('overridden');
  });

  it('a prebuilt resolver is accepted, bare or as { resolver }', async () => {
    const resolver = createResolver({ trustedProxies: TRUSTED });
    for (const middleware of [clientIp(resolver), clientIp({ resolver, setReqIp: false })]) {
      const app = express();
      app.use(middleware);
      app.get('/ip', echo);
      const port = await serve(app);
      expect(
        (await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '198.51.100.1' })).json().clientIp,
      ).toBe('198.51.100.1');
    }
  });

  it('mounted twice, the second run reuses the context object and the later answer wins', async () => {
    const app = express();
    let first: unknown;
    app.use(clientIp({}));
    app.use((req, _res, next) => {
      first = req.realip;
      next();
    });
    app.use(clientIp({ trustedProxies: TRUSTED }));
    app.get('/ip', (req, res) => {
      res.json({ same: req.realip === first, clientIp: req.clientIp, ip: req.ip });
    });
    const port = await serve(app);
    const body = (await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '198.51.100.3' })).json();
    expect(body).toEqual({ same: true, clientIp: '198.51.100.3', ip: '198.51.100.3' });
  });

  it('works in a Router used without an app (no req.app)', async () => {
    const router = express.Router();
    router.use(clientIp({ trustedProxies: TRUSTED }));
    router.get('/ip', (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ clientIp: req.clientIp, ip: req.ip }));
    });
    const port = await serve((req, res) =>
      router(req, res, () => {
        res.statusCode = 404;
        res.end();
      }),
    );
    const body = (await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '198.51.100.4' })).json();
    expect(body).toEqual({ clientIp: '198.51.100.4', ip: '198.51.100.4' });
  });

  it('express-rate-limit with its default key counts per resolved client, not per proxy', async () => {
    const app = express();
    app.use(clientIp({ trustedProxies: TRUSTED }));
    // realip owns X-Forwarded-For; ERL's own check assumes Express's trust proxy reads it.
    app.use(rateLimit({ windowMs: 60_000, limit: 1, validate: { xForwardedForHeader: false } }));
    app.get('/ip', echo);
    const port = await serve(app);
    // All three arrive from the same proxy socket (127.0.0.2).
    const a1 = await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.1' });
    const b1 = await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.2' });
    const a2 = await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.1' });
    expect([a1.status, b1.status, a2.status]).toEqual([200, 200, 429]);
  });

  it('express-rate-limit sees the proxy for everyone when setReqIp is false (the failure the default prevents)', async () => {
    const app = express();
    app.use(clientIp({ trustedProxies: TRUSTED, setReqIp: false, onWarning: () => {} }));
    app.use(rateLimit({ windowMs: 60_000, limit: 1, validate: { xForwardedForHeader: false } }));
    app.get('/ip', echo);
    const port = await serve(app);
    const a1 = await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.1' });
    const b1 = await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.2' });
    expect([a1.status, b1.status]).toEqual([200, 429]);
  });

  it('pino-http logs the resolved client through a serializer reading req.ip', async () => {
    const lines: any[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
        cb();
      },
    });
    const logger = pino({ level: 'info' }, stream);
    const app = express();
    app.use(clientIp({ trustedProxies: TRUSTED }));
    app.use(
      pinoHttp({
        logger,
        serializers: { req: (req: any) => ({ method: req.method, url: req.url, remoteAddress: req.raw.ip }) },
      }),
    );
    app.get('/ip', echo);
    const port = await serve(app);
    await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '198.51.100.23' });
    await get(port, '/ip', '127.0.0.3', { 'x-forwarded-for': '198.51.100.23' });
    await expect.poll(() => lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.map((l) => l.req.remoteAddress)).toEqual(['198.51.100.23', '127.0.0.3']);
  });

  describe('Express trust proxy interplay', () => {
    it.each([
      ['true', true],
      ['a hop count', 1],
      ['named ranges', 'loopback'],
      ['an address list', ['127.0.0.2']],
    ])('warns once when trust proxy is %s', async (_label, setting) => {
      const warnings = warningSink();
      const app = express();
      app.set('trust proxy', setting);
      app.use(clientIp({ onWarning: warnings.onWarning }));
      app.get('/ip', echo);
      const port = await serve(app);
      await get(port, '/ip', '127.0.0.2');
      await get(port, '/ip', '127.0.0.3');
      expect(warnings.codes()).toEqual(['WRN_REALIP_EXPRESS_TRUST_PROXY']);
      expect(warnings.seen[0]!.message).toMatch(/trust proxy/);
    });

    it('warns when the compiled trust function was set directly', async () => {
      const warnings = warningSink();
      const app = express();
      app.set('trust proxy fn', (addr: string) => addr.startsWith('127.'));
      app.use(clientIp({ onWarning: warnings.onWarning }));
      app.get('/ip', echo);
      const port = await serve(app);
      await get(port, '/ip', '127.0.0.2');
      expect(warnings.codes()).toEqual(['WRN_REALIP_EXPRESS_TRUST_PROXY']);
    });

    it('warns for a sub-app that inherits trust proxy from its parent', async () => {
      const warnings = warningSink();
      const parent = express();
      parent.set('trust proxy', true);
      const child = express();
      child.use(clientIp({ onWarning: warnings.onWarning }));
      child.get('/ip', echo);
      parent.use('/child', child);
      const port = await serve(parent);
      const body = (await get(port, '/child/ip', '127.0.0.2')).json();
      expect(body.clientIp).toBe('127.0.0.2');
      expect(warnings.codes()).toEqual(['WRN_REALIP_EXPRESS_TRUST_PROXY']);
    });

    it('does not warn with trust proxy explicitly false', async () => {
      const warnings = warningSink();
      const app = express();
      app.set('trust proxy', false);
      app.use(clientIp({ onWarning: warnings.onWarning }));
      app.get('/ip', echo);
      const port = await serve(app);
      await get(port, '/ip', '127.0.0.2', { 'x-forwarded-for': '203.0.113.9' });
      // (The resolver itself warns about X-Forwarded-For from an untrusted peer.)
      expect(warnings.codes()).not.toContain('WRN_REALIP_EXPRESS_TRUST_PROXY');
      expect(warnings.codes()).toContain('WRN_REALIP_UNTRUSTED_FORWARDED');
    });

    it('realip wins over trust proxy for req.ip; with setReqIp false they diverge (the bypass the warning is about)', async () => {
      const ports: number[] = [];
      for (const setReqIp of [true, false]) {
        const app = express();
        app.set('trust proxy', true);
        app.use(clientIp({ setReqIp, onWarning: () => {} }));
        app.get('/ip', echo);
        ports.push(await serve(app));
      }
      // An attacker connects directly and sends X-Forwarded-For: realip trusts nobody.
      const spoof = { 'x-forwarded-for': '6.6.6.6' };
      const withOverride = (await get(ports[0]!, '/ip', '127.0.0.3', spoof)).json();
      const withoutOverride = (await get(ports[1]!, '/ip', '127.0.0.3', spoof)).json();
      expect(withOverride).toMatchObject({ clientIp: '127.0.0.3', ip: '127.0.0.3' });
      expect(withoutOverride).toMatchObject({ clientIp: '127.0.0.3', ip: '6.6.6.6' });
    });

    it('defaults to process.emitWarning with the code', async () => {
      const emitted: { code?: string; message: string }[] = [];
      const listener = (w: Error & { code?: string }) => {
        if (w.code === 'WRN_REALIP_EXPRESS_TRUST_PROXY') emitted.push({ code: w.code, message: w.message });
      };
      process.on('warning', listener);
      try {
        const app = express();
        app.set('trust proxy', true);
        app.use(clientIp());
        app.get('/ip', echo);
        const port = await serve(app);
        await get(port, '/ip', '127.0.0.2');
        await get(port, '/ip', '127.0.0.2');
        await expect.poll(() => emitted.length).toBe(1);
        await new Promise((r) => setTimeout(r, 20));
        expect(emitted).toHaveLength(1);
      } finally {
        process.off('warning', listener);
      }
    });
  });
});

describe('clientIp() options', () => {
  it('rejects a non-boolean setReqIp', () => {
    expect(() => clientIp({ setReqIp: 'no' as unknown as boolean })).toThrow(ConfigError);
    try {
      clientIp({ setReqIp: 'no' as unknown as boolean });
    } catch (error) {
      expect((error as ConfigError).issues).toEqual([
        { path: 'setReqIp', message: 'must be a boolean, got "no"', code: 'ERR_REALIP_OPTION_INVALID' },
      ]);
    }
  });

  it('rejects resolver options next to a prebuilt resolver', () => {
    const resolver = createResolver({});
    expect(() => clientIp({ resolver, trustedProxies: ['10.0.0.0/8'] } as never)).toThrow(
      /cannot be combined with a prebuilt `resolver`/,
    );
  });

  it('rejects a resolver that is not one', () => {
    expect(() => clientIp({ resolver: {} } as never)).toThrow(/resolver: must be a resolver/);
  });

  it('passes resolver option errors through (invalid CIDR)', () => {
    expect(() => clientIp({ trustedProxies: ['10.0.0/8'] })).toThrow(ConfigError);
  });

  it('rejects options that are not an object', () => {
    expect(() => clientIp('10.0.0.0/8' as never)).toThrow(/options must be an object/);
  });
});
