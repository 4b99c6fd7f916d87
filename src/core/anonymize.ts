/**
 * IP anonymisation, applied to every output realip writes: access-log lines, metric labels,
 * top-clients JSON, problem bodies and explanations.
 *
 * Modes:
 * - `none`: the canonical address as resolved.
 * - `truncate`: IPv4 to /24 (`203.0.113.0`), IPv6 to /48 (`2001:db8:1::`); IPv4-mapped IPv6 is
 *   truncated as IPv4. Still personal data under most DPAs' reading; it lowers precision only.
 * - `hmac`: `hmac:<keyId>:<hex>`, HMAC-SHA-256 under a secret key. A plain hash of an IPv4 address
 *   is reversible by trying all 2^32 inputs; a keyed hash is not without the key. The key id in the
 *   output says which key made it, so keys can be rotated and old lines still be searched
 *   ({@link Anonymizer.pseudonyms}). This is pseudonymisation (GDPR Art. 4(5)), not anonymisation.
 * - `drop`: no address at all (`undefined`).
 *
 * Anything that is not an IP literal never passes through a mode other than `none`: the
 * anonymiser returns `undefined` for it, so garbage cannot smuggle an address out.
 */
import { createHash, createHmac } from 'node:crypto';
import { IssueCollector, joinPath } from '../errors.js';
import { IPV4, NOT_IP, PARSE_PORT, formatIpv4, formatIpv6, parseIpInto } from './ip.js';

/** How addresses are written to logs, metrics, top-clients and problem bodies. */
export type AnonymizeMode = 'none' | 'truncate' | 'hmac' | 'drop';

/** A named HMAC key. */
export interface HmacKey {
  /**
   * Short identifier written into every pseudonym (`hmac:<id>:...`), so a line tells which key
   * made it. Letters, digits, `_` and `-`, 1 to 32 characters.
   */
  id: string;
  /** The secret: at least 16 bytes (32 random bytes recommended). Never logged. */
  secret: string | Uint8Array;
}

/** Options of {@link createAnonymizer} (policy file: `log.anonymize`, `log.hmacKeys`, ...). */
export interface AnonymizeOptions {
  /**
   * How addresses appear in every output.
   * @default 'none'
   */
  anonymize?: AnonymizeMode;
  /**
   * The HMAC key for `anonymize: 'hmac'`. A bare secret gets the id `k` + the first 8 hex digits of
   * its SHA-256, so the id changes when the secret does. Use `hmacKeys` to rotate.
   */
  hmacKey?: string | Uint8Array | HmacKey;
  /**
   * Keys for rotation, current first. Output always uses the first; the others only serve
   * {@link Anonymizer.pseudonyms}, which finds a client's lines written under older keys.
   */
  hmacKeys?: readonly HmacKey[];
  /**
   * Hex digits of the HMAC kept in the pseudonym (8 to 64). 16 digits (64 bits) make collisions
   * negligible for any realistic number of clients.
   * @default 16
   */
  hmacLength?: number;
  /**
   * Prefix lengths kept by `truncate`. The defaults follow Google Analytics' IP anonymisation.
   * @default { v4: 24, v6: 48 }
   */
  truncate?: { v4?: number; v6?: number };
  /**
   * Pseudonyms remembered per key (HMAC costs a few microseconds; a flood of one address should not
   * pay it per request). The cache is cleared when full.
   * @default 4096
   */
  cacheSize?: number;
}

/** Replaces an address with its anonymised form (or `undefined` under `drop` or for non-IPs). */
export interface Anonymizer {
  (ip: string | undefined): string | undefined;
  /** The configured mode. */
  readonly mode: AnonymizeMode;
  /** Id of the key used for output under `hmac`, else undefined. */
  readonly keyId: string | undefined;
  /**
   * Anonymises every IP literal inside free text (an `explain()` trace, a header value, an error
   * message). IPv4 with port, bracketed IPv6 and IPv4-mapped forms are recognised; under `drop`
   * each address becomes `<redacted>`. Under `none` the text is returned as is.
   */
  text(input: string): string;
  /**
   * Anonymises a prefix such as `203.0.113.0/24` (used by the top-clients view): `none` and
   * `truncate` keep it (shortened further when the truncation is coarser), `hmac` hashes it,
   * `drop` returns undefined.
   */
  prefix(kind: 4 | 6, words: Uint32Array, bits: number): string | undefined;
  /**
   * The address's pseudonym under every configured key, current first: search old logs with these
   * after a rotation. Empty unless the mode is `hmac`.
   */
  pseudonyms(ip: string): string[];
  /**
   * Replaces the HMAC keys at run time (current first), e.g. from a rotated Kubernetes secret.
   * Validates like the constructor and throws `ConfigError` on a bad key.
   */
  setKeys(keys: readonly HmacKey[]): void;
}

