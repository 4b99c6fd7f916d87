/**
 * realip's own pino line writer (src/core/pino-line.ts) must write exactly what
 * `logger[level](event, msg)` writes, and must step aside whenever pino would do something it does
 * not reproduce (redaction, formatters, mixins, hooks, serializers, multistream, tracing, object
 * values, a changed serializer). Every test compares against pino itself.
 */
import { describe, expect, it } from 'vitest';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import fc from 'fast-check';
import pino from 'pino';
import type { Logger, LoggerOptions } from 'pino';
import { createPinoLineWriter, PinoMessage } from '../../src/core/pino-line.js';
import { AccessLogInput, createAccessLog } from '../../src/core/log.js';
import { ALLOWED, CLIENT_V4, GEO_DE, UNDER_LIMIT, context, resolution } from './fixtures.js';

/** A stream that keeps what it is given (a plain object stream: pino writes to it synchronously). */
class Sink {
  lines: string[] = [];
  write(s: string): void {
    this.lines.push(s);
  }
}

const FIXED_TIME = { timestamp: () => ',"time":1700000000000' } satisfies LoggerOptions;

/** A writer that has already passed its self-check on a plain logger (so only eligibility decides). */
function primedWriter(): ReturnType<typeof createPinoLineWriter> {
  const w = createPinoLineWriter();
  expect(w.write(pino(FIXED_TIME, new Sink()), 'info', { 'a.b': 1 }, new PinoMessage('m'))).toBe(true);
  return w;
}

/** Writes `event` both ways and returns [fast result, fast output, pino's output]. */
function both(
  make: (sink: Sink) => Logger,
  event: Record<string, unknown>,
  msg: string,
  level: 'info' | 'warn' | 'error' = 'info',
): [boolean, string[], string[]] {
  const fast = new Sink();
  const slow = new Sink();
  const written = primedWriter().write(make(fast), level, event, new PinoMessage(msg));
  make(slow)[level](event, msg);
  return [written, fast.lines, slow.lines];
}

const key = fc.stringMatching(/^[a-z_]{1,8}(\.[a-z_]{1,8}){1,3}$/);
// Strings of every kind: quotes, backslashes, control characters, lone surrogates, long ones.
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 120 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', 'a', '/'), maxLength: 130 }),
  // around pino's 100-character switch to JSON.stringify, without control characters
  fc.string({ unit: fc.constantFrom('"', '\\', '\udc00', 'a'), minLength: 95, maxLength: 110 }),
);
const value = fc.oneof(
  text,
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(undefined),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 5e-7),
);
const event = fc.dictionary(key, value, { maxKeys: 12 });

