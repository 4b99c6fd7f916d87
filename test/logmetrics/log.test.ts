import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { ConfigError } from '../../src/errors.js';
import {
  AccessLogInput,
  createAccessLog,
  redactedExplanation,
  trustedHops,
} from '../../src/log/access-log.js';
import type { AccessLogOptions, LoggerLike } from '../../src/log/access-log.js';
import { createAnonymizer } from '../../src/log/anonymize.js';
import { createHeavyHitters } from '../../src/metrics/heavy-hitters.js';
import {
  ALLOWED,
  CLIENT_MAPPED_V4,
  CLIENT_V4,
  CLIENT_V6,
  Capture,
  DENIED,
  GEO_DE,
  GEO_PRIVATE,
  LIMITED,
  PROXY_A,
  PROXY_B,
  UNDER_LIMIT,
  context,
  leaks,
  resolution,
} from './fixtures.js';
import type { RealipContext } from '../../src/types.js';
import { configErrorOf } from '../support/config-error.js';

const SECRET = 'a-32-byte-secret-for-tests-only!';

function input(ctx: RealipContext | undefined, over: Partial<AccessLogInput> = {}): AccessLogInput {
  const i = new AccessLogInput();
  i.method = 'GET';
  i.route = '/users/:id';
  i.url = '/users/42?token=secret';
  i.statusCode = 200;
  i.durationMs = 12.5;
  i.remoteAddress = '::ffff:' + PROXY_A;
  i.remotePort = 51234;
  i.context = ctx;
  i.headers = {
    'user-agent': 'curl/8',
    authorization: 'Bearer xyz',
    cookie: 'sid=1',
    'x-forwarded-for': `${CLIENT_V4}, ${PROXY_B}`,
    'x-request-id': 'req-1',
  };
  return Object.assign(i, over);
}

const FULL = context({
  resolution: resolution({ ip: CLIENT_V4 }),
  geo: GEO_DE,
  access: ALLOWED,
  rateLimit: UNDER_LIMIT,
});

