/**
 * Test fixtures: real resolutions (from `createResolver()`), stages' results, a capture stream for
 * pino, and stub stage middleware/plugin that fill `req.realip` through `createContext()` from test
 * headers (the access log tests drive every field of the context from there).
 */
import { isDeepStrictEqual } from 'node:util';
import type { NextFunction, Request, Response } from 'express';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createContext } from '../../src/http/context.js';
import { canonicalIp } from '../../src/core/ip.js';
import { createResolver } from '../../src/index.js';
import type { AccessDecision, GeoInfo, RateLimitInfo, RealipContext, Resolution } from '../../src/types.js';

/** Addresses that must never appear raw when anonymised. */
export const CLIENT_V4 = '203.0.113.77';
export const CLIENT_V6 = '2001:db8:abcd:12:3456::9';
export const CLIENT_MAPPED = '::ffff:198.51.100.23';
export const CLIENT_MAPPED_V4 = '198.51.100.23';
export const PROXY_A = '10.1.2.3';
export const PROXY_B = '172.16.5.4';
export const PROXY_V6 = 'fd00:1234:5678::42';

/** Every raw spelling a leak could take: canonical, IPv4-mapped, upper-case and expanded IPv6. */
export function rawForms(ip: string): string[] {
  const canon = canonicalIp(ip, { lenient: true }) ?? ip;
  const forms = new Set<string>([ip, canon]);
  if (!canon.includes(':')) {
    forms.add('::ffff:' + canon);
    forms.add('::FFFF:' + canon);
  } else {
    forms.add(canon.toUpperCase());
  }
  return [...forms];
}

/** Finds raw addresses in captured text; returns the ones found. */
export function leaks(text: string, addresses: readonly string[]): string[] {
  const found: string[] = [];
  for (const a of addresses) {
    for (const f of rawForms(a)) {
      // Word-boundary check so "10.1.2.3" does not match inside "110.1.2.30".
      const re = new RegExp(
        `(^|[^0-9A-Za-z.:])${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^0-9A-Za-z])`,
        'i',
      );
      if (re.test(text)) found.push(f);
    }
  }
  return found;
}

const TRUSTED = ['10.0.0.0/8', '172.16.0.0/12'];
const quiet = { onWarning: () => {} };
/** Trusts PROXY_A and PROXY_B's networks: a walk of X-Forwarded-For stops at the client. */
const viaProxies = createResolver({ trustedProxies: TRUSTED, ...quiet });
/** Two hops exactly: an entry that is not an IP leaves the client undeterminable. */
const twoHops = createResolver({ trustedProxies: TRUSTED, hops: 2, ...quiet });

/** What a test asks of a resolution: the client, and optionally how it was found. */
export interface ResolutionInit extends Partial<Omit<Resolution, 'explain'>> {
  ip: string | undefined;
  /** X-Forwarded-For as sent to the app (default `${ip}, ${PROXY_B}`). */
  forwarded?: string;
}

/** The request that makes the real resolver answer `init`. */
function resolveFor(init: ResolutionInit): Resolution {
  const { ip } = init;
  if (ip === undefined) {
    // hops: 2 over "unknown, PROXY_B": the second entry from the right is not an IP.
    return twoHops.resolve({ remoteAddress: PROXY_A, headers: { 'x-forwarded-for': `unknown, ${PROXY_B}` } });
  }
  if (init.source === 'socket' || init.reason === 'untrusted-peer') {
    return viaProxies.resolve({ remoteAddress: init.peer ?? ip, headers: {} });
  }
  if (init.source === 'proxy-protocol') {
    return viaProxies.resolve({ remoteAddress: PROXY_A, headers: {}, proxyProtocol: { sourceAddress: ip } });
  }
  const headers = { 'x-forwarded-for': init.forwarded ?? `${ip}, ${PROXY_B}` };
  if (init.reason === 'cap') {
    // A proxy chain longer than maxEntries: the walk stops at the last (trusted) address reached.
    const capped = createResolver({ trustedProxies: [...TRUSTED, ip], maxEntries: 2, ...quiet });
    return capped.resolve({
      remoteAddress: PROXY_A,
      headers: { 'x-forwarded-for': `198.51.100.1, ${ip}, ${PROXY_B}` },
    });
  }
  return viaProxies.resolve({ remoteAddress: init.peer ?? PROXY_A, headers });
}

/**
 * A real resolution (`createResolver().resolve()` of a request that gives `init`), as a plain
 * object so tests can spread it and override a field. Every field `init` names is checked against
 * what the resolver gave; `explain()` is the resolver's own account, which names every address raw.
 */
