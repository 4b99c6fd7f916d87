/**
 * The geo stage's options, defined once: `openGeoTagger` (and Fastify's `geoTag` with options)
 * validates through `geoSpec`, the policy file's `geo` section (`geoPolicy`) is composed from the
 * same fields, and the JSON Schema and docs/configuration.md's table are generated from their docs.
 * The list of GeoInfo fields a database can contribute (`GEO_FIELDS`) is defined here too; the
 * record normaliser (./schema.ts) imports it. See src/spec/spec.ts.
 *
 * No maxmind here: the policy schema imports this module.
 */
import { basename } from 'node:path';
import * as z from 'zod/mini';
import { doc, opt, rules, runtime, isFunction } from '../spec/spec.js';
import { SPECIAL_NETWORKS } from './special.js';

import type { SameKeys } from '../spec/spec.js';
import type { SpecialNetwork, WarningHandler } from '../types.js';
import type { GeoReloadEvent } from './tagger.js';

/** Which GeoInfo fields a database contributes (several databases are merged in order). */
export const GEO_FIELDS = Object.freeze([
  'country',
  'continent',
  'registeredCountry',
  'eu',
  'asn',
  'org',
  'city',
  'region',
  'location',
  'timeZone',
] as const);
export type GeoField = (typeof GEO_FIELDS)[number];

/** The policy's name for the bundled `@ip-location-db` country database. */
export const EMBEDDED_GEO = 'embedded';
/** The name that database gets in reports, events and metrics. */
export const EMBEDDED_GEO_NAME = 'geo-whois-asn-country';

/** At most this many databases: each one is a tree walk on every lookup. */
const MAX_DATABASES = 8;
/** Cache sizes, in entries (about 100-300 bytes each). */
const MAX_CACHE = 10_000_000;
/** Node's timers hold at most 2^31-1 ms; a longer interval fires after 1 ms instead. */
const MAX_TIMER_MS = 2_147_483_647;

// ---------------------------------------------------------------------------------------------
// One database
// ---------------------------------------------------------------------------------------------

const nonEmpty = () => z.string().check(z.minLength(1));

/** Options of a database entry, code and policy alike. */
const databaseFields = {
  name: opt(nonEmpty(), {
    description:
      'Name in reports, events and metrics; unique among the databases. Default: the file name (`geo-whois-asn-country` for `embedded`, `database[i]` for a buffer in code).',
  }),
  fields: opt(z.array(z.enum(GEO_FIELDS)).check(z.minLength(1)), {
    description:
      'Only take these fields from this database (e.g. `[asn, org]` from a City+ASN bundle). Default: every field the database has.',
  }),
};

const TYPE_DOC =
  'Expected `database_type`, checked at open and on every reload. Without it, a reload must keep the type the file had when it was opened, so an ASN database copied over a country database cannot silently empty every country rule.';

const isBuffer = (v: unknown): boolean => Buffer.isBuffer(v);
const isRegExp = (v: unknown): boolean => v instanceof RegExp;

interface DatabaseShape {
  path?: string | undefined;
  buffer?: Buffer | undefined;
}

/** A database in code is a file or the bytes of one, never both. */
const pathOrBuffer = rules<DatabaseShape>((d, report) => {
  if ((d.path === undefined) === (d.buffer === undefined))
    report([], `needs exactly one of path or buffer (got ${d.path === undefined ? 'neither' : 'both'})`);
});

/** A database object in code (`databases` entries). */
export const geoDatabaseSpec = z
  .strictObject({
    path: opt(nonEmpty(), { description: 'Path of the `.mmdb` file (watched for changes).' }),
    buffer: opt(runtime<Buffer>('a Buffer', isBuffer), {
      description: 'The file’s bytes, for databases you load yourself (not watched).',
    }),
    ...databaseFields,
    type: opt(z.union([nonEmpty(), runtime<RegExp>('a database_type string or a RegExp', isRegExp)]), {
      description: TYPE_DOC,
    }),
  })
  .check(pathOrBuffer);

