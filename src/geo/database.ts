/**
 * One loaded MMDB file: the `maxmind` reader (metadata and data-section decoding) plus our own
 * search-tree walk over the already-parsed address words.
 *
 * Why walk the tree ourselves: the reader takes a string and re-parses it with `split` and
 * `parseInt` (and for IPv6 a regex replace), after we have already parsed it strictly; and it
 * does not say *which* record matched. Walking the words directly is cheaper and yields the data
 * offset, which is the perfect cache key: every address of every network that shares a record
 * (all of "US" in a country database) hits the same cache entry. Decoding stays with the reader.
 *
 * Loading verifies the file before anyone uses it (a corrupt or half-written file must never
 * replace a good one): metadata sanity, section bounds, the separator, every tree record, and a
 * sample of decoded records that must carry at least one field we understand.
 */
import { Reader } from 'maxmind';
import { RealipError } from '../errors.js';
import { IPV4, IPV6, formatIp, type IpKind } from '../core/ip.js';
import { normaliseRecord, type GeoField } from './schema.js';

const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex');
/** The spec caps the metadata section at 128 KiB. */
const METADATA_MAX = 128 * 1024;
const SEPARATOR = 16;
/** Records decoded and normalised while verifying a file. */
const SAMPLE_RECORDS = 64;
/** Tree nodes checked between yields to the event loop while verifying. */
const NODES_PER_SLICE = 1 << 18;

/** What a database says about itself (from its metadata). */
export interface GeoDatabaseMetadata {
  /** `database_type`, e.g. `GeoLite2-City`, `DBIP-Country-Lite`, `country ipvAll`. */
  readonly databaseType: string;
  /** When the file was built (`build_epoch`). */
  readonly buildEpoch: Date;
  /** 4 (IPv4 only) or 6 (IPv6 tree, IPv4 under `::/96`). */
  readonly ipVersion: 4 | 6;
  readonly nodeCount: number;
  readonly recordSize: 24 | 28 | 32;
  /** `description.en` (or the first description), when present. */
  readonly description: string | undefined;
  /** `binary_format_major_version.binary_format_minor_version`. */
  readonly binaryFormat: string;
}

/** Minimal surface of mmdb-lib's decoder that we call (not part of its public typings). */
interface DecoderLike {
  decodeFast(offset: number): { value: unknown };
}

/** Options that shape verification. */
export interface VerifyOptions {
  /** Locales for names (used when normalising the sample). */
  locales: readonly string[];
  fields: ReadonlySet<GeoField> | undefined;
  /** A build epoch later than now + this is rejected (clock skew allowance). */
  maxFutureMs: number;
}

/** An opened, verified database. Immutable: a reload builds a new one. */
export class MmdbDatabase {
  readonly metadata: GeoDatabaseMetadata;
  /** Bytes, for reporting. */
  readonly size: number;
  /** Prefix length of the last `lookup()` (IPv4 lookups count from the IPv4 root, as mmdb-lib does). */
  prefix = 0;

  private readonly buf: Buffer;
  private readonly nodeCount: number;
  private readonly recordSize: number;
  private readonly nodeBytes: number;
  private readonly treeSize: number;
  /** Record value that starts IPv4 lookups (a node number, or a terminal value). */
  private readonly v4Start: number;
  private readonly ipVersion: number;
  private readonly decoder: DecoderLike | undefined;
  private readonly reader: Reader<never>;

