/**
 * The policy file's schema (zod 4): one object describing the whole stack. Option names equal the
 * library's (`createResolver`, `ipFilter`, `rateLimit`, `geoTag`, `accessLog`, `metrics`), so a
 * policy section can be copied into code and back.
 *
 * Every object is strict (an unknown key is an error: a typo such as `trustedProxy` must not
 * silently leave the proxy untrusted). The schema checks shapes and ranges; rules that need the
 * library (CIDRs, presets, cross references) are checked by `validatePolicy` in ./validate.ts, and
 * every problem is reported at once with its file position by ./parse.ts.
 *
 * Descriptions and `default` metadata here are the single source of the JSON Schema (`realip
 * schema`) and of the reference in docs/configuration.md (`scripts/gen-config-docs.mjs`).
 *
 * Size: about 850 lines, over the guide's 500, because it is the second copy of every stage's
 * options; "One spec per stage" (issue 14) replaces it with a composition of the stages' specs.
 */
import { z } from 'zod';
import { IssueCollector } from '../errors.js';
import { compileRanges, type IpRule } from '../core/cidr.js';
import { parsePath } from './errors.js';
import { parseRedisNode } from './redis-connect.js';
import { metricsPolicy } from '../metrics/spec.js';

/** Provider presets known to the resolver. */
export const PRESET_NAMES = [
  'cloudflare',
  'cloudfront',
  'gcp-lb',
  'aws-alb',
  'azure-front-door',
  'akamai',
  'fastly',
  'ingress-nginx',
] as const;

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const LIST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const cidrString = z
  .string()
  .min(1)
  .meta({
    description:
      'An IP (`203.0.113.7`), a CIDR (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `2001:db8::/32`) or a named range (`loopback`, `linklocal`, `uniquelocal`, `private`, `ula`, `cgnat`).',
    examples: ['10.0.0.0/8', '2001:db8::/32', 'loopback'],
  });

const ipBlock = z
  .strictObject({
    cidr: z.string().min(1).meta({ description: 'The block, e.g. `10.0.0.0/8`.' }),
    except: z.array(z.string().min(1)).optional().meta({
      description:
        'Sub-ranges of `cidr` left out of the block (each must lie inside `cidr`, as in Kubernetes).',
    }),
  })
  .meta({ description: 'A NetworkPolicy-style block: everything in `cidr` except the listed sub-ranges.' });

/**
 * Checks a rule with the library's own compiler, so the policy reports exactly what
 * `createIpMatcher` would, with the same codes (ERR_REALIP_CIDR_INVALID, ERR_REALIP_EXCEPT_OUTSIDE).
 */
function checkRule(rule: IpRule | { list: string }, ctx: z.core.$RefinementCtx): void {
  if (typeof rule === 'object' && 'list' in rule) return;
  const issues = new IssueCollector();
  compileRanges([rule], '', issues);
  for (const issue of issues.issues) {
    ctx.addIssue({
      code: 'custom',
      path: parsePath(issue.path).slice(1),
      message: issue.message,
      params: issue.code ? { code: issue.code } : {},
      input: rule,
    });
  }
}

/** An IP rule: a string or a `{ cidr, except }` block. */
export const ipRuleSchema = z
  .union([cidrString, ipBlock], {
    error: 'expected an IP, a CIDR, a named range or a { cidr, except } block',
  })
  .superRefine(checkRule)
  .meta({ id: 'IpRule' });

const listRef = z
  .strictObject({
    list: z.string().regex(LIST_NAME).meta({ description: 'The name of a list defined under `lists`.' }),
  })
  .meta({ description: 'A reference to a named list: `{ list: partners }`.' });

/** A rule or a reference to a named list. */
export const ruleOrListSchema = z
  .union([cidrString, ipBlock, listRef], {
    error: 'expected an IP, a CIDR, a named range, a { cidr, except } block or a { list: name } reference',
  })
  .superRefine(checkRule)
  .meta({ id: 'IpRuleOrList' });

const rules = z.array(ipRuleSchema);
const rulesOrLists = z.array(ruleOrListSchema);

const countryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'expected an ISO 3166-1 alpha-2 country code such as "DE"')
  .meta({ description: 'ISO 3166-1 alpha-2 code (`US`, `DE`), any case.' });

