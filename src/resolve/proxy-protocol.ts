/**
 * PROXY protocol v1 (text) and v2 (binary) header parsing, strict per the HAProxy specification
 * (haproxy/haproxy doc/proxy-protocol.txt).
 *
 * The parser is a pure function of the bytes received so far: `parseProxyHeader(bytes)` answers
 * `incomplete` (wait for more), `ok` (with the header and its length) or `error`. Checks run in byte
 * order, so an error found in a prefix is the same error the whole header gives, and any split of
 * the bytes across reads gives the same result. Nothing here throws on input.
 *
 * Strictness, on purpose (a receiver "MUST NOT try to guess" whether a header is present):
 * - the first byte decides: `PROXY ` or the v2 signature, anything else is an error at once;
 * - v1: at most 107 bytes including CRLF, a bare CR or LF is an error, single spaces, addresses of
 *   the announced family, decimal ports 0-65535 without leading zeros;
 * - v2: version nibble 2, command LOCAL or PROXY, one of the seven defined family/transport bytes,
 *   an address block that fits in `len`; TLVs after the addresses are skipped by `len`.
 */
import { formatIpv4, formatIpv6, parseIpInto } from '../core/ip.js';

/** `PROXY` announces an address, `LOCAL` (v2) is the proxy's own connection (health checks). */
export type ProxyCommand = 'proxy' | 'local';

/** Address family and transport. `unknown` is v1's `UNKNOWN`; `unspec` is v2's family 0. */
export type ProxyFamily =
  'tcp4' | 'tcp6' | 'udp4' | 'udp6' | 'unix-stream' | 'unix-dgram' | 'unspec' | 'unknown';

/** A parsed PROXY header. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  readonly command: ProxyCommand;
  readonly family: ProxyFamily;
  /**
   * The client's address (canonical IP) when the command is PROXY and the family is an IP family;
   * `undefined` for LOCAL, UNKNOWN, UNSPEC and UNIX, where the receiver keeps the socket address.
   */
  readonly sourceAddress: string | undefined;
  readonly sourcePort: number | undefined;
  readonly destinationAddress: string | undefined;
  readonly destinationPort: number | undefined;
  /** v2 only: an SSL TLV (type 0x20) with the PP2_CLIENT_SSL bit says the client used TLS. */
  readonly ssl: boolean;
  /** Bytes the header occupies; the application data starts right after. */
  readonly length: number;
}

/** Why a header was rejected. */
export type ProxyErrorCode =
  /** The bytes start neither with `PROXY ` nor with the v2 signature. */
  | 'not-proxy'
  /** v1: no CRLF within 107 bytes. */
  | 'v1-too-long'
  /** v1: bad syntax (protocol, separators, a bare CR or LF, field count). */
  | 'v1-malformed'
  /** v1: an address is not an IP of the announced family. */
  | 'v1-address'
  /** v1: a port is not 0-65535 in decimal without leading zeros. */
  | 'v1-port'
  /** v2: the version nibble is not 2. */
  | 'v2-version'
  /** v2: the command is neither LOCAL (0) nor PROXY (1). */
  | 'v2-command'
  /** v2: the family/transport byte is not one of the defined values. */
  | 'v2-family'
  /** v2: `len` is too short for the address block of the family. */
  | 'v2-length';

export type ProxyParseResult =
  | { readonly status: 'incomplete' }
  | { readonly status: 'ok'; readonly header: ProxyHeader }
  | { readonly status: 'error'; readonly code: ProxyErrorCode; readonly message: string };

/** v1 lines are at most 107 bytes including the CRLF. */
export const PROXY_V1_MAX_LENGTH = 107;
/** v2 fixed part: 12-byte signature, version/command, family, 16-bit length. */
export const PROXY_V2_HEADER_LENGTH = 16;
/** The v2 signature. */
export const PROXY_V2_SIGNATURE: Readonly<Uint8Array> = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

const V1_PREFIX = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20); // "PROXY "
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

const INCOMPLETE: ProxyParseResult = Object.freeze({ status: 'incomplete' });

const MESSAGES: Record<ProxyErrorCode, string> = {
  'not-proxy': 'the connection does not start with a PROXY protocol header',
  'v1-too-long': 'PROXY v1 header has no CRLF within 107 bytes',
  'v1-malformed': 'PROXY v1 header is malformed',
  'v1-address': 'PROXY v1 address is not an IP of the announced family',
  'v1-port': 'PROXY v1 port is not a decimal 0-65535 without leading zeros',
  'v2-version': 'PROXY v2 version nibble is not 2',
  'v2-command': 'PROXY v2 command is neither LOCAL nor PROXY',
  'v2-family': 'PROXY v2 address family/transport byte is not defined by the specification',
  'v2-length': 'PROXY v2 length is too short for the address block',
};

function fail(code: ProxyErrorCode): ProxyParseResult {
  return { status: 'error', code, message: MESSAGES[code] };
}

const words = new Uint32Array(4);