const MODES: readonly AnonymizeMode[] = ['none', 'truncate', 'hmac', 'drop'];
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** What `text()` writes for an address under `drop`. */
export const REDACTED = '<redacted>';

interface CompiledKey {
  id: string;
  secret: Buffer;
  prefix: string;
  cache: Map<string, string>;
}

function secretBytes(secret: string | Uint8Array): Buffer {
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
}

function validateKeys(
  keys: readonly (HmacKey | string | Uint8Array)[],
  path: string,
  issues: IssueCollector,
): CompiledKey[] {
  const out: CompiledKey[] = [];
  const seen = new Set<string>();
  keys.forEach((k, i) => {
    const p = joinPath(path, i);
    let id: string;
    let secret: string | Uint8Array;
    if (typeof k === 'string' || k instanceof Uint8Array) {
      secret = k;
      id = 'k' + createHash('sha256').update(secretBytes(k)).digest('hex').slice(0, 8);
    } else if (k !== null && typeof k === 'object') {
      id = k.id;
      secret = k.secret;
      if (typeof id !== 'string' || !KEY_ID.test(id)) {
        issues.add(joinPath(p, 'id'), 'expected 1 to 32 letters, digits, "_" or "-"', 'ERR_REALIP_HMAC_KEY');
        return;
      }
    } else {
      issues.add(p, 'expected { id, secret } or a secret string', 'ERR_REALIP_HMAC_KEY');
      return;
    }
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
      issues.add(joinPath(p, 'secret'), 'expected a string or bytes', 'ERR_REALIP_HMAC_KEY');
      return;
    }
    const bytes = secretBytes(secret);
    if (bytes.length < 16) {
      issues.add(
        joinPath(p, 'secret'),
        `too short (${bytes.length} bytes; use at least 16, ideally 32 random bytes)`,
        'ERR_REALIP_HMAC_KEY',
      );
      return;
    }
    if (seen.has(id)) {
      issues.add(joinPath(p, 'id'), `duplicate key id "${id}"`, 'ERR_REALIP_HMAC_KEY');
      return;
    }
    seen.add(id);
    out.push({ id, secret: bytes, prefix: `hmac:${id}:`, cache: new Map() });
  });
  return out;
}

function isIpChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x3a) || // 0-9 :
    c === 0x2e || // .
    (c >= 0x61 && c <= 0x66) || // a-f
    (c >= 0x41 && c <= 0x46) // A-F
  );
}

function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

/**
 * Creates an anonymiser. Validates every option and throws one `ConfigError` listing all problems
 * (paths under `pathPrefix`, e.g. `log.hmacKeys[0].secret`).
 */