describe('field styles', () => {
  it('otel: OpenTelemetry names, realip facts, no query string', () => {
    const ev = createAccessLog({ fieldStyle: 'otel' }).build(input(FULL));
    expect(JSON.parse(JSON.stringify(ev))).toEqual({
      'client.address': CLIENT_V4,
      'network.peer.address': PROXY_A,
      'http.request.method': 'GET',
      'http.route': '/users/:id',
      'url.path': '/users/42',
      'http.response.status_code': 200,
      'http.server.request.duration': 0.0125,
      'geo.country.iso_code': 'DE',
      'geo.continent.code': 'EU',
      'geo.locality.name': 'Berlin',
      'realip.asn': 64500,
      'realip.as_org': 'Example Carrier',
      'realip.source': 'header',
      'realip.decision': 'allowed',
    });
  });

  it("detail: 'full' puts every realip fact on every line", () => {
    const ev = createAccessLog({ detail: 'full' }).build(input(FULL));
    expect(ev).toMatchObject({
      'network.peer.port': 51234,
      'realip.header': 'x-forwarded-for',
      'realip.reason': 'untrusted-entry',
      'realip.complete': true,
      'realip.trusted_hops': 2,
      'realip.access.reason': 'allow-list',
      'realip.access.rule': 'partners',
      'realip.rate_limit.tier': 'partners',
      'realip.rate_limit.limit': 1000,
      'realip.rate_limit.remaining': 998,
      'realip.rate_limit.reset_ms': 59000,
    });
  });

  it('ecs: client.ip, source.*, client.geo.*, client.as.*, event.duration in ns', () => {
    const ev = createAccessLog({ fieldStyle: 'ecs', geoLocation: true, detail: 'full' }).build(input(FULL));
    expect(ev).toMatchObject({
      'client.address': CLIENT_V4,
      'client.ip': CLIENT_V4,
      'source.address': PROXY_A,
      'source.ip': PROXY_A,
      'source.port': 51234,
      'http.request.method': 'GET',
      'url.path': '/users/42',
      'http.response.status_code': 200,
      'event.duration': 12_500_000,
      'client.geo.country_iso_code': 'DE',
      'client.geo.continent_code': 'EU',
      'client.geo.city_name': 'Berlin',
      'client.geo.location': { lat: 52.52, lon: 13.405 },
      'client.as.number': 64500,
      'client.as.organization.name': 'Example Carrier',
      'realip.decision': 'allowed',
    });
    expect(ev['network.peer.address']).toBeUndefined();
    expect(ev['geo.country.iso_code']).toBeUndefined();
  });

  it('both: one line carries both conventions', () => {
    const ev = createAccessLog({ fieldStyle: 'both' }).build(input(FULL));
    for (const k of [
      'client.address',
      'client.ip',
      'network.peer.address',
      'source.ip',
      'http.server.request.duration',
      'event.duration',
      'geo.country.iso_code',
      'client.geo.country_iso_code',
      'client.as.number',
      'realip.decision',
    ]) {
      expect(ev[k], k).not.toBeUndefined();
    }
    expect(ev['geo.location.lat']).toBeUndefined(); // coordinates are opt-in
  });

  it('allowed lines stay lean; rule, limiter numbers and completeness appear when they explain something', () => {
    const log = createAccessLog();
    const ev = log.build(input(FULL));
    for (const k of ['realip.access.rule', 'realip.rate_limit.remaining', 'realip.complete'])
      expect(ev[k], k).toBeUndefined();
    const limited = log.build(
      input(
        context({
          resolution: resolution({ ip: CLIENT_V4, complete: false, reason: 'cap' }),
          rateLimit: LIMITED,
        }),
      ),
    );
    expect(limited).toMatchObject({
      'realip.rate_limit.limit': 100,
      'realip.rate_limit.remaining': 0,
      'realip.rate_limit.reset_ms': 42000,
      'realip.complete': false,
    });
  });

  it('every style keeps one key order per style (fixed shape)', () => {
    for (const fieldStyle of ['otel', 'ecs', 'both'] as const) {
      const log = createAccessLog({ fieldStyle });
      const a = Object.keys(log.build(input(FULL)));
      const b = Object.keys(log.build(input(context({}), { aborted: true })));
      expect(b).toEqual(a);
    }
  });
});