  constructor(buf: Buffer, reader: Reader<never>) {
    this.buf = buf;
    this.size = buf.length;
    this.reader = reader;
    const m = reader.metadata;
    this.nodeCount = m.nodeCount;
    this.recordSize = m.recordSize;
    this.nodeBytes = m.recordSize / 4;
    this.treeSize = m.searchTreeSize;
    this.ipVersion = m.ipVersion;
    const description = m.description as unknown as Record<string, unknown> | undefined;
    const desc = description?.en ?? (description ? Object.values(description)[0] : undefined);
    this.metadata = Object.freeze({
      databaseType: m.databaseType,
      buildEpoch: m.buildEpoch,
      ipVersion: m.ipVersion as 4 | 6,
      nodeCount: m.nodeCount,
      recordSize: m.recordSize as 24 | 28 | 32,
      description: typeof desc === 'string' ? desc : undefined,
      binaryFormat: `${m.binaryFormatMajorVersion}.${m.binaryFormatMinorVersion}`,
    });
    // mmdb-lib keeps its decoder private; we use it when it has the shape we expect and fall back
    // to the public `get()` otherwise (slower, same answers).
    const d = (reader as unknown as { decoder?: DecoderLike }).decoder;
    this.decoder = d && typeof d.decodeFast === 'function' ? d : undefined;
    let v4 = 0;
    if (this.ipVersion === 6) {
      for (let i = 0; i < 96 && v4 < this.nodeCount; i++) v4 = this.read(v4, 0);
    }
    this.v4Start = v4;
  }