/** A database object in a policy file. */
const geoDatabasePolicy = doc(
  z.strictObject({
    path: doc(nonEmpty(), {
      description: 'The `.mmdb` file, relative to the policy file (or `embedded`).',
    }),
    ...databaseFields,
    type: opt(nonEmpty(), { description: TYPE_DOC }),
  }),
  { description: 'A database with options.' },
);

type DatabaseEntry = string | { path?: string | undefined; name?: string | undefined };

/**
 * The name a database gets when `name` is not set: the file name, or `database[i]` for a buffer
 * (the factory names its slots with it, and the uniqueness rule checks it).
 */
export function databaseName(entry: DatabaseEntry, i: number): string {
  if (typeof entry === 'string') return basename(entry);
  if (entry.name !== undefined) return entry.name;
  return entry.path ? basename(entry.path) : `database[${i}]`;
}

/** The policy's default names: `embedded` is named after its package's file. */
function policyDatabaseName(entry: DatabaseEntry, i: number): string {
  const path = typeof entry === 'string' ? entry : entry.path;
  if (path === EMBEDDED_GEO && (typeof entry === 'string' || entry.name === undefined))
    return EMBEDDED_GEO_NAME;
  return databaseName(entry, i);
}

/** Database names are unique (they key events, `databases()` and the build-time metric). */
const uniqueNames = (nameOf: (entry: DatabaseEntry, i: number) => string) =>
  rules<{ databases?: unknown }>((o, report) => {
    if (!Array.isArray(o.databases)) return;
    const seen = new Map<string, number>();
    (o.databases as DatabaseEntry[]).forEach((entry, i) => {
      const name = nameOf(entry, i);
      const first = seen.get(name);
      if (first === undefined) seen.set(name, i);
      else
        report(
          ['databases', i, 'name'],
          `duplicate database name (got ${JSON.stringify(name)}, expected a name not used by databases[${first}]; set name)`,
        );
    });
  });

// ---------------------------------------------------------------------------------------------
// The stage
// ---------------------------------------------------------------------------------------------

const DATABASES_DOC =
  'MMDB files merged in order (first database with a field wins): MaxMind GeoIP2/GeoLite2 Country, City, ASN, DB-IP, or the `@ip-location-db` schemas. At most 8 (each is a tree walk on every lookup).';

const cacheSize = () => z.int().check(z.minimum(0), z.maximum(MAX_CACHE));

/** Options shared by `openGeoTagger` and the policy's `geo`. */
const geoFields = {
  cache: opt(
    z.union(
      [
        cacheSize(),
        z.strictObject({
          records: opt(cacheSize(), {
            description:
              'Per database: normalised records keyed by the matched record (one entry serves every address of every network sharing it).',
            default: 10_000,
          }),
          addresses: opt(cacheSize(), {
            description:
              'Final answers keyed by address, for repeat clients (admitted on the second lookup, so one-off addresses cost nothing).',
            default: 10_000,
          }),
        }),
      ],
      { error: 'expected a number of entries (0 to 10000000) or { records, addresses }' },
    ),
    {
      description: 'Cache sizes in entries: a number sets both caches; `0` disables caching.',
      default: 10_000,
    },
  ),
  locales: opt(z.array(nonEmpty()).check(z.minLength(1)), {
    description: 'Preferred languages for city and region names, first match wins.',
    default: ['en'],
  }),
  specialNetworks: opt(
    z.union(
      [
        z.boolean(),
        z.array(z.enum(SPECIAL_NETWORKS as unknown as readonly [SpecialNetwork, ...SpecialNetwork[]])),
      ],
      { error: 'expected true, false or a list of special networks' },
    ),
    {
      description:
        'Tag private, loopback, link-local, CGNAT and ULA addresses (`geo.network`) instead of looking them up: `true` for all five, `false` to look everything up (a database of your own internal ranges), or a list.',
      default: true,
    },
  ),
  watch: opt(
    z.union(
      [
        z.boolean(),
        z.strictObject({
          pollMs: opt(z.int().check(z.minimum(1), z.maximum(MAX_TIMER_MS)), {
            description:
              'Backstop poll interval in ms; directory events trigger a check at once. Each check reads and hashes the whole file, so keep it long for large databases.',
            default: 60_000,
          }),
          debounceMs: opt(z.int().check(z.minimum(1), z.maximum(MAX_TIMER_MS)), {
            description: 'Coalesces a burst of file events (a ConfigMap swap is several), in ms.',
            default: 100,
          }),
        }),
      ],
      { error: 'expected true, false or { pollMs, debounceMs }' },
    ),
    {
      description:
        'Reload a file-backed database when its file changes (ConfigMap-safe), after verifying it: `true`, `false` to load once, or `{ pollMs, debounceMs }`.',
      default: true,
    },
  ),
  allowOlder: opt(z.boolean(), {
    description:
      'Accept a reload whose build time is older than the database in use (off, so a restored stale file does not replace fresh data).',
    default: false,
  }),
  maxClockSkewMs: opt(z.int().check(z.minimum(0)), {
    description: 'A database whose build time is later than now plus this (ms) is rejected as corrupt.',
    default: 86_400_000,
  }),
};