const exemptPaths = z.array(z.string().min(1)).meta({
  description:
    'Paths this stage skips: exact (`/healthz`) or a prefix ending in `/` that matches whole segments (`/static/`). Paths with dot-segments, empty segments, `;` or encoded `.`, `/`, `\\` are never exempt.',
  examples: [['/healthz', '/static/']],
});

const undeterminable = z.enum(['deny', 'allow']).meta({
  description:
    'What happens to a request whose client IP cannot be determined (closed socket, Unix socket, a header walk that found no IP). Never a silent allow unless set here.',
  default: 'deny',
});

// ---------------------------------------------------------------------------------------------
// lists
// ---------------------------------------------------------------------------------------------

const fileList = z
  .strictObject({
    file: z
      .string()
      .min(1)
      .meta({
        description:
          'A file with one rule per line (`#` starts a comment), relative to the policy file. Reloaded on change (ConfigMap-safe); a bad file keeps the previous list.',
        examples: ['lists/partners.txt'],
      }),
    watch: z.boolean().optional().meta({ description: 'Reload the file when it changes.', default: true }),
    allowEmpty: z.boolean().optional().meta({
      description:
        'Accept a file with no rules. Off because a truncated file looks exactly like an empty one, and an empty deny list lets everyone in.',
      default: false,
    }),
  })
  .meta({ description: 'A list read from a file.' });

const inlineList = z
  .strictObject({ rules: rules.meta({ description: 'The rules.' }) })
  .meta({ description: 'An inline list written as `{ rules: [...] }`.' });

export const listsSchema = z
  .record(
    z.string().regex(LIST_NAME, 'list names use letters, digits, ".", "_", ":" and "-" (at most 128)'),
    z
      .union([rules, inlineList, fileList], {
        error: 'expected an array of rules, { rules: [...] } or { file: path }',
      })
      .meta({ description: 'A list: an array of rules, `{ rules }`, or `{ file }`.' }),
  )
  .meta({
    description:
      'Named IP lists shared by `access` (allow/deny) and rate-limit tiers (`match`), referenced as `{ list: name }`. Each is an inline array of rules or `{ file }`.',
    examples: [{ partners: ['203.0.113.0/24'], office: { file: 'lists/office.txt' } }],
  });

// ---------------------------------------------------------------------------------------------
// resolve
// ---------------------------------------------------------------------------------------------

const requireHeader = z
  .strictObject({
    name: z
      .string()
      .regex(HEADER_TOKEN, 'expected an HTTP header name')
      .optional()
      .meta({ description: "Header name (default: the preset's tenant header, e.g. `x-azure-fdid`)." }),
    value: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .meta({ description: 'The value required, or several (to rotate a secret).' }),
    valueEnv: z.string().regex(ENV_NAME).optional().meta({
      description: 'Read the value from this environment variable (keeps secrets out of the file).',
    }),
  })
  .meta({
    description:
      'Tenant check for shared CDNs: headers are believed only when this header has this value (e.g. Azure Front Door `X-Azure-FDID`).',
  });

const presetObject = z
  .strictObject({
    name: z.enum(PRESET_NAMES).meta({ description: 'The preset.' }),
    header: z.string().regex(HEADER_TOKEN, 'expected an HTTP header name').optional().meta({
      description: 'One of the alternative headers the preset documents (e.g. `fastly-client-ip`).',
    }),
    hops: z
      .int()
      .min(1)
      .max(64)
      .optional()
      .meta({ description: 'Override the hop count where the preset allows it (`gcp-lb`).' }),
    requireHeader: requireHeader.optional(),
  })
  .meta({ description: 'A preset with options.' });

