/**
 * The sidecar has no policy section: its options come from code (`createSidecar`) or from the
 * flags of `realip sidecar`. For every bound and enum in its spec, a value just inside and one just
 * outside is given to both; they must agree, and name the same option (the CLI by its flag).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseSidecarArgs } from '../../src/cli/sidecar.js';
import { createSidecar } from '../../src/sidecar/sidecar.js';
import { resolveSidecarOptions, SIDECAR_DEFAULTS } from '../../src/sidecar/options.js';
import { flagFor, proxyProtocolSpec, SIDECAR_FLAGS, sidecarSpec } from '../../src/sidecar/spec.js';
import { createProxyProtocolServer } from '../../src/sidecar/proxy-listener.js';
import { defaultsOf } from '../../src/spec/spec.js';
import { driftCases } from './drift.js';
import http from 'node:http';

type Rec = Record<string, unknown>;
type Seg = string | number;

const stack = { handle: () => true };

/** Every option the flags can set, each away from its bounds. */
const base: Rec = {
  upstream: 'http://127.0.0.1:3000',
  listen: { host: '127.0.0.1', port: 8080 },
  adminListen: { host: '127.0.0.1', port: 9901 },
  proxyProtocol: { trusted: ['10.0.0.0/8'], timeoutMs: 5000, untrusted: 'direct' },
  maxBodyBytes: 1024,
  requestBufferBytes: 512,
  requestBufferMemoryBytes: 4096,
  clientBodyTimeoutMs: 1000,
  connectTimeoutMs: 1000,
  responseTimeoutMs: 1000,
  idleTimeoutMs: 1000,
  upstreamConnections: 4,
  upstreamQueue: 8,
  upstreamQueueTimeoutMs: 1000,
  shutdownDelayMs: 0,
  drainTimeoutMs: 1000,
  geoHeaders: false,
  stripHeaders: ['x-debug'],
};

function valueAt(root: unknown, path: readonly Seg[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Rec)[seg as string];
  }
  return v;
}

function setAt(root: Rec, path: readonly Seg[], value: unknown): Rec {
  const copy = structuredClone(root);
  let v: Rec = copy;
  for (const seg of path.slice(0, -1)) v = v[seg as string] as Rec;
  v[path[path.length - 1] as string] = value;
  return copy;
}

const NOT_EXPRESSIBLE = Symbol('the flags cannot write this value');

/** The flags that set `options` (the inverse of the CLI's parsing), or NOT_EXPRESSIBLE. */
function toArgv(options: Rec): string[] | typeof NOT_EXPRESSIBLE {
  const argv: string[] = [];
  for (const [path, f] of Object.entries(SIDECAR_FLAGS)) {
    const v = valueAt(options, path.split('.'));
    if (v === undefined) continue;
    const flag = `--${f.flag}`;
    switch (f.kind) {
      case 'switch':
        argv.push(flag);
        break;
      case 'negated-switch':
        if (v === false) argv.push(flag);
        break;
      case 'list':
        for (const item of v as unknown[]) argv.push(`${flag}=${String(item)}`);
        break;
      case 'address':
      case 'address-or-off': {
        if (v === false) {
          argv.push(`${flag}=off`);
          break;
        }
        const { host, port } = v as { host: string; port: number };
        if (typeof host !== 'string' || host === '') return NOT_EXPRESSIBLE;
        argv.push(`${flag}=${host.includes(':') ? `[${host}]` : host}:${port}`);
        break;
      }
      case 'duration':
        argv.push(`${flag}=${String(v)}ms`);
        break;
      default:
        // `--flag=value`: a value starting with a dash is then the flag's, not another flag.
        argv.push(`${flag}=${String(v)}`);
    }
  }
  return argv;
}

/** undefined when createSidecar accepts the options, else the flags its problems map to. */
function factoryVerdict(options: Rec): { paths: string[]; flags: string[] } | undefined {
  try {
    void createSidecar({ ...options, stack } as never).close();
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const paths = error.issues.map((i) => i.path);
    return { paths, flags: [...new Set(paths.map((p) => flagFor(p) ?? `?${p}`))].sort() };
  }
}

