/**
 * A small writer for the MaxMind DB format (spec v2.0, https://maxmind.github.io/MaxMind-DB/), so
 * the test suite can build the fixture databases it needs instead of shipping binary files.
 *
 * Layout written: the binary search tree (24, 28 or 32-bit records), 16 zero bytes, the data
 * section (each distinct record once; optionally pointers for repeated keys and values), then
 * `\xab\xcd\xefMaxMind.com` and the metadata map. In an IPv6 tree IPv4 networks live under
 * `::/96`; `ipv4Aliases` also points `::ffff:0:0/96` and `2002::/16` at that subtree, as MaxMind
 * does. Later networks in the list override earlier ones where they overlap (more specific
 * networks are inserted last regardless of order).
 *
 * Values: JS strings are utf8_string, booleans boolean, integers uint32 (doubles when not
 * integral), arrays array, plain objects map; use the wrappers (`u16`, `u64`, `i32`, `f32`,
 * `f64`, `u128`, `bytes`) to pick another type.
 */
import { isIP } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

const TYPED = Symbol('mmdb-typed');

interface Typed {
  readonly [TYPED]: true;
  readonly type: 'u16' | 'u32' | 'u64' | 'u128' | 'i32' | 'f32' | 'f64' | 'bytes';
  readonly value: number | bigint | Uint8Array;
}

export type MmdbValue =
  string | number | boolean | Typed | readonly MmdbValue[] | { readonly [key: string]: MmdbValue };

const typed = (type: Typed['type'], value: Typed['value']): Typed => ({ [TYPED]: true, type, value });
export const u16 = (n: number): Typed => typed('u16', n);
export const u32 = (n: number): Typed => typed('u32', n);
export const u64 = (n: number | bigint): Typed => typed('u64', BigInt(n));
export const u128 = (n: number | bigint): Typed => typed('u128', BigInt(n));
export const i32 = (n: number): Typed => typed('i32', n);
export const f32 = (n: number): Typed => typed('f32', n);
export const f64 = (n: number): Typed => typed('f64', n);
export const bytes = (b: Uint8Array): Typed => typed('bytes', b);

function isTyped(v: unknown): v is Typed {
  return typeof v === 'object' && v !== null && TYPED in v;
}

// Type numbers from the spec.
const T_POINTER = 1;
const T_STRING = 2;
const T_DOUBLE = 3;
const T_BYTES = 4;
const T_U16 = 5;
const T_U32 = 6;
const T_MAP = 7;
const T_I32 = 8;
const T_U64 = 9;
const T_U128 = 10;
const T_ARRAY = 11;
const T_BOOLEAN = 14;
const T_FLOAT = 15;

/** Growable byte buffer. */
class Out {
  buf = Buffer.alloc(1024);
  len = 0;

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** Control byte(s) for `type` with payload `size` (element count for maps/arrays). */
function control(out: Out, type: number, size: number): void {
  if (size < 0 || size > 16_843_036) throw new Error(`mmdb-writer: size ${size} out of range`);
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 285) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 65_821) {
    sizeBits = 30;
    const v = size - 285;
    extra.push(v >>> 8, v & 0xff);
  } else {
    sizeBits = 31;
    const v = size - 65_821;
    extra.push(v >>> 16, (v >>> 8) & 0xff, v & 0xff);
  }
  if (type <= 7) {
    out.byte((type << 5) | sizeBits);
  } else {
    out.byte(sizeBits);
    out.byte(type - 7);
  }
  for (const b of extra) out.byte(b);
}

