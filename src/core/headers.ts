/**
 * Right-to-left scanners for the forwarding headers.
 *
 * Proxies append on the right, so the walk starts there and reads one entry at a time: a client
 * can make the header as long and as broken as it likes on the left, and the work stays bounded by
 * `maxEntries` and `maxHeaderBytes`. Nothing here splits, trims into new strings or uses a regular
 * expression; an entry is reported as a `[start, end)` range of a string the caller already holds.
 *
 * The scanners find entries; they do not read addresses. The resolver parses each entry with
 * ip.ts's parser, the one per-request parser (issue 15): the X-Forwarded-For scanner used to read
 * dotted quads right to left while it looked for the comma, and handing the entry to `parseV4`
 * instead costs the same (bench/resolve.ts, bench/RESULTS-resolve.md).
 *
 * Header values arrive either as Node gives them (`req.headers`: a string, Node already joined
 * repeated lines with ", ", or a string[] of lines) or as raw name/value pairs (`req.rawHeaders`),
 * where every matching line is a separate string; lines are read last to first.
 */

/** Result codes of {@link HeaderScanner.next}. */
export const SCAN_ENTRY = 1;
/** No more entries. */
export const SCAN_END = 2;
/** `maxEntries` or `maxHeaderBytes` reached while entries remain. */
export const SCAN_CAP = 3;
/** A Forwarded element that is malformed or has no `for` parameter (an opaque hop). */
export const SCAN_BAD = 4;
export type ScanCode = 1 | 2 | 3 | 4;

/** Which grammar a list header uses. */
export const LIST_XFF = 1;
export const LIST_FORWARDED = 2;

/** A header value as found: one string, or the lines of a repeated header. */
export type HeaderValue = string | readonly string[];

/** Node header objects and raw pairs, as `ResolveInput.headers` accepts them. */
export type HeaderInput = Readonly<Record<string, string | string[] | undefined>> | readonly string[];