describe('decision, geo, resolution facts', () => {
  const log = createAccessLog();
  it.each([
    [
      'denied by a rule',
      { access: DENIED },
      { 'realip.decision': 'denied', 'realip.access.rule': 'deny[3]', 'realip.access.reason': 'deny-list' },
    ],
    [
      'limited by a tier',
      { access: ALLOWED, rateLimit: LIMITED },
      {
        'realip.decision': 'limited',
        'realip.rate_limit.tier': 'anonymous',
        'realip.rate_limit.remaining': 0,
      },
    ],
    ['allowed', { access: ALLOWED, rateLimit: UNDER_LIMIT }, { 'realip.decision': 'allowed' }],
    ['private network', { geo: GEO_PRIVATE }, { 'realip.network': 'private' }],
  ])('%s', (_name, parts, expected) => {
    const ev = log.build(input(context({ resolution: resolution({ ip: CLIENT_V4 }), ...parts })));
    expect(ev).toMatchObject(expected);
  });

  it('undeterminable client: no client.address, reason recorded', () => {
    const ev = log.build(
      input(context({ resolution: resolution({ ip: undefined, complete: false, reason: 'invalid-entry' }) })),
    );
    expect(ev['client.address']).toBeUndefined();
    expect(ev['realip.reason']).toBe('invalid-entry');
    expect(ev['realip.complete']).toBe(false);
  });

  it('without a context (resolver not mounted) the socket peer is logged canonical', () => {
    const ev = log.build(input(undefined));
    expect(ev['network.peer.address']).toBe(PROXY_A);
    expect(ev['client.address']).toBeUndefined();
    expect(ev['realip.decision']).toBe('allowed');
  });

  it.each([
    [{ source: 'socket', ip: CLIENT_V4, chain: [CLIENT_V4], peer: CLIENT_V4 }, 0],
    [{ source: 'header', ip: CLIENT_V4, chain: [CLIENT_V4, PROXY_B, PROXY_A], peer: PROXY_A }, 2],
    // A chain that does not end with the peer (the resolver's always does; trustedHops counts it).
    [{ source: 'header', ip: CLIENT_V4, chain: [CLIENT_V4, PROXY_B], peer: PROXY_A }, 2],
    [
      { source: 'header', ip: CLIENT_V4, chain: [CLIENT_V4, PROXY_A], peer: PROXY_A, forwarded: CLIENT_V4 },
      1,
    ],
    [{ source: 'proxy-protocol', ip: CLIENT_V4, chain: [CLIENT_V4], peer: CLIENT_V4 }, 1],
  ] as const)('trustedHops(%j) = %d', ({ chain, ...init }, hops) => {
    // Fields of a real resolution; the chain as the case gives it.
    expect(trustedHops({ ...resolution(init), chain })).toBe(hops);
  });

  it("trusted hops and resolution details: on exception lines by default (the resolver's chain is lazy)", () => {
    const allowed = input(FULL);
    const denied = input(context({ resolution: resolution({ ip: CLIENT_V4 }), access: DENIED }));
    const partial = input(
      context({ resolution: resolution({ ip: CLIENT_V4, complete: false, reason: 'cap' }) }),
    );
    const socket = input(
      context({
        resolution: resolution({ ip: CLIENT_V4, source: 'socket', chain: [CLIENT_V4], peer: CLIENT_V4 }),
      }),
    );
    const byDefault = createAccessLog();
    expect(byDefault.build(allowed)['realip.trusted_hops']).toBeUndefined();
    expect(byDefault.build(denied)['realip.trusted_hops']).toBe(2);
    expect(byDefault.build(partial)['realip.trusted_hops']).toBe(2);
    expect(byDefault.build(partial)).toMatchObject({ 'realip.reason': 'cap', 'realip.complete': false });
    expect(byDefault.build(denied)).toMatchObject({
      'realip.header': 'x-forwarded-for',
      'network.peer.port': 51234,
    });
    expect(byDefault.build(socket)['realip.trusted_hops']).toBeUndefined();
    expect(createAccessLog({ detail: 'full' }).build(socket)['realip.trusted_hops']).toBe(0);
    expect(createAccessLog({ detail: 'full' }).build(allowed)['realip.trusted_hops']).toBe(2);
    // The chain getter is never touched for an allowed line by default.
    let touched = 0;
    const lazy = { ...resolution({ ip: CLIENT_V4 }) };
    Object.defineProperty(lazy, 'chain', { get: () => (touched++, [CLIENT_V4, PROXY_A]) });
    byDefault.build(input(context({ resolution: lazy })));
    expect(touched).toBe(0);
  });

  it('chain is opt-in and anonymised', () => {
    const ev = createAccessLog({ chain: true, anonymize: 'truncate' }).build(input(FULL));
    expect(ev['realip.chain']).toEqual(['203.0.113.0', '172.16.5.0', '10.1.2.0']);
    expect(createAccessLog().build(input(FULL))['realip.chain']).toBeUndefined();
  });
});

