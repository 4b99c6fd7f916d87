/** Fastify 5 adapters. One export line per stage. */
import './augment.js';
export {};
export { geoTag, type FastifyGeoTagOptions } from './geo.js';
