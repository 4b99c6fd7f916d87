/**
 * Special-purpose networks that no GeoIP database can place: RFC 1918 private space, loopback,
 * link-local, RFC 6598 carrier-grade NAT and RFC 4193 unique local IPv6. They are tagged, not
 * looked up: seeing them as "the client" usually means SNAT (Kubernetes `externalTrafficPolicy:
 * Cluster`) or a missing trusted proxy, and a lookup would only add noise or, with a database
 * that covers them oddly, a wrong country.
 */
import type { GeoInfo, SpecialNetwork } from '../types.js';
import { IPV4, IPV6, type IpKind } from '../core/ip.js';

export const SPECIAL_NETWORKS: readonly SpecialNetwork[] = Object.freeze([
  'private',
  'loopback',
  'linklocal',
  'cgnat',
  'ula',
]);

/** The frozen answers handed out for special networks (one shared object per kind). */
export const SPECIAL_GEO: Readonly<Record<SpecialNetwork, GeoInfo>> = Object.freeze({
  private: Object.freeze({ network: 'private' }),
  loopback: Object.freeze({ network: 'loopback' }),
  linklocal: Object.freeze({ network: 'linklocal' }),
  cgnat: Object.freeze({ network: 'cgnat' }),
  ula: Object.freeze({ network: 'ula' }),
});

/** Which special network a parsed address belongs to, or undefined. Pure uint32 math. */
export function specialNetworkOf(kind: IpKind, w: Uint32Array): SpecialNetwork | undefined {
  if (kind === IPV4) {
    const v = w[0]!;
    const a = v >>> 24;
    if (a === 10) return 'private';
    if (a === 127) return 'loopback';
    if (a === 172 && (v & 0xfff00000) >>> 0 === 0xac100000) return 'private'; // 172.16.0.0/12
    if (a === 192 && (v & 0xffff0000) >>> 0 === 0xc0a80000) return 'private'; // 192.168.0.0/16
    if (a === 169 && (v & 0xffff0000) >>> 0 === 0xa9fe0000) return 'linklocal'; // 169.254.0.0/16
    if (a === 100 && (v & 0xffc00000) >>> 0 === 0x64400000) return 'cgnat'; // 100.64.0.0/10
    return undefined;
  }
  if (kind === IPV6) {
    const w0 = w[0]!;
    const top = w0 >>> 16;
    if ((top & 0xfe00) === 0xfc00) return 'ula'; // fc00::/7
    if ((top & 0xffc0) === 0xfe80) return 'linklocal'; // fe80::/10
    if (w0 === 0 && w[1] === 0 && w[2] === 0 && w[3] === 1) return 'loopback'; // ::1
  }
  return undefined;
}
