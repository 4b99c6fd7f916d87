/**
 * Google Front End (GFE) source ranges: the addresses Google Cloud's global external Application
 * Load Balancer (and its health checks) connect to backends from.
 *
 * Source: https://cloud.google.com/load-balancing/docs/https (firewall rules: "35.191.0.0/16 and
 * 130.211.0.0/22"), also https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges.
 * Recorded on 2026-11-27 from the research notes (resolution-anchors.md §3). These two blocks have
 * been stable for years; Google publishes no machine-readable list of them.
 */
export const GCP_GFE = Object.freeze({
  source: 'https://cloud.google.com/load-balancing/docs/https#firewall-rules',
  retrieved: '2026-11-27',
  ranges: Object.freeze(['35.191.0.0/16', '130.211.0.0/22'] as const),
});
