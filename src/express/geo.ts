/**
 * Express stage: GeoIP tags on `req.realip.geo`, from `req.realip.resolution.ip` only.
 *
 * Takes an already-opened tagger (`await openGeoTagger(...)` from `realip/geo`): opening reads and
 * verifies files, which is async, and a middleware factory must return synchronously. This module
 * imports only types from the geo entry, so `realip/express` never loads maxmind.
 */
import type { NextFunction, Request, Response } from 'express';
import { RealipError } from '../errors.js';
import { assertGeoTagger } from '../geo/assert.js';
import type { GeoTagger } from '../geo/tagger.js';

/**
 * GeoIP stage. Mount after `clientIp()` and before `ipFilter()`/`rateLimit()`, so country and ASN
 * rules see `req.realip.geo`. An undeterminable client IP gets `geo = undefined` (the later stages
 * apply their `undeterminable` policy); a special network gets `{ network: 'private' }` etc.
 *
 * @example
 * const geo = await openGeoTagger({ databases: ['/geo/GeoLite2-Country.mmdb', '/geo/GeoLite2-ASN.mmdb'] });
 * app.use(clientIp({ trustedProxies: ['10.0.0.0/8'] }), geoTag(geo), ipFilter({ ... }));
 */
export function geoTag(tagger: GeoTagger): (req: Request, res: Response, next: NextFunction) => void {
  assertGeoTagger(tagger, 'geo');
  return function realipGeoTag(req: Request, _res: Response, next: NextFunction): void {
    const ctx = req.realip;
    if (ctx === undefined || ctx === null) {
      next(new RealipError('ERR_REALIP_NO_CONTEXT', 'mount clientIp() before geoTag()'));
      return;
    }
    const ip = ctx.resolution?.ip;
    ctx.geo = ip === undefined ? undefined : tagger.tag(ip);
    next();
  };
}
