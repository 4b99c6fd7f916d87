/**
 * A raw-TCP upstream app for the framing tests: it records the exact bytes of every connection and
 * parses HTTP/1.x requests strictly itself (no node:http in between), so a test sees precisely
 * what a proxy put on the wire. Each parsed request is answered according to its path (`/r/...`).
 *
 * With `ignoreBodyOn` it models a vulnerable app that ignores the body framing of some methods and
 * reads whatever follows the head as the next request (the desync a proxy must never cause).
 */
import net, { type AddressInfo, type Socket } from 'node:net';

export type Framing = 'none' | 'length' | 'chunked';
export type HeaderList = Array<[string, string]>;

/** One request as the recorder parsed it. */
export interface Req {
  /** Global order of arrival (0-based) across all connections. */
  n: number;
  /** Index into `connections`. */
  conn: number;
  method: string;
  target: string;
  version: string;
  /** Raw order and case. */
  headers: HeaderList;
  /** The decoded body (chunked framing removed). Empty when the body was ignored. */
  body: Buffer;
  /** The framing the request declared (also when `ignoreBodyOn` made the recorder skip the body). */
  framing: Framing;
  trailers: HeaderList;
  /** The body framing was ignored (`ignoreBodyOn`): what followed the head was parsed as a new request. */
  ignoredBody: boolean;
  /**
   * Where the declared body would have ended in the connection's byte stream (only for ignored
   * bodies; Infinity when that is unknown). A request that starts at or after this offset on the
   * same connection is a genuinely later request.
   */
  declaredEnd: number | undefined;
  /** Byte offsets of the request in its connection's stream. */
  offset: number;
  end: number;
}

/** One accepted TCP connection. */
export interface Conn {
  index: number;
  remotePort: number;
  chunks: Buffer[];
  /** Everything received, in order. */
  readonly bytes: Buffer;
  requests: Req[];
  /** Set when bytes could not be parsed (the connection is then closed). */
  garbage: string | undefined;
  /** Who closed it first, once closed. */
  closedBy: 'peer' | 'recorder' | undefined;
  closed: boolean;
}

export interface Recorder {
  port: number;
  url: string;
  connections: Conn[];
  /** All requests, in order of arrival. */
  requests(): Req[];
  close(): Promise<void>;
}

export interface RecorderOptions {
  /** Methods whose body framing the recorder ignores (a vulnerable app). */
  ignoreBodyOn?: string[];
}

// ---------------------------------------------------------------------------------------------
// Strict HTTP/1.x request parsing
// ---------------------------------------------------------------------------------------------

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e\x80-\xff]+) HTTP\/(1\.[01])$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_HEAD = 64 * 1024;

export type ParseResult =
  | { kind: 'more' }
  | { kind: 'garbage'; reason: string }
  | {
      kind: 'request';
      req: Omit<Req, 'n' | 'conn'>;
      /** Offset of the first byte after this request. */
      next: number;
    };

/** Parses header lines (already split); undefined if one is malformed. */
function parseFields(lines: string[]): HeaderList | string {
  const out: HeaderList = [];
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) return `obs-fold line ${JSON.stringify(line)}`;
    const colon = line.indexOf(':');
    if (colon <= 0) return `header line without name ${JSON.stringify(line)}`;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return `invalid header name ${JSON.stringify(name)}`;
    const value = line
      .slice(colon + 1)
      .replace(/^[ \t]+/, '')
      .replace(/[ \t]+$/, '');
    if (!FIELD_VALUE.test(value)) return `invalid header value ${JSON.stringify(value)}`;
    out.push([name, value]);
  }
  return out;
}

/** Splits a head (without the final CRLFCRLF) into lines; a bare CR or LF is an error. */
function splitLines(text: string): string[] | undefined {
  const lines = text.split('\r\n');
  for (const l of lines) if (l.includes('\r') || l.includes('\n')) return undefined;
  return lines;
}