  /** One record of `node` (`bit` 0 = left, 1 = right). Internal (verification and lookups). */
  read(node: number, bit: number): number {
    const b = this.buf;
    const o = node * this.nodeBytes;
    switch (this.recordSize) {
      case 24:
        return bit === 0
          ? (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!
          : (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!;
      case 28:
        return bit === 0
          ? ((b[o + 3]! & 0xf0) << 20) | (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!
          : ((b[o + 3]! & 0x0f) << 24) | (b[o + 4]! << 16) | (b[o + 5]! << 8) | b[o + 6]!;
      default:
        return bit === 0 ? b.readUInt32BE(o) : b.readUInt32BE(o + 4);
    }
  }

  /**
   * Walks the tree for a parsed address. Returns the record's file offset (a stable key for the
   * record), or -1 when the database has no data for it. Sets `prefix`.
   */
  lookup(kind: IpKind, w: Uint32Array): number {
    const count = this.nodeCount;
    let node: number;
    let depth = 0;
    if (kind === IPV4) {
      node = this.v4Start;
      const v = w[0]!;
      while (node < count && depth < 32) {
        node = this.read(node, (v >>> (31 - depth)) & 1);
        depth++;
      }
    } else if (kind === IPV6) {
      // An IPv6 address in an IPv4-only tree would walk the first 32 bits and answer for an
      // unrelated IPv4 network, so it is simply not found.
      if (this.ipVersion === 4) {
        this.prefix = 0;
        return -1;
      }
      node = 0;
      while (node < count && depth < 128) {
        const word = w[depth >>> 5]!;
        node = this.read(node, (word >>> (31 - (depth & 31))) & 1);
        depth++;
      }
    } else {
      this.prefix = 0;
      return -1;
    }
    this.prefix = depth;
    if (node <= count) return -1;
    return node - count + this.treeSize;
  }

  /** Decodes the record at a file offset returned by `lookup()`. May throw on a corrupt record. */
  decode(offset: number, kind: IpKind, w: Uint32Array): unknown {
    if (this.decoder) return this.decoder.decodeFast(offset).value;
    return this.reader.get(formatIp(kind, w));
  }
}

/** A load problem: the code is stable, the message says what to fix. */
function fail(code: string, message: string, cause?: unknown): never {
  throw new RealipError(code, message, cause === undefined ? undefined : { cause });
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Parses and verifies an MMDB image. Throws a `RealipError` (`ERR_REALIP_GEO_CORRUPT` or
 * `ERR_REALIP_GEO_SCHEMA`) when it must not be used. Yields to the event loop while checking
 * large trees so a reload never stalls requests for long.
 */
export async function loadMmdb(buf: Buffer, label: string, options: VerifyOptions): Promise<MmdbDatabase> {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    fail('ERR_REALIP_GEO_CORRUPT', `${label}: gzip-compressed; decompress the .mmdb first (tar/gunzip)`);
  }
  const marker = buf.lastIndexOf(METADATA_MARKER);
  if (marker < 0 || buf.length - marker > METADATA_MAX) {
    fail(
      'ERR_REALIP_GEO_CORRUPT',
      `${label}: no MaxMind DB metadata marker (not an .mmdb file, or truncated)`,
    );
  }
  let reader: Reader<never>;
  try {
    reader = new Reader<never>(buf);
  } catch (error) {
    fail('ERR_REALIP_GEO_CORRUPT', `${label}: cannot parse: ${(error as Error).message}`, error);
  }
  const m = reader.metadata;
  const problems: string[] = [];
  if (m.binaryFormatMajorVersion !== 2)
    problems.push(`binary format ${m.binaryFormatMajorVersion} (expected 2)`);
  if (m.ipVersion !== 4 && m.ipVersion !== 6)
    problems.push(`ip_version ${String(m.ipVersion)} (expected 4 or 6)`);
  if (!Number.isInteger(m.nodeCount) || m.nodeCount <= 0) problems.push(`node_count ${String(m.nodeCount)}`);
  if (typeof m.databaseType !== 'string' || m.databaseType.length === 0) problems.push('no database_type');
  const epoch = m.buildEpoch.getTime();
  if (!Number.isFinite(epoch) || epoch <= 0) problems.push('no build_epoch');
  else if (epoch > Date.now() + options.maxFutureMs)
    problems.push(`build_epoch ${m.buildEpoch.toISOString()} is in the future`);
  const dataStart = m.searchTreeSize + SEPARATOR;
  if (problems.length === 0 && dataStart > marker) {
    problems.push(`the search tree (${m.searchTreeSize} bytes) does not fit in the file (truncated?)`);
  }
  if (problems.length > 0) fail('ERR_REALIP_GEO_CORRUPT', `${label}: ${problems.join('; ')}`);
  for (let i = m.searchTreeSize; i < dataStart; i++) {
    if (buf[i] !== 0) fail('ERR_REALIP_GEO_CORRUPT', `${label}: data section separator is not 16 zero bytes`);
  }

  const db = new MmdbDatabase(buf, reader);
  // Every record must point to a node, to "no data", or inside the data section.
  const count = m.nodeCount;
  const dataSize = marker - dataStart;
  const maxRecord = count + SEPARATOR + dataSize;
  const samples: number[] = [];
  const seen = new Set<number>();
  for (let node = 0; node < count; node++) {
    for (let bit = 0; bit < 2; bit++) {
      const r = db.read(node, bit);
      if (r <= count) continue;
      if (r < count + SEPARATOR || r >= maxRecord) {
        fail('ERR_REALIP_GEO_CORRUPT', `${label}: tree node ${node} points outside the data section`);
      }
      if (samples.length < SAMPLE_RECORDS && !seen.has(r)) {
        seen.add(r);
        samples.push(r - count + m.searchTreeSize);
      }
    }
    if ((node & (NODES_PER_SLICE - 1)) === NODES_PER_SLICE - 1) await tick();
  }
  if (samples.length === 0) fail('ERR_REALIP_GEO_CORRUPT', `${label}: the tree holds no data records`);

  const decoder = (reader as unknown as { decoder?: DecoderLike }).decoder;
  // Without the internal decoder (a future mmdb-lib) the sample check cannot run; lookups still work.
  if (!decoder || typeof decoder.decodeFast !== 'function') return db;
  let understood = 0;
  for (const offset of samples) {
    let value: unknown;
    try {
      value = decoder.decodeFast(offset).value;
    } catch (error) {
      fail('ERR_REALIP_GEO_CORRUPT', `${label}: record at offset ${offset} does not decode`, error);
    }
    if (normaliseRecord(value, options.locales, options.fields) !== undefined) understood++;
  }
  if (understood === 0) {
    fail(
      'ERR_REALIP_GEO_SCHEMA',
      `${label} (${m.databaseType}): no record has a field realip understands` +
        (options.fields ? ` among the selected fields [${[...options.fields].join(', ')}]` : '') +
        ' (country, continent, ASN, organisation, city, region, location, time zone)',
    );
  }
  return db;
}
