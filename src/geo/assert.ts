/** Adapter-side check of a tagger argument (no maxmind import: the adapters share it). */
import { ConfigError } from '../errors.js';
import type { GeoTagger } from './tagger.js';

/** Throws a ConfigError unless `tagger` looks like an opened GeoTagger. */
export function assertGeoTagger(tagger: unknown, path: string): asserts tagger is GeoTagger {
  if (typeof tagger === 'object' && tagger !== null && typeof (tagger as GeoTagger).tag === 'function')
    return;
  const isPromise = typeof (tagger as { then?: unknown } | null)?.then === 'function';
  throw new ConfigError([
    {
      path,
      message: isPromise
        ? 'got a Promise: await openGeoTagger(...) before passing the tagger'
        : "expected an opened GeoTagger (import { openGeoTagger } from 'realip/geo')",
    },
  ]);
}