export const resolveSchema = z
  .strictObject({
    trustedProxies: rules.optional().meta({
      description:
        'Proxies whose forwarding header is believed: IPs, CIDRs, named ranges. Empty or absent trusts nobody: the socket peer is the client (Kubernetes `externalTrafficPolicy: Local` behind a balancer that preserves source IPs). Trust only addresses you operate or your provider publishes: anyone else could write the header.',
      default: [],
      examples: [['10.0.0.0/8', 'loopback']],
    }),
    header: z.string().regex(HEADER_TOKEN, 'expected an HTTP header name').optional().meta({
      description:
        'The ONE header the trusted proxies write (`x-forwarded-for`, `forwarded`, `x-real-ip`, `cf-connecting-ip`, ...). Never a list: a second header is a spoof path.',
      default: 'x-forwarded-for',
    }),
    hops: z.int().min(1).max(64).optional().meta({
      description:
        'The client is the N-th entry from the right of the header (the socket is hop 0). Without `trustedProxies` anyone who reaches the app directly can spoof it, so it warns.',
    }),
    preset: z
      .union([z.enum(PRESET_NAMES), presetObject], {
        error: `expected a preset name (${PRESET_NAMES.join(', ')}) or { name, ... }`,
      })
      .optional()
      .meta({
        description:
          'A provider preset: fixes the header and the walk, adds the ranges the provider publishes.',
      }),
    maxEntries: z
      .int()
      .min(1)
      .max(1024)
      .optional()
      .meta({ description: 'Header entries examined at most (from the right).', default: 16 }),
    maxHeaderBytes: z
      .int()
      .min(64)
      .max(1_048_576)
      .optional()
      .meta({ description: 'Header bytes examined at most (from the right).', default: 4096 }),
    allowTrustAll: z.boolean().optional().meta({
      description: 'Allow `0.0.0.0/0` or `::/0` in trustedProxies (then every client can spoof its address).',
      default: false,
    }),
    nodeCidrs: rules.optional().meta({
      description:
        'Node / balancer addresses, for the SNAT diagnostic (warns when most requests come from them while no proxy is trusted).',
      default: [],
    }),
  })
  .meta({ description: 'Who is the client: which proxies are trusted and which header they write.' });

// ---------------------------------------------------------------------------------------------
// access
// ---------------------------------------------------------------------------------------------

export const accessSchema = z
  .strictObject({
    allow: rulesOrLists.optional().meta({
      description: 'Only these clients are allowed (an empty or absent list allows everyone not denied).',
      examples: [['203.0.113.0/24', { list: 'partners' }]],
    }),
    deny: rulesOrLists.optional().meta({
      description: 'These clients are refused (deny wins over allow).',
      examples: [[{ cidr: '198.51.100.0/24', except: ['198.51.100.7'] }]],
    }),
    countries: z
      .strictObject({
        allow: z.array(countryCode).optional().meta({ description: 'Only these countries are allowed.' }),
        deny: z.array(countryCode).optional().meta({ description: 'These countries are refused.' }),
      })
      .optional()
      .meta({
        description:
          'Country rules (need `geo`). Private and unknown addresses are neither allowed nor denied by country.',
      }),
    exempt: exemptPaths.optional(),
    undeterminable: undeterminable.optional(),
    unknownCountry: z.enum(['deny', 'allow']).optional().meta({
      description:
        'When country rules matter for a request but its country is unknown (not in the database). Private and other special networks are never "unknown".',
      default: 'deny',
    }),
    exposeIp: z.boolean().optional().meta({
      description:
        'Put the client IP into the 403 problem body. Off: echoing addresses helps attackers probe the proxy chain.',
      default: false,
    }),
    exposeReason: z.boolean().optional().meta({
      description:
        'Put the deciding reason and rule into the 403 body. Off: rule names describe your policy to whoever is refused.',
      default: false,
    }),
    problemType: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'The problem `type` URI of the 403 body (RFC 9457).', default: 'about:blank' }),
  })
  .meta({
    description: 'CIDR and country allow/deny. Denied requests get 403 with an RFC 9457 problem body.',
  });

// ---------------------------------------------------------------------------------------------
// geo
// ---------------------------------------------------------------------------------------------

export const EMBEDDED_GEO = 'embedded';

const GEO_FIELD_NAMES = ['country', 'continent', 'asn', 'org', 'city', 'location'] as const;

const geoDatabase = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .meta({ description: 'The `.mmdb` file, relative to the policy file (or `embedded`).' }),
    name: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Name in reports and metrics (default: the file name).' }),
    fields: z
      .array(z.enum(GEO_FIELD_NAMES))
      .min(1)
      .optional()
      .meta({ description: 'Only take these fields from this database.' }),
    type: z.string().min(1).optional().meta({
      description:
        'Expected `database_type`, checked at open and on every reload (default: the type seen at open).',
    }),
  })
  .meta({ description: 'A database with options.' });

