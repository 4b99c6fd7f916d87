/**
 * Rate-limit keys. The default key is the client's canonical IP, with IPv6 aggregated to a prefix
 * (default /64: one customer LAN, so rotating through a /64 cannot mint 2^64 buckets) and
 * IPv4-mapped IPv6 unmapped (`::ffff:192.0.2.1` shares the bucket of `192.0.2.1`).
 */
import { IPV4, IPV6, NOT_IP, formatIpv4, formatIpv6, parseIpInto, type IpKind } from '../core/ip.js';

/** The key shared by every request whose client IP is undeterminable (`undeterminable: 'deny'`). */
export const UNDETERMINABLE_KEY = '!undeterminable';

/**
 * Parses a client IP once per request and derives its key. After `derive()`, `kind` and `words`
 * hold the parsed address (for tier matching) until the next call.
 */
export class KeyDeriver {
  kind: IpKind = NOT_IP;
  readonly words = new Uint32Array(4);
  private readonly masked = new Uint32Array(4);
  private readonly suffix: string;

  constructor(private readonly ipv6Prefix: number) {
    this.suffix = ipv6Prefix === 128 ? '' : `/${ipv6Prefix}`;
  }

  /** The key of `ip`, or undefined when `ip` is not an IP (then `kind` is 0). */
  derive(ip: string): string | undefined {
    const kind = parseIpInto(ip, 0, ip.length, this.words, 0);
    this.kind = kind;
    if (kind === IPV4) {
      // A dotted quad the strict parser accepts is already canonical; only mapped forms need formatting.
      return ip.charCodeAt(0) === 0x3a || ip.indexOf(':') >= 0 ? formatIpv4(this.words[0]!) : ip;
    }
    if (kind !== IPV6) return undefined;
    const w = this.words;
    const m = this.masked;
    let bits = this.ipv6Prefix;
    for (let i = 0; i < 4; i++) {
      if (bits >= 32) m[i] = w[i]!;
      else if (bits <= 0) m[i] = 0;
      else m[i] = (w[i]! & (0xffffffff << (32 - bits))) >>> 0;
      bits -= 32;
    }
    return formatIpv6(m[0]!, m[1]!, m[2]!, m[3]!) + this.suffix;
  }
}

/** Convenience for tests and custom key functions: the default key of an address string. */
export function rateLimitKey(ip: string, ipv6Prefix = 64): string | undefined {
  return new KeyDeriver(ipv6Prefix).derive(ip);
}