describe('headers', () => {
  it('none by default; named ones as http.request.header.<name>; request id', () => {
    const ev = createAccessLog({ headers: ['user-agent'], requestIdHeader: 'x-request-id' }).build(
      input(FULL),
    );
    expect(ev['http.request.header.user-agent']).toBe('curl/8');
    expect(ev['http.request.id']).toBe('req-1');
    const plain = JSON.stringify(createAccessLog().build(input(FULL)));
    expect(plain).not.toContain('Bearer');
    expect(plain).not.toContain('sid=1');
    expect(plain).not.toContain('curl/8');
  });

  it('sensitive headers are refused unless explicitly allowed', () => {
    expect(() => createAccessLog({ headers: ['authorization', 'cookie', 'x-forwarded-for'] })).toThrow(
      ConfigError,
    );
    try {
      createAccessLog({ headers: ['authorization', 'cookie'] }, 'log');
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => [i.path, i.code])).toEqual([
        ['log.headers[0]', 'ERR_REALIP_LOG_SENSITIVE_HEADER'],
        ['log.headers[1]', 'ERR_REALIP_LOG_SENSITIVE_HEADER'],
      ]);
    }
  });

  it('an allowed address header is still anonymised', () => {
    const ev = createAccessLog({
      headers: ['x-forwarded-for'],
      allowSensitiveHeaders: true,
      anonymize: 'truncate',
    }).build(input(FULL));
    expect(ev['http.request.header.x-forwarded-for']).toBe('203.0.113.0, 172.16.5.0');
  });
});

describe('omit', () => {
  it('leaves the named fields out of every line, in each style, through pino too', () => {
    const ev = createAccessLog({ omit: ['network.peer.address', 'url.path', 'realip.source'] }).build(
      input(FULL),
    );
    expect(ev['network.peer.address']).toBeUndefined();
    expect(ev['url.path']).toBeUndefined();
    expect(ev['realip.source']).toBeUndefined();
    expect(ev['client.address']).toBe(CLIENT_V4);
    expect(ev['http.route']).toBe('/users/:id');
    const ecs = createAccessLog({ fieldStyle: 'ecs', omit: ['source.address', 'source.ip'] }).build(
      input(FULL),
    );
    expect(ecs['source.address']).toBeUndefined();
    expect(ecs['source.ip']).toBeUndefined();
    expect(ecs['client.ip']).toBe(CLIENT_V4);
    const lines: string[] = [];
    const logger = pino({ base: undefined, timestamp: false }, { write: (l: string) => void lines.push(l) });
    createAccessLog({ omit: ['network.peer.address', 'http.request.method', 'geo.country.iso_code'] }).write(
      input(FULL),
      logger,
    );
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).not.toHaveProperty('network.peer.address');
    expect(line).not.toHaveProperty('http.request.method');
    expect(line).not.toHaveProperty('geo.country.iso_code');
    expect(line['client.address']).toBe(CLIENT_V4);
    expect(JSON.stringify(line)).not.toContain(PROXY_A);
  });

  it('applies to detail fields of denied lines and to logged headers', () => {
    const log = createAccessLog({
      omit: ['realip.access.rule', 'http.request.header.user-agent'],
      headers: ['user-agent'],
    });
    const ev = log.build(input(context({ resolution: resolution({ ip: CLIENT_V4 }), access: DENIED })));
    expect(ev['realip.decision']).toBe('denied');
    expect(ev['realip.access.reason']).toBeDefined();
    expect(ev['realip.access.rule']).toBeUndefined();
    expect(ev['http.request.header.user-agent']).toBeUndefined();
  });

  it("unknown names (or another style's names, or suppressed) are errors that list the known ones", () => {
    const err = configErrorOf(() => {
      createAccessLog(
        { fieldStyle: 'ecs', omit: ['source.ip', 'network.peer.address', 'suppressed'] },
        'log',
      );
    });
    const issues = err.issues;
    expect(issues.map((i) => i.path)).toEqual(['log.omit[1]', 'log.omit[2]']);
    expect(issues[0]!.message).toContain('unknown field "network.peer.address" for fieldStyle "ecs"');
    expect(issues[0]!.message).toContain('source.address');
    expect(() => createAccessLog({ omit: 'url.path' as unknown as string[] })).toThrow(
      /omit: wrong type \(got "url.path", expected a list/,
    );
  });

  it('are checked together with the other options: one error lists every problem', () => {
    const err = configErrorOf(() => {
      createAccessLog(
        {
          suppress: { statuses: 429 as unknown as number[] },
          headers: ['user-agent', 'Bad Name'],
          omit: ['url.path', 'http.request.header.user-agent', 'nope'],
        },
        'log',
      );
    });
    expect(err.issues.map((i) => i.path)).toEqual(['log.suppress.statuses', 'log.headers[1]', 'log.omit[2]']);
  });
});