export function resolution(init: ResolutionInit): Resolution {
  const real = resolveFor(init);
  const { forwarded: _forwarded, ...fields } = init;
  for (const [key, want] of Object.entries(fields)) {
    const got: unknown = real[key as keyof Resolution];
    if (!isDeepStrictEqual(got, want)) {
      throw new Error(
        `fixture: the resolver gives ${key} = ${JSON.stringify(got)}, not ${JSON.stringify(want)}`,
      );
    }
  }
  return {
    ip: real.ip,
    source: real.source,
    header: real.header,
    peer: real.peer,
    chain: [...real.chain],
    complete: real.complete,
    reason: real.reason,
    explain: () => real.explain(),
  };
}

export const GEO_DE: GeoInfo = {
  country: 'DE',
  continent: 'EU',
  asn: 64500,
  org: 'Example Carrier',
  city: 'Berlin',
  location: { latitude: 52.52, longitude: 13.405, accuracyRadius: 20 },
};
export const GEO_PRIVATE: GeoInfo = { network: 'private' };
export const DENIED: AccessDecision = { allowed: false, reason: 'deny-list', rule: 'deny[3]' };
export const ALLOWED: AccessDecision = { allowed: true, reason: 'allow-list', rule: 'partners' };
export const LIMITED: RateLimitInfo = {
  tier: 'anonymous',
  limit: 100,
  remaining: 0,
  resetMs: 42_000,
  limited: true,
  source: 'store',
};
export const UNDER_LIMIT: RateLimitInfo = {
  tier: 'partners',
  limit: 1000,
  remaining: 998,
  resetMs: 59_000,
  limited: false,
  source: 'store',
};

export function context(parts: Partial<RealipContext>): RealipContext {
  const ctx = createContext();
  ctx.resolution = parts.resolution;
  ctx.geo = parts.geo;
  ctx.access = parts.access;
  ctx.rateLimit = parts.rateLimit;
  return ctx;
}

/** A pino-compatible destination collecting lines. */
export class Capture {
  readonly chunks: string[] = [];
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
  lines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  clear(): void {
    this.chunks.length = 0;
  }
}

/**
 * What the stub stages do, from test headers: `x-test-client` (the client, default 203.0.113.77),
 * `x-test-geo` (`de` | `private`), `x-test-deny` (403 by the access stage), `x-test-limit`
 * (429 by the rate-limit stage), `x-test-undeterminable`.
 */
function contextFromHeaders(headers: Record<string, string | string[] | undefined>): RealipContext {
  const h = (n: string) => {
    const v = headers[n];
    return typeof v === 'string' ? v : undefined;
  };
  const client =
    h('x-test-undeterminable') !== undefined
      ? undefined
      : (canonicalIp(h('x-test-client') ?? CLIENT_V4) ?? CLIENT_V4);
  const geo = h('x-test-geo') === 'private' ? GEO_PRIVATE : h('x-test-geo') === 'de' ? GEO_DE : undefined;
  const deny = h('x-test-deny') !== undefined;
  const limit = h('x-test-limit') !== undefined;
  return context({
    resolution: resolution({
      ip: client,
      ...(client === undefined ? { complete: false, reason: 'invalid-entry' } : {}),
    }),
    geo,
    access: deny ? DENIED : ALLOWED,
    rateLimit: deny ? undefined : limit ? LIMITED : UNDER_LIMIT,
  });
}

/** Stand-in for the Express `clientIp()` + access + rate-limit stages. */
export function stubStagesExpress() {
  return function stubStages(req: Request, res: Response, next: NextFunction): void {
    const ctx = contextFromHeaders(req.headers);
    req.realip = ctx;
    req.clientIp = ctx.resolution?.ip;
    if (ctx.access !== undefined && !ctx.access.allowed) {
      res.status(403).type('application/problem+json').send('{"title":"Forbidden","status":403}');
      return;
    }
    if (ctx.rateLimit?.limited) {
      res.status(429).type('application/problem+json').send('{"title":"Too Many Requests","status":429}');
      return;
    }
    next();
  };
}

const stubPlugin: FastifyPluginCallback = (fastify, _opts, done) => {
  fastify.decorateRequest('clientIp', undefined);
  fastify.decorateRequest('realip', null as unknown as RealipContext);
  fastify.addHook('onRequest', (request, reply, next) => {
    const ctx = contextFromHeaders(request.headers);
    request.realip = ctx;
    request.clientIp = ctx.resolution?.ip;
    if (ctx.access !== undefined && !ctx.access.allowed) {
      reply.code(403).type('application/problem+json').send('{"title":"Forbidden","status":403}');
      return;
    }
    if (ctx.rateLimit?.limited) {
      reply.code(429).type('application/problem+json').send('{"title":"Too Many Requests","status":429}');
      return;
    }
    next();
  });
  done();
};

/** Stand-in for the Fastify resolver plugin (same name, so dependency checks pass). */
export const stubStagesFastify = fp(stubPlugin, { fastify: '5.x', name: 'realip-client-ip' });

/** Waits until `check()` holds (log lines are written after the response), failing after `ms`. */
export async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