/** Minimal big-endian bytes of an unsigned integer. */
function uintBytes(v: bigint, maxBytes: number): number[] {
  if (v < 0n || v >= 1n << BigInt(maxBytes * 8))
    throw new Error(`mmdb-writer: ${v} does not fit ${maxBytes} bytes`);
  const out: number[] = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

function pointer(out: Out, target: number): void {
  if (target < 2048) {
    out.byte((T_POINTER << 5) | (0 << 3) | (target >>> 8));
    out.byte(target & 0xff);
  } else if (target < 2048 + 524_288) {
    const v = target - 2048;
    out.byte((T_POINTER << 5) | (1 << 3) | (v >>> 16));
    out.byte((v >>> 8) & 0xff);
    out.byte(v & 0xff);
  } else if (target < 526_336 + 134_217_728) {
    const v = target - 526_336;
    out.byte((T_POINTER << 5) | (2 << 3) | (v >>> 24));
    out.byte((v >>> 16) & 0xff);
    out.byte((v >>> 8) & 0xff);
    out.byte(v & 0xff);
  } else {
    out.byte((T_POINTER << 5) | (3 << 3));
    out.byte((target >>> 24) & 0xff);
    out.byte((target >>> 16) & 0xff);
    out.byte((target >>> 8) & 0xff);
    out.byte(target & 0xff);
  }
}

/**
 * Encodes values into a data section. With `pointers`, a key or value whose encoding was already
 * written (and is longer than a pointer) is written as a pointer to the first copy.
 */
class Encoder {
  readonly out = new Out();
  private readonly seen = new Map<string, number>();

  constructor(private readonly pointers: boolean) {}

  /** Encodes `v` and returns its offset in the section (reusing an identical earlier record). */
  record(v: MmdbValue): number {
    const key = plainBytes(v).toString('latin1');
    const known = this.seen.get(key);
    if (known !== undefined) return known;
    const at = this.out.len;
    this.value(v);
    this.seen.set(key, at);
    return at;
  }

  private value(v: MmdbValue): void {
    if (this.pointers) {
      const plain = plainBytes(v);
      if (plain.length > 5) {
        const key = plain.toString('latin1');
        const known = this.seen.get(key);
        if (known !== undefined) {
          pointer(this.out, known);
          return;
        }
        this.seen.set(key, this.out.len);
      }
    }
    encodeInto(this.out, v, (child) => this.value(child));
  }
}

/** The encoding of `v` without pointers (also the dedupe key). */
function plainBytes(v: MmdbValue): Buffer {
  const out = new Out();
  const rec = (x: MmdbValue): void => encodeInto(out, x, rec);
  rec(v);
  return out.result();
}

function encodeInto(out: Out, v: MmdbValue, child: (v: MmdbValue) => void): void {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    control(out, T_STRING, b.length);
    out.bytes(b);
  } else if (typeof v === 'boolean') {
    control(out, T_BOOLEAN, v ? 1 : 0);
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) encodeInto(out, u32(v), child);
    else encodeInto(out, f64(v), child);
  } else if (isTyped(v)) {
    switch (v.type) {
      case 'u16':
      case 'u32':
      case 'u64':
      case 'u128': {
        const max = { u16: 2, u32: 4, u64: 8, u128: 16 }[v.type];
        const type = { u16: T_U16, u32: T_U32, u64: T_U64, u128: T_U128 }[v.type];
        const b = uintBytes(BigInt(v.value as number | bigint), max);
        control(out, type, b.length);
        for (const x of b) out.byte(x);
        break;
      }
      case 'i32': {
        const n = v.value as number;
        const b = uintBytes(BigInt(n >>> 0), 4);
        // Negative numbers need all four bytes (the sign bit is the leftmost bit).
        while (n < 0 && b.length < 4) b.unshift(0);
        control(out, T_I32, b.length);
        for (const x of b) out.byte(x);
        break;
      }
      case 'f64': {
        const b = Buffer.alloc(8);
        b.writeDoubleBE(v.value as number);
        control(out, T_DOUBLE, 8);
        out.bytes(b);
        break;
      }
      case 'f32': {
        const b = Buffer.alloc(4);
        b.writeFloatBE(v.value as number);
        control(out, T_FLOAT, 4);
        out.bytes(b);
        break;
      }
      case 'bytes': {
        const b = v.value as Uint8Array;
        control(out, T_BYTES, b.length);
        out.bytes(b);
        break;
      }
    }
  } else if (Array.isArray(v)) {
    control(out, T_ARRAY, v.length);
    for (const x of v as readonly MmdbValue[]) child(x);
  } else {
    const entries = Object.entries(v as Record<string, MmdbValue>);
    control(out, T_MAP, entries.length);
    for (const [k, x] of entries) {
      child(k);
      child(x);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Search tree
// ---------------------------------------------------------------------------------------------

type Rec = { kind: 'empty' } | { kind: 'data'; index: number } | { kind: 'node'; node: TreeNode };

interface TreeNode {
  left: Rec;
  right: Rec;
}

const EMPTY: Rec = { kind: 'empty' };

function newNode(fill: Rec = EMPTY): TreeNode {
  return { left: fill, right: fill };
}

/** Network address bits (MSB first) and prefix length in the tree's address space. */
function networkBits(cidr: string, ipVersion: 4 | 6): { bits: number[]; prefix: number } {
  const slash = cidr.indexOf('/');
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) throw new Error(`mmdb-writer: not an IP in "${cidr}"`);
  const full = family === 4 ? 32 : 128;
  const prefix = slash < 0 ? full : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > full)
    throw new Error(`mmdb-writer: bad prefix in "${cidr}"`);
  let bits = addressBits(addr, family as 4 | 6);
  if (family === 6 && ipVersion === 4) throw new Error(`mmdb-writer: IPv6 network "${cidr}" in an IPv4 tree`);
  if (family === 4 && ipVersion === 6)
    return { bits: new Array<number>(96).fill(0).concat(bits), prefix: prefix + 96 };
  bits = bits.slice(0, full);
  return { bits, prefix };
}