class Header implements ProxyHeader {
  constructor(
    readonly version: 1 | 2,
    readonly command: ProxyCommand,
    readonly family: ProxyFamily,
    readonly sourceAddress: string | undefined,
    readonly sourcePort: number | undefined,
    readonly destinationAddress: string | undefined,
    readonly destinationPort: number | undefined,
    readonly ssl: boolean,
    readonly length: number,
  ) {}
}

/**
 * Parses a PROXY header at the start of `data` (the bytes received so far on a connection).
 * Never throws: garbage is an `error`, a prefix of a valid header is `incomplete`.
 */
export function parseProxyHeader(data: Uint8Array): ProxyParseResult {
  if (data.length === 0) return INCOMPLETE;
  const first = data[0];
  if (first === V1_PREFIX[0]) return parseV1(data);
  if (first === PROXY_V2_SIGNATURE[0]) return parseV2(data);
  return fail('not-proxy');
}

// ---------------------------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------------------------

function parseV1(data: Uint8Array): ProxyParseResult {
  const n = data.length;
  const prefix = n < V1_PREFIX.length ? n : V1_PREFIX.length;
  for (let i = 0; i < prefix; i++) if (data[i] !== V1_PREFIX[i]) return fail('not-proxy');
  // Find the end of line, rejecting a bare LF or a CR not followed by LF.
  const limit = n < PROXY_V1_MAX_LENGTH ? n : PROXY_V1_MAX_LENGTH;
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = data[i];
    if (c === LF) return fail('v1-malformed');
    if (c === CR) {
      cr = i;
      break;
    }
  }
  if (cr < 0) return n >= PROXY_V1_MAX_LENGTH ? fail('v1-too-long') : INCOMPLETE;
  if (cr + 1 >= PROXY_V1_MAX_LENGTH) return fail('v1-too-long');
  if (cr + 1 >= n) return INCOMPLETE;
  if (data[cr + 1] !== LF) return fail('v1-malformed');
  return parseV1Line(data, V1_PREFIX.length, cr);
}

/** Decodes bytes [start, end) as latin1 (the line is ASCII or it fails later). */
function ascii(data: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(data[i]!);
  return s;
}

function parseV1Line(data: Uint8Array, start: number, cr: number): ProxyParseResult {
  const length = cr + 2;
  let protoEnd = start;
  while (protoEnd < cr && data[protoEnd] !== SP) protoEnd++;
  const proto = ascii(data, start, protoEnd);
  if (proto === 'UNKNOWN') {
    // The spec: the receiver must ignore anything after UNKNOWN up to the CRLF.
    return {
      status: 'ok',
      header: new Header(1, 'proxy', 'unknown', undefined, undefined, undefined, undefined, false, length),
    };
  }
  // Fields separated by exactly one space; no leading, trailing or doubled spaces.
  const fields: number[] = [];
  let fieldStart = start;
  for (let i = start; i <= cr; i++) {
    if (i === cr || data[i] === SP) {
      if (i === fieldStart) return fail('v1-malformed');
      fields.push(fieldStart, i);
      fieldStart = i + 1;
    }
  }
  const v6 = proto === 'TCP6';
  if (!v6 && proto !== 'TCP4') return fail('v1-malformed');
  if (fields.length !== 10) return fail('v1-malformed');
  const src = v1Address(data, fields[2]!, fields[3]!, v6);
  const dst = v1Address(data, fields[4]!, fields[5]!, v6);
  if (src === undefined || dst === undefined) return fail('v1-address');
  const srcPort = v1Port(data, fields[6]!, fields[7]!);
  const dstPort = v1Port(data, fields[8]!, fields[9]!);
  if (srcPort < 0 || dstPort < 0) return fail('v1-port');
  return {
    status: 'ok',
    header: new Header(1, 'proxy', v6 ? 'tcp6' : 'tcp4', src, srcPort, dst, dstPort, false, length),
  };
}

function v1Address(data: Uint8Array, start: number, end: number, v6: boolean): string | undefined {
  const s = ascii(data, start, end);
  const kind = parseIpInto(s, 0, s.length, words, 0);
  if (kind === 0) return undefined;
  // TCP4 needs dotted-quad; TCP6 needs IPv6 text (an IPv4-mapped address is valid IPv6 text).
  const hasColon = s.indexOf(':') >= 0;
  if (v6 !== hasColon) return undefined;
  return kind === 4 ? formatIpv4(words[0]!) : formatIpv6(words[0]!, words[1]!, words[2]!, words[3]!);
}

function v1Port(data: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len < 1 || len > 5) return -1;
  if (len > 1 && data[start] === 0x30) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = data[i]!;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v <= 0xffff ? v : -1;
}

// ---------------------------------------------------------------------------------------------
// v2
// ---------------------------------------------------------------------------------------------

