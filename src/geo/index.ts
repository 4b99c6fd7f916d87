/**
 * realip/geo: GeoIP tagging on the `maxmind` reader. The only entry that loads maxmind; the core
 * (`realip`) and the framework adapters never do (the Express and Fastify `geoTag` stages take an
 * opened tagger, or load this entry on demand).
 */
// --- geo (GeoIP tagging) ---
export {
  openGeoTagger,
  type GeoTagger,
  type GeoOptions,
  type GeoMetricsHooks,
  type GeoDatabaseOptions,
  type GeoWatchOptions,
  type GeoReloadEvent,
  type GeoDatabaseStatus,
  type GeoStats,
} from './tagger.js';
export { type GeoDatabaseMetadata } from './database.js';
export type { GeoField } from './schema.js';
export type { GeoInfo, GeoLocation, SpecialNetwork } from '../types.js';