describe('pino line writer: byte-identical to pino', () => {
  it('any flat event and message, on a root logger', () => {
    fc.assert(
      fc.property(event, text, (ev, msg) => {
        const [written, fast, slow] = both((s) => pino(FIXED_TIME, s), ev, msg);
        expect(written).toBe(true);
        expect(fast).toEqual(slow);
      }),
      { numRuns: 400 },
    );
  });

  it('child loggers, bindings, custom message key, levels, crlf, level formatter, no base', () => {
    const variants: ((s: Sink) => Logger)[] = [
      (s) => pino(FIXED_TIME, s).child({ reqId: 'req-1', 'odd "key"': 'v\\al' }),
      (s) => pino({ ...FIXED_TIME, messageKey: 'message', base: null }, s),
      (s) => pino({ ...FIXED_TIME, crlf: true }, s),
      (s) =>
        pino({ ...FIXED_TIME, formatters: { level: (label) => ({ severity: label.toUpperCase() }) } }, s),
      (s) =>
        pino({ timestamp: false, base: { service: 'api' } }, s)
          .child({ a: 1 })
          .child({ b: [1, 2] }),
      (s) => pino({ ...FIXED_TIME, customLevels: { audit: 35 } }, s) as unknown as Logger,
    ];
    fc.assert(
      fc.property(
        event,
        text,
        fc.constantFrom('info', 'warn', 'error'),
        fc.nat(variants.length - 1),
        (ev, msg, level, v) => {
          const [written, fast, slow] = both(variants[v]!, ev, msg, level as 'info');
          expect(written).toBe(true);
          expect(fast).toEqual(slow);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the access log line of a full request is the same either way', () => {
    const ctx = context({
      resolution: resolution({ ip: CLIENT_V4 }),
      geo: GEO_DE,
      access: ALLOWED,
      rateLimit: UNDER_LIMIT,
    });
    const input = new AccessLogInput();
    input.method = 'GET';
    input.route = '/users/:id';
    input.url = '/users/"4\\2"?q=1';
    input.statusCode = 200;
    input.durationMs = 1.25;
    input.context = ctx;
    for (const fieldStyle of ['otel', 'ecs', 'both'] as const) {
      const log = createAccessLog({ fieldStyle });
      const fast = new Sink();
      log.write(input, pino(FIXED_TIME, fast));
      const slow = new Sink();
      pino(FIXED_TIME, slow).info(log.build(input), 'request completed');
      expect(fast.lines).toHaveLength(1);
      expect(fast.lines).toEqual(slow.lines);
    }
  });
});

describe('pino line writer: steps aside', () => {
  const ev = { 'client.address': CLIENT_V4, 'http.response.status_code': 200 };

  const cases: [string, (s: Sink) => Logger][] = [
    ['redaction', (s) => pino({ ...FIXED_TIME, redact: ['["client.address"]'] }, s)],
    ['redaction of an unrelated key', (s) => pino({ ...FIXED_TIME, redact: ['password'] }, s)],
    ['formatters.log', (s) => pino({ ...FIXED_TIME, formatters: { log: (o) => ({ ...o, extra: 1 }) } }, s)],
    ['mixin', (s) => pino({ ...FIXED_TIME, mixin: () => ({ trace: 'abc' }) }, s)],
    [
      'hooks.logMethod',
      (s) =>
        pino(
          {
            ...FIXED_TIME,
            hooks: {
              logMethod(args, method) {
                method.apply(this, [{ ...(args[0] as object), hooked: true }, ...(args.slice(1) as [])]);
              },
            },
          },
          s,
        ),
    ],
    [
      'hooks.streamWrite',
      (s) => pino({ ...FIXED_TIME, hooks: { streamWrite: (l) => l.replace('203', 'xxx') } }, s),
    ],
    ['msgPrefix', (s) => pino(FIXED_TIME, s).child({}, { msgPrefix: '[api] ' })],
    ['nestedKey', (s) => pino({ ...FIXED_TIME, nestedKey: 'payload' }, s)],
    [
      'a serializer for a realip key',
      (s) => pino({ ...FIXED_TIME, serializers: { 'client.address': () => 'serialized' } }, s),
    ],
    ['a serializer for the message key', (s) => pino({ ...FIXED_TIME, serializers: { msg: () => 'm' } }, s)],
    ['multistream', (s) => pino(FIXED_TIME, pino.multistream([{ stream: s }]))],
  ];
  for (const [name, make] of cases) {
    it(`${name}: writes nothing itself, and the access log still equals pino's line`, () => {
      const [written, fast] = both(make, ev, 'request completed');
      expect(written).toBe(false);
      expect(fast).toEqual([]);
      const input = new AccessLogInput();
      input.method = 'GET';
      input.statusCode = 200;
      input.context = context({ resolution: resolution({ ip: CLIENT_V4 }) });
      const log = createAccessLog();
      const viaRealip = new Sink();
      log.write(input, make(viaRealip));
      const viaPino = new Sink();
      make(viaPino).info(log.build(input), 'request completed');
      expect(viaRealip.lines).toHaveLength(1);
      expect(viaRealip.lines).toEqual(viaPino.lines);
    });
  }

  it('redaction through the access log is honoured', () => {
    const sink = new Sink();
    const input = new AccessLogInput();
    input.statusCode = 200;
    input.context = context({ resolution: resolution({ ip: CLIENT_V4 }) });
    createAccessLog().write(input, pino({ redact: ['["client.address"]'] }, sink));
    expect(sink.lines[0]).toContain('"client.address":"[Redacted]"');
    expect(sink.lines[0]).not.toContain(CLIENT_V4);
  });

  it('object values (a logged chain) go through pino', () => {
    const [written, fast] = both((s) => pino(FIXED_TIME, s), { 'realip.chain': ['a', 'b'] }, 'm');
    expect(written).toBe(false);
    expect(fast).toEqual([]);
  });

  it('a spy or wrapper on the level method is not bypassed', () => {
    const sink = new Sink();
    const logger = pino(FIXED_TIME, sink);
    const calls: unknown[] = [];
    const original = logger.info.bind(logger);
    logger.info = ((obj: object, msg?: string) => {
      calls.push(obj);
      original(obj, msg);
    }) as typeof logger.info;
    expect(primedWriter().write(logger, 'info', ev, new PinoMessage('m'))).toBe(false);
    expect(sink.lines).toEqual([]);
  });

  it('subscribers of pino_asJson tracing see every line', () => {
    const w = primedWriter();
    const sink = new Sink();
    const logger = pino(FIXED_TIME, sink);
    const seen: unknown[] = [];
    const onStart = (m: unknown): void => void seen.push(m);
    subscribe('tracing:pino_asJson:start', onStart);
    try {
      expect(w.write(logger, 'info', ev, new PinoMessage('m'))).toBe(false);
      logger.info(ev, 'm');
      expect(seen).toHaveLength(1);
    } finally {
      unsubscribe('tracing:pino_asJson:start', onStart);
    }
    expect(w.write(logger, 'info', ev, new PinoMessage('m'))).toBe(true);
  });

  it('not a pino logger: returns false and leaves it alone', () => {
    const calls: unknown[] = [];
    const logger = { info: (o: unknown) => calls.push(o), warn: () => {}, levels: { values: { info: 30 } } };
    const w = createPinoLineWriter();
    expect(w.write(logger, 'info', ev, new PinoMessage('m'))).toBe(false);
    expect(w.write(logger, 'info', ev, new PinoMessage('m'))).toBe(false);
    expect(calls).toEqual([]);
  });

  it('a pino whose serializer differs from the reproduction fails the self-check: every line goes through pino', () => {
    const sink = new Sink();
    const logger = pino(FIXED_TIME, sink);
    // Stand in for a pino release that changed its output: the instance's own serializer adds a field.
    const asJson = pino.symbols.asJsonSym;
    const original = (logger as unknown as Record<symbol, (...a: unknown[]) => string>)[asJson]!;
    (logger as unknown as Record<symbol, unknown>)[asJson] = function (this: unknown, ...a: unknown[]) {
      return original.apply(this, a).replace('{', '{"changed":true,');
    };
    const w = createPinoLineWriter();
    expect(w.write(logger, 'info', ev, new PinoMessage('m'))).toBe(false);
    expect(w.write(logger, 'info', ev, new PinoMessage('m'))).toBe(false);
    logger.info(ev, 'm');
    expect(sink.lines).toHaveLength(1);
    expect(sink.lines[0]).toContain('"changed":true');
  });

  it('two copies of a logger configuration alternate without losing the fast path', () => {
    const w = createPinoLineWriter();
    const a = new Sink();
    const b = new Sink();
    const la = pino(FIXED_TIME, a);
    const lb = pino({ ...FIXED_TIME, redact: ['x'] }, b);
    for (let i = 0; i < 3; i++) {
      expect(w.write(la, 'info', ev, new PinoMessage('m'))).toBe(true);
      expect(w.write(lb, 'info', ev, new PinoMessage('m'))).toBe(false);
    }
    expect(a.lines).toHaveLength(3);
    expect(b.lines).toHaveLength(0);
  });
});
