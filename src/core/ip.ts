/**
 * Strict IP literal parsing and canonical formatting.
 *
 * The hot path parses into a caller-owned `Uint32Array(4)` and returns the address family, so a
 * request allocates nothing until it needs a string. IPv4 is one uint32 in `words[0]`; IPv6 is four
 * big-endian uint32 words. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, in any spelling) is returned as IPv4,
 * so matching, output and rate-limit keys agree.
 *
 * Rejected on purpose: legacy IPv4 forms that other parsers read as octal, hex or integers
 * (`010.0.0.1`, `0x7f.0.0.1`, `127.1`, `2130706433`), `1..2.3`, IPv6 zones with `:/[]` or
 * whitespace, and anything that is not ASCII.
 */

/** Not an IP. */
export const NOT_IP = 0;
/** Address family tags returned by {@link parseIpInto}. */
export const IPV4 = 4;
export const IPV6 = 6;
export type IpKind = 0 | 4 | 6;

/** Accept `1.2.3.4:80`, `[2001:db8::1]` and `[2001:db8::1]:443` (header entries). */
export const PARSE_PORT = 1;
/** Accept an IPv6 zone (`fe80::1%eth0`); the zone is validated and dropped. */
export const PARSE_ZONE = 2;
/** Both, as header entries and socket addresses need. */
export const PARSE_LENIENT = PARSE_PORT | PARSE_ZONE;

const groups = new Uint16Array(8);

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Parses dotted-quad IPv4 in `s[start, end)`; returns the uint32 value or -1. */
export function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let leadingZero = false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (leadingZero) return -1; // "01": octal in some parsers, so ambiguous
      if (digits === 0 && c === 0x30) leadingZero = true;
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      leadingZero = false;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Decimal port 0-65535, 1-5 digits. */
function isPort(s: string, start: number, end: number): boolean {
  const len = end - start;
  if (len < 1 || len > 5) return false;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
    v = v * 10 + (c - 0x30);
  }
  return v <= 65535;
}

export function isZoneChar(c: number): boolean {
  // Printable ASCII except the characters that would make the zone ambiguous in URLs and lists.
  return (
    c > 0x20 && c < 0x7f && c !== 0x3a && c !== 0x2f && c !== 0x5b && c !== 0x5d && c !== 0x25 && c !== 0x2c
  );
}

/** Parses IPv6 in `s[start, end)` (zone allowed by flag); writes words; returns 4 (mapped), 6 or 0. */
function parseV6(s: string, start: number, end: number, out: Uint32Array, flags: number): IpKind {
  // Zone: "%" followed by at least one safe character, up to `end`.
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) === 0x25) {
      if ((flags & PARSE_ZONE) === 0 || i + 1 >= end) return NOT_IP;
      for (let j = i + 1; j < end; j++) if (!isZoneChar(s.charCodeAt(j))) return NOT_IP;
      end = i;
      break;
    }
  }
  if (end - start < 2) return NOT_IP;
  let n = 0; // groups written
  let gap = -1; // index in `groups` where "::" stands
  let i = start;
  if (s.charCodeAt(i) === 0x3a) {
    if (s.charCodeAt(i + 1) !== 0x3a) return NOT_IP;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    const groupStart = i;
    let v = 0;
    let digits = 0;
    while (i < end) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      if (++digits > 4) return NOT_IP;
      v = (v << 4) | d;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 0x2e) {
      // Trailing dotted quad: takes two groups and must end the address.
      if (n > 6) return NOT_IP;
      const v4 = parseV4(s, groupStart, end);
      if (v4 < 0) return NOT_IP;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      break;
    }
    if (digits === 0) return NOT_IP;
    if (n >= 8) return NOT_IP;
    groups[n++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 0x3a) return NOT_IP;
    i++;
    if (i < end && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return NOT_IP;
      gap = n;
      i++;
    } else if (i === end) {
      return NOT_IP; // trailing single colon
    }
  }
  if (gap < 0) {
    if (n !== 8) return NOT_IP;
  } else {
    if (n > 7) return NOT_IP;
    // Shift the groups after the gap to the end, zero-fill the gap.
    const tail = n - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  const w0 = ((groups[0]! << 16) | groups[1]!) >>> 0;
  const w1 = ((groups[2]! << 16) | groups[3]!) >>> 0;
  const w2 = ((groups[4]! << 16) | groups[5]!) >>> 0;
  const w3 = ((groups[6]! << 16) | groups[7]!) >>> 0;
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) {
    out[0] = w3;
    return IPV4;
  }
  out[0] = w0;
  out[1] = w1;
  out[2] = w2;
  out[3] = w3;
  return IPV6;
}

/**
 * Parses the IP literal in `s[start, end)` into `out` and returns its family, or 0 when it is not
 * an IP. The range must already be trimmed. `flags` opts into ports/brackets and zones.
 */