describe('anonymisation of every log field and explanations', () => {
  const RAW = [CLIENT_V4, CLIENT_V6, CLIENT_MAPPED_V4, PROXY_A, PROXY_B];
  const ctxs = [
    FULL,
    context({ resolution: resolution({ ip: CLIENT_V6 }), access: DENIED }),
    context({ resolution: resolution({ ip: CLIENT_MAPPED_V4, peer: PROXY_B }), rateLimit: LIMITED }),
  ];

  it.each(['truncate', 'hmac', 'drop'] as const)(
    '%s: no raw address in any style, chain, explain or header',
    (mode) => {
      for (const fieldStyle of ['otel', 'ecs', 'both'] as const) {
        const log = createAccessLog({
          fieldStyle,
          anonymize: mode,
          hmacKey: { id: 'k1', secret: SECRET },
          chain: true,
          explain: 'always',
          headers: ['x-forwarded-for', 'forwarded'],
          allowSensitiveHeaders: true,
        });
        const text = ctxs
          .map((c) =>
            JSON.stringify(
              log.build(
                input(c, {
                  headers: {
                    'x-forwarded-for': `${CLIENT_V4}, ::ffff:${PROXY_B}`,
                    forwarded: `for="[${CLIENT_V6}]:443"`,
                  },
                }),
              ),
            ),
          )
          .join('\n');
        expect(leaks(text, RAW), `${mode}/${fieldStyle}`).toEqual([]);
        expect(text).toContain(`"realip.anonymize":"${mode}"`);
        if (mode === 'hmac') {
          expect(text).toContain('"realip.key_id":"k1"');
          expect(text).toContain('"client.address":"hmac:k1:');
          // ECS IP-typed fields stay empty rather than holding a non-IP.
          expect(text).not.toContain('"client.ip"');
        }
        if (mode === 'drop') expect(text).not.toContain('client.address');
        expect(text).not.toContain('51234'); // source port is dropped with anonymisation (CGNAT re-identification)
      }
    },
  );

  it('redactedExplanation builds an explanation from the fields only', () => {
    const anon = createAnonymizer({ anonymize: 'truncate' });
    const text = redactedExplanation(resolution({ ip: CLIENT_V4 }), anon);
    expect(text).toBe(
      'client 203.0.113.0 from header x-forwarded-for (untrusted-entry, complete), peer 10.1.2.0, 2 trusted hops, chain [203.0.113.0, 172.16.5.0, 10.1.2.0]',
    );
    const dropped = redactedExplanation(
      resolution({ ip: CLIENT_V4 }),
      createAnonymizer({ anonymize: 'drop' }),
    );
    expect(leaks(dropped, RAW)).toEqual([]);
    expect(dropped).toContain('client <redacted>');
  });

  it("explain: 'denied' only on denied/limited lines, and a throwing explain() falls back", () => {
    const log = createAccessLog({ explain: 'denied', anonymize: 'truncate' });
    expect(log.build(input(FULL))['realip.explain']).toBeUndefined();
    const denied = log.build(input(context({ resolution: resolution({ ip: CLIENT_V4 }), access: DENIED })));
    expect(denied['realip.explain']).toContain('203.0.113.0 is not trusted: it is the client');
    const broken = {
      ...resolution({ ip: CLIENT_V4 }),
      explain: () => {
        throw new Error('boom');
      },
    };
    const ev = log.build(input(context({ resolution: broken, access: DENIED })));
    expect(ev['realip.explain']).toContain('client 203.0.113.0 from header');
  });
});