const isMetricsHooks = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as GeoMetricsHooks).geoDatabase === 'function';

const databaseEntry = z.union([nonEmpty(), geoDatabaseSpec], {
  error: 'expected a path or { path | buffer, name?, fields?, type? }',
});

/** `openGeoTagger(options)`. */
export const geoSpec = z
  .strictObject({
    databases: doc(
      z.union([z.array(databaseEntry).check(z.minLength(1), z.maxLength(MAX_DATABASES)), databaseEntry], {
        error: 'expected a path, a { path | buffer, name?, fields?, type? } object or a list of them',
      }),
      { description: `${DATABASES_DOC} One path, one database object, or a list.` },
    ),
    ...geoFields,
    onReload: opt(runtime<(event: GeoReloadEvent) => void>('a function', isFunction), {
      description: 'Called after every reload attempt, successful or not.',
    }),
    onWarning: opt(runtime<WarningHandler>('a function', isFunction), {
      description:
        'Receives `WRN_REALIP_GEO_RELOAD_FAILED`. Default: `process.emitWarning` once per code, then counted.',
    }),
    metrics: opt(
      runtime<GeoMetricsHooks>(
        'an object with geoDatabase(database, buildEpochSeconds) (createRealipMetrics().hooks)',
        isMetricsHooks,
      ),
      { description: 'Told each database’s build time at open and after every successful reload.' },
    ),
  })
  .check(uniqueNames(databaseName));

/** The policy's `geo` section. */
export const geoPolicy = doc(
  z
    .strictObject({
      databases: doc(
        z
          .array(
            z.union([nonEmpty(), geoDatabasePolicy], {
              error: 'expected a path or { path, name?, fields?, type? }',
            }),
          )
          .check(z.minLength(1), z.maxLength(MAX_DATABASES)),
        {
          description: `${DATABASES_DOC} Paths are relative to the policy file; \`embedded\` is the CC BY 4.0 \`@ip-location-db/geo-whois-asn-country-mmdb\` database when that package is installed.`,
          examples: [['embedded'], ['/var/lib/geoip/GeoLite2-City.mmdb', '/var/lib/geoip/GeoLite2-ASN.mmdb']],
        },
      ),
      ...geoFields,
    })
    .check(uniqueNames(policyDatabaseName)),
  {
    description: `GeoIP tagging: \`req.realip.geo\` gets what the databases have of ${GEO_FIELDS.map((f) => `\`${f}\``).join(', ')}, or \`network\` for a special network.`,
  },
);

// ---------------------------------------------------------------------------------------------
// The options interfaces (the TSDoc users see)
// ---------------------------------------------------------------------------------------------

/** One database. A bare string is `{ path }`. */
export interface GeoDatabaseOptions {
  /** Path of the `.mmdb` file (watched for changes). Give `path` or `buffer`. */
  path?: string;
  /** The file's bytes, for databases you load yourself (not watched). */
  buffer?: Buffer;
  /** Name in reports, events and metrics; unique. @default the file name, or `database[i]` */
  name?: string;
  /**
   * Only take these fields from this database (e.g. `['asn', 'org']` from a City+ASN bundle).
   * @default every field the database has
   */
  fields?: readonly GeoField[];
  /**
   * Expected `database_type`: an exact string or a RegExp, checked at open and on every reload.
   * Without it, a reload must keep the type the file had when it was opened, so swapping an ASN
   * database in where a country database was cannot silently empty every country rule.
   * @default the type seen at open
   */
  type?: string | RegExp;
}