export const geoSchema = z
  .strictObject({
    databases: z
      .array(
        z.union([z.string().min(1), geoDatabase], {
          error: 'expected a path or { path, name?, fields?, type? }',
        }),
      )
      .min(1)
      .max(8)
      .meta({
        description:
          'MMDB files merged in order (first database with a field wins), relative to the policy file: MaxMind GeoIP2/GeoLite2 Country, City, ASN, DB-IP, or the `@ip-location-db` country schema. `embedded` is the CC BY 4.0 `@ip-location-db/geo-whois-asn-country-mmdb` database when that package is installed.',
        examples: [['embedded'], ['/var/lib/geoip/GeoLite2-City.mmdb', '/var/lib/geoip/GeoLite2-ASN.mmdb']],
      }),
    cache: z
      .union([
        z.int().min(0).max(10_000_000),
        z.strictObject({
          records: z.int().min(0).max(10_000_000).optional().meta({
            description:
              'Per database: normalised records keyed by the matched record (one entry serves every address of it).',
            default: 10000,
          }),
          addresses: z.int().min(0).max(10_000_000).optional().meta({
            description:
              'Final answers keyed by address, for repeat clients (admitted on the second lookup).',
            default: 10000,
          }),
        }),
      ])
      .optional()
      .meta({
        description: 'Cache sizes in entries: a number sets both caches; `0` disables caching.',
        default: 10000,
      }),
    locales: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .meta({ description: 'Preferred languages for city names.', default: ['en'] }),
    specialNetworks: z
      .union([z.boolean(), z.array(z.enum(['private', 'loopback', 'linklocal', 'cgnat', 'ula']))])
      .optional()
      .meta({
        description:
          'Tag private, loopback, link-local, CGNAT and ULA addresses (`geo.network`) instead of looking them up: `true`, `false`, or a list.',
        default: true,
      }),
    watch: z.boolean().optional().meta({
      description: 'Reload a database when its file changes (ConfigMap-safe), after verifying it.',
      default: true,
    }),
    allowOlder: z.boolean().optional().meta({
      description:
        'Accept a reload whose build time is older than the database in use (off, so a restored stale file does not replace fresh data).',
      default: false,
    }),
    maxClockSkewMs: z.int().min(0).optional().meta({
      description: 'A database whose build time is later than now plus this is rejected as corrupt.',
      default: 86400000,
    }),
  })
  .meta({
    description:
      'GeoIP tagging: `req.realip.geo` gets `{ country, continent?, asn?, org?, city?, location? }`.',
  });

// ---------------------------------------------------------------------------------------------
// rateLimit
// ---------------------------------------------------------------------------------------------

const limitSchema = z
  .strictObject({
    points: z
      .int()
      .min(1)
      .max(1_000_000_000)
      .meta({ description: 'Requests allowed per `duration`.', examples: [100] }),
    duration: z
      .number()
      .positive()
      .max(2_147_483)
      .meta({
        description: 'Window in seconds (with `burst`: the rate is `points` per `duration`).',
        examples: [60],
      }),
    burst: z.int().min(0).max(1_000_000_000).optional().meta({
      description:
        'Switches to nginx `limit_req` semantics (`rate=points/duration burst=N nodelay`): N extra requests admitted at once, then the steady rate.',
    }),
    name: z
      .string()
      .regex(NAME, 'limit names use letters, digits, ".", "_" and "-" (at most 63)')
      .optional()
      .meta({
        description:
          'Policy name in `RateLimit-Policy` and the store key (default: `<tier>-<points>-per-<duration>s`, plus `-burst-<burst>`).',
      }),
  })
  .meta({ description: 'One limit. Each is advertised as its own `RateLimit-Policy` item.' });

const tierSchema = z
  .strictObject({
    name: z.string().regex(NAME, 'tier names use letters, digits, ".", "_" and "-" (at most 63)').meta({
      description:
        'Tier name (shown in `RateLimit-Policy`, logs and metrics; keeps its limiter state across reloads).',
    }),
    match: rulesOrLists.optional().meta({
      description:
        'Clients in this tier: CIDRs, named ranges, `{ list }` references. A tier without `match` and `countries` is the default tier and must be last.',
    }),
    countries: z
      .array(countryCode)
      .optional()
      .meta({ description: 'Clients from these countries (needs `geo`).' }),
    limits: z
      .array(limitSchema)
      .min(1)
      .max(8)
      .meta({ description: 'The limits; a request must pass all of them.' }),
  })
  .meta({ description: 'A tier: which clients, and their limits. First match wins.' });

