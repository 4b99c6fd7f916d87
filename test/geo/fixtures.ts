/**
 * Fixture databases in the record shapes of real products, built with the test MMDB writer.
 * Addresses come from documentation and well-known ranges so the tests read naturally.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { f64, u16, writeMmdb, type MmdbValue, type MmdbWriteOptions } from '../support/mmdb-writer.js';

const names = (en: string, extra: Record<string, string> = {}) => ({ en, ...extra });

/** GeoIP2/GeoLite2-Country record. */
export function maxmindCountry(iso: string, continent: string, registered = iso): MmdbValue {
  return {
    continent: { code: continent, geoname_id: 6255148, names: names(`continent ${continent}`) },
    country: {
      geoname_id: 2635167,
      is_in_european_union: continent === 'EU' && iso !== 'GB',
      iso_code: iso,
      names: names(`country ${iso}`),
    },
    registered_country: { geoname_id: 2635167, iso_code: registered, names: names(`country ${registered}`) },
  };
}

/** GeoIP2/GeoLite2-City record. */
export function maxmindCity(
  iso: string,
  continent: string,
  city: string,
  lat: number,
  lon: number,
): MmdbValue {
  return {
    city: { geoname_id: 2643743, names: names(city, { de: `${city} (de)` }) },
    continent: { code: continent, geoname_id: 6255148, names: names(`continent ${continent}`) },
    country: { geoname_id: 2635167, iso_code: iso, names: names(`country ${iso}`) },
    location: {
      accuracy_radius: u16(100),
      latitude: f64(lat),
      longitude: f64(lon),
      time_zone: 'Europe/London',
    },
    postal: { code: 'W1' },
    registered_country: { geoname_id: 2635167, iso_code: iso, names: names(`country ${iso}`) },
    subdivisions: [{ geoname_id: 6269131, iso_code: 'ENG', names: names('England') }],
  };
}

/** GeoLite2-ASN and DB-IP ASN Lite record. */
export function asnRecord(asn: number, org: string): MmdbValue {
  return { autonomous_system_number: asn, autonomous_system_organization: org };
}

/** DB-IP Country Lite record (MaxMind-like, no registered_country). */
export function dbipCountry(iso: string, continent: string): MmdbValue {
  return {
    continent: { code: continent, geoname_id: 6255148, names: names(`continent ${continent}`) },
    country: {
      geoname_id: 2921044,
      is_in_european_union: continent === 'EU',
      iso_code: iso,
      names: names(`country ${iso}`),
    },
  };
}

/** DB-IP City Lite record (no accuracy_radius, subdivisions by name only). */
export function dbipCity(iso: string, continent: string, city: string, lat: number, lon: number): MmdbValue {
  return {
    city: { names: names(city) },
    continent: { code: continent, geoname_id: 6255148, names: names(`continent ${continent}`) },
    country: {
      geoname_id: 2921044,
      is_in_european_union: continent === 'EU',
      iso_code: iso,
      names: names(`country ${iso}`),
    },
    location: { latitude: f64(lat), longitude: f64(lon) },
    subdivisions: [{ names: names('Hesse') }],
  };
}

/** ip-location-db (sapics) flat records. */
export const flatCountry = (cc: string): MmdbValue => ({ country_code: cc });
export function flatCity(cc: string, city: string, lat: number, lon: number): MmdbValue {
  return {
    city,
    country_code: cc,
    latitude: f64(lat),
    longitude: f64(lon),
    postcode: '10001',
    state1: 'New York',
    state2: '',
    timezone: 'America/New_York',
  };
}

/** A temp directory removed by `cleanup()`. */
export function tempDir(prefix = 'realip-geo-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a fixture DB to `dir/name` and returns its path. */
export function writeDb(dir: string, name: string, options: MmdbWriteOptions): string {
  const path = join(dir, name);
  writeFileSync(path, writeMmdb(options));
  return path;
}

/** Seconds since the epoch, `days` ago. */
export const daysAgo = (days: number): number => Math.floor(Date.now() / 1000) - days * 86_400;

/** The standard country fixture: a few networks in both families. */
export function countryDb(extra: Partial<MmdbWriteOptions> = {}, marker = 'NL'): MmdbWriteOptions {
  return {
    databaseType: 'GeoLite2-Country',
    buildEpoch: daysAgo(3),
    ipv4Aliases: true,
    networks: [
      { network: '8.8.8.0/24', data: maxmindCountry('US', 'NA') },
      { network: '81.2.69.0/24', data: maxmindCountry('GB', 'EU') },
      { network: '81.2.69.192/28', data: maxmindCountry('DE', 'EU', 'GB') },
      { network: '2001:db8::/32', data: maxmindCountry('FR', 'EU') },
      // The marker network tells two versions of the "same" database apart.
      { network: '198.51.100.0/24', data: maxmindCountry(marker, 'EU') },
    ],
    ...extra,
  };
}
