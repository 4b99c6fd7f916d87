/**
 * Provider presets: each fixes the header and the walk for one kind of deployment, and adds the
 * provider's published ranges where it publishes them. Where the trusted addresses belong to the
 * deployment (ALB subnets, ingress pod CIDR, Akamai's per-customer ranges, Front Door's service
 * tag), the preset requires `trustedProxies` and construction fails without them.
 *
 * docs/presets.md documents each one: its trust rule, its tenant check and how to refresh ranges.
 */
import type { PresetName } from '../types.js';
import { CLOUDFLARE } from '../core/data/cloudflare.js';
import { CLOUDFRONT } from '../core/data/cloudfront.js';
import { FASTLY } from '../core/data/fastly.js';
import { GCP_GFE } from '../core/data/gcp.js';

/** Static facts about a preset (see docs/presets.md). */
export interface PresetSpec {
  readonly name: PresetName;
  /** The header the provider writes (lower case). */
  readonly header: string;
  /** Other headers the preset object may select with `header` (documented trade-offs). */
  readonly headerChoices: readonly string[];
  /** Published ranges trusted as peers; empty when the provider publishes none. */
  readonly ranges: readonly string[];
  /** Where `ranges` come from, and when they were copied. */
  readonly rangesSource: string | undefined;
  readonly rangesRetrieved: string | undefined;
  /** The deployment must name its own trusted proxies. */
  readonly requiresTrustedProxies: string | undefined;
  /** `hops` fixed by the preset (0: walk by trust). The preset object may override it when `hopsOverride`. */
  readonly hops: number;
  readonly hopsOverride: boolean;
  /** Default tenant-check header name; when `requiresTenantCheck`, `requireHeader` is mandatory. */
  readonly tenantHeader: string | undefined;
  readonly requiresTenantCheck: boolean;
  /** The header value is always `ip:port` (the port is stripped after the last colon). */
  readonly valueHasPort: boolean;
  /** Cloudflare Pseudo IPv4: a 240.0.0.0/4 value defers to `cf-connecting-ipv6`. */
  readonly pseudoIpv4: boolean;
}

function spec(p: Partial<PresetSpec> & Pick<PresetSpec, 'name' | 'header'>): PresetSpec {
  return Object.freeze({
    headerChoices: [],
    ranges: [],
    rangesSource: undefined,
    rangesRetrieved: undefined,
    requiresTrustedProxies: undefined,
    hops: 0,
    hopsOverride: false,
    tenantHeader: undefined,
    requiresTenantCheck: false,
    valueHasPort: false,
    pseudoIpv4: false,
    ...p,
  });
}

/** Every preset, by name. */
export const PRESETS: Readonly<Record<PresetName, PresetSpec>> = Object.freeze({
  cloudflare: spec({
    name: 'cloudflare',
    header: 'cf-connecting-ip',
    ranges: CLOUDFLARE.ranges,
    rangesSource: CLOUDFLARE.source,
    rangesRetrieved: CLOUDFLARE.retrieved,
    pseudoIpv4: true,
  }),
  cloudfront: spec({
    name: 'cloudfront',
    header: 'cloudfront-viewer-address',
    ranges: CLOUDFRONT.ranges,
    rangesSource: CLOUDFRONT.source,
    rangesRetrieved: CLOUDFRONT.retrieved,
    valueHasPort: true,
  }),
  'gcp-lb': spec({
    name: 'gcp-lb',
    header: 'x-forwarded-for',
    ranges: GCP_GFE.ranges,
    rangesSource: GCP_GFE.source,
    rangesRetrieved: GCP_GFE.retrieved,
    hops: 2,
    hopsOverride: true,
  }),
  'aws-alb': spec({
    name: 'aws-alb',
    header: 'x-forwarded-for',
    requiresTrustedProxies: 'the subnets of your Application Load Balancer (or the VPC CIDR)',
  }),
  'azure-front-door': spec({
    name: 'azure-front-door',
    header: 'x-azure-socketip',
    requiresTrustedProxies:
      'the AzureFrontDoor.Backend service-tag ranges (Microsoft publishes them weekly; see docs/presets.md)',
    tenantHeader: 'x-azure-fdid',
    requiresTenantCheck: true,
  }),
  akamai: spec({
    name: 'akamai',
    header: 'true-client-ip',
    requiresTrustedProxies: 'the Akamai ranges of your configuration (Akamai publishes them per customer)',
  }),
  fastly: spec({
    name: 'fastly',
    header: 'x-forwarded-for',
    headerChoices: ['fastly-client-ip'],
    ranges: FASTLY.ranges,
    rangesSource: FASTLY.source,
    rangesRetrieved: FASTLY.retrieved,
  }),
  'ingress-nginx': spec({
    name: 'ingress-nginx',
    header: 'x-forwarded-for',
    requiresTrustedProxies: 'the ingress controller pod CIDR (and any load balancer in front of it)',
  }),
});

/** Preset names, for validation messages. */
export const PRESET_NAMES = Object.freeze(Object.keys(PRESETS) as PresetName[]);

/** Headers that must never be the one believed, with the reason shown in the ConfigError. */
export const FORBIDDEN_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-original-forwarded-for':
    'ingress-nginx copies the client-supplied X-Forwarded-For into it, so every entry is spoofable; use x-forwarded-for with the ingress pod CIDR trusted (preset "ingress-nginx")',
  x_forwarded_for:
    'underscore look-alikes are never written by proxies and some stacks map them onto X-Forwarded-For; use x-forwarded-for',
  x_real_ip: 'underscore look-alikes are never written by proxies; use x-real-ip',
  'x-azure-clientip':
    'Azure Front Door lets clients overwrite it; use x-azure-socketip (preset "azure-front-door")',
});