/** The keys of `rateLimit.redis.tls` that name files (relative to the policy file). */
export const REDIS_TLS_FILES = ['caFile', 'certFile', 'keyFile'] as const;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  error: 'not an environment variable name (expected letters, digits and _)',
});

const redisNodes = z
  .array(
    z.string().refine((s) => parseRedisNode(s) !== undefined, {
      error: 'not a host:port (expected e.g. redis-sentinel:26379, 10.0.0.5:6379 or [fd00::5]:6379)',
    }),
  )
  .min(1)
  .max(64);

export const rateLimitSchema = z
  .strictObject({
    tiers: z.array(tierSchema).min(1).max(64).meta({
      description:
        'Tiers in order; the first that matches a client applies. Clients that match none are not limited unless a default tier (no `match`) ends the list.',
    }),
    store: z.enum(['memory', 'redis']).optional().meta({
      description:
        'Where counters live. `memory` is per process (N replicas allow N times the limit); `redis` is shared.',
      default: 'memory',
    }),
    redis: z
      .strictObject({
        url: z.string().min(1).optional().meta({
          description:
            'One Redis server by URL (`redis://host:6379/0`, `rediss://` for TLS). Prefer `urlEnv` for URLs holding a password.',
        }),
        urlEnv: envName
          .optional()
          .meta({ description: 'Read the Redis URL from this environment variable.' }),
        sentinels: redisNodes.optional().meta({
          description:
            'Redis Sentinel: the Sentinels to ask for the master of group `name` (`host:port`, e.g. `redis-sentinel:26379`). Failovers are followed.',
          examples: [['redis-node-0.redis-headless:26379', 'redis-node-1.redis-headless:26379']],
        }),
        name: z
          .string()
          .min(1)
          .max(256)
          .optional()
          .meta({
            description: 'The Sentinel master group name (with `sentinels`).',
            examples: ['mymaster'],
          }),
        db: z.int().min(0).max(1_000_000).optional().meta({
          description: 'Database number (with `sentinels`; a URL names its own, a Cluster has only 0).',
          default: 0,
        }),
        cluster: redisNodes.optional().meta({
          description:
            'Redis Cluster: some of its nodes (`host:port`); the client discovers the rest. Keys of one request share a hash slot.',
          examples: [['redis-cluster-0.redis-cluster-headless:6379']],
        }),
        username: z.string().min(1).max(256).optional().meta({
          description: 'ACL user name for the Redis servers (with `sentinels` or `cluster`).',
        }),
        passwordEnv: envName.optional().meta({
          description:
            "Read the Redis servers' password from this environment variable (with `sentinels` or `cluster`).",
        }),
        sentinelUsername: z.string().min(1).max(256).optional().meta({
          description: 'ACL user name for the Sentinels, when they require one.',
        }),
        sentinelPasswordEnv: envName.optional().meta({
          description: "Read the Sentinels' password from this environment variable, when they require one.",
        }),
        tls: z
          .strictObject({
            caFile: z.string().min(1).optional().meta({
              description:
                "PEM file of the CA(s) that signed the servers' certificates, instead of Node's trusted roots (private CAs, self-managed Redis).",
            }),
            certFile: z.string().min(1).optional().meta({
              description:
                'PEM client certificate, for servers that verify clients (`tls-auth-clients yes`); with `keyFile`.',
            }),
            keyFile: z.string().min(1).optional().meta({ description: 'PEM private key of `certFile`.' }),
            serverName: z.string().min(1).max(253).optional().meta({
              description:
                'Name to verify the server certificate against (and send as SNI), when it is not the host connected to.',
            }),
          })
          .optional()
          .meta({
            description:
              'TLS to Redis (`tls: {}` for defaults); a `rediss://` URL turns TLS on too. With `sentinels` it applies to the Sentinels and the data nodes. Certificates are always verified. Paths are relative to the policy file; the files are watched, and a rotated certificate is used without a policy change.',
          }),
      })
      .optional()
      .meta({
        description:
          'Redis connection (with `store: redis`): exactly one of `url`, `urlEnv`, `sentinels` (with `name`) or `cluster`.',
      }),
    prefix: z.string().max(64).optional().meta({
      description: "Prefix of this policy's store keys; limiters sharing one store need distinct prefixes.",
      default: '',
    }),
    storeFailure: z.enum(['insurance', 'open', 'closed']).optional().meta({
      description:
        'When Redis fails: `insurance` limits in memory with points divided by `replicas`, `open` lets requests through, `closed` answers 503. Store errors are never 429s.',
      default: 'insurance',
    }),
    replicas: z.int().min(1).max(10_000).optional().meta({
      description: "Replicas sharing the limit (divides the insurance limiter's points).",
      default: 1,
    }),
    storeTimeoutMs: z
      .int()
      .min(1)
      .max(60_000)
      .optional()
      .meta({ description: 'A store call unanswered this long is a store error.', default: 100 }),
    ipv6Prefix: z.int().min(1).max(128).optional().meta({
      description: 'IPv6 clients are keyed by this prefix (one subscriber usually holds a whole /64).',
      default: 64,
    }),
    maxKeys: z.int().min(1000).max(100_000_000).optional().meta({
      description:
        'Memory store bound: least-recently-used keys are evicted beyond it, so rotating addresses cannot exhaust memory.',
      default: 100000,
    }),
    headers: z
      .boolean()
      .optional()
      .meta({ description: 'Send `RateLimit-Policy` and `RateLimit`.', default: true }),
    legacyHeaders: z.boolean().optional().meta({
      description:
        'Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds).',
      default: false,
    }),
    exposeIp: z
      .boolean()
      .optional()
      .meta({ description: 'Put the client IP in the 429 problem body.', default: false }),
    exempt: exemptPaths.optional(),
    undeterminable: undeterminable.optional().meta({
      description:
        'Requests without a client IP: `deny` counts them all in ONE shared bucket of the last tier (limited together, never silently unlimited); `allow` skips limiting them.',
      default: 'deny',
    }),
  })
  .meta({
    description: 'Tiered per-client rate limits (429 with `RateLimit`, `RateLimit-Policy`, `Retry-After`).',
  });

