/**
 * Cloudflare's published edge ranges (the addresses Cloudflare connects to origins from).
 *
 * Source: https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6 (also served by
 * the API: https://api.cloudflare.com/client/v4/ips). Copied on 2026-11-27 from the snapshot in
 * realclientip-go `ranges/cloudflare.go` (commit 12f86d0), which is generated from those pages.
 * To refresh, see docs/presets.md ("Refreshing the range lists").
 */
export const CLOUDFLARE = Object.freeze({
  source: 'https://www.cloudflare.com/ips-v4 + https://www.cloudflare.com/ips-v6',
  retrieved: '2026-11-27',
  ranges: Object.freeze([
    '103.21.244.0/22',
    '103.22.200.0/22',
    '103.31.4.0/22',
    '104.16.0.0/13',
    '104.24.0.0/14',
    '108.162.192.0/18',
    '131.0.72.0/22',
    '141.101.64.0/18',
    '162.158.0.0/15',
    '172.64.0.0/13',
    '173.245.48.0/20',
    '188.114.96.0/20',
    '190.93.240.0/20',
    '197.234.240.0/22',
    '198.41.128.0/17',
    '2400:cb00::/32',
    '2405:8100::/32',
    '2405:b500::/32',
    '2606:4700::/32',
    '2803:f800::/32',
    '2a06:98c0::/29',
    '2c0f:f248::/32',
  ] as const),
});
