/**
 * `realip explain`: resolves one described request with the given options and prints the client
 * IP and the resolver's step-by-step explanation (or, with --json, the whole result).
 */
import { canonicalIp } from '../core/ip.js';
import { createResolver } from '../resolve/resolver.js';
import type { PresetName, RealipWarning, ResolverOptions, ResolveInput } from '../types.js';
import {
  formatHelp,
  integerValue,
  parseCli,
  parseHeaderLine,
  reportCliError,
  stringValue,
  stringValues,
  UsageError,
  type CliOptions,
} from './args.js';

const OPTIONS: CliOptions = {
  trust: {
    type: 'string',
    short: 't',
    multiple: true,
    value: 'RULE',
    description:
      'a trusted proxy: IP, CIDR or named range (loopback, linklocal,\nuniquelocal, private, ula, cgnat); repeat it or use commas',
  },
  remote: {
    type: 'string',
    short: 'r',
    value: 'ADDRESS',
    description: 'the socket peer (req.socket.remoteAddress); omitted = undefined peer',
  },
  'request-header': {
    type: 'string',
    short: 'H',
    multiple: true,
    value: "'NAME: VALUE'",
    description: 'a request header, as curl -H takes it; repeat for more (order kept)',
  },
  header: {
    type: 'string',
    value: 'NAME',
    description:
      "the ONE header the trusted proxies write (default x-forwarded-for);\nwith --preset, the preset's header option where it has one",
  },
  hops: {
    type: 'string',
    value: 'N',
    description:
      "the client is the N-th entry from the right; with --preset, the\npreset's hops option (gcp-lb)",
  },
  preset: {
    type: 'string',
    value: 'NAME',
    description:
      'provider preset: cloudflare, cloudfront, gcp-lb, aws-alb,\nazure-front-door, akamai, fastly, ingress-nginx',
  },
  'require-header': {
    type: 'string',
    multiple: true,
    value: "'NAME: VALUE'",
    description:
      "preset tenant check, e.g. 'X-Azure-FDID: <id>' (repeat to accept\nseveral values while rotating a secret); needs --preset",
  },
  tenant: {
    type: 'string',
    multiple: true,
    value: 'VALUE',
    description:
      "preset tenant check on the preset's own header (azure-front-door:\nX-Azure-FDID); repeatable; needs --preset",
  },
  'preset-option': {
    type: 'string',
    multiple: true,
    value: 'KEY=VALUE',
    description: 'any other preset option; VALUE is read as JSON when it\nparses, else as text',
  },
  'max-entries': { type: 'string', value: 'N', description: 'cap on header entries walked (default 16)' },
  'max-header-bytes': {
    type: 'string',
    value: 'N',
    description: 'cap on header bytes scanned (default 4096)',
  },
  'allow-trust-all': {
    type: 'boolean',
    description: 'allow 0.0.0.0/0 and ::/0 in --trust (not recommended)',
  },
  'proxy-protocol': {
    type: 'string',
    value: 'ADDRESS',
    description: 'the PROXY protocol source address, when the connection carried one',
  },
  json: { type: 'boolean', description: 'print the result as JSON (Resolution fields + explanation)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/** Which flag sets each resolver option (named in ConfigError lines). */
const FLAG_OF_OPTION: Record<string, string> = {
  trustedProxies: '--trust',
  header: '--header',
  hops: '--hops',
  preset: '--preset',
  maxEntries: '--max-entries',
  maxHeaderBytes: '--max-header-bytes',
  allowTrustAll: '--allow-trust-all',
};

const HELP = formatHelp(
  'realip explain [options]',
  'Resolves the client IP of one request described by its socket peer and headers, and explains\nevery step. Exit codes: 0 resolved (even when undeterminable), 2 bad arguments or options.',
  OPTIONS,
  [
    'Examples:',
    '  realip explain --trust 10.0.0.0/8 --trust loopback --remote 10.0.0.1 \\',
    "    -H 'X-Forwarded-For: 203.0.113.9, 10.1.2.3'",
    '  realip explain --preset cloudflare --remote 173.245.48.1 \\',
    "    -H 'CF-Connecting-IP: 198.51.100.7' --json",
  ].join('\n'),
);

/** What `--json` prints. */
export interface ExplainResult {
  /** null (not undefined) so the JSON output always has every key. */
  ip: string | null;
  source: string;
  header: string | null;
  peer: string | null;
  chain: readonly string[];
  complete: boolean;
  reason: string;
  explanation: string;
  warnings: { code: string; message: string }[];
}

/** Output streams (parameters so tests and other commands can capture them). */
export interface ExplainIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Builds the resolver options and the request from parsed flags. Throws UsageError. */
export function buildExplainRequest(argv: readonly string[]): {
  help: boolean;
  json: boolean;
  options: ResolverOptions;
  input: ResolveInput;
} {
  const { values } = parseCli(argv, OPTIONS);
  const help = values.help === true;
  const json = values.json === true;

  const options: ResolverOptions = {};
  const trust: string[] = [];
  for (const arg of stringValues(values, 'trust')) {
    for (const piece of arg.split(',')) {
      const rule = piece.trim();
      if (rule === '') throw new UsageError(`--trust: empty rule in "${arg}"`);
      trust.push(rule);
    }
  }
  if (trust.length > 0) options.trustedProxies = trust;
  const header = stringValue(values, 'header');
  if (header !== undefined) options.header = header;
  const hops = integerValue(values, 'hops');
  if (hops !== undefined) options.hops = hops;
  const maxEntries = integerValue(values, 'max-entries');
  if (maxEntries !== undefined) options.maxEntries = maxEntries;
  const maxHeaderBytes = integerValue(values, 'max-header-bytes');
  if (maxHeaderBytes !== undefined) options.maxHeaderBytes = maxHeaderBytes;
  if (values['allow-trust-all'] === true) options.allowTrustAll = true;

  const presetName = stringValue(values, 'preset');
  const presetExtras: Record<string, unknown> = {};
  const requireLines = stringValues(values, 'require-header').map((l) =>
    parseHeaderLine(l, '--require-header'),
  );
  const tenants = stringValues(values, 'tenant');
  if (requireLines.length > 0 && tenants.length > 0) {
    throw new UsageError('use --require-header or --tenant, not both');
  }
  if (requireLines.length > 0) {
    const name = requireLines[0]!.name;
    if (requireLines.some((h) => h.name.toLowerCase() !== name.toLowerCase())) {
      throw new UsageError('--require-header: every value must be for the same header name');
    }
    const v = requireLines.map((h) => h.value);
    presetExtras.requireHeader = { name, value: v.length === 1 ? v[0] : v };
  } else if (tenants.length > 0) {
    presetExtras.requireHeader = { value: tenants.length === 1 ? tenants[0] : tenants };
  }
  for (const kv of stringValues(values, 'preset-option')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--preset-option: expected KEY=VALUE, got "${kv}"`);
    presetExtras[kv.slice(0, eq)] = parseLooseJson(kv.slice(eq + 1));
  }
  if (presetName !== undefined) {
    // With a preset, --header and --hops are the preset's own sub-options (where it allows them).
    if (options.header !== undefined) presetExtras.header = options.header;
    if (options.hops !== undefined) presetExtras.hops = options.hops;
    delete options.header;
    delete options.hops;
    options.preset =
      Object.keys(presetExtras).length === 0
        ? (presetName as PresetName)
        : { ...presetExtras, name: presetName as PresetName };
  } else if (Object.keys(presetExtras).length > 0) {
    throw new UsageError('--require-header, --tenant and --preset-option need --preset');
  }

  const remoteArg = stringValue(values, 'remote');
  let remoteAddress: string | undefined;
  if (remoteArg !== undefined) {
    // As Node reports it: an IP without port (IPv4-mapped IPv6 and zones are fine).
    if (
      canonicalIp(remoteArg, { lenient: true }) === undefined ||
      /^\[|\]:\d+$|^[\d.]+:\d+$/.test(remoteArg)
    ) {
      throw new UsageError(
        `--remote: expected an IP address as Node reports it (no port), got "${remoteArg}"`,
      );
    }
    remoteAddress = remoteArg;
  }

  // Raw name/value pairs keep duplicates and order, as req.rawHeaders does.
  const headers: string[] = [];
  for (const line of stringValues(values, 'request-header')) {
    const { name, value } = parseHeaderLine(line, '-H');
    headers.push(name, value);
  }

  const input: ResolveInput = { remoteAddress, headers };
  const proxySource = stringValue(values, 'proxy-protocol');
  if (proxySource !== undefined) {
    if (canonicalIp(proxySource) === undefined) {
      throw new UsageError(`--proxy-protocol: expected an IP address, got "${proxySource}"`);
    }
    input.proxyProtocol = { sourceAddress: proxySource };
  }
  return { help, json, options, input };
}

function parseLooseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Resolves the described request. Warnings are collected, not printed. */
export function explainRequest(options: ResolverOptions, input: ResolveInput): ExplainResult {
  const warnings: { code: string; message: string }[] = [];
  const onWarning = (w: RealipWarning): void => {
    warnings.push({ code: w.code, message: w.message });
  };
  const resolver = createResolver({ ...options, onWarning }, { path: '' });
  const r = resolver.resolve(input);
  return {
    ip: r.ip ?? null,
    source: r.source,
    header: r.header ?? null,
    peer: r.peer ?? null,
    chain: [...r.chain],
    complete: r.complete,
    reason: r.reason,
    explanation: r.explain(),
    warnings,
  };
}

/** The text report: the client first, then the evidence, then the explanation. */
export function formatExplainText(result: ExplainResult): string {
  const lines = [
    `client:   ${result.ip ?? '(undeterminable)'}`,
    `source:   ${result.source}${result.header !== null ? ` (${result.header})` : ''}`,
    `peer:     ${result.peer ?? '(undefined)'}`,
    `chain:    ${result.chain.length > 0 ? result.chain.join(', ') : '(empty)'}`,
    `complete: ${result.complete ? 'yes' : 'no'} (${result.reason})`,
    '',
    result.explanation.replace(/\n+$/, ''),
  ];
  return lines.join('\n') + '\n';
}

/** Entry point used by the `realip` dispatcher. */
export async function run(argv: string[], io: ExplainIo = process): Promise<number> {
  try {
    const { help, json, options, input } = buildExplainRequest(argv);
    if (help) {
      io.stdout.write(HELP);
      return 0;
    }
    const result = explainRequest(options, input);
    if (json) {
      io.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      for (const w of result.warnings) io.stderr.write(`warning ${w.code}: ${w.message}\n`);
      io.stdout.write(formatExplainText(result));
    }
    return 0;
  } catch (error) {
    return reportCliError('explain', error, io.stderr, FLAG_OF_OPTION);
  }
}