export function createAnonymizer(options: AnonymizeOptions = {}, pathPrefix = ''): Anonymizer {
  const issues = new IssueCollector();
  const mode = options.anonymize ?? 'none';
  if (!MODES.includes(mode)) {
    issues.add(joinPath(pathPrefix, 'anonymize'), `expected one of ${MODES.join(', ')}`, 'ERR_REALIP_CONFIG');
  }
  const hmacLength = options.hmacLength ?? 16;
  if (!Number.isInteger(hmacLength) || hmacLength < 8 || hmacLength > 64) {
    issues.add(joinPath(pathPrefix, 'hmacLength'), 'expected an integer from 8 to 64');
  }
  const v4Bits = options.truncate?.v4 ?? 24;
  const v6Bits = options.truncate?.v6 ?? 48;
  if (!Number.isInteger(v4Bits) || v4Bits < 0 || v4Bits > 32) {
    issues.add(joinPath(pathPrefix, 'truncate.v4'), 'expected an integer from 0 to 32');
  }
  if (!Number.isInteger(v6Bits) || v6Bits < 0 || v6Bits > 128) {
    issues.add(joinPath(pathPrefix, 'truncate.v6'), 'expected an integer from 0 to 128');
  }
  const cacheSize = options.cacheSize ?? 4096;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) {
    issues.add(joinPath(pathPrefix, 'cacheSize'), 'expected a non-negative integer');
  }
  let keys: CompiledKey[] = [];
  if (options.hmacKey !== undefined && options.hmacKeys !== undefined) {
    issues.add(joinPath(pathPrefix, 'hmacKey'), 'give hmacKey or hmacKeys, not both');
  } else if (options.hmacKeys !== undefined) {
    if (!Array.isArray(options.hmacKeys) || options.hmacKeys.length === 0) {
      issues.add(
        joinPath(pathPrefix, 'hmacKeys'),
        'expected a non-empty array of { id, secret }',
        'ERR_REALIP_HMAC_KEY',
      );
    } else {
      keys = validateKeys(options.hmacKeys, joinPath(pathPrefix, 'hmacKeys'), issues);
    }
  } else if (options.hmacKey !== undefined) {
    keys = validateKeys([options.hmacKey], joinPath(pathPrefix, 'hmacKey'), issues);
  }
  if (mode === 'hmac' && options.hmacKey === undefined && options.hmacKeys === undefined) {
    issues.add(
      joinPath(pathPrefix, 'hmacKey'),
      'anonymize: "hmac" needs a secret key (hmacKey or hmacKeys); an unkeyed hash of an IPv4 address is reversible',
      'ERR_REALIP_HMAC_KEY',
    );
  }
  issues.throwIfAny();

  const words = new Uint32Array(4);
  const v4Mask = v4Bits === 0 ? 0 : (0xffffffff << (32 - v4Bits)) >>> 0;

  function maskV6(w: Uint32Array, bits: number): void {
    for (let i = 0; i < 4; i++) {
      const keep = bits - i * 32;
      if (keep >= 32) continue;
      w[i] = keep <= 0 ? 0 : (w[i]! & ((0xffffffff << (32 - keep)) >>> 0)) >>> 0;
    }
  }

  function hmacOf(key: CompiledKey, input: string): string {
    let out = key.cache.get(input);
    if (out !== undefined) return out;
    out = key.prefix + createHmac('sha256', key.secret).update(input).digest('hex').slice(0, hmacLength);
    if (cacheSize > 0) {
      if (key.cache.size >= cacheSize) key.cache.clear();
      key.cache.set(input, out);
    }
    return out;
  }

  /** Canonical form of the parsed words (so `::FFFF:1.2.3.4` and `1.2.3.4` hash alike). */
  function canonical(kind: 4 | 6): string {
    return kind === IPV4 ? formatIpv4(words[0]!) : formatIpv6(words[0]!, words[1]!, words[2]!, words[3]!);
  }

  function anonymizeParsed(kind: 4 | 6): string | undefined {
    switch (mode) {
      case 'truncate':
        if (kind === IPV4) return formatIpv4((words[0]! & v4Mask) >>> 0);
        maskV6(words, v6Bits);
        return formatIpv6(words[0]!, words[1]!, words[2]!, words[3]!);
      case 'hmac':
        return hmacOf(keys[0]!, canonical(kind));
      case 'drop':
        return undefined;
      default:
        return canonical(kind);
    }
  }

  const anonymizer = function anonymize(ip: string | undefined): string | undefined {
    if (ip === undefined || mode === 'drop') return undefined;
    if (mode === 'none') return ip;
    if (typeof ip !== 'string') return undefined;
    if (mode === 'hmac') {
      // Fast path: the resolver hands out canonical strings, so the cache can be hit before parsing.
      const hit = keys[0]!.cache.get(ip);
      if (hit !== undefined) return hit;
    }
    const kind = parseIpInto(ip, 0, ip.length, words, 0);
    if (kind === NOT_IP) return undefined;
    return anonymizeParsed(kind);
  } as Anonymizer;

  function text(input: string): string {
    if (mode === 'none' || typeof input !== 'string') return input;
    let out = '';
    let last = 0;
    const n = input.length;
    let i = 0;
    while (i < n) {
      const c = input.charCodeAt(i);
      if (!isIpChar(c)) {
        i++;
        continue;
      }
      // A run may not start with a lone separator ("peer:10.0.0.1", "v1.2"): step over it.
      if (c === 0x2e || (c === 0x3a && input.charCodeAt(i + 1) !== 0x3a)) {
        i++;
        continue;
      }
      let j = i;
      while (j < n && isIpChar(input.charCodeAt(j))) j++;
      // Glued to a word on the left ("face" in "surface:1"): not an address.
      if (i > 0 && isWordChar(input.charCodeAt(i - 1))) {
        i = j;
        continue;
      }
      // "10.0.0.1." or "::1:" at the end of a sentence: drop trailing separators until it parses.
      let end = j;
      let kind: 0 | 4 | 6 = NOT_IP;
      while (end - i >= 2) {
        kind = parseIpInto(input, i, end, words, PARSE_PORT);
        if (kind !== NOT_IP) break;
        const t = input.charCodeAt(end - 1);
        if (t !== 0x2e && t !== 0x3a) break;
        end--;
      }
      if (kind === NOT_IP || (end === j && end < n && isWordChar(input.charCodeAt(end)))) {
        i = j;
        continue;
      }
      // "1.2.3.4:80": keep the port text; a colon after a dot can only be a port.
      let stop = end;
      let sawDot = false;
      for (let k = i; k < end; k++) {
        const d = input.charCodeAt(k);
        if (d === 0x2e) sawDot = true;
        else if (d === 0x3a && sawDot) {
          stop = k;
          break;
        }
      }
      // "fe80::1%eth0": the zone goes with the address.
      let after = stop;
      if (stop === j && after < n && input.charCodeAt(after) === 0x25) {
        after++;
        while (after < n && (isWordChar(input.charCodeAt(after)) || input.charCodeAt(after) === 0x2e))
          after++;
      }
      out += input.slice(last, i) + (anonymizeParsed(kind) ?? REDACTED);
      last = after;
      i = after > j ? after : j;
    }
    return last === 0 ? input : out + input.slice(last);
  }

  function prefix(kind: 4 | 6, w: Uint32Array, bits: number): string | undefined {
    if (mode === 'drop') return undefined;
    words[0] = w[0]!;
    words[1] = w[1]!;
    words[2] = w[2]!;
    words[3] = w[3]!;
    let b = bits;
    if (mode === 'truncate') b = Math.min(bits, kind === IPV4 ? v4Bits : v6Bits);
    if (kind === IPV4) words[0] = b === 0 ? 0 : (words[0]! & ((0xffffffff << (32 - b)) >>> 0)) >>> 0;
    else maskV6(words, b);
    const s = canonical(kind) + '/' + b;
    return mode === 'hmac' ? hmacOf(keys[0]!, s) : s;
  }

  function pseudonyms(ip: string): string[] {
    if (mode !== 'hmac') return [];
    const kind = parseIpInto(ip, 0, ip.length, words, 0);
    if (kind === NOT_IP) return [];
    const c = canonical(kind);
    return keys.map((k) => hmacOf(k, c));
  }

  function setKeys(next: readonly HmacKey[]): void {
    const collector = new IssueCollector();
    if (!Array.isArray(next) || next.length === 0) {
      collector.add(
        joinPath(pathPrefix, 'hmacKeys'),
        'expected a non-empty array of { id, secret }',
        'ERR_REALIP_HMAC_KEY',
      );
    }
    const compiled = collector.ok ? validateKeys(next, joinPath(pathPrefix, 'hmacKeys'), collector) : [];
    collector.throwIfAny();
    keys = compiled;
    state.keyId = mode === 'hmac' ? keys[0]!.id : undefined;
  }

  const state = { keyId: mode === 'hmac' ? keys[0]!.id : undefined } as { keyId: string | undefined };
  Object.defineProperties(anonymizer, {
    mode: { value: mode, enumerable: true },
    keyId: { get: () => state.keyId, enumerable: true },
    text: { value: text },
    prefix: { value: prefix },
    pseudonyms: { value: pseudonyms },
    setKeys: { value: setKeys },
  });
  return anonymizer;
}