const FAMILIES: Record<number, { family: ProxyFamily; size: number }> = {
  0x00: { family: 'unspec', size: 0 },
  0x11: { family: 'tcp4', size: 12 },
  0x12: { family: 'udp4', size: 12 },
  0x21: { family: 'tcp6', size: 36 },
  0x22: { family: 'udp6', size: 36 },
  0x31: { family: 'unix-stream', size: 216 },
  0x32: { family: 'unix-dgram', size: 216 },
};

const PP2_TYPE_SSL = 0x20;
const PP2_CLIENT_SSL = 0x01;

function parseV2(data: Uint8Array): ProxyParseResult {
  const n = data.length;
  const sig = n < 12 ? n : 12;
  for (let i = 0; i < sig; i++) if (data[i] !== PROXY_V2_SIGNATURE[i]) return fail('not-proxy');
  if (n < 13) return INCOMPLETE;
  const verCmd = data[12]!;
  if (verCmd >> 4 !== 2) return fail('v2-version');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return fail('v2-command');
  if (n < 14) return INCOMPLETE;
  const famByte = data[13]!;
  const fam = FAMILIES[famByte];
  // LOCAL: "the receiver must accept this connection as valid ... the family is ignored".
  if (fam === undefined && cmd === 1) return fail('v2-family');
  if (n < PROXY_V2_HEADER_LENGTH) return INCOMPLETE;
  const len = (data[14]! << 8) | data[15]!;
  const total = PROXY_V2_HEADER_LENGTH + len;
  if (n < total) return INCOMPLETE;
  if (cmd === 0) {
    return {
      status: 'ok',
      header: new Header(
        2,
        'local',
        fam === undefined ? 'unspec' : fam.family,
        undefined,
        undefined,
        undefined,
        undefined,
        false,
        total,
      ),
    };
  }
  const { family, size } = fam!;
  if (len < size) return fail('v2-length');
  const ssl = hasClientSsl(data, PROXY_V2_HEADER_LENGTH + size, total);
  const a = PROXY_V2_HEADER_LENGTH;
  let src: string | undefined;
  let dst: string | undefined;
  let srcPort: number | undefined;
  let dstPort: number | undefined;
  if (size === 12) {
    src = formatIpv4(u32(data, a));
    dst = formatIpv4(u32(data, a + 4));
    srcPort = (data[a + 8]! << 8) | data[a + 9]!;
    dstPort = (data[a + 10]! << 8) | data[a + 11]!;
  } else if (size === 36) {
    src = formatV6(u32(data, a), u32(data, a + 4), u32(data, a + 8), u32(data, a + 12));
    dst = formatV6(u32(data, a + 16), u32(data, a + 20), u32(data, a + 24), u32(data, a + 28));
    srcPort = (data[a + 32]! << 8) | data[a + 33]!;
    dstPort = (data[a + 34]! << 8) | data[a + 35]!;
  }
  return { status: 'ok', header: new Header(2, 'proxy', family, src, srcPort, dst, dstPort, ssl, total) };
}

function u32(data: Uint8Array, i: number): number {
  return ((data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!) >>> 0;
}

/** IPv4-mapped addresses print as IPv4, as everywhere else in realip. */
function formatV6(w0: number, w1: number, w2: number, w3: number): string {
  return w0 === 0 && w1 === 0 && w2 === 0xffff ? formatIpv4(w3) : formatIpv6(w0, w1, w2, w3);
}

/** Walks the TLVs in [start, end); a malformed TLV list ends the walk (TLVs are advisory). */
function hasClientSsl(data: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i + 3 <= end) {
    const type = data[i]!;
    const len = (data[i + 1]! << 8) | data[i + 2]!;
    if (i + 3 + len > end) return false;
    if (type === PP2_TYPE_SSL && len >= 1 && (data[i + 3]! & PP2_CLIENT_SSL) !== 0) return true;
    i += 3 + len;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Incremental use
// ---------------------------------------------------------------------------------------------

/** The result of feeding a chunk: `rest` holds the application bytes that followed the header. */
export type ProxyFeedResult =
  | { readonly status: 'incomplete' }
  | { readonly status: 'ok'; readonly header: ProxyHeader; readonly rest: Buffer }
  | { readonly status: 'error'; readonly code: ProxyErrorCode; readonly message: string };

/**
 * Accumulates chunks until a header is complete or invalid. Holds at most one header's worth of
 * bytes (107 for v1, 16 + 65535 for v2), since `parseProxyHeader` decides before that.
 */
export class ProxyHeaderParser {
  private buffer: Buffer | undefined = undefined;

  /** Feeds the next chunk read from the connection. */
  push(chunk: Buffer): ProxyFeedResult {
    const data = this.buffer === undefined ? chunk : Buffer.concat([this.buffer, chunk]);
    const result = parseProxyHeader(data);
    if (result.status === 'incomplete') {
      this.buffer = data;
      return result;
    }
    this.buffer = undefined;
    if (result.status === 'error') return result;
    return { status: 'ok', header: result.header, rest: data.subarray(result.header.length) };
  }
}
