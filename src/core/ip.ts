/**
 * Strict IP literal parsing and canonical formatting: THE per-request parser (issue 15).
 *
 * Every address read while serving a request goes through `parseIpInto` (or its `parseV4` for a
 * plain dotted quad): the resolver's socket and header entries (the header scanner only finds the
 * entries), the CIDR matcher's `has`, access lists, GeoIP, rate-limit keys, anonymisation, heavy
 * hitters and the PROXY protocol. Configuration is parsed with ipaddr.js instead (cidr.ts), and
 * test/unit/ip.property.test.ts pins this parser to ipaddr.js on valid input.
 *
 * Why this one and not ipaddr.js on the hot path: it allocates nothing (it writes a caller-owned
 * `Uint32Array(4)`), reads IPv6 in a single pass (zone found where the groups stop) and needs no
 * regular expression. Merging the matcher's single-pass parser and the header scanner's dotted-quad
 * reader into it kept the benches level (bench/RESULTS-resolve.md, bench/RESULTS-access.md:
 * header entries and matcher lookups within noise, IPv6 header entries about 20% faster); ipaddr.js
 * costs microseconds per lookup there (bench/matcher.ts).
 *
 * IPv4 is one uint32 in `words[0]`; IPv6 is four big-endian uint32 words. IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`, in any spelling) is returned as IPv4, so matching, output and rate-limit keys
 * agree.
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
/** Hex digit values by character code, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x61 + c] = 10 + c;
  HEX[0x41 + c] = 10 + c;
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

function isZoneChar(c: number): boolean {
  // Printable ASCII except the characters that would make the zone ambiguous in URLs and lists.
  return (
    c > 0x20 && c < 0x7f && c !== 0x3a && c !== 0x2f && c !== 0x5b && c !== 0x5d && c !== 0x25 && c !== 0x2c
  );
}

/** True when `s[at]` is "%" starting a valid zone that runs to `end` and `flags` allow zones. */
function isZone(s: string, at: number, end: number, flags: number): boolean {
  if ((flags & PARSE_ZONE) === 0 || at + 1 >= end) return false;
  for (let j = at + 1; j < end; j++) if (!isZoneChar(s.charCodeAt(j))) return false;
  return true;
}

/**
 * Parses IPv6 in `s[start, end)` in a single pass (a zone, when `flags` allow it, is found where
 * the groups stop); writes words; returns 4 (mapped), 6 or 0.
 */
function parseV6(s: string, start: number, end: number, out: Uint32Array, flags: number): IpKind {
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
    let c = 0;
    for (; i < end; i++) {
      c = s.charCodeAt(i);
      const d = c < 128 ? HEX[c]! : -1;
      if (d < 0) break;
      if (++digits > 4) return NOT_IP;
      v = (v << 4) | d;
    }
    if (i < end && c === 0x25) {
      // Zone: "%" and at least one safe character to the end; the address ends here.
      if (i - start < 2 || !isZone(s, i, end, flags)) return NOT_IP;
      end = i;
    }
    if (i < end && c === 0x2e) {
      // Trailing dotted quad: two groups, and it must end the address (before any zone).
      let stop = end;
      for (let j = i + 1; j < end; j++) {
        if (s.charCodeAt(j) === 0x25) {
          if (!isZone(s, j, end, flags)) return NOT_IP;
          stop = j;
          break;
        }
      }
      if (n > 6) return NOT_IP;
      const q = parseV4(s, groupStart, stop);
      if (q < 0) return NOT_IP;
      groups[n++] = q >>> 16;
      groups[n++] = q & 0xffff;
      break;
    }
    if (digits === 0) {
      // "fe80::%eth0": the zone ends the address right after "::".
      if (i === end && gap === n) break;
      return NOT_IP;
    }
    if (n >= 8) return NOT_IP;
    groups[n++] = v;
    if (i === end) break;
    if (c !== 0x3a) return NOT_IP;
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