// ---------------------------------------------------------------------------------------------
// log, metrics
// ---------------------------------------------------------------------------------------------

const accessLogLevel = z.enum(['info', 'warn', 'error']);

export const logSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .optional()
      .meta({ description: 'One access-log event per request at response finish.', default: true }),
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional().meta({
      description:
        'Minimum level of the logger the sidecar (or `createStack`) creates; apps pass their own logger.',
      default: 'info',
    }),
    levels: z
      .strictObject({
        allowed: accessLogLevel.optional().meta({ description: 'Requests let through.', default: 'info' }),
        denied: accessLogLevel
          .optional()
          .meta({ description: 'Requests refused by access (403).', default: 'warn' }),
        limited: accessLogLevel
          .optional()
          .meta({ description: 'Requests refused by the rate limit (429).', default: 'warn' }),
        serverError: accessLogLevel
          .optional()
          .meta({ description: 'Responses with status 500 and above.', default: 'error' }),
      })
      .optional()
      .meta({
        description: 'Level of the access-log line per outcome.',
        default: { allowed: 'info', denied: 'warn', limited: 'warn', serverError: 'error' },
      }),
    fieldStyle: z.enum(['otel', 'ecs', 'both']).optional().meta({
      description: 'Field names: OpenTelemetry (`client.address`), ECS (`client.ip`), or both in one line.',
      default: 'otel',
    }),
    anonymize: z.enum(['none', 'truncate', 'hmac', 'drop']).optional().meta({
      description:
        'Applied to every output (logs, metrics, top clients, problem bodies): `truncate` keeps IPv4 /24 and IPv6 /48, `hmac` is keyed (rotatable), `drop` removes addresses.',
      default: 'none',
    }),
    hmacKeyEnv: z
      .string()
      .regex(ENV_NAME)
      .optional()
      .meta({ description: 'Environment variable holding the HMAC secret (with `anonymize: hmac`).' }),
    hmacKeyFile: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'File holding the HMAC secret, relative to the policy file (a mounted Secret).' }),
    hmacLength: z
      .int()
      .min(8)
      .max(64)
      .optional()
      .meta({ description: 'Hex digits of the HMAC kept in a pseudonym.', default: 16 }),
    truncate: z
      .strictObject({
        v4: z.int().min(0).max(32).optional().meta({ description: 'IPv4 prefix kept.', default: 24 }),
        v6: z.int().min(0).max(128).optional().meta({ description: 'IPv6 prefix kept.', default: 48 }),
      })
      .optional()
      .meta({ description: 'Prefix lengths kept by `anonymize: truncate`.' }),
    suppress: z
      .union([
        z.literal(false),
        z.strictObject({
          windowMs: z.int().min(1).optional().meta({ description: 'Window per client.', default: 60000 }),
          maxKeys: z
            .int()
            .min(1)
            .optional()
            .meta({ description: 'Clients tracked at once.', default: 10000 }),
          statuses: z
            .array(z.int().min(100).max(599))
            .optional()
            .meta({ description: 'Statuses subject to suppression.', default: [403, 429] }),
        }),
      ])
      .optional()
      .meta({
        description:
          'Flood suppression: the first 403/429 per client per window is logged, the rest counted into `suppressed`; `false` logs every line.',
      }),
    message: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'The message of request lines.', default: 'request completed' }),
    headers: z.array(z.string().regex(HEADER_TOKEN, 'expected an HTTP header name')).optional().meta({
      description:
        'Request headers to log (`http.request.header.<name>`), lower case. Credential and address headers need `allowSensitiveHeaders`.',
      default: [],
    }),
    allowSensitiveHeaders: z
      .boolean()
      .optional()
      .meta({ description: 'Allow credential and address headers in `headers`.', default: false }),
    chain: z
      .boolean()
      .optional()
      .meta({ description: 'Log the walked forwarding chain (anonymised).', default: false }),
    explain: z
      .enum(['never', 'denied', 'always'])
      .optional()
      .meta({ description: "Log the resolver's step-by-step explanation (anonymised).", default: 'never' }),
    detail: z.enum(['lean', 'full']).optional().meta({
      description:
        '`lean`: allowed requests get the core fields, the details go on the lines they explain (denied, limited, incomplete resolutions); `full`: every line carries everything.',
      default: 'lean',
    }),
    geoLocation: z.boolean().optional().meta({
      description: 'Log GeoIP latitude/longitude (off: coordinates pinpoint more than a country).',
      default: false,
    }),
    path: z
      .boolean()
      .optional()
      .meta({ description: 'Log `url.path` (never the query string).', default: true }),
    omit: z.array(z.string().min(1)).optional().meta({
      description:
        'Fields to leave out of request lines, by the names the `fieldStyle` writes (e.g. `network.peer.address`); `suppressed` stays.',
      default: [],
    }),
    requestIdHeader: z
      .string()
      .regex(HEADER_TOKEN, 'expected an HTTP header name')
      .optional()
      .meta({ description: 'A request header logged as `http.request.id` (e.g. `x-request-id`).' }),
    exempt: exemptPaths.optional(),
    destination: z.string().min(1).optional().meta({
      description:
        "Where the sidecar writes the access log, and nothing else (its events go to stderr): `stdout`, `stderr` or a file path (libraries use the app's own logger).",
      default: 'stdout',
    }),
  })
  .meta({ description: 'Structured access log (pino): one line per request, OpenTelemetry or ECS fields.' });

