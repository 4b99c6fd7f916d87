/**
 * Reference PROXY protocol encoder for tests, written from the specification
 * (haproxy doc/proxy-protocol.txt), independently of the parser.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface V1Spec {
  proto: 'TCP4' | 'TCP6' | 'UNKNOWN';
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
}

export function encodeV1(h: V1Spec): Buffer {
  if (h.proto === 'UNKNOWN') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY ${h.proto} ${h.src} ${h.dst} ${h.srcPort} ${h.dstPort}\r\n`, 'latin1');
}

/** Expands an IPv6 literal to 16 bytes (test helper; uses URL parsing for the heavy lifting). */
export function ipv6Bytes(ip: string): Buffer {
  const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1); // normalised, no embedded v4
  const [head, tail] = host.includes('::') ? host.split('::') : [host, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

export interface V2Spec {
  command: 0 | 1;
  /** family/transport byte */
  fam: number;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  /** raw address block for UNIX or custom */
  block?: Buffer;
  tlvs?: Array<{ type: number; value: Buffer }>;
  /** extra bytes counted in len after TLVs (padding) */
  pad?: number;
}

export function encodeV2(h: V2Spec): Buffer {
  let block: Buffer;
  if (h.block) block = h.block;
  else if (h.fam === 0x11 || h.fam === 0x12) {
    block = Buffer.alloc(12);
    ipv4Bytes(h.src!).copy(block, 0);
    ipv4Bytes(h.dst!).copy(block, 4);
    block.writeUInt16BE(h.srcPort!, 8);
    block.writeUInt16BE(h.dstPort!, 10);
  } else if (h.fam === 0x21 || h.fam === 0x22) {
    block = Buffer.alloc(36);
    ipv6Bytes(h.src!).copy(block, 0);
    ipv6Bytes(h.dst!).copy(block, 16);
    block.writeUInt16BE(h.srcPort!, 32);
    block.writeUInt16BE(h.dstPort!, 34);
  } else if (h.fam === 0x31 || h.fam === 0x32) {
    block = Buffer.alloc(216);
    block.write('/tmp/src.sock', 0, 'latin1');
    block.write('/tmp/dst.sock', 108, 'latin1');
  } else block = Buffer.alloc(0);
  const tlvs = (h.tlvs ?? []).map(({ type, value }) => {
    const t = Buffer.alloc(3 + value.length);
    t[0] = type;
    t.writeUInt16BE(value.length, 1);
    value.copy(t, 3);
    return t;
  });
  const body = Buffer.concat([block, ...tlvs, Buffer.alloc(h.pad ?? 0)]);
  const head = Buffer.alloc(16);
  V2_SIG.copy(head, 0);
  head[12] = 0x20 | h.command;
  head[13] = h.fam;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

/** Canonical form used to compare addresses: IPv4-mapped IPv6 reads as IPv4, lower-case v6. */
export function canon(ip: string): string {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) throw new Error(`not an IP: ${ip}`);
  const b = ipv6Bytes(ip);
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}