/** undefined when `realip sidecar` accepts the flags, else the flags its problems name. */
function cliVerdict(argv: string[]): { problems: readonly string[]; flags: string[] } | undefined {
  const r = parseSidecarArgs(argv, {});
  if (r.kind === 'ok') return undefined;
  if (r.kind !== 'invalid') throw new Error(r.kind);
  const flags = r.problems.map((p) => /^(--[a-z-]+)/.exec(p)?.[1] ?? `?${p}`);
  return { problems: r.problems, flags: [...new Set(flags)].sort() };
}

const render = (path: readonly Seg[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

describe('sidecar: createSidecar and `realip sidecar` agree on every bound and enum', () => {
  const cases = driftCases(sidecarSpec, base, ['upstream', 'stack', 'onEvent']);

  it('walks the spec: listeners, timeouts, sizes, counts and the PROXY protocol options', () => {
    const walked = new Set(cases.map((c) => render(c.path)));
    for (const path of [
      'listen.port',
      'adminListen.port',
      'proxyProtocol.timeoutMs',
      'proxyProtocol.untrusted',
      'maxBodyBytes',
      'upstreamConnections',
      'connectTimeoutMs',
      'idleTimeoutMs',
      'drainTimeoutMs',
    ])
      expect(walked).toContain(path);
    expect(cases.filter((c) => !c.inside).length).toBeGreaterThan(30);
  });

  it('accepts the base options both ways', () => {
    expect(factoryVerdict(base)).toBeUndefined();
    const argv = toArgv(base);
    expect(argv).not.toBe(NOT_EXPRESSIBLE);
    expect(cliVerdict(argv as string[])).toBeUndefined();
    // The flags rebuild exactly the options they were written from.
    const r = parseSidecarArgs(argv as string[], {});
    expect(r.kind === 'ok' && r.options).toEqual(base);
  });

  it.each(
    cases.map(
      (c) =>
        [
          `${render(c.path)} = ${JSON.stringify(c.value)?.slice(0, 40)} (${c.inside ? 'inside' : 'outside'} ${c.why})`,
          c,
        ] as const,
    ),
  )('%s', (_name, c) => {
    const options = setAt(base, c.path, c.value);
    const f = factoryVerdict(options);
    if (c.inside) expect(f, 'the factory must accept a value inside the spec').toBeUndefined();
    else {
      expect(f, 'the factory must reject a value outside the spec').toBeDefined();
      expect(f!.paths).toEqual([render(c.path)]);
    }
    const argv = toArgv(options);
    if (argv === NOT_EXPRESSIBLE) return; // e.g. an empty host: no flag text means it
    const p = cliVerdict(argv);
    expect(p === undefined, `same verdict from the flags (${argv.join(' ')})`).toBe(f === undefined);
    if (f && p) expect(p.flags).toEqual(f.flags);
  });
});

describe('sidecar: regressions (a value one side accepted and the other did not)', () => {
  const reject = (options: Rec): ConfigError => {
    try {
      createSidecar({ ...options, stack } as never);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error('accepted');
  };

  it('`--upstream-connections 0`: the spec’s message, named by flag and option path', () => {
    const message = 'too small (got 0, expected a number >= 1)';
    expect(reject({ ...base, upstreamConnections: 0 }).issues).toEqual([
      { path: 'upstreamConnections', message, code: 'ERR_REALIP_OPTION_INVALID' },
    ]);
    const cli = cliVerdict([...(toArgv(base) as string[]), '--upstream-connections', '0']);
    expect(cli?.problems).toEqual([`--upstream-connections (upstreamConnections): ${message}`]);
  });

  it('a fraction of a millisecond: rejected in code (was accepted) and by the flags (was rounded)', () => {
    expect(reject({ ...base, connectTimeoutMs: 1.5 }).issues[0]).toMatchObject({
      path: 'connectTimeoutMs',
      message: 'not a whole number (got 1.5, expected an integer)',
    });
    expect(
      cliVerdict(['--upstream', 'http://127.0.0.1:3000', '--connect-timeout', '1.5ms'])?.problems,
    ).toEqual(['--connect-timeout (connectTimeoutMs): not a whole number (got 1.5, expected an integer)']);
    // Whole milliseconds written with a fraction of a larger unit stay valid.
    expect(cliVerdict(['--upstream', 'http://127.0.0.1:3000', '--connect-timeout', '1.1s'])).toBeUndefined();
  });

  it('more than 24 h: rejected by the flags while parsing (was only by createSidecar, after loading the stack)', () => {
    expect(cliVerdict(['--upstream', 'http://127.0.0.1:3000', '--drain-timeout', '25h'])?.problems).toEqual([
      '--drain-timeout (drainTimeoutMs): too large (got 90000000, expected a number <= 86400000)',
    ]);
  });

  it('an empty listen host: rejected in code (was accepted; the flags never could write one)', () => {
    expect(reject({ ...base, listen: { host: '', port: 8080 } }).issues[0]?.path).toBe('listen.host');
  });

  it('unknown options and keys: rejected, with "did you mean" (were ignored)', () => {
    const e = reject({ ...base, conectTimeoutMs: 4, listen: { host: '::', port: 1, backlog: 5 } });
    expect(e.issues).toEqual([
      expect.objectContaining({
        path: 'listen.backlog',
        code: 'ERR_REALIP_OPTION_UNKNOWN',
      }),
      expect.objectContaining({
        path: 'conectTimeoutMs',
        message: expect.stringContaining('did you mean "connectTimeoutMs"?'),
        code: 'ERR_REALIP_OPTION_UNKNOWN',
      }),
    ]);
  });

  it('PROXY protocol without trusted senders: the same message and code both ways', () => {
    const e = reject({ ...base, proxyProtocol: { trusted: [] } });
    expect(e.issues).toEqual([
      {
        path: 'proxyProtocol.trusted',
        message: expect.stringMatching(/^at least one trusted sender is required/),
        code: 'ERR_REALIP_PROXY_PROTOCOL_UNTRUSTED',
      },
    ]);
    expect(cliVerdict(['--upstream', 'http://127.0.0.1:3000', '--proxy-protocol'])?.problems).toEqual([
      `--proxy-protocol-trusted (proxyProtocol.trusted): ${e.issues[0]!.message}`,
    ]);
    expect(() => createProxyProtocolServer(http.createServer(), { trusted: [] })).toThrow(
      e.issues[0]!.message,
    );
  });

  it('an unknown --proxy-protocol-untrusted value gets the spec’s "did you mean"', () => {
    expect(
      cliVerdict([
        '--upstream',
        'http://127.0.0.1:3000',
        '--proxy-protocol',
        '--proxy-protocol-trusted',
        '10.0.0.0/8',
        '--proxy-protocol-untrusted',
        'rejct',
      ])?.problems,
    ).toEqual([
      '--proxy-protocol-untrusted (proxyProtocol.untrusted): not a valid value (got "rejct", expected one of "reject", "direct"); did you mean "reject"?',
    ]);
  });
});

describe('sidecar defaults come from the spec', () => {
  it('SIDECAR_DEFAULTS is the spec’s documented defaults, and createSidecar applies them', () => {
    const documented = defaultsOf(sidecarSpec);
    const { proxyProtocolTimeoutMs, ...rest } = SIDECAR_DEFAULTS;
    for (const [key, value] of Object.entries(rest)) expect(documented[key], key).toEqual(value);
    expect(proxyProtocolTimeoutMs).toBe(defaultsOf(proxyProtocolSpec).timeoutMs);
    const resolved = resolveSidecarOptions({ upstream: 'http://127.0.0.1:3000', stack });
    for (const [key, value] of Object.entries(rest))
      expect(resolved[key as keyof typeof resolved], key).toEqual(value);
    expect(resolved.geoHeaders).toBe(documented.geoHeaders);
    expect(resolved.stripHeaders).toEqual(documented.stripHeaders);
  });
});