/** The identity anonymiser (`anonymize: 'none'`). */
export const NO_ANONYMIZATION: Anonymizer = createAnonymizer({ anonymize: 'none' });

/** Accepts either an anonymiser or its options (so stages can share one configured instance). */
export function toAnonymizer(
  value: Anonymizer | AnonymizeOptions | AnonymizeMode | undefined,
  path = '',
): Anonymizer {
  if (value === undefined) return NO_ANONYMIZATION;
  if (typeof value === 'function') return value;
  if (typeof value === 'string') return createAnonymizer({ anonymize: value }, path);
  return createAnonymizer(value, path);
}

/**
 * A problem document (RFC 9457, see `problemBody`) with every address in its string members
 * anonymised: `detail`, `instance`, `title` and string extension members (also inside arrays and
 * nested objects). Stages that echo anything request-derived into a 403/429 body pass it through
 * here, so bodies follow the same `anonymize` setting as the logs. Returns a copy; under `none`, the
 * input itself.
 */
export function anonymizeProblem<T extends object>(problem: T, anonymize: Anonymizer): T {
  if (anonymize.mode === 'none') return problem;
  return scrub(problem, anonymize, 0) as T;
}

function scrub(value: unknown, anonymize: Anonymizer, depth: number): unknown {
  if (typeof value === 'string') return anonymize.text(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, anonymize, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, anonymize, depth + 1);
  return out;
}