/** True for an ASCII letter-insensitive match of a raw header name against a lower-case name. */
export function nameEquals(raw: string, lower: string): boolean {
  const n = lower.length;
  if (raw.length !== n) return false;
  for (let i = 0; i < n; i++) {
    let c = raw.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The value of header `name` (lower case): a string, the string[] Node or the caller gave, or, for
 * raw pairs, the raw array itself when at least one line matches (the scanner filters the lines).
 * `undefined` when absent. Never throws, whatever the object holds.
 */
export function headerValue(headers: HeaderInput, name: string, raw: boolean): HeaderValue | undefined {
  if (raw) {
    const list = headers as readonly string[];
    for (let i = list.length - 2; i >= 0; i -= 2) {
      const n = list[i];
      if (typeof n === 'string' && nameEquals(n, name)) return list;
    }
    return undefined;
  }
  const v = (headers as Readonly<Record<string, unknown>>)[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v as readonly string[];
  return undefined;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** RFC 9110 tchar. */
function isTchar(c: number): boolean {
  if (c >= 0x61 && c <= 0x7a) return true; // a-z
  if (c >= 0x41 && c <= 0x5a) return true; // A-Z
  if (c >= 0x30 && c <= 0x39) return true; // 0-9
  switch (c) {
    case 0x21: // !
    case 0x23: // #
    case 0x24: // $
    case 0x25: // %
    case 0x26: // &
    case 0x27: // '
    case 0x2a: // *
    case 0x2b: // +
    case 0x2d: // -
    case 0x2e: // .
    case 0x5e: // ^
    case 0x5f: // _
    case 0x60: // `
    case 0x7c: // |
    case 0x7e: // ~
      return true;
    default:
      return false;
  }
}

/** qdtext / quoted-pair payload: HTAB, SP, VCHAR, obs-text. */
function isQuotedChar(c: number): boolean {
  return c === 0x09 || (c >= 0x20 && c !== 0x7f && c <= 0xff);
}

const P_FOR = 1;
const P_BY = 2;
const P_HOST = 4;
const P_PROTO = 8;

function paramBit(s: string, start: number, end: number): number {
  const n = end - start;
  if (n === 3 && (s.charCodeAt(start) | 0x20) === 0x66) {
    return (s.charCodeAt(start + 1) | 0x20) === 0x6f && (s.charCodeAt(start + 2) | 0x20) === 0x72 ? P_FOR : 0;
  }
  if (n === 2) {
    return (s.charCodeAt(start) | 0x20) === 0x62 && (s.charCodeAt(start + 1) | 0x20) === 0x79 ? P_BY : 0;
  }
  if (n === 4) {
    return (s.charCodeAt(start) | 0x20) === 0x68 &&
      (s.charCodeAt(start + 1) | 0x20) === 0x6f &&
      (s.charCodeAt(start + 2) | 0x20) === 0x73 &&
      (s.charCodeAt(start + 3) | 0x20) === 0x74
      ? P_HOST
      : 0;
  }
  if (n === 5) {
    return (s.charCodeAt(start) | 0x20) === 0x70 &&
      (s.charCodeAt(start + 1) | 0x20) === 0x72 &&
      (s.charCodeAt(start + 2) | 0x20) === 0x6f &&
      (s.charCodeAt(start + 3) | 0x20) === 0x74 &&
      (s.charCodeAt(start + 4) | 0x20) === 0x6f
      ? P_PROTO
      : 0;
  }
  return 0;
}

/**
 * A reusable right-to-left reader of one list header (X-Forwarded-For or Forwarded). Not
 * re-entrant: a resolver owns one and uses it synchronously. After `next()` returns
 * {@link SCAN_ENTRY}, the entry is `str.slice(start, end)` (not sliced: the range is read in place).
 *
 * `chars` and `entries` count the work done since `reset()`: tests assert on them to prove that
 * hostile input costs a bounded amount, whatever its size.
 */
export class HeaderScanner {
  /** Characters examined since `reset()` (each line boundary counts as one). */
  chars = 0;
  /** Non-empty entries returned since `reset()`. */
  entries = 0;
  /** The current entry (valid after SCAN_ENTRY). */
  str = '';
  start = 0;
  end = 0;
  private src: HeaderValue = '';
  private raw = false;
  private lineIdx = -1;
  private line = '';
  private pos = 0;
  private lineOpen = false;
  private started = false;

  constructor(
    private readonly grammar: 1 | 2,
    /** Lower-case header name (raw pairs are filtered by it). */
    private readonly name: string,
    private readonly maxEntries: number,
    private readonly maxChars: number,
  ) {}

  /** Starts a scan of `value` (`raw`: `value` is a rawHeaders array, filtered by name). */
  reset(value: HeaderValue, raw: boolean): void {
    this.src = value;
    this.raw = raw;
    this.chars = 0;
    this.entries = 0;
    this.lineOpen = false;
    this.started = false;
    if (typeof value === 'string') {
      this.lineIdx = 0;
    } else {
      // Raw pairs: lineIdx is the index of the current line's name (even); start past the end.
      this.lineIdx = raw ? value.length - (value.length & 1) : value.length;
    }
  }

  /** Moves to the previous line; false when there is none. */
  private prevLine(): boolean {
    const src = this.src;
    if (typeof src === 'string') {
      if (this.lineIdx !== 0) return false;
      this.lineIdx = -1;
      this.line = src;
      this.pos = src.length;
      this.lineOpen = true;
      return true;
    }
    if (this.raw) {
      for (let i = this.lineIdx - 2; i >= 0; i -= 2) {
        const n = src[i];
        const v = src[i + 1];
        if (typeof n === 'string' && typeof v === 'string' && nameEquals(n, this.name)) {
          this.lineIdx = i;
          this.line = v;
          this.pos = v.length;
          this.lineOpen = true;
          return true;
        }
      }
      this.lineIdx = -1;
      return false;
    }
    for (let i = this.lineIdx - 1; i >= 0; i--) {
      const v = src[i];
      if (typeof v === 'string') {
        this.lineIdx = i;
        this.line = v;
        this.pos = v.length;
        this.lineOpen = true;
        return true;
      }
    }
    this.lineIdx = -1;
    return false;
  }

  /** True when another line precedes the current one (does not move). */
  private hasPrevLine(): boolean {
    const src = this.src;
    if (typeof src === 'string') return this.lineIdx === 0;
    if (this.raw) {
      for (let i = this.lineIdx - 2; i >= 0; i -= 2) {
        const n = src[i];
        if (typeof n === 'string' && typeof src[i + 1] === 'string' && nameEquals(n, this.name)) return true;
      }
      return false;
    }
    for (let i = this.lineIdx - 1; i >= 0; i--) if (typeof src[i] === 'string') return true;
    return false;
  }

  /**
   * Skips separators leftwards (OWS and commas: empty entries are not entries). Returns
   * SCAN_ENTRY when an entry starts at `pos`, SCAN_END when the header is exhausted, SCAN_CAP when
   * the character budget ran out with text left unread.
   */
  private skipSeparators(): ScanCode {
    for (;;) {
      if (!this.lineOpen) {
        if (this.started) {
          // A line boundary is a separator too; charge it so that many empty lines still cost.
          if (this.chars >= this.maxChars) return this.hasPrevLine() ? SCAN_CAP : SCAN_END;
          this.chars++;
        }
        if (!this.prevLine()) return SCAN_END;
        this.started = true;
      }
      const s = this.line;
      const from = this.pos;
      // Budget: characters below `floor` may not be examined.
      const floor = from - (this.maxChars - this.chars);
      let p = from;
      while (p > 0) {
        const c = s.charCodeAt(p - 1);
        if (c !== 0x2c && c !== 0x20 && c !== 0x09) {
          this.chars += from - p;
          this.pos = p;
          return SCAN_ENTRY;
        }
        if (p <= floor) {
          this.chars += from - p;
          this.pos = p;
          return SCAN_CAP;
        }
        p--;
      }
      this.chars += from;
      this.pos = 0;
      this.lineOpen = false;
    }
  }

  /** Reads the next entry from the right. */
  next(): ScanCode {
    const code = this.skipSeparators();
    if (code !== SCAN_ENTRY) return code;
    if (this.entries >= this.maxEntries) return SCAN_CAP;
    return this.grammar === LIST_XFF ? this.nextXff() : this.nextForwarded();
  }

  private nextXff(): ScanCode {
    const s = this.line;
    const end = this.pos;
    const floor = end - (this.maxChars - this.chars);
    let p = end;
    while (p > 0) {
      if (s.charCodeAt(p - 1) === 0x2c) break;
      if (p <= floor) {
        this.chars += end - p;
        this.pos = p;
        return SCAN_CAP;
      }
      p--;
    }
    this.chars += end - p;
    this.pos = p;
    if (p === 0) this.lineOpen = false;
    let start = p;
    while (start < end && isOws(s.charCodeAt(start))) start++;
    this.str = s;
    this.start = start;
    this.end = end;
    this.entries++;
    return SCAN_ENTRY;
  }

  private nextForwarded(): ScanCode {
    const s = this.line;
    const end = this.pos;
    let p = end;
    let inQuote = false;
    while (p > 0) {
      const c = s.charCodeAt(p - 1);
      if (c === 0x2c && !inQuote) break;
      if (this.chars >= this.maxChars) {
        this.pos = p;
        return SCAN_CAP;
      }
      this.chars++;
      if (c === 0x22) {
        // A quote preceded by an odd number of backslashes is a quoted-pair, not a delimiter.
        let k = p - 2;
        while (k >= 0 && s.charCodeAt(k) === 0x5c) k--;
        if (((p - 2 - k) & 1) === 0) inQuote = !inQuote;
      }
      p--;
    }
    this.pos = p;
    if (p === 0) this.lineOpen = false;
    this.entries++;
    return this.parseElement(s, p, end);
  }

  /**
   * Parses one Forwarded element `s[start, end)` forwards and sets the entry to its `for` value
   * (unquoted; quoted-pairs resolved into a new string only when present).
   */
  private parseElement(s: string, start: number, end: number): ScanCode {
    let i = start;
    while (i < end && isOws(s.charCodeAt(i))) i++;
    let e = end;
    while (e > i && isOws(s.charCodeAt(e - 1))) e--;
    let seen = 0;
    let forStart = -1;
    let forEnd = -1;
    let forEscaped = false;
    while (i < e) {
      const nameStart = i;
      while (i < e && isTchar(s.charCodeAt(i))) i++;
      if (i === nameStart || i >= e || s.charCodeAt(i) !== 0x3d) return SCAN_BAD;
      const bit = paramBit(s, nameStart, i);
      if ((seen & bit) !== 0) return SCAN_BAD; // RFC 7239 §4: each parameter at most once
      seen |= bit;
      i++; // '='
      let vStart: number;
      let vEnd: number;
      let escaped = false;
      if (i < e && s.charCodeAt(i) === 0x22) {
        i++;
        vStart = i;
        for (;;) {
          if (i >= e) return SCAN_BAD; // unterminated
          const c = s.charCodeAt(i);
          if (c === 0x22) break;
          if (c === 0x5c) {
            if (i + 1 >= e || !isQuotedChar(s.charCodeAt(i + 1))) return SCAN_BAD;
            escaped = true;
            i += 2;
            continue;
          }
          if (!isQuotedChar(c)) return SCAN_BAD;
          i++;
        }
        vEnd = i;
        i++; // closing quote
      } else {
        vStart = i;
        while (i < e && isTchar(s.charCodeAt(i))) i++;
        vEnd = i;
        if (vEnd === vStart) return SCAN_BAD;
      }
      if (bit === P_FOR) {
        forStart = vStart;
        forEnd = vEnd;
        forEscaped = escaped;
      }
      // Separators: ";" between pairs (OWS around it tolerated: common in the wild, unambiguous).
      while (i < e && isOws(s.charCodeAt(i))) i++;
      if (i >= e) break;
      if (s.charCodeAt(i) !== 0x3b) return SCAN_BAD;
      i++;
      while (i < e && (isOws(s.charCodeAt(i)) || s.charCodeAt(i) === 0x3b)) i++;
    }
    if (forStart < 0) return SCAN_BAD; // no `for`: the hop did not say who its client was
    if (forEscaped) {
      let out = '';
      for (let k = forStart; k < forEnd; k++) {
        const c = s.charCodeAt(k);
        if (c === 0x5c) k++;
        out += s[k];
      }
      this.str = out;
      this.start = 0;
      this.end = out.length;
    } else {
      this.str = s;
      this.start = forStart;
      this.end = forEnd;
    }
    // node-port may be obfuscated (`:_abc`); the address is what matters, so drop it.
    const str = this.str;
    const a = this.start;
    let b = this.end;
    for (let k = b - 1; k > a; k--) {
      const c = str.charCodeAt(k);
      if (c === 0x5f && str.charCodeAt(k - 1) === 0x3a) {
        const bracketed = str.charCodeAt(a) === 0x5b && str.charCodeAt(k - 2) === 0x5d;
        let colons = 0;
        for (let j = a; j < k; j++) if (str.charCodeAt(j) === 0x3a) colons++;
        if (bracketed || colons === 1) b = k - 1;
        break;
      }
      if (c === 0x3a || c === 0x5d) break;
    }
    this.end = b;
    return SCAN_ENTRY;
  }
}

/** Outcome of {@link readSingle}. */
export const SINGLE_ABSENT = 0;
export const SINGLE_ONE = 1;
export const SINGLE_AMBIGUOUS = 2;
export const SINGLE_CAP = 3;

/**
 * Reads a single-IP header: exactly one line holding one value. The value (OWS-trimmed) is left
 * in `out.str/start/end`. Two lines (raw pairs or a string[]), or a comma in the value (Node joins
 * repeated lines of unknown headers with ", "), make it ambiguous. An all-blank value is absent.
 */
export function readSingle(
  value: HeaderValue,
  raw: boolean,
  name: string,
  maxChars: number,
  out: { str: string; start: number; end: number; chars: number },
): 0 | 1 | 2 | 3 {
  let line: string | undefined;
  if (typeof value === 'string') {
    line = value;
  } else if (raw) {
    for (let i = value.length - 2; i >= 0; i -= 2) {
      const n = value[i];
      const v = value[i + 1];
      if (typeof n === 'string' && typeof v === 'string' && nameEquals(n, name)) {
        if (line !== undefined) return SINGLE_AMBIGUOUS;
        line = v;
      }
    }
  } else {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v !== 'string') continue;
      if (line !== undefined) return SINGLE_AMBIGUOUS;
      line = v;
    }
  }
  if (line === undefined) return SINGLE_ABSENT;
  let start = 0;
  let end = line.length;
  while (start < end && isOws(line.charCodeAt(start))) start++;
  while (end > start && isOws(line.charCodeAt(end - 1))) end--;
  if (start === end) return SINGLE_ABSENT;
  const n = end - start;
  const limit = n < maxChars ? n : maxChars;
  for (let i = 0; i < limit; i++) {
    if (line.charCodeAt(start + i) === 0x2c) {
      out.chars = i + 1;
      return SINGLE_AMBIGUOUS;
    }
  }
  out.chars = limit;
  if (n > maxChars) return SINGLE_CAP;
  out.str = line;
  out.start = start;
  out.end = end;
  return SINGLE_ONE;
}