export function parseIpInto(s: string, start: number, end: number, out: Uint32Array, flags: number): IpKind {
  if (end - start < 2 || end - start > 128) return NOT_IP;
  const first = s.charCodeAt(start);
  if (first === 0x5b) {
    // "[v6]" or "[v6]:port"
    if ((flags & PARSE_PORT) === 0) return NOT_IP;
    let close = -1;
    for (let i = start + 1; i < end; i++) {
      if (s.charCodeAt(i) === 0x5d) {
        close = i;
        break;
      }
    }
    if (close < 0) return NOT_IP;
    if (close + 1 < end && (s.charCodeAt(close + 1) !== 0x3a || !isPort(s, close + 2, end))) return NOT_IP;
    return parseV6(s, start + 1, close, out, flags);
  }
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      // A dot before any colon: IPv4, optionally with ":port". Without PARSE_PORT there is no
      // need to look for the colon first: parseV4 rejects it.
      let stop = end;
      if ((flags & PARSE_PORT) !== 0) {
        for (let j = i + 1; j < end; j++) {
          if (s.charCodeAt(j) === 0x3a) {
            if (!isPort(s, j + 1, end)) return NOT_IP;
            stop = j;
            break;
          }
        }
      }
      const v = parseV4(s, start, stop);
      if (v < 0) return NOT_IP;
      out[0] = v;
      return IPV4;
    }
    if (c === 0x3a) return parseV6(s, start, end, out, flags);
  }
  return NOT_IP;
}

/** True for 0.0.0.0 and :: (never a client). */
export function isUnspecified(kind: IpKind, w: Uint32Array): boolean {
  return kind === IPV4 ? w[0] === 0 : w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0;
}

/** Formats an IPv4 uint32 as dotted quad. */
export function formatIpv4(v: number): string {
  return (v >>> 24) + '.' + ((v >>> 16) & 255) + '.' + ((v >>> 8) & 255) + '.' + (v & 255);
}

/** Formats four IPv6 words per RFC 5952 (lower case, longest zero run of 2+ groups compressed). */
export function formatIpv6(w0: number, w1: number, w2: number, w3: number): string {
  const g = groups;
  g[0] = w0 >>> 16;
  g[1] = w0 & 0xffff;
  g[2] = w1 >>> 16;
  g[3] = w1 & 0xffff;
  g[4] = w2 >>> 16;
  g[5] = w2 & 0xffff;
  g[6] = w3 >>> 16;
  g[7] = w3 & 0xffff;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    out += g[i]!.toString(16);
    if (i < 7) out += ':';
  }
  return out;
}

/** Canonical string for a parsed address. */
export function formatIp(kind: IpKind, w: Uint32Array): string {
  return kind === IPV4 ? formatIpv4(w[0]!) : formatIpv6(w[0]!, w[1]!, w[2]!, w[3]!);
}

const scratch = new Uint32Array(4);

/**
 * Canonical form of an IP literal, or `undefined` when it is not one.
 * IPv4-mapped IPv6 becomes IPv4; IPv6 is printed per RFC 5952. With `lenient` (the default is
 * strict), ports, brackets and zones are accepted and dropped, as header entries need.
 *
 * @example canonicalIp('::FFFF:192.0.2.1') // '192.0.2.1'
 * @example canonicalIp('[2001:DB8::1]:443', { lenient: true }) // '2001:db8::1'
 * @example canonicalIp('010.0.0.1') // undefined (ambiguous octal)
 */
export function canonicalIp(input: string, options?: { lenient?: boolean }): string | undefined {
  if (typeof input !== 'string') return undefined;
  const kind = parseIpInto(input, 0, input.length, scratch, options?.lenient ? PARSE_LENIENT : 0);
  return kind === NOT_IP ? undefined : formatIp(kind, scratch);
}

/** Parsed address, for code that is not on the hot path. */
export interface ParsedIp {
  readonly kind: 4 | 6;
  /** IPv4: `[v]`; IPv6: four big-endian words. */
  readonly words: readonly number[];
}

/** Parses an IP literal (strict unless `flags` say otherwise); allocates a small object. */
export function parseIp(input: string, flags = 0): ParsedIp | undefined {
  if (typeof input !== 'string') return undefined;
  const kind = parseIpInto(input, 0, input.length, scratch, flags);
  if (kind === NOT_IP) return undefined;
  return kind === IPV4
    ? { kind, words: [scratch[0]!] }
    : { kind, words: [scratch[0]!, scratch[1]!, scratch[2]!, scratch[3]!] };
}

/** Address as a bigint (IPv4: 32-bit value; IPv6: 128-bit value). Construction-time helper. */
export function ipToBigInt(p: ParsedIp): bigint {
  if (p.kind === IPV4) return BigInt(p.words[0]!);
  return (
    (BigInt(p.words[0]!) << 96n) |
    (BigInt(p.words[1]!) << 64n) |
    (BigInt(p.words[2]!) << 32n) |
    BigInt(p.words[3]!)
  );
}
