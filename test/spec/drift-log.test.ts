import { describe, expect, it } from 'vitest';
import { createAnonymizer } from '../../src/log/anonymize.js';
import { AccessLogInput, createAccessLog, type LoggerLike } from '../../src/log/access-log.js';
import { accessLogSpec, FIELD_STYLES, LOG_FIELDS } from '../../src/log/spec.js';
import { anonymizerSpec } from '../../src/log/anonymize-spec.js';
import { driftSuite, factoryVerdict, policyVerdict, type DriftStage } from './drift.js';

const logger: LoggerLike = { info() {}, warn() {} };

const log: DriftStage = {
  name: 'log',
  spec: accessLogSpec,
  base: {
    fieldStyle: 'otel',
    message: 'done',
    levels: { allowed: 'info', denied: 'warn', limited: 'warn', serverError: 'error' },
    detail: 'lean',
    explain: 'never',
    suppress: { windowMs: 1000, maxKeys: 100, statuses: [403, 429] },
    headers: ['user-agent'],
    allowSensitiveHeaders: false,
    requestIdHeader: 'x-request-id',
    exempt: ['/healthz'],
    hmacLength: 16,
    truncate: { v4: 24, v6: 48 },
    chain: false,
    geoLocation: false,
    path: true,
    omit: ['url.path'],
  },
  // Code-only values (a logger, a sketch, secrets, the cache) and `anonymize`, which takes an
  // anonymiser in code: its modes are walked by the anonymiser's suite below.
  skip: ['logger', 'topClients', 'anonymize', 'hmacKey', 'hmacKeys', 'cacheSize'],
  factory: (o) => createAccessLog({ ...o, logger }, 'log'),
  policy: (o) => ({ version: 1, log: o }),
  factoryPath: 'log',
  policyPath: 'log',
};
driftSuite(log);

const anonymizer: DriftStage = {
  name: 'log (anonymiser)',
  spec: anonymizerSpec,
  base: { anonymize: 'truncate', hmacLength: 16, truncate: { v4: 24, v6: 48 } },
  skip: ['hmacKey', 'hmacKeys', 'cacheSize'],
  factory: (o) => createAnonymizer(o, 'log'),
  policy: (o) => ({ version: 1, log: o }),
  factoryPath: 'log',
  policyPath: 'log',
};
driftSuite(anonymizer);

/** Both verdicts for options set over the log base. */
function verdicts(options: Record<string, unknown>) {
  const o = { ...log.base, ...options };
  return { factory: factoryVerdict(log, o), policy: policyVerdict(log, o) };
}

describe('log: values one copy accepted and the other refused now get one verdict', () => {
  it('suppress.windowMs: 1.5 (the factory took any positive number, the policy an integer)', () => {
    expect(() => createAccessLog({ logger, suppress: { windowMs: 1.5 } })).toThrow(
      /suppress\.windowMs: not a whole number \(got 1\.5, expected an integer\)/,
    );
    expect(verdicts({ suppress: { windowMs: 1.5 } })).toEqual({
      factory: ['log.suppress.windowMs'],
      policy: ['log.suppress.windowMs'],
    });
  });

  it("message: '' (the factory took it, the policy wanted a non-empty string)", () => {
    expect(verdicts({ message: '' })).toEqual({ factory: ['log.message'], policy: ['log.message'] });
  });

  it.each(['chain', 'geoLocation', 'path', 'allowSensitiveHeaders'])(
    '%s: "yes" (the factory never checked it and read anything but true or false as the default)',
    (key) => {
      expect(verdicts({ [key]: 'yes' })).toEqual({ factory: [`log.${key}`], policy: [`log.${key}`] });
    },
  );

  it('an unknown key (the factory ignored it)', () => {
    const v = verdicts({ fieldstyle: 'ecs' });
    expect(v).toEqual({ factory: ['log.fieldstyle'], policy: ['log.fieldstyle'] });
    expect(() => createAccessLog({ fieldstyle: 'ecs' } as never)).toThrow(/did you mean "fieldStyle"/);
  });

  it('header names in any case (the factory refused upper case, the policy lower-cased them)', () => {
    expect(verdicts({ headers: ['User-Agent'], requestIdHeader: 'X-Request-Id', omit: [] })).toEqual({
      factory: undefined,
      policy: undefined,
    });
    const input = new AccessLogInput();
    input.headers = { 'user-agent': 'curl/8', 'x-request-id': 'r-1' };
    const ev = createAccessLog({ headers: ['User-Agent'], requestIdHeader: 'X-Request-Id' }).build(input);
    expect(ev['http.request.header.user-agent']).toBe('curl/8');
    expect(ev['http.request.id']).toBe('r-1');
  });

  it('a sensitive header, in any case (the policy accepted it; the stack refused it when built)', () => {
    expect(verdicts({ headers: ['Authorization'] })).toEqual({
      factory: ['log.headers[0]'],
      policy: ['log.headers[0]'],
    });
    expect(verdicts({ requestIdHeader: 'cookie' })).toEqual({
      factory: ['log.requestIdHeader'],
      policy: ['log.requestIdHeader'],
    });
    expect(verdicts({ headers: ['Authorization'], allowSensitiveHeaders: true })).toEqual({
      factory: undefined,
      policy: undefined,
    });
  });

  it('an unknown omit field and an unsafe exempt path (the policy accepted both until the stack was built)', () => {
    expect(verdicts({ omit: ['client.adress'] })).toEqual({
      factory: ['log.omit[0]'],
      policy: ['log.omit[0]'],
    });
    expect(verdicts({ exempt: ['healthz'] })).toEqual({
      factory: ['log.exempt[0]'],
      policy: ['log.exempt[0]'],
    });
  });

  it('anonymize: hmac without a key is reported at anonymize both ways', () => {
    expect(verdicts({ anonymize: 'hmac' })).toEqual({
      factory: ['log.anonymize'],
      policy: ['log.anonymize'],
    });
  });
});

describe('log: code-only options', () => {
  it('the logger is checked, and is where write() and flush() go by default', () => {
    expect(() => createAccessLog({ logger: {} as never })).toThrow(/logger: expected a logger/);
    const lines: object[] = [];
    const sink: LoggerLike = { info: (o) => void lines.push(o), warn: (o) => void lines.push(o) };
    createAccessLog({ logger: sink }).write(new AccessLogInput());
    expect(lines).toHaveLength(1);
  });

  it('anonymiser options next to a shared anonymiser are refused (they would be ignored)', () => {
    const shared = createAnonymizer({ anonymize: 'truncate' });
    expect(() => createAccessLog({ anonymize: shared, truncate: { v4: 16 } }, 'log')).toThrow(
      /log\.truncate: is unused when anonymize is an anonymiser/,
    );
  });

  it("LOG_FIELDS lists exactly what build() writes, per style (omit's names)", () => {
    for (const fieldStyle of FIELD_STYLES) {
      const keys = Object.keys(createAccessLog({ fieldStyle }).build(new AccessLogInput()));
      expect(keys.filter((k) => k !== 'suppressed')).toEqual(LOG_FIELDS[fieldStyle]);
    }
  });
});