/** The policy's `metrics` section: composed from the metrics stage's spec. */
export const metricsSchema = metricsPolicy;

// ---------------------------------------------------------------------------------------------
// the policy
// ---------------------------------------------------------------------------------------------

export const policySchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors (ignored).' }),
    version: z.literal(1).optional().meta({ description: 'Policy file format version.', default: 1 }),
    lists: listsSchema.optional(),
    resolve: resolveSchema.optional(),
    geo: geoSchema.optional(),
    access: accessSchema.optional(),
    rateLimit: rateLimitSchema.optional(),
    log: logSchema.optional(),
    metrics: z.optional(metricsSchema),
  })
  .meta({
    title: 'realip policy',
    description:
      'One file describing the whole realip stack: resolve -> geo -> access -> rate limit -> (app) -> log and metrics.',
  });

/** A validated policy (file paths resolved against the policy file's directory). */
export type Policy = z.output<typeof policySchema>;
/** What a policy file may contain. */
export type PolicyInput = z.input<typeof policySchema>;
export type ResolvePolicy = NonNullable<Policy['resolve']>;
export type AccessPolicy = NonNullable<Policy['access']>;
export type GeoPolicy = NonNullable<Policy['geo']>;
export type RateLimitPolicy = NonNullable<Policy['rateLimit']>;
export type RateLimitTierPolicy = RateLimitPolicy['tiers'][number];
export type LogPolicy = NonNullable<Policy['log']>;
export type MetricsPolicy = NonNullable<Policy['metrics']>;
export type ListsPolicy = NonNullable<Policy['lists']>;
