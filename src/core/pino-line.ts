/**
 * Writes a flat access-log event to a pino logger as exactly the line `logger[level](event, msg)`
 * would write, without pino's generic per-key work (own-property checks, serializer and stringifier
 * lookups, key escaping on every call). Used only where the result is byte-identical:
 *
 * - the logger is a pino logger (found by its `pino.*` symbols, whichever copy of pino made it) whose
 *   level method is pino's own (no `hooks.logMethod`, no spy replacing it);
 * - no `formatters.log`, `mixin`, `msgPrefix`, `nestedKey`, `hooks.streamWrite`, redaction, or
 *   serializer for any key realip writes or for the message key; the stream needs no per-line
 *   metadata (not a `pino.multistream`); nobody subscribes to pino's `pino_asJson` tracing channel;
 * - every value is a string, number, boolean or undefined (chains, locations and other objects go
 *   the ordinary way);
 * - a self-check passed: the first time a copy of pino is seen, a sample event with every kind of
 *   value and escape is written both ways (through pino's own serializer, `logger[pino.asJson]`)
 *   and compared byte for byte. A pino release that changes its format fails the check and
 *   realip goes through `logger[level]()` for every line.
 *
 * Anything else returns `false` and the caller uses the logger's method. `pino.symbols` exists for
 * integrations like this one (pino's docs: "for integration purposes with ecosystem and third
 * party libraries"); realip reads the symbols off the logger itself, so it never loads pino.
 */
import { channel } from 'node:diagnostics_channel';

type Bag = Record<PropertyKey, unknown>;

/** The private symbols of one copy of pino, read off a logger by their descriptions. */
interface PinoShape {
  readonly lsCache: symbol;
  readonly time: symbol;
  readonly chindings: symbol;
  readonly end: symbol;
  readonly stream: symbol;
  readonly mixin: symbol;
  readonly stringifiers: symbol;
  readonly messageKey: symbol;
  readonly errorKey: symbol;
  readonly nestedKey: symbol;
  readonly msgPrefix: symbol;
  readonly asJson: symbol;
  /** Result of the self-check; undefined until an eligible logger of this copy is seen. */
  verified: boolean | undefined;
  /** Strings escaped the way this copy of pino does (`JSON.stringify` for all, from Node 25). */
  jsonStrings: boolean;
}

const SERIALIZERS = Symbol.for('pino.serializers');
const FORMATTERS = Symbol.for('pino.formatters');
const HOOKS = Symbol.for('pino.hooks');
const NEEDS_METADATA = Symbol.for('pino.metadata');
const NAMES = [
  'lsCache',
  'time',
  'chindings',
  'end',
  'stream',
  'mixin',
  'stringifiers',
  'messageKey',
  'errorKey',
  'nestedKey',
  'msgPrefix',
  'asJson',
] as const;

// pino traces its serializer through this channel; subscribers must see every line.
const tracingStart = channel('tracing:pino_asJson:start');
const tracingEnd = channel('tracing:pino_asJson:end');

function discover(logger: object): PinoShape | undefined {
  const found = new Map<string, symbol>();
  for (let o: object | null = logger; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    for (const s of Object.getOwnPropertySymbols(o)) {
      const d = s.description;
      if (d !== undefined && d.startsWith('pino.') && !found.has(d)) found.set(d, s);
    }
  }
  const syms: Partial<Record<(typeof NAMES)[number], symbol>> = {};
  for (const n of NAMES) {
    const s = found.get('pino.' + n);
    if (s === undefined) return undefined;
    syms[n] = s;
  }
  return { ...(syms as Record<(typeof NAMES)[number], symbol>), verified: undefined, jsonStrings: false };
}

/** pino's string escaping before Node 25 (`asString` in pino/lib/tools.js), reproduced exactly. */
function pinoString(str: string): string {
  const l = str.length;
  if (l > 100) return JSON.stringify(str);
  let result = '';
  let last = 0;
  let found = false;
  for (let i = 0; i < l; i++) {
    const c = str.charCodeAt(i);
    if (c < 32) return JSON.stringify(str);
    if (c === 34 || c === 92) {
      result += str.slice(last, i) + '\\';
      last = i;
      found = true;
    }
  }
  return found ? '"' + result + str.slice(last) + '"' : '"' + str + '"';
}