/** Hot reload of file-backed databases. */
export interface GeoWatchOptions {
  /**
   * Backstop poll interval in ms (an integer, at most 2^31-1). Directory events trigger a check at
   * once; the poll only covers missed events. Each check reads and hashes the whole file
   * (GeoLite2-City is about 70 MB), so the default is longer than for small list files.
   * @default 60000
   */
  pollMs?: number;
  /** Coalesce a burst of file events, in ms (an integer). @default 100 */
  debounceMs?: number;
}

/**
 * Where database build times go: `createRealipMetrics().hooks` from `realip/metrics` satisfies it
 * (gauge `realip_geoip_database_build_timestamp_seconds`), or any object with this method.
 */
export interface GeoMetricsHooks {
  geoDatabase(database: string, buildEpochSeconds: number): void;
}

/** Options of `openGeoTagger` (policy file: `geo`). */
export interface GeoOptions {
  /**
   * The databases, merged in order: for each field the first database that has it wins
   * (e.g. `[cityDb, asnDb]`). At most 8; names (default: the file name) must be unique.
   */
  databases: string | GeoDatabaseOptions | readonly (string | GeoDatabaseOptions)[];
  /**
   * Cache sizes in entries (integers from 0 to 10,000,000). A number sets both caches; `0`
   * disables caching.
   * - `records`: per database, normalised records keyed by the matched record (one entry serves
   *   every address that maps to it).
   * - `addresses`: final answers keyed by the address string, for repeat clients; an address is
   *   admitted on its second lookup, so one-off addresses cost it nothing.
   * @default 10000 (both)
   */
  cache?: number | { records?: number; addresses?: number };
  /** Preferred languages for city and region names, first match wins. @default ['en'] */
  locales?: readonly string[];
  /**
   * Tag these networks (`{ network: 'private' }` etc.) instead of looking them up: `true` for all
   * five (private, loopback, linklocal, cgnat, ula), `false` to look everything up (a database of
   * your own internal ranges), or a list.
   * @default true
   */
  specialNetworks?: boolean | readonly SpecialNetwork[];
  /** Watch file-backed databases and swap in verified new versions. `false` to load once. @default true */
  watch?: boolean | GeoWatchOptions;
  /**
   * Accept a reload whose `build_epoch` is older than the database in use. Off by default so a
   * stale file restored by mistake (an old backup, a rolled-back image) does not replace fresh data.
   * @default false
   */
  allowOlder?: boolean;
  /**
   * A `build_epoch` later than now plus this many ms (an integer) is rejected as corrupt.
   * @default 86400000 (one day)
   */
  maxClockSkewMs?: number;
  /** Called after every reload attempt, successful or not. */
  onReload?: (event: GeoReloadEvent) => void;
  /** Receives `WRN_REALIP_GEO_RELOAD_FAILED`. @default process.emitWarning once per code, then counted */
  onWarning?: WarningHandler;
  /**
   * Told each database's build time at open and after every successful reload (e.g.
   * `metrics.hooks` from `createRealipMetrics()`), so a stale database can alert.
   * @default none
   */
  metrics?: GeoMetricsHooks;
}

type WatchObject = Exclude<NonNullable<z.input<typeof geoSpec>['watch']>, boolean>;

// The interfaces above carry the TSDoc users see; the compiler keeps their option names equal to
// the specs' (a missing or extra option is a type error here).
const _geoKeys: SameKeys<GeoOptions, z.input<typeof geoSpec>> = true;
const _databaseKeys: SameKeys<GeoDatabaseOptions, z.input<typeof geoDatabaseSpec>> = true;
const _watchKeys: SameKeys<GeoWatchOptions, WatchObject> = true;
void _geoKeys;
void _databaseKeys;
void _watchKeys;
