/**
 * Normalises the record shapes of the MMDB databases people actually deploy into one small,
 * frozen {@link GeoInfo}:
 *
 * - MaxMind GeoIP2/GeoLite2 Country and City (`country.iso_code`, `continent.code`,
 *   `registered_country`, `city.names`, `location`, `subdivisions[]`), and the `traits.*` ASN fields
 *   of Enterprise/ISP databases;
 * - MaxMind GeoLite2/GeoIP2 ASN and DB-IP ASN Lite (`autonomous_system_number`,
 *   `autonomous_system_organization`);
 * - DB-IP Country/City Lite, which keep MaxMind's shape (`continent.code`, `country.iso_code`,
 *   `city.names`, `location.latitude/longitude`, no `accuracy_radius`);
 * - the flat schemas of the `@ip-location-db/*-mmdb` packages (`country_code`; city adds `city`,
 *   `state1`, `latitude`, `longitude`, `timezone`; ASN uses MaxMind's ASN field names).
 *
 * The result is built from the record, never the record itself: the reader shares decoded
 * records between lookups, so handing one out would let one caller's mutation change another
 * caller's answer.
 */
import type { GeoInfo, GeoLocation } from '../types.js';
import { COUNTRY_CODE } from '../spec/common.js';
// The field list is part of the options (`databases[].fields`): defined once, in the spec.
import type { GeoField } from './spec.js';
export type { GeoField } from './spec.js';

/** Loose view of a decoded record: every field may be absent or of any type. */
type Rec = { readonly [key: string]: unknown };

function asRec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}

/**
 * ISO 3166-1 alpha-2 (two ASCII letters: the same `COUNTRY_CODE` the options' country lists are
 * checked with), upper-cased; anything else is dropped.
 */
export function normaliseCountry(v: unknown): string | undefined {
  if (typeof v !== 'string' || !COUNTRY_CODE.test(v)) return undefined;
  const up = v.toUpperCase();
  // `ZZ` and `XX` mean "unknown" in several databases; reporting them as a country would make a
  // country rule match every unknown address.
  return up === 'ZZ' || up === 'XX' ? undefined : up;
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function asAsn(v: unknown): number | undefined {
  const n = asNumber(v);
  return n !== undefined && Number.isInteger(n) && n > 0 && n <= 0xffffffff ? n : undefined;
}

/** The first of `locales` present in a `names` map. */
function pickName(names: unknown, locales: readonly string[]): string | undefined {
  const n = asRec(names);
  if (!n) return undefined;
  for (const l of locales) {
    const s = asString(n[l]);
    if (s !== undefined) return s;
  }
  return undefined;
}

function want(fields: ReadonlySet<GeoField> | undefined, f: GeoField): boolean {
  return fields === undefined || fields.has(f);
}

/**
 * The GeoInfo carried by one record, or undefined when it has no field we understand.
 * `fields` limits what is taken (undefined: everything).
 */
export function normaliseRecord(
  record: unknown,
  locales: readonly string[],
  fields: ReadonlySet<GeoField> | undefined,
): GeoInfo | undefined {
  const r = asRec(record);
  if (!r) return undefined;
  const out: {
    country?: string;
    continent?: string;
    registeredCountry?: string;
    eu?: boolean;
    asn?: number;
    org?: string;
    city?: string;
    region?: string;
    location?: GeoLocation;
    timeZone?: string;
  } = {};

  const country = asRec(r.country);
  const represented = asRec(r.represented_country);
  const registered = asRec(r.registered_country);
  const continent = asRec(r.continent);
  const traits = asRec(r.traits);
  const locationRec = asRec(r.location);

  if (want(fields, 'country')) {
    // MaxMind/DB-IP nest it, the ip-location-db packages are flat. registered_country is a
    // different fact (who holds the block), so it is never used as a fallback.
    const c = normaliseCountry(country?.iso_code) ?? normaliseCountry(r.country_code);
    if (c !== undefined) out.country = c;
  }
  if (want(fields, 'continent')) {
    const c = asString(continent?.code) ?? asString(r.continent_code);
    if (c !== undefined && c.length === 2) out.continent = c.toUpperCase();
  }
  if (want(fields, 'registeredCountry')) {
    const c = normaliseCountry(registered?.iso_code);
    if (c !== undefined) out.registeredCountry = c;
  }
  if (want(fields, 'eu')) {
    const eu = country?.is_in_european_union ?? represented?.is_in_european_union;
    if (typeof eu === 'boolean') out.eu = eu;
  }
  if (want(fields, 'asn')) {
    const asn = asAsn(r.autonomous_system_number) ?? asAsn(traits?.autonomous_system_number);
    if (asn !== undefined) out.asn = asn;
  }
  if (want(fields, 'org')) {
    const org =
      asString(r.autonomous_system_organization) ?? asString(traits?.autonomous_system_organization);
    if (org !== undefined) out.org = org;
  }
  if (want(fields, 'city')) {
    const city = pickName(asRec(r.city)?.names, locales) ?? asString(r.city);
    if (city !== undefined) out.city = city;
  }
  if (want(fields, 'region')) {
    const subs = r.subdivisions;
    const first = Array.isArray(subs) ? asRec(subs[0]) : undefined;
    const region = asString(first?.iso_code) ?? pickName(first?.names, locales) ?? asString(r.state1);
    if (region !== undefined) out.region = region;
  }
  if (want(fields, 'location')) {
    const lat = asNumber(locationRec?.latitude) ?? asNumber(r.latitude);
    const lon = asNumber(locationRec?.longitude) ?? asNumber(r.longitude);
    if (lat !== undefined && lon !== undefined && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      const radius = asNumber(locationRec?.accuracy_radius);
      out.location = Object.freeze(
        radius === undefined
          ? { latitude: lat, longitude: lon }
          : { latitude: lat, longitude: lon, accuracyRadius: radius },
      );
    }
  }
  if (want(fields, 'timeZone')) {
    const tz = asString(locationRec?.time_zone) ?? asString(r.timezone);
    if (tz !== undefined) out.timeZone = tz;
  }
  for (const _ in out) return Object.freeze(out);
  return undefined;
}

/**
 * Merges per-database answers: for each field, the first database (in configuration order) that
 * has it wins. Returns a frozen object; the inputs are frozen and unchanged.
 */
export function mergeGeo(parts: readonly (GeoInfo | undefined)[], count: number): GeoInfo | undefined {
  let first: GeoInfo | undefined;
  let many = false;
  for (let i = 0; i < count; i++) {
    const p = parts[i];
    if (p === undefined) continue;
    if (first === undefined) first = p;
    else many = true;
  }
  if (!many) return first;
  const out: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    const p = parts[i];
    if (p === undefined) continue;
    for (const k in p) if (out[k] === undefined) out[k] = (p as Record<string, unknown>)[k];
  }
  return Object.freeze(out) as GeoInfo;
}