function addressBits(addr: string, family: 4 | 6): number[] {
  let value: bigint;
  if (family === 4) {
    value = addr.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  } else {
    let text = addr;
    const dot = text.lastIndexOf(':');
    if (text.includes('.')) {
      const v4 = text
        .slice(dot + 1)
        .split('.')
        .map(Number);
      text = `${text.slice(0, dot + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
    }
    const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups =
      tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
    value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  }
  const n = family === 4 ? 32 : 128;
  const bits: number[] = [];
  for (let i = n - 1; i >= 0; i--) bits.push(Number((value >> BigInt(i)) & 1n));
  return bits;
}

function getRec(node: TreeNode, bit: number): Rec {
  return bit ? node.right : node.left;
}

function setRec(node: TreeNode, bit: number, rec: Rec): void {
  if (bit) node.right = rec;
  else node.left = rec;
}

// ---------------------------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------------------------

export interface MmdbNetwork {
  /** `a.b.c.d/n`, `v6::/n` or a bare address. IPv4 in an IPv6 tree goes under `::/96`. */
  network: string;
  data: MmdbValue;
}

export interface MmdbWriteOptions {
  networks: readonly MmdbNetwork[];
  /** @default 6 */
  ipVersion?: 4 | 6;
  /** @default 24 */
  recordSize?: 24 | 28 | 32;
  /** @default 'Test-DB' */
  databaseType?: string;
  /** @default ['en'] */
  languages?: readonly string[];
  /** @default { en: 'realip test fixture' } */
  description?: Readonly<Record<string, string>>;
  /** Seconds since the epoch, or a Date. @default now */
  buildEpoch?: number | Date;
  /** IPv6 trees: alias `::ffff:0:0/96` and `2002::/16` to the IPv4 subtree. @default false */
  ipv4Aliases?: boolean;
  /** Use pointers for repeated keys and values inside the data section. @default false */
  pointers?: boolean;
  /** Extra metadata keys (to test readers against unknown keys). */
  extraMetadata?: Readonly<Record<string, MmdbValue>>;
}

/** Builds an MMDB file in memory. */
export function writeMmdb(options: MmdbWriteOptions): Buffer {
  const ipVersion = options.ipVersion ?? 6;
  const recordSize = options.recordSize ?? 24;
  const encoder = new Encoder(options.pointers ?? false);

  // Data records first (their offsets go into the tree).
  const offsets: number[] = [];
  const parsed = options.networks.map((n, i) => {
    offsets.push(encoder.record(n.data));
    return { ...networkBits(n.network, ipVersion), index: i };
  });
  // Less specific first, so that more specific networks override them; stable within a length.
  parsed.sort((a, b) => a.prefix - b.prefix || a.index - b.index);

  const root = newNode();
  for (const { bits, prefix, index } of parsed) {
    const leaf: Rec = { kind: 'data', index };
    if (prefix === 0) {
      // The whole space: both root records.
      root.left = leaf;
      root.right = leaf;
      continue;
    }
    let node = root;
    for (let depth = 0; depth < prefix - 1; depth++) {
      const bit = bits[depth]!;
      const rec = getRec(node, bit);
      if (rec.kind === 'node') {
        node = rec.node;
      } else {
        // Split an empty or data record: the new node inherits it on both sides.
        const child = newNode(rec);
        setRec(node, bit, { kind: 'node', node: child });
        node = child;
      }
    }
    setRec(node, bits[prefix - 1]!, leaf);
  }

  if (ipVersion === 6 && options.ipv4Aliases) {
    // The IPv4 root is the node reached by 96 zero bits; make sure it exists.
    let node = root;
    for (let depth = 0; depth < 96; depth++) {
      const rec = node.left;
      if (rec.kind === 'node') node = rec.node;
      else {
        const child = newNode(rec);
        node.left = { kind: 'node', node: child };
        node = child;
      }
    }
    const v4root: Rec = { kind: 'node', node };
    alias(root, networkBits('::ffff:0:0/96', 6), v4root);
    alias(root, networkBits('2002::/16', 6), v4root);
  }

  // Number the nodes breadth first (aliases make the tree a DAG: each node once).
  const order: TreeNode[] = [];
  const ids = new Map<TreeNode, number>();
  const queue: TreeNode[] = [root];
  ids.set(root, 0);
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    order.push(node);
    for (const rec of [node.left, node.right]) {
      if (rec.kind === 'node' && !ids.has(rec.node)) {
        ids.set(rec.node, ids.size);
        queue.push(rec.node);
      }
    }
  }
  const nodeCount = order.length;
  const data = encoder.out.result();
  const maxValue = nodeCount + 16 + data.length;
  if (maxValue >= 2 ** recordSize)
    throw new Error(`mmdb-writer: ${recordSize}-bit records cannot address ${maxValue}`);

  const recValue = (rec: Rec): number => {
    if (rec.kind === 'empty') return nodeCount;
    if (rec.kind === 'node') return ids.get(rec.node)!;
    return nodeCount + 16 + offsets[rec.index]!;
  };

  const nodeBytes = recordSize / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  order.forEach((node, i) => {
    const l = recValue(node.left);
    const r = recValue(node.right);
    const o = i * nodeBytes;
    if (recordSize === 24) {
      tree.writeUIntBE(l, o, 3);
      tree.writeUIntBE(r, o + 3, 3);
    } else if (recordSize === 28) {
      tree.writeUIntBE(l & 0xffffff, o, 3);
      tree[o + 3] = ((l >>> 24) << 4) | (r >>> 24);
      tree.writeUIntBE(r & 0xffffff, o + 4, 3);
    } else {
      tree.writeUInt32BE(l, o);
      tree.writeUInt32BE(r, o + 4);
    }
  });

  const epoch = options.buildEpoch ?? new Date();
  const buildEpoch = typeof epoch === 'number' ? epoch : Math.floor(epoch.getTime() / 1000);
  const meta = new Out();
  const metaValue: Record<string, MmdbValue> = {
    binary_format_major_version: u16(2),
    binary_format_minor_version: u16(0),
    build_epoch: u64(buildEpoch),
    database_type: options.databaseType ?? 'Test-DB',
    description: options.description ?? { en: 'realip test fixture' },
    ip_version: u16(ipVersion),
    languages: options.languages ?? ['en'],
    node_count: u32(nodeCount),
    record_size: u16(recordSize),
    ...options.extraMetadata,
  };
  const rec = (x: MmdbValue): void => encodeInto(meta, x, rec);
  rec(metaValue);

  return Buffer.concat([
    tree,
    Buffer.alloc(16),
    data,
    Buffer.from([0xab, 0xcd, 0xef]),
    Buffer.from('MaxMind.com', 'ascii'),
    meta.result(),
  ]);
}

/** Points the record at the end of `net`'s path at `target` (creating nodes on the way). */
function alias(root: TreeNode, net: { bits: number[]; prefix: number }, target: Rec): void {
  let node = root;
  for (let depth = 0; depth < net.prefix - 1; depth++) {
    const bit = net.bits[depth]!;
    const rec = getRec(node, bit);
    if (rec.kind === 'node') node = rec.node;
    else {
      const child = newNode(rec);
      setRec(node, bit, { kind: 'node', node: child });
      node = child;
    }
  }
  setRec(node, net.bits[net.prefix - 1]!, target);
}