describe('flood suppression', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_700_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(opts: AccessLogOptions = {}) {
    const cap = new Capture();
    const logger = pino({ level: 'info', base: undefined, timestamp: false }, cap);
    const log = createAccessLog({ suppress: { windowMs: 10_000, maxKeys: 3 }, ...opts });
    return { cap, logger, log };
  }
  const deniedFrom = (ip: string, status = 403) =>
    input(
      context({
        resolution: resolution({ ip }),
        access: status === 403 ? DENIED : ALLOWED,
        rateLimit: status === 429 ? LIMITED : undefined,
      }),
      { statusCode: status },
    );

  it('allowed requests: one line each', () => {
    const { cap, logger, log } = setup();
    for (let i = 0; i < 50; i++) log.write(input(FULL), logger);
    expect(cap.lines().length).toBe(50);
    expect(cap.lines()[0]!['suppressed']).toBeUndefined();
  });

  it('403: first per client per window logged, the rest counted into the next line', () => {
    const { cap, logger, log } = setup();
    for (let i = 0; i < 100; i++) log.write(deniedFrom(CLIENT_V4), logger);
    let lines = cap.lines();
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ suppressed: 0, 'realip.decision': 'denied', level: 40 });
    vi.advanceTimersByTime(10_000);
    log.write(deniedFrom(CLIENT_V4), logger);
    lines = cap.lines();
    expect(lines.length).toBe(2);
    expect(lines[1]!['suppressed']).toBe(99);
  });

  it('403 and 429 are tracked apart; other clients are not suppressed by a flood', () => {
    const { cap, logger, log } = setup();
    for (let i = 0; i < 10; i++) {
      log.write(deniedFrom(CLIENT_V4, 403), logger);
      log.write(deniedFrom(CLIENT_V4, 429), logger);
    }
    log.write(deniedFrom(CLIENT_V6, 403), logger);
    const lines = cap.lines();
    expect(lines.map((l) => [l['http.response.status_code'], l['client.address']])).toEqual([
      [403, CLIENT_V4],
      [429, CLIENT_V4],
      [403, CLIENT_V6],
    ]);
  });

  it('counts of clients that never come back go into one summary line per status; totals are conserved', () => {
    const { cap, logger, log } = setup({ suppress: { windowMs: 10_000, maxKeys: 1000 } });
    let sent = 0;
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) {
      for (let i = 0; i < 7; i++, sent++) log.write(deniedFrom(ip), logger);
    }
    vi.advanceTimersByTime(10_001);
    log.write(input(FULL), logger); // next window: they may still come back, nothing summarised yet
    expect(cap.lines().some((l) => l['msg'] === 'realip suppressed repeated responses')).toBe(false);
    vi.advanceTimersByTime(10_000);
    log.write(input(FULL), logger); // a whole idle window later: summarised by the next request's sweep
    const lines = cap.lines();
    const summary = lines.find((l) => l['msg'] === 'realip suppressed repeated responses')!;
    expect(summary).toMatchObject({
      suppressed: 18,
      'realip.suppressed_clients': 3,
      'http.response.status_code': 403,
    });
    const denials = lines.filter((l) => l['http.response.status_code'] === 403);
    const accounted = denials.reduce(
      (a, l) => a + (l['msg'] === 'request completed' ? 1 : 0) + (l['suppressed'] as number),
      0,
    );
    expect(accounted).toBe(sent);
  });

  it('bounded memory: beyond maxKeys, new clients share one overflow entry', () => {
    const { cap, logger, log } = setup(); // maxKeys 3
    for (let i = 0; i < 1000; i++) log.write(deniedFrom(`198.51.100.${i % 250}`), logger);
    const lines = cap.lines();
    // 3 tracked clients + 1 overflow line; everything else suppressed.
    expect(lines.length).toBe(4);
    log.flush(logger);
    const all = cap.lines();
    const total = all.reduce(
      (a, l) => a + (l['msg'] === 'request completed' ? 1 : 0) + ((l['suppressed'] as number) ?? 0),
      0,
    );
    expect(total).toBe(1000);
  });

  it('suppress: false logs every line', () => {
    const { cap, logger, log } = setup({ suppress: false });
    for (let i = 0; i < 20; i++) log.write(deniedFrom(CLIENT_V4), logger);
    expect(cap.lines().length).toBe(20);
    expect(cap.lines()[0]!['suppressed']).toBeUndefined();
  });
});

