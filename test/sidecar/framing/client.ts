/**
 * A raw-TCP client for the framing tests: writes exact bytes on one connection (optionally in
 * several writes with a gap) and parses the replies itself, so interim (1xx) responses, HEAD
 * replies, close-delimited bodies and truncated responses are all visible as such.
 */
import net from 'node:net';
import type { HeaderList } from './recorder.js';

export interface Resp {
  version: string;
  status: number;
  reason: string;
  headers: HeaderList;
  body: Buffer;
  /** A 1xx response (its own entry; the final response follows). */
  interim: boolean;
  framing: 'none' | 'length' | 'chunked' | 'close';
  /** The body was read to its declared end (or to the close, for close-delimited bodies). */
  complete: boolean;
}

export interface Exchange {
  raw: Buffer;
  responses: Resp[];
  /** Final (non-1xx) responses only. */
  finals: Resp[];
  /** The peer closed the connection (FIN or reset) before we gave up. */
  closedByPeer: boolean;
  /** The last response started but did not complete (headers without the whole body, or a cut head). */
  truncated: boolean;
  /** Bytes that could not be parsed as a response. */
  garbage: string | undefined;
  timedOut: boolean;
}

export interface ExchangeOptions {
  localAddress?: string;
  /** Pause between writes when `bytes` is an array (default 15 ms). */
  gapMs?: number;
  /** Give up after this long (default 3000 ms). */
  timeoutMs?: number;
  /**
   * The request methods in order, so replies to HEAD are parsed bodiless. When given, the exchange
   * ends once that many final responses are in (plus `lingerMs` to see whether the peer closes).
   */
  headMethods?: string[];
  /** How long to wait for a close after the expected responses (default 40 ms). */
  lingerMs?: number;
}

function values(headers: HeaderList, name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

type Step =
  | { kind: 'more' }
  | { kind: 'garbage'; reason: string }
  | { kind: 'resp'; resp: Resp; next: number; partial: boolean };

/** Parses one response at `at`; with `eof` a partial body is returned as incomplete. */
export function parseResponse(buf: Buffer, at: number, method: string, eof: boolean): Step {
  const headEnd = buf.indexOf('\r\n\r\n', at, 'latin1');
  if (headEnd < 0) return eof && at < buf.length ? { kind: 'garbage', reason: 'cut head' } : { kind: 'more' };
  const lines = buf.toString('latin1', at, headEnd).split('\r\n');
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (m === null) return { kind: 'garbage', reason: `status line ${JSON.stringify(lines[0])}` };
  const headers: HeaderList = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { kind: 'garbage', reason: `header line ${JSON.stringify(line)}` };
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  const status = Number(m[2]);
  const base = { version: m[1]!, status, reason: m[3] ?? '', headers };
  const start = headEnd + 4;
  const empty = Buffer.alloc(0);
  if (status < 200) {
    return {
      kind: 'resp',
      resp: { ...base, body: empty, interim: true, framing: 'none', complete: true },
      next: start,
      partial: false,
    };
  }
  if (method === 'HEAD' || status === 204 || status === 304) {
    return {
      kind: 'resp',
      resp: { ...base, body: empty, interim: false, framing: 'none', complete: true },
      next: start,
      partial: false,
    };
  }
  const te = values(headers, 'transfer-encoding');
  const cl = values(headers, 'content-length');
  if (te.length > 0 && te.join(',').toLowerCase().trim().endsWith('chunked')) {
    const parts: Buffer[] = [];
    let pos = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', pos, 'latin1');
      if (eol < 0) break;
      const size = parseInt(buf.toString('latin1', pos, eol).split(';')[0]!, 16);
      if (Number.isNaN(size)) return { kind: 'garbage', reason: 'chunk size' };
      if (size === 0) {
        // trailers until an empty line
        let p = eol + 2;
        for (;;) {
          const e = buf.indexOf('\r\n', p, 'latin1');
          if (e < 0) {
            p = -1;
            break;
          }
          const empty2 = e === p;
          p = e + 2;
          if (empty2) break;
        }
        if (p < 0) break;
        return {
          kind: 'resp',
          resp: { ...base, body: Buffer.concat(parts), interim: false, framing: 'chunked', complete: true },
          next: p,
          partial: false,
        };
      }
      if (buf.length < eol + 2 + size + 2) {
        parts.push(buf.subarray(eol + 2, Math.min(buf.length, eol + 2 + size)));
        break;
      }
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      if (buf[eol + 2 + size] !== 0x0d || buf[eol + 3 + size] !== 0x0a) {
        return { kind: 'garbage', reason: 'chunk data not followed by CRLF' };
      }
      pos = eol + 2 + size + 2;
    }
    if (!eof) return { kind: 'more' };
    return {
      kind: 'resp',
      resp: { ...base, body: Buffer.concat(parts), interim: false, framing: 'chunked', complete: false },
      next: buf.length,
      partial: true,
    };
  }
  if (cl.length > 0) {
    const n = Number(cl[0]);
    if (buf.length >= start + n) {
      return {
        kind: 'resp',
        resp: {
          ...base,
          body: Buffer.from(buf.subarray(start, start + n)),
          interim: false,
          framing: 'length',
          complete: true,
        },
        next: start + n,
        partial: false,
      };
    }
    if (!eof) return { kind: 'more' };
    return {
      kind: 'resp',
      resp: {
        ...base,
        body: Buffer.from(buf.subarray(start)),
        interim: false,
        framing: 'length',
        complete: false,
      },
      next: buf.length,
      partial: true,
    };
  }
  // close-delimited
  if (!eof) return { kind: 'more' };
  return {
    kind: 'resp',
    resp: {
      ...base,
      body: Buffer.from(buf.subarray(start)),
      interim: false,
      framing: 'close',
      complete: true,
    },
    next: buf.length,
    partial: false,
  };
}

