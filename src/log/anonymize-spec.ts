/**
 * The anonymiser's options, defined once: `createAnonymizer` (and `anonymizer.setKeys`) validate
 * through these schemas; the access log (./spec.ts) and the policy file's `log` section reuse the same
 * field objects. See src/spec/spec.ts.
 */
import * as z from 'zod/mini';
import { opt, rules, type Rule, type SameKeys } from '../spec/spec.js';

/** How addresses are written to logs, metrics, top-clients and problem bodies. */
export type AnonymizeMode = 'none' | 'truncate' | 'hmac' | 'drop';
export const ANONYMIZE_MODES: readonly AnonymizeMode[] = ['none', 'truncate', 'hmac', 'drop'];

/** A key id: written into every pseudonym (`hmac:<id>:...`). */
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** The shortest HMAC secret accepted, in bytes. */
const MIN_SECRET_BYTES = 16;
const HMAC_KEY = 'ERR_REALIP_HMAC_KEY';

const byteLength = (s: string | Uint8Array): number =>
  typeof s === 'string' ? Buffer.byteLength(s, 'utf8') : s.byteLength;

/**
 * An HMAC secret: a string or bytes, at least 16 bytes. A wrong kind of value is reported as a type
 * error (not a custom one), so a union holding it narrows to the branch the input was written for.
 */
const secretSchema = z.unknown().check(
  z.superRefine((v, ctx) => {
    if (typeof v !== 'string' && !(v instanceof Uint8Array)) {
      ctx.addIssue({ code: 'invalid_type', expected: 'a string or bytes' as never, input: v });
      return;
    }
    const n = byteLength(v);
    if (n < MIN_SECRET_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `too short (${n} bytes; use at least ${MIN_SECRET_BYTES}, ideally 32 random bytes)`,
        params: { code: HMAC_KEY },
        input: '<secret>',
      });
    }
  }),
);

const hmacKeyObject = z.strictObject({
  id: z.string().check(z.regex(KEY_ID, 'expected 1 to 32 letters, digits, "_" or "-"')),
  secret: secretSchema,
});

const hmacKeyList = z.array(hmacKeyObject).check(z.minLength(1));

export interface KeysShape {
  anonymize?: unknown;
  hmacKey?: unknown;
  hmacKeys?: unknown;
}

/** Ids of valid keys are unique (a line must say which key made it). */
export const uniqueKeyIds: Rule<KeysShape> = (o, report) => {
  if (!Array.isArray(o.hmacKeys)) return;
  const seen = new Set<string>();
  o.hmacKeys.forEach((k: unknown, i) => {
    if (k === null || typeof k !== 'object') return;
    const { id, secret } = k as { id?: unknown; secret?: unknown };
    // Keys with their own problems are reported as such, not as duplicates.
    if (typeof id !== 'string' || !KEY_ID.test(id)) return;
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) return;
    if (byteLength(secret) < MIN_SECRET_BYTES) return;
    if (seen.has(id)) report(['hmacKeys', i, 'id'], `duplicate key id "${id}"`, HMAC_KEY);
    seen.add(id);
  });
};

/** `hmac` needs a key; one key option at a time. */
export const keyOptions: Rule<KeysShape> = (o, report) => {
  if (o.hmacKey !== undefined && o.hmacKeys !== undefined)
    report(['hmacKey'], 'give hmacKey or hmacKeys, not both');
  if (o.anonymize === 'hmac' && o.hmacKey === undefined && o.hmacKeys === undefined)
    report(
      ['anonymize'],
      'hmac needs a key (got no hmacKey or hmacKeys, expected one of them): an unkeyed hash of an IPv4 address is reversible',
      HMAC_KEY,
    );
};

export const anonymizeMode = opt(z.enum(['none', 'truncate', 'hmac', 'drop']), {
  description:
    'How addresses appear in every output (logs, metrics, top clients, problem bodies): `truncate` keeps IPv4 /24 and IPv6 /48 (still personal data, less precise), `hmac` writes a keyed pseudonym `hmac:<keyId>:<hex>` (rotatable), `drop` removes addresses.',
  default: 'none',
});

/** Anonymiser options a policy file can hold too. */
export const anonymizeDataFields = {
  hmacLength: opt(z.int().check(z.minimum(8), z.maximum(64)), {
    description:
      'Hex digits of the HMAC kept in a pseudonym: 16 (64 bits) make collisions negligible for any realistic number of clients.',
    default: 16,
  }),
  truncate: opt(
    z.strictObject({
      v4: opt(z.int().check(z.minimum(0), z.maximum(32)), { description: 'IPv4 prefix kept.', default: 24 }),
      v6: opt(z.int().check(z.minimum(0), z.maximum(128)), { description: 'IPv6 prefix kept.', default: 48 }),
    }),
    {
      description: "Prefix lengths kept by `anonymize: truncate` (Google Analytics' IP anonymisation).",
      default: { v4: 24, v6: 48 },
    },
  ),
};

/** Anonymiser options only code can give (secrets as values; a cache size). */
export const anonymizeCodeFields = {
  cacheSize: opt(z.int().check(z.minimum(0)), {
    description:
      'Pseudonyms remembered per key (an HMAC costs a few microseconds; a flood of one address should not pay it per request); the cache is cleared when full.',
    default: 4096,
  }),
  hmacKey: opt(z.union([secretSchema, hmacKeyObject]), {
    description:
      'The HMAC key for `anonymize: hmac`: `{ id, secret }` or a bare secret (its id is `k` + the first 8 hex digits of its SHA-256). At least 16 bytes.',
    code: HMAC_KEY,
  }),
  hmacKeys: opt(hmacKeyList, {
    description:
      'Keys for rotation, current first: output uses the first; the others only serve `pseudonyms()`, to find lines written under older keys.',
    code: HMAC_KEY,
  }),
};

/** `createAnonymizer(options)`. */
export const anonymizerSpec = z
  .strictObject({
    anonymize: anonymizeMode,
    ...anonymizeDataFields,
    ...anonymizeCodeFields,
  })
  .check(rules<KeysShape>(keyOptions, uniqueKeyIds));

/** `anonymizer.setKeys(keys)`. */
export const hmacKeysSpec = z
  .strictObject({ hmacKeys: anonymizeCodeFields.hmacKeys })
  .check(rules(uniqueKeyIds));

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

/** Options of {@link createAnonymizer} (policy file: `log.anonymize`, `log.hmacKeyEnv`, ...). */
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

// The interface carries the TSDoc users see; the compiler keeps its option names equal to the spec's.
const _anonymizeKeys: SameKeys<AnonymizeOptions, z.input<typeof anonymizerSpec>> = true;
void _anonymizeKeys;