/** A fixed message, escaped once per escaping mode. */
class Message {
  readonly pino: string;
  readonly json: string;
  constructor(readonly text: string) {
    this.pino = pinoString(text);
    this.json = JSON.stringify(text);
  }
}

/** The sample the self-check writes both ways: every value kind and escape path. */
const SAMPLE: Bag = {
  'client.address': '203.0.113.7',
  'a "quoted" \\ key.x': 'a "quoted" \\ value',
  'control.chars': 'line\nbreak\ttab',
  'long.value': 'x'.repeat(101) + '"',
  'long.surrogate': 'x'.repeat(101) + '\ud800',
  'lone.surrogate': 'a\ud800b',
  'u2028.value': 'a\u2028b',
  'not.written': undefined,
  'int.value': 200,
  'float.value': 0.000123,
  'negative.value': -1.5e-7,
  'big.value': 1e21,
  'nan.value': Number.NaN,
  'inf.value': Number.POSITIVE_INFINITY,
  'true.value': true,
  'false.value': false,
};
const SAMPLE_MESSAGE = new Message('sample "line" \\ with escapes');

export interface PinoLineWriter {
  /**
   * Writes `event` with `msg` at `level` if `logger` qualifies (see the module comment), returning
   * true; returns false (having written nothing) otherwise. The caller has checked that the level
   * is enabled. Event keys must contain a dot or be `suppressed` (realip's keys): serializers are
   * checked for those names only.
   */
  write(logger: object, level: string, event: Bag, msg: Message): boolean;
}

export { Message as PinoMessage };