describe('writing', () => {
  it('levels per outcome; disabled levels skip building', () => {
    const calls: string[] = [];
    const logger: LoggerLike = {
      info: () => calls.push('info'),
      warn: () => calls.push('warn'),
      error: () => calls.push('error'),
      isLevelEnabled: (l) => l !== 'info',
    };
    const log = createAccessLog({ suppress: false });
    log.write(input(FULL), logger);
    log.write(input(FULL, { statusCode: 503 }), logger);
    log.write(
      input(context({ resolution: resolution({ ip: CLIENT_V4 }), access: DENIED }), { statusCode: 403 }),
      logger,
    );
    expect(calls).toEqual(['error', 'warn']);
  });

  it('a throwing logger never breaks the request path', () => {
    const log = createAccessLog();
    const logger: LoggerLike = {
      info: () => {
        throw new Error('disk full');
      },
      warn: () => {
        throw new Error('x');
      },
    };
    expect(() => log.write(input(FULL), logger)).not.toThrow();
    const picky: LoggerLike = {
      ...logger,
      isLevelEnabled: () => {
        throw new Error('bad logger');
      },
    };
    expect(() => log.write(input(FULL), picky)).not.toThrow();
  });

  it('exempt paths are not logged; top clients are fed and each window logged once', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_700_000_000_000 });
    try {
      const cap = new Capture();
      const logger = pino({ base: undefined, timestamp: false }, cap);
      const topClients = createHeavyHitters({ windowMs: 60_000, anonymize: 'truncate', granularity: 'ip' });
      const log = createAccessLog({ exempt: ['/healthz'], topClients, anonymize: 'truncate' });
      log.write(input(FULL, { url: '/healthz' }), logger);
      expect(cap.lines()).toEqual([]);
      for (let i = 0; i < 3; i++) log.write(input(FULL), logger);
      vi.advanceTimersByTime(61_000);
      log.write(input(FULL), logger);
      log.write(input(FULL), logger);
      const top = cap.lines().filter((l) => l['msg'] === 'realip top clients');
      expect(top.length).toBe(1);
      expect(top[0]!['realip.top_clients']).toMatchObject({
        clients: [{ rank: 1, client: '203.0.113.0', count: 3 }],
      });
      expect(leaks(cap.text, [CLIENT_V4])).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('validates every option at once', () => {
    try {
      createAccessLog(
        {
          fieldStyle: 'json' as never,
          levels: { allowed: 'trace' as never },
          explain: 'sometimes' as never,
          suppress: { windowMs: 0, maxKeys: 0, statuses: [42] },
          headers: ['User Agent'],
          requestIdHeader: 'X Id',
          exempt: ['healthz'],
          anonymize: 'hmac',
        },
        'log',
      );
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.path)).toEqual([
        'log.fieldStyle',
        'log.levels.allowed',
        'log.explain',
        'log.suppress.windowMs',
        'log.suppress.maxKeys',
        'log.suppress.statuses[0]',
        'log.headers[0]',
        'log.requestIdHeader',
        'log.exempt[0]',
        'log.anonymize',
      ]);
    }
  });
});
