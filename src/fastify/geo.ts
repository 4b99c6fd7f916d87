/**
 * Fastify stage: GeoIP tags on `request.realip.geo`, from `request.realip.resolution.ip` only, in a
 * root `onRequest` hook (404s are tagged too).
 *
 * Pass an opened tagger (`{ tagger }`), or the `realip/geo` options to open one during
 * registration; an owned tagger is closed with the instance. The geo entry (and maxmind) is loaded
 * on demand, so `realip/fastify` alone never loads maxmind.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { ConfigError, RealipError } from '../errors.js';
import type { GeoOptions, GeoTagger } from '../geo/tagger.js';
import { assertGeoTagger } from '../geo/assert.js';

/** `{ tagger }` to use an opened tagger, or `realip/geo` options to open one here. */
export type FastifyGeoTagOptions = { tagger: GeoTagger } | GeoOptions;

declare module 'fastify' {
  interface FastifyInstance {
    /** The GeoIP tagger used by `geoTag` (stats, database build times, manual reload). */
    realipGeo: GeoTagger;
  }
}

const geoTagPlugin: FastifyPluginAsync<FastifyGeoTagOptions> = async (fastify, options) => {
  let tagger: GeoTagger;
  if (options !== null && typeof options === 'object' && 'tagger' in options) {
    const extra = Object.keys(options).filter((k) => k !== 'tagger');
    if (extra.length > 0) {
      throw new ConfigError(
        extra.map((k) => ({ path: `geo.${k}`, message: 'give either { tagger } or geo options, not both' })),
      );
    }
    assertGeoTagger(options.tagger, 'geo.tagger');
    tagger = options.tagger;
  } else {
    const { openGeoTagger } = await import('../geo/tagger.js');
    // Fastify's own register options are not geo options.
    const {
      prefix: _p,
      logLevel: _l,
      logSerializers: _s,
      ...geoOptions
    } = options as GeoOptions & {
      prefix?: unknown;
      logLevel?: unknown;
      logSerializers?: unknown;
    };
    const owned = await openGeoTagger(geoOptions);
    fastify.addHook('onClose', (_instance, done) => {
      owned.close();
      done();
    });
    tagger = owned;
  }
  fastify.decorate('realipGeo', tagger);
  fastify.addHook(
    'onRequest',
    function realipGeoTag(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
      const ctx = request.realip;
      if (ctx === undefined || ctx === null) {
        done(new RealipError('ERR_REALIP_NO_CONTEXT', 'register the realip clientIp plugin before geoTag'));
        return;
      }
      const ip = ctx.resolution?.ip;
      ctx.geo = ip === undefined ? undefined : tagger.tag(ip);
      done();
    },
  );
};

/**
 * GeoIP stage plugin. Register after the client-IP plugin and before access and rate-limit
 * plugins, so country and ASN rules see `request.realip.geo`.
 *
 * @example
 * await app.register(clientIp, { trustedProxies: ['10.0.0.0/8'] });
 * await app.register(geoTag, { databases: ['/geo/GeoLite2-Country.mmdb'] });
 */
export const geoTag = fp(geoTagPlugin, {
  fastify: '5.x',
  name: 'realip-geo',
  dependencies: ['realip-client-ip'],
});
