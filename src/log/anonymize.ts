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
import { ConfigError, joinPath } from '../errors.js';
import { checkOptions, parseOptions } from '../spec/spec.js';
import { anonymizerSpec, hmacKeysSpec } from './anonymize-spec.js';
import { IPV4, NOT_IP, PARSE_PORT, formatIpv4, formatIpv6, parseIpInto } from '../core/ip.js';

export type { AnonymizeMode, AnonymizeOptions, HmacKey } from './anonymize-spec.js';
import type { AnonymizeMode, AnonymizeOptions, HmacKey } from './anonymize-spec.js';

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

/** Compiles keys the spec has validated (ids, secret lengths, unique ids). */
function compileKeys(keys: readonly (HmacKey | string | Uint8Array)[]): CompiledKey[] {
  return keys.map((k) => {
    const bare = typeof k === 'string' || k instanceof Uint8Array;
    const secret = secretBytes(bare ? k : k.secret);
    const id = bare ? 'k' + createHash('sha256').update(secret).digest('hex').slice(0, 8) : k.id;
    return { id, secret, prefix: `hmac:${id}:`, cache: new Map() };
  });
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
  const o = parseOptions(anonymizerSpec, options, pathPrefix);
  const mode = o.anonymize as AnonymizeMode;
  const hmacLength = o.hmacLength as number;
  const v4Bits = o.truncate?.v4 ?? 24;
  const v6Bits = o.truncate?.v6 ?? 48;
  const cacheSize = o.cacheSize as number;
  let keys = compileKeys(
    (o.hmacKeys as HmacKey[] | undefined) ??
      (o.hmacKey !== undefined ? [o.hmacKey as HmacKey | string | Uint8Array] : []),
  );

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
    const issues = checkOptions(hmacKeysSpec, { hmacKeys: next }, pathPrefix);
    if (issues.length > 0) throw new ConfigError(issues);
    keys = compileKeys(next);
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
  if (typeof value !== 'string') return createAnonymizer(value, path);
  try {
    return createAnonymizer({ anonymize: value }, path);
  } catch (error) {
    // A bare mode is the option itself: its problems (an unknown mode, `hmac` without a key) are
    // reported at `path`, not at `path.anonymize`.
    if (!(error instanceof ConfigError)) throw error;
    const own = joinPath(path, 'anonymize');
    throw new ConfigError(error.issues.map((i) => (i.path === own ? { ...i, path } : i)));
  }
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