/** Creates a writer (one per access log: its caches hold the last configuration it checked). */
export function createPinoLineWriter(): PinoLineWriter {
  // Copies of pino seen (an app and Fastify may each bring one); a few at most.
  const shapes: PinoShape[] = [];
  const notPino = new WeakSet<object>();
  const keyTexts = [new Map<string, string>(), new Map<string, string>()] as const;
  // Identity caches: the last serializers/stringifiers objects found harmless, and found harmful.
  let okSerializers: unknown;
  let okStringifiers: unknown;
  let badSerializers: unknown;
  let badStringifiers: unknown;

  function keyOf(k: string, json: boolean): string {
    const keyText = keyTexts[json ? 1 : 0];
    let t = keyText.get(k);
    if (t === undefined) {
      t = ',' + (json ? JSON.stringify(k) : pinoString(k)) + ':';
      keyText.set(k, t);
    }
    return t;
  }

  /** The line's properties (`,"k":v` each), or undefined when a value needs pino's own path. */
  function props(event: Bag, json: boolean): string | undefined {
    let out = '';
    for (const k in event) {
      const v = event[k];
      switch (typeof v) {
        case 'undefined':
          continue;
        case 'string':
          out += keyOf(k, json) + (json ? JSON.stringify(v) : pinoString(v));
          break;
        case 'number':
          out += keyOf(k, json) + (Number.isFinite(v) ? String(v) : 'null');
          break;
        case 'boolean':
          out += keyOf(k, json) + (v ? 'true' : 'false');
          break;
        default:
          return undefined;
      }
    }
    return out;
  }

  function harmlessSerializers(serializers: Bag, messageKey: unknown, errorKey: unknown): boolean {
    // realip's keys all contain a dot, except `suppressed`.
    for (const k in serializers) {
      if (k.includes('.') || k === 'suppressed' || k === messageKey) return false;
    }
    return (
      typeof messageKey === 'string' &&
      typeof errorKey === 'string' &&
      !errorKey.includes('.') &&
      errorKey !== 'suppressed'
    );
  }

  function eligible(l: Bag, s: PinoShape, level: string): boolean {
    const method = l[level];
    if (typeof method !== 'function' || method.name !== 'LOG') return false;
    if (l[s.mixin] || l[s.nestedKey] || typeof l[s.msgPrefix] === 'string') return false;
    const formatters = l[FORMATTERS] as Bag | undefined;
    const hooks = l[HOOKS] as Bag | undefined;
    if (formatters === undefined || formatters['log'] !== undefined) return false;
    if (hooks === undefined || hooks['logMethod'] !== undefined || hooks['streamWrite'] !== undefined)
      return false;
    const stream = l[s.stream] as Bag | undefined;
    if (stream === undefined || stream[NEEDS_METADATA] === true || typeof stream['write'] !== 'function')
      return false;
    if (tracingStart.hasSubscribers || tracingEnd.hasSubscribers) return false;
    const stringifiers = l[s.stringifiers];
    if (stringifiers !== okStringifiers) {
      if (stringifiers === badStringifiers) return false;
      if (
        stringifiers === null ||
        typeof stringifiers !== 'object' ||
        Reflect.ownKeys(stringifiers).length !== 0
      ) {
        badStringifiers = stringifiers;
        return false;
      }
      okStringifiers = stringifiers;
    }
    const serializers = l[SERIALIZERS];
    if (serializers !== okSerializers) {
      if (serializers === badSerializers) return false;
      if (
        serializers === null ||
        typeof serializers !== 'object' ||
        !harmlessSerializers(serializers as Bag, l[s.messageKey], l[s.errorKey])
      ) {
        badSerializers = serializers;
        return false;
      }
      okSerializers = serializers;
    }
    const values = (l['levels'] as { values?: Record<string, number> } | undefined)?.values;
    const num = values?.[level];
    return num !== undefined && typeof (l[s.lsCache] as Bag | undefined)?.[num] === 'string';
  }

  function line(
    l: Bag,
    s: PinoShape,
    num: number,
    time: string,
    event: Bag,
    msg: Message,
  ): string | undefined {
    const p = props(event, s.jsonStrings);
    if (p === undefined) return undefined;
    const mk = l[s.messageKey] as string;
    const m = s.jsonStrings ? msg.json : msg.pino;
    return (
      (l[s.lsCache] as Record<number, string>)[num]! +
      time +
      (l[s.chindings] as string) +
      p +
      ',"' +
      mk +
      '":' +
      m +
      (l[s.end] as string)
    );
  }

  /** Writes the sample both ways; picks the escaping that matches pino's, or rejects the copy. */
  function verify(l: Bag, s: PinoShape, num: number): boolean {
    const asJson = l[s.asJson];
    if (typeof asJson !== 'function') return false;
    const time = ',"time":1';
    let expected: unknown;
    try {
      expected = (asJson as (o: Bag, m: string, n: number, t: string) => unknown).call(
        l,
        SAMPLE,
        SAMPLE_MESSAGE.text,
        num,
        time,
      );
    } catch {
      return false;
    }
    for (const json of [false, true]) {
      s.jsonStrings = json;
      if (line(l, s, num, time, SAMPLE, SAMPLE_MESSAGE) === expected) return true;
    }
    return false;
  }

  return {
    write(logger, level, event, msg) {
      const l = logger as Bag;
      let s = shapes[0];
      if (s === undefined || l[s.lsCache] === undefined) {
        s = shapes.find((c) => l[c.lsCache] !== undefined);
        if (s === undefined) {
          if (notPino.has(logger)) return false;
          s = discover(logger);
          if (s === undefined || shapes.length >= 4) {
            notPino.add(logger);
            return false;
          }
        } else shapes.splice(shapes.indexOf(s), 1);
        shapes.unshift(s); // most recent first
        okSerializers = okStringifiers = badSerializers = badStringifiers = undefined;
      }
      if (s.verified === false || !eligible(l, s, level)) return false;
      const num = (l['levels'] as { values: Record<string, number> }).values[level]!;
      if (s.verified === undefined) s.verified = verify(l, s, num);
      if (!s.verified) return false;
      const text = line(l, s, num, (l[s.time] as () => string)(), event, msg);
      if (text === undefined) return false;
      (l[s.stream] as { write(s: string): unknown }).write(text);
      return true;
    },
  };
}