/** Parses all responses in `buf`; `methods[i]` is the method of the i-th final response's request. */
export function parseResponses(
  buf: Buffer,
  methods: string[],
  eof: boolean,
): { responses: Resp[]; truncated: boolean; garbage: string | undefined; consumed: number } {
  const responses: Resp[] = [];
  let at = 0;
  let finals = 0;
  let truncated = false;
  let garbage: string | undefined;
  while (at < buf.length) {
    const step = parseResponse(buf, at, methods[finals] ?? 'GET', eof);
    if (step.kind === 'more') break;
    if (step.kind === 'garbage') {
      if (step.reason === 'cut head') truncated = true;
      else garbage = `${step.reason} at byte ${at}`;
      break;
    }
    responses.push(step.resp);
    if (!step.resp.interim) finals++;
    if (step.partial) truncated = true;
    at = step.next;
  }
  return { responses, truncated, garbage, consumed: at };
}

/** Writes `bytes` on a fresh connection to 127.0.0.1:`port` and collects the replies. */
export function exchange(
  port: number,
  bytes: Buffer | string | Array<Buffer | string>,
  opts: ExchangeOptions = {},
): Promise<Exchange> {
  const writes = (Array.isArray(bytes) ? bytes : [bytes]).map((b) =>
    typeof b === 'string' ? Buffer.from(b, 'latin1') : b,
  );
  const methods = opts.headMethods ?? [];
  const timeoutMs = opts.timeoutMs ?? 3000;
  const lingerMs = opts.lingerMs ?? 40;
  const gapMs = opts.gapMs ?? 15;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
    const got: Buffer[] = [];
    let closed = false;
    let done = false;
    let linger: NodeJS.Timeout | undefined;
    const finish = (timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (linger !== undefined) clearTimeout(linger);
      const raw = Buffer.concat(got);
      const parsed = parseResponses(raw, methods, closed);
      socket.destroy();
      resolve({
        raw,
        responses: parsed.responses,
        finals: parsed.responses.filter((r) => !r.interim),
        closedByPeer: closed,
        truncated:
          parsed.truncated || (closed && parsed.consumed < raw.length && parsed.garbage === undefined),
        garbage: parsed.garbage,
        timedOut,
      });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('data', (c: Buffer) => {
      got.push(c);
      if (methods.length === 0) return;
      const parsed = parseResponses(Buffer.concat(got), methods, false);
      const finals = parsed.responses.filter((r) => !r.interim);
      if (finals.length >= methods.length && linger === undefined) {
        // The peer is expected to close after a `Connection: close` reply; wait for it then.
        const last = finals[finals.length - 1]!;
        const closing = values(last.headers, 'connection').some((v) => /(^|,)\s*close\s*(,|$)/i.test(v));
        linger = setTimeout(() => finish(false), closing ? Math.min(1000, timeoutMs) : lingerMs);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      finish(false);
    });
    socket.on('connect', () => {
      void (async () => {
        for (let i = 0; i < writes.length; i++) {
          if (socket.destroyed || done) return;
          socket.write(writes[i]!);
          if (i + 1 < writes.length) await new Promise((r) => setTimeout(r, gapMs));
        }
      })();
    });
  });
}