/** Values of a header (case-insensitive name). */
export function headerValues(headers: HeaderList, name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** Parses a chunked body starting at `at`; `more` when incomplete. */
function parseChunked(
  buf: Buffer,
  at: number,
):
  | { kind: 'more' }
  | { kind: 'garbage'; reason: string }
  | { body: Buffer; trailers: HeaderList; next: number } {
  const parts: Buffer[] = [];
  let pos = at;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1');
    if (eol < 0)
      return buf.length - pos > 1024
        ? { kind: 'garbage', reason: 'chunk size line too long' }
        : { kind: 'more' };
    const line = buf.toString('latin1', pos, eol);
    const m =
      /^([0-9A-Fa-f]{1,15})((?:[ \t]*;[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"[^"\r\n]*"))?)*)$/.exec(
        line,
      );
    if (m === null) return { kind: 'garbage', reason: `invalid chunk size line ${JSON.stringify(line)}` };
    const size = parseInt(m[1]!, 16);
    pos = eol + 2;
    if (size === 0) {
      // trailer section up to an empty line
      const trailerLines: string[] = [];
      for (;;) {
        const e = buf.indexOf('\r\n', pos, 'latin1');
        if (e < 0)
          return buf.length - pos > MAX_HEAD
            ? { kind: 'garbage', reason: 'trailers too long' }
            : { kind: 'more' };
        const tl = buf.toString('latin1', pos, e);
        pos = e + 2;
        if (tl === '') break;
        if (tl.includes('\r') || tl.includes('\n'))
          return { kind: 'garbage', reason: 'bare CR/LF in trailers' };
        trailerLines.push(tl);
      }
      const trailers = parseFields(trailerLines);
      if (typeof trailers === 'string') return { kind: 'garbage', reason: `trailers: ${trailers}` };
      return { body: Buffer.concat(parts), trailers, next: pos };
    }
    if (buf.length < pos + size + 2) return { kind: 'more' };
    parts.push(buf.subarray(pos, pos + size));
    pos += size;
    if (buf[pos] !== 0x0d || buf[pos + 1] !== 0x0a)
      return { kind: 'garbage', reason: 'chunk data not followed by CRLF' };
    pos += 2;
  }
}

/**
 * Parses one request starting at `at`. Framing follows RFC 9112 §6 strictly: Transfer-Encoding must
 * be exactly `chunked` and never together with Content-Length or on HTTP/1.0; Content-Length must be
 * one run of digits in one field line; with neither there is no body.
 */
export function parseRequest(buf: Buffer, at: number, ignoreBody = false): ParseResult {
  const headEnd = buf.indexOf('\r\n\r\n', at, 'latin1');
  if (headEnd < 0) {
    if (buf.length - at > MAX_HEAD) return { kind: 'garbage', reason: 'head too long' };
    // A first line that can already be seen to be wrong is garbage now, not later.
    const firstEol = buf.indexOf('\r\n', at, 'latin1');
    if (firstEol >= 0 && !REQUEST_LINE.test(buf.toString('latin1', at, firstEol))) {
      return {
        kind: 'garbage',
        reason: `invalid request line ${JSON.stringify(buf.toString('latin1', at, firstEol))}`,
      };
    }
    return { kind: 'more' };
  }
  const lines = splitLines(buf.toString('latin1', at, headEnd));
  if (lines === undefined) return { kind: 'garbage', reason: 'bare CR or LF in the head' };
  const m = REQUEST_LINE.exec(lines[0]!);
  if (m === null) return { kind: 'garbage', reason: `invalid request line ${JSON.stringify(lines[0])}` };
  const headers = parseFields(lines.slice(1));
  if (typeof headers === 'string') return { kind: 'garbage', reason: headers };
  const [, method, target, version] = m as unknown as [string, string, string, string];
  const te = headerValues(headers, 'transfer-encoding');
  const cl = headerValues(headers, 'content-length');
  let framing: Framing = 'none';
  let length = 0;
  if (te.length > 0) {
    if (cl.length > 0) return { kind: 'garbage', reason: 'Content-Length with Transfer-Encoding' };
    if (version === '1.0') return { kind: 'garbage', reason: 'Transfer-Encoding on HTTP/1.0' };
    if (te.length !== 1 || te[0]!.toLowerCase() !== 'chunked') {
      return { kind: 'garbage', reason: `Transfer-Encoding ${JSON.stringify(te.join(', '))}` };
    }
    framing = 'chunked';
  } else if (cl.length > 0) {
    if (cl.length !== 1 || !/^[0-9]{1,15}$/.test(cl[0]!)) {
      return { kind: 'garbage', reason: `Content-Length ${JSON.stringify(cl.join(', '))}` };
    }
    framing = 'length';
    length = Number(cl[0]);
  }
  const bodyStart = headEnd + 4;
  const base = { method, target, version, headers, offset: at };
  if (ignoreBody && framing !== 'none') {
    return {
      kind: 'request',
      req: {
        ...base,
        body: Buffer.alloc(0),
        framing,
        trailers: [],
        ignoredBody: true,
        declaredEnd: framing === 'length' ? bodyStart + length : Infinity,
        end: bodyStart,
      },
      next: bodyStart,
    };
  }
  const common = { ...base, ignoredBody: false, declaredEnd: undefined };
  if (framing === 'none') {
    return {
      kind: 'request',
      req: { ...common, body: Buffer.alloc(0), framing, trailers: [], end: bodyStart },
      next: bodyStart,
    };
  }
  if (framing === 'length') {
    if (buf.length < bodyStart + length) return { kind: 'more' };
    return {
      kind: 'request',
      req: {
        ...common,
        body: Buffer.from(buf.subarray(bodyStart, bodyStart + length)),
        framing,
        trailers: [],
        end: bodyStart + length,
      },
      next: bodyStart + length,
    };
  }
  const c = parseChunked(buf, bodyStart);
  if ('kind' in c) return c;
  return {
    kind: 'request',
    req: { ...common, body: Buffer.from(c.body), framing, trailers: c.trailers, end: c.next },
    next: c.next,
  };
}

/** Parses every complete request in `buf` (for reading test inputs); stops at garbage or a partial one. */
export function parseAll(buf: Buffer): {
  requests: Array<Omit<Req, 'n' | 'conn'>>;
  rest: ParseResult['kind'];
} {
  const requests: Array<Omit<Req, 'n' | 'conn'>> = [];
  let at = 0;
  while (at < buf.length) {
    const r = parseRequest(buf, at);
    if (r.kind !== 'request') return { requests, rest: r.kind };
    requests.push(r.req);
    at = r.next;
  }
  return { requests, rest: 'request' };
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

function headOnly(headers: HeaderList, name: string): string | undefined {
  const v = headerValues(headers, name);
  return v.length === 0 ? undefined : v.join(', ');
}

/** The connection stays open after this request (HTTP/1.1 default, HTTP/1.0 opt-in). */
function keepAlive(req: Omit<Req, 'n' | 'conn'>): boolean {
  const conn = (headOnly(req.headers, 'connection') ?? '').toLowerCase();
  const tokens = conn.split(',').map((t) => t.trim());
  if (tokens.includes('close')) return false;
  return req.version === '1.1' || tokens.includes('keep-alive');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the recorder on 127.0.0.1 and a free port. */
export async function startRecorder(opts: RecorderOptions = {}): Promise<Recorder> {
  const ignore = new Set((opts.ignoreBodyOn ?? []).map((m) => m.toUpperCase()));
  const connections: Conn[] = [];
  const all: Req[] = [];
  const sockets = new Set<Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    const conn: Conn = {
      index: connections.length,
      remotePort: socket.remotePort ?? 0,
      chunks: [],
      get bytes() {
        return Buffer.concat(this.chunks);
      },
      requests: [],
      garbage: undefined,
      closedBy: undefined,
      closed: false,
    };
    connections.push(conn);
    let buf = Buffer.alloc(0);
    let at = 0;
    let stopped = false; // no more parsing (garbage, close requested)
    let queue: Promise<void> = Promise.resolve();
    let pending = 0;
    let continued = -1; // offset of the request a 100 Continue was sent for

    const write = (data: string | Buffer): void => {
      if (!socket.destroyed && socket.writable)
        socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    };
    const enqueue = (fn: () => Promise<void> | void): void => {
      pending++;
      queue = queue.then(async () => {
        try {
          await fn();
        } finally {
          pending--;
        }
      });
    };
    const finish = (): void => {
      enqueue(() => {
        if (conn.closedBy === undefined) conn.closedBy = 'recorder';
        socket.end();
      });
    };

    const respond = async (req: Req): Promise<void> => {
      if (socket.destroyed) return;
      const url = new URL(req.target.startsWith('/') ? req.target : '/', 'http://recorder');
      const path = req.target.startsWith('/') ? url.pathname : req.target;
      const head = req.method === 'HEAD';
      const body = JSON.stringify({ n: req.n, method: req.method, target: req.target });
      const ka = keepAlive(req);
      const connHeader = ka ? '' : 'Connection: close\r\n';
      const common = `X-Recorder-N: ${req.n}\r\n${connHeader}`;
      const plain = (): void => {
        write(
          `HTTP/1.1 200 OK\r\n${common}Content-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${head ? '' : body}`,
        );
      };
      switch (path) {
        case '/r/close':
          write(`HTTP/1.1 200 OK\r\nX-Recorder-N: ${req.n}\r\nConnection: close\r\n\r\n${head ? '' : body}`);
          if (conn.closedBy === undefined) conn.closedBy = 'recorder';
          stopped = true;
          socket.end();
          return;
        case '/r/204':
          write(`HTTP/1.1 204 No Content\r\n${common}\r\n`);
          break;
        case '/r/304':
          write(`HTTP/1.1 304 Not Modified\r\n${common}ETag: "r${req.n}"\r\n\r\n`);
          break;
        case '/r/103':
          write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n');
          await sleep(10);
          plain();
          break;
        case '/r/abort':
          write(`HTTP/1.1 200 OK\r\n${common}Content-Length: 100\r\n\r\n${head ? '' : '0123456789'}`);
          if (!head) {
            await sleep(20);
            if (conn.closedBy === undefined) conn.closedBy = 'recorder';
            stopped = true;
            socket.destroy();
            return;
          }
          break;
        case '/r/slow':
          await sleep(Number(url.searchParams.get('ms') ?? 100));
          plain();
          break;
        case '/r/chunked': {
          let text = `HTTP/1.1 200 OK\r\n${common}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
          if (!head) {
            const half = Math.floor(body.length / 2);
            for (const part of [body.slice(0, half), body.slice(half)]) {
              text += `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`;
            }
            text += '0\r\n\r\n';
          }
          write(text);
          break;
        }
        default:
          plain();
      }
      if (!ka) {
        if (conn.closedBy === undefined) conn.closedBy = 'recorder';
        socket.end();
      }
    };

    const pump = (): void => {
      while (!stopped && at < buf.length) {
        const ignoreBody = ignore.size > 0 && ignore.has(peekMethod(buf, at));
        const r = parseRequest(buf, at, ignoreBody);
        if (r.kind === 'more') {
          maybeContinue();
          return;
        }
        if (r.kind === 'garbage') {
          conn.garbage = `${r.reason} at byte ${at}: ${JSON.stringify(buf.toString('latin1', at, at + 80))}`;
          stopped = true;
          finish();
          return;
        }
        const req: Req = { ...r.req, n: all.length, conn: conn.index };
        all.push(req);
        conn.requests.push(req);
        at = r.next;
        if (!keepAlive(req)) stopped = true;
        enqueue(() => respond(req));
      }
    };

    /** Sends 100 Continue for a request whose head is in but whose body is not yet, if it asked. */
    const maybeContinue = (): void => {
      if (pending > 0 || continued === at) return;
      const headEnd = buf.indexOf('\r\n\r\n', at, 'latin1');
      if (headEnd < 0) return;
      const lines = splitLines(buf.toString('latin1', at, headEnd));
      if (lines === undefined) return;
      const fields = parseFields(lines.slice(1));
      if (typeof fields === 'string') return;
      if ((headOnly(fields, 'expect') ?? '').toLowerCase() === '100-continue') {
        continued = at;
        write('HTTP/1.1 100 Continue\r\n\r\n');
      }
    };

    socket.on('data', (chunk: Buffer) => {
      conn.chunks.push(chunk);
      buf = Buffer.concat([buf, chunk]);
      pump();
    });
    socket.on('end', () => {
      if (conn.closedBy === undefined) conn.closedBy = 'peer';
      if (!stopped && at < buf.length) {
        conn.garbage = `incomplete request at byte ${at}: ${JSON.stringify(buf.toString('latin1', at, at + 80))}`;
      }
      stopped = true;
      void queue.then(() => socket.end());
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (conn.closedBy === undefined) conn.closedBy = 'peer';
      conn.closed = true;
      sockets.delete(socket);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections,
    requests: () => all.slice(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The method of the request starting at `at` (upper-case), or '' if not yet known. */
function peekMethod(buf: Buffer, at: number): string {
  const sp = buf.indexOf(' ', at, 'latin1');
  if (sp < 0 || sp - at > 32) return '';
  return buf.toString('latin1', at, sp);
}
