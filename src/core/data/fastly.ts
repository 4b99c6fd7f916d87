/**
 * Fastly's published ranges (all Fastly-owned addresses; origin connections come from them).
 *
 * Source: https://api.fastly.com/public-ip-list (`addresses` and `ipv6_addresses`). Copied on
 * 2026-11-27 from a stored copy of that list (python/psf-salt `pillar/base/firewall/fastly-logging.sls`,
 * which cites the same URL; the IPv4 set matches several other independent copies). Fastly announces
 * changes in advance on its status page. To refresh, see docs/presets.md.
 */
export const FASTLY = Object.freeze({
  source: 'https://api.fastly.com/public-ip-list',
  retrieved: '2026-11-27',
  ranges: Object.freeze([
    '23.235.32.0/20',
    '43.249.72.0/22',
    '103.244.50.0/24',
    '103.245.222.0/23',
    '103.245.224.0/24',
    '104.156.80.0/20',
    '140.248.64.0/18',
    '140.248.128.0/17',
    '146.75.0.0/17',
    '151.101.0.0/16',
    '157.52.64.0/18',
    '167.82.0.0/17',
    '167.82.128.0/20',
    '167.82.160.0/20',
    '167.82.224.0/20',
    '172.111.64.0/18',
    '185.31.16.0/22',
    '199.27.72.0/21',
    '199.232.0.0/16',
    '2a04:4e40::/32',
    '2a04:4e42::/32',
  ] as const),
});
