/**
 * The request-framing matrix as data: raw client bytes, what a proxy must do with them (forward or
 * refuse with a status) and what the app (the recorder) must then receive. Used by the sidecar
 * matrix, the nginx comparison and, for the request builders, the property test.
 */

export const HOST = 'example.test';

/** A complete request used as a body: an app that ignores the body framing reads it as a second request. */
export const SMUGGLE = 'GET /smuggled HTTP/1.1\r\nHost: x\r\nX-Real-IP: 6.6.6.6\r\n\r\n';

export type BodyFraming = 'none' | 'length' | 'chunked' | 'chunked-trailers';

export interface BuildOptions {
  version?: '1.0' | '1.1';
  /** Host header value; null for none. */
  host?: string | null;
  headers?: Array<[string, string]>;
  body?: string;
  framing?: BodyFraming;
  /** Where to split a chunked body into chunks (byte offsets into the body). */
  splits?: number[];
  /** Give the first chunk an extension. */
  chunkExt?: boolean;
}

/** A chunked encoding of `body` split at `splits`, with optional trailers. */
export function chunked(
  body: string,
  splits: number[] = [],
  trailers: Array<[string, string]> = [],
  ext = false,
): string {
  const cuts = [...new Set(splits.filter((s) => s > 0 && s < body.length))].sort((a, b) => a - b);
  const parts: string[] = [];
  let prev = 0;
  for (const c of [...cuts, body.length]) {
    if (c > prev) parts.push(body.slice(prev, c));
    prev = c;
  }
  let out = '';
  parts.forEach((p, i) => {
    out += `${Buffer.byteLength(p, 'latin1').toString(16)}${ext && i === 0 ? ';ext=1' : ''}\r\n${p}\r\n`;
  });
  out += '0\r\n';
  for (const [n, v] of trailers) out += `${n}: ${v}\r\n`;
  return out + '\r\n';
}

/** One raw request. */
export function build(method: string, target: string, o: BuildOptions = {}): string {
  const version = o.version ?? '1.1';
  const host = o.host === undefined ? HOST : o.host;
  const framing = o.framing ?? (o.body === undefined ? 'none' : 'length');
  const body = o.body ?? '';
  let head = `${method} ${target} HTTP/${version}\r\n`;
  if (host !== null) head += `Host: ${host}\r\n`;
  for (const [n, v] of o.headers ?? []) head += `${n}: ${v}\r\n`;
  if (framing === 'length')
    return `${head}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
  if (framing === 'chunked' || framing === 'chunked-trailers') {
    const trailers: Array<[string, string]> = framing === 'chunked-trailers' ? [['X-Trailer', 'tail']] : [];
    if (framing === 'chunked-trailers') head += 'Trailer: X-Trailer\r\n';
    return `${head}Transfer-Encoding: chunked\r\n\r\n${chunked(body, o.splits ?? [], trailers, o.chunkExt)}`;
  }
  return `${head}\r\n`;
}

/** What the app must receive for one forwarded request. */
export interface Upstream {
  method: string;
  /** Origin-form target as the app must see it. */
  target: string;
  /** Body bytes (latin1); '' for none. */
  body: string;
  /** Headers that must be present (lower-case name, and the value when given). */
  present?: Array<[string, string?]>;
  /** Headers that must be absent (lower-case names). */
  absent?: string[];
}

export interface ResponseExpect {
  /** Interim statuses the client must see (in order, before the final responses). */
  interimRequired?: number[];
  /** Interim statuses the client may see. */
  interimAllowed?: number[];
  /** Final statuses in order (default: 200 for each forwarded request). */
  statuses?: number[];
  /** The last response is cut short (the app closed mid-body) and the connection closed. */
  truncated?: boolean;
  /** The client connection is closed after the last response. */
  closes?: boolean;
}

export interface Case {
  name: string;
  group: 'method' | 'framing' | 'smuggle' | 'pipeline' | 'expect' | 'host' | 'upgrade' | 'response';
  /** The raw client bytes; an array is written in several writes. */
  bytes: string | string[];
  /** Method of each client request, in order (for parsing HEAD replies). */
  methods: string[];
  /** Forward everything, or refuse (with one of these statuses) after forwarding `upstream`. */
  expect: 'forward' | { reject: number[] };
  /** What the app must receive, in order (for a refusal: the requests before the refused one). */
  upstream: Upstream[];
  response?: ResponseExpect;
}

const bytesOf = (c: Case): string => (Array.isArray(c.bytes) ? c.bytes.join('') : c.bytes);
export { bytesOf };

const X = (name: string): Array<[string, string]> => [
  ['X-Case', name],
  ['Accept', '*/*'],
];

/** Methods for which a body has no defined meaning (RFC 9110), so an app may ignore its framing. */
export const BODYLESS_METHODS = ['GET', 'HEAD', 'DELETE', 'OPTIONS'];

const FORWARDED_METHODS = ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'PROPFIND'];
const FRAMINGS: BodyFraming[] = ['none', 'length', 'chunked', 'chunked-trailers'];

function methodCases(): Case[] {
  const out: Case[] = [];
  for (const m of FORWARDED_METHODS) {
    for (const f of FRAMINGS) {
      const name = `${m} ${f}`;
      const target = `/${m.toLowerCase()}/${f}?q=1`;
      const body = f === 'none' ? undefined : SMUGGLE;
      const first = build(m, target, { headers: X(name), body, framing: f, splits: [7, 30], chunkExt: true });
      const next = build('GET', `/${m.toLowerCase()}/${f}/next`, { headers: X(name) });
      out.push({
        name,
        group: 'method',
        bytes: first + next,
        methods: [m, 'GET'],
        expect: 'forward',
        upstream: [
          {
            method: m,
            target,
            body: body ?? '',
            present: [['x-case', name]],
          },
          { method: 'GET', target: `/${m.toLowerCase()}/${f}/next`, body: '' },
        ],
      });
    }
  }
  out.push({
    name: 'TRACE none',
    group: 'method',
    bytes: build('TRACE', '/trace', { headers: X('TRACE none') }) + build('GET', '/trace/next'),
    methods: ['TRACE', 'GET'],
    expect: 'forward',
    upstream: [
      { method: 'TRACE', target: '/trace', body: '' },
      { method: 'GET', target: '/trace/next', body: '' },
    ],
  });
  for (const f of ['length', 'chunked'] as const) {
    out.push({
      name: `TRACE ${f}`,
      group: 'method',
      bytes: build('TRACE', '/trace', { body: SMUGGLE, framing: f }) + build('GET', '/trace/next'),
      methods: ['TRACE', 'GET'],
      expect: { reject: [400] },
      upstream: [],
    });
  }
  out.push({
    name: 'CONNECT authority',
    group: 'method',
    bytes: `CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`,
    methods: ['CONNECT'],
    expect: { reject: [405] },
    upstream: [],
  });
  return out;
}

function framingCases(): Case[] {
  const next = (t: string): string => build('GET', t);
  return [
    {
      name: 'GET CL + Connection: content-length',
      group: 'smuggle',
      bytes:
        build('GET', '/outer', { headers: [['Connection', 'content-length']], body: SMUGGLE }) +
        next('/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        {
          method: 'GET',
          target: '/outer',
          body: SMUGGLE,
          present: [['content-length', String(SMUGGLE.length)]],
        },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'POST CL + Connection: content-length',
      group: 'framing',
      bytes:
        build('POST', '/outer', { headers: [['Connection', 'content-length']], body: SMUGGLE }) +
        next('/after'),
      methods: ['POST', 'GET'],
      expect: 'forward',
      upstream: [
        {
          method: 'POST',
          target: '/outer',
          body: SMUGGLE,
          present: [['content-length', String(SMUGGLE.length)]],
        },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'GET chunked + Connection: transfer-encoding',
      group: 'smuggle',
      bytes:
        build('GET', '/outer', {
          headers: [['Connection', 'transfer-encoding']],
          body: SMUGGLE,
          framing: 'chunked',
        }) + next('/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/outer', body: SMUGGLE },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'GET chunked, one chunk (the classic smuggle)',
      group: 'smuggle',
      bytes: build('GET', '/outer', { body: SMUGGLE, framing: 'chunked' }) + next('/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/outer', body: SMUGGLE },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'GET CL (the classic smuggle)',
      group: 'smuggle',
      bytes: build('GET', '/outer', { body: SMUGGLE }) + next('/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/outer', body: SMUGGLE },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'Connection: host keeps Host',
      group: 'framing',
      bytes: build('GET', '/conn-host', { headers: [['Connection', 'host']] }) + next('/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/conn-host', body: '', present: [['host', HOST]] },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'Connection: x-drop removes X-Drop',
      group: 'framing',
      bytes: build('GET', '/conn-listed', {
        headers: [
          ['Connection', 'x-drop'],
          ['X-Drop', '1'],
          ['X-Keep', '2'],
        ],
      }),
      methods: ['GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/conn-listed', body: '', present: [['x-keep', '2']], absent: ['x-drop'] },
      ],
    },
    {
      name: 'Transfer-Encoding: Chunked (case)',
      group: 'framing',
      bytes:
        `POST /te-case HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: Chunked\r\n\r\n${chunked('hello')}` +
        next('/after'),
      methods: ['POST', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'POST', target: '/te-case', body: 'hello' },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'Content-Length: 1, 1',
      group: 'framing',
      bytes: `POST /cl-list HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1, 1\r\n\r\nx` + next('/after'),
      methods: ['POST', 'GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'Content-Length twice (same value)',
      group: 'framing',
      bytes:
        `POST /cl-twice HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx` +
        next('/after'),
      methods: ['POST', 'GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'Content-Length: +5',
      group: 'framing',
      bytes: `POST /cl-plus HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: +5\r\n\r\nhello` + next('/after'),
      methods: ['POST', 'GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'CL + TE chunked',
      group: 'framing',
      bytes:
        `POST /cl-te HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `0\r\n\r\n` +
        next('/smuggled'),
      methods: ['POST', 'GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'GET CL + TE chunked',
      group: 'smuggle',
      bytes:
        `GET /cl-te HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${chunked(SMUGGLE).length}\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLE)}`,
      methods: ['GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'Transfer-Encoding: gzip, chunked',
      group: 'framing',
      bytes:
        `POST /te-gzip HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${chunked('hello')}` +
        next('/after'),
      methods: ['POST', 'GET'],
      expect: { reject: [501] },
      upstream: [],
    },
    {
      name: 'Transfer-Encoding: chunked, chunked',
      group: 'framing',
      bytes:
        `POST /te-twice HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked, chunked\r\n\r\n${chunked('hello')}` +
        next('/after'),
      methods: ['POST', 'GET'],
      expect: { reject: [400, 501] },
      upstream: [],
    },
    {
      name: 'Transfer-Encoding: gzip (not chunked)',
      group: 'framing',
      bytes: `POST /te-gzip-only HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: gzip\r\n\r\nhello`,
      methods: ['POST'],
      expect: { reject: [400, 501] },
      upstream: [],
    },
    {
      name: 'HTTP/1.0 with Transfer-Encoding',
      group: 'framing',
      bytes: `POST /http10-te HTTP/1.0\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLE)}`,
      methods: ['POST'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'HTTP/1.0 GET without Host',
      group: 'framing',
      bytes: build('GET', '/http10', { version: '1.0', host: null }),
      methods: ['GET'],
      expect: 'forward',
      upstream: [{ method: 'GET', target: '/http10', body: '' }],
      response: { closes: true },
    },
    {
      name: 'HTTP/1.0 POST with CL',
      group: 'framing',
      bytes: build('POST', '/http10-post', { version: '1.0', body: 'a=1' }),
      methods: ['POST'],
      expect: 'forward',
      upstream: [{ method: 'POST', target: '/http10-post', body: 'a=1' }],
      response: { closes: true },
    },
    {
      name: 'spoofed forwarding headers are replaced',
      group: 'framing',
      bytes: build('GET', '/spoof', {
        headers: [
          ['X-Real-IP', '6.6.6.6'],
          ['X-Forwarded-For', '6.6.6.6'],
          ['X-Forwarded-Host', 'evil.test'],
          ['Forwarded', 'for=6.6.6.6'],
        ],
      }),
      methods: ['GET'],
      expect: 'forward',
      upstream: [
        {
          method: 'GET',
          target: '/spoof',
          body: '',
          present: [['x-forwarded-host', HOST]],
          absent: ['forwarded'],
        },
      ],
    },
  ];
}

function pipelineCases(): Case[] {
  const parts = [
    build('GET', '/p1', { headers: X('p1') }),
    build('POST', '/p2', { body: 'p2=body' }),
    build('HEAD', '/p3'),
    build('DELETE', '/p4', { body: SMUGGLE, framing: 'chunked', splits: [3] }),
    build('PUT', '/p5', { body: 'p5-body', framing: 'chunked-trailers', splits: [2, 4] }),
    build('OPTIONS', '/p6', { body: SMUGGLE }),
    build('GET', '/p7'),
  ];
  const upstream: Upstream[] = [
    { method: 'GET', target: '/p1', body: '' },
    { method: 'POST', target: '/p2', body: 'p2=body' },
    { method: 'HEAD', target: '/p3', body: '' },
    { method: 'DELETE', target: '/p4', body: SMUGGLE },
    { method: 'PUT', target: '/p5', body: 'p5-body' },
    { method: 'OPTIONS', target: '/p6', body: SMUGGLE },
    { method: 'GET', target: '/p7', body: '' },
  ];
  const methods = ['GET', 'POST', 'HEAD', 'DELETE', 'PUT', 'OPTIONS', 'GET'];
  const all = parts.join('');
  // Split at offsets that fall inside heads, chunk-size lines and bodies.
  const cuts = [5, 61, 100, 170, 171, 260, all.length - 3].filter((c) => c < all.length);
  const split: string[] = [];
  let prev = 0;
  for (const c of cuts) {
    split.push(all.slice(prev, c));
    prev = c;
  }
  split.push(all.slice(prev));
  return [
    {
      name: 'pipelined mixture, one write',
      group: 'pipeline',
      bytes: all,
      methods,
      expect: 'forward',
      upstream,
    },
    {
      name: 'pipelined mixture, split writes',
      group: 'pipeline',
      bytes: split,
      methods,
      expect: 'forward',
      upstream,
    },
    {
      name: 'pipelined, refused in the middle',
      group: 'pipeline',
      bytes:
        build('GET', '/m1') +
        `POST /m2 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
        build('GET', '/m3'),
      methods: ['GET', 'POST', 'GET'],
      expect: { reject: [400] },
      upstream: [{ method: 'GET', target: '/m1', body: '' }],
    },
  ];
}

function expectCases(): Case[] {
  const head = `POST /expect HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`;
  return [
    {
      name: 'Expect: 100-continue, body after 100',
      group: 'expect',
      bytes: [head, 'hello'],
      methods: ['POST'],
      expect: 'forward',
      upstream: [{ method: 'POST', target: '/expect', body: 'hello', absent: ['expect'] }],
      response: { interimRequired: [100] },
    },
    {
      name: 'Expect: 100-continue, body at once',
      group: 'expect',
      bytes: head + 'hello' + build('GET', '/after'),
      methods: ['POST', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'POST', target: '/expect', body: 'hello', absent: ['expect'] },
        { method: 'GET', target: '/after', body: '' },
      ],
      response: { interimAllowed: [100] },
    },
  ];
}

function hostCases(): Case[] {
  return [
    {
      name: 'duplicate Host',
      group: 'host',
      bytes: `GET /dup-host HTTP/1.1\r\nHost: ${HOST}\r\nHost: other.test\r\n\r\n`,
      methods: ['GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'HTTP/1.1 without Host',
      group: 'host',
      bytes: 'GET /no-host HTTP/1.1\r\n\r\n',
      methods: ['GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'absolute-form, same authority',
      group: 'host',
      bytes: `GET http://${HOST}/abs?q=1 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` + build('GET', '/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/abs?q=1', body: '', present: [['host', HOST]] },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'absolute-form, other authority',
      group: 'host',
      bytes: `GET http://other.test/abs HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      methods: ['GET'],
      expect: { reject: [400] },
      upstream: [],
    },
    {
      name: 'OPTIONS *',
      group: 'host',
      bytes: `OPTIONS * HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` + build('GET', '/after'),
      methods: ['OPTIONS', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'OPTIONS', target: '*', body: '' },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'OPTIONS * with a body',
      group: 'host',
      bytes: `OPTIONS * HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${SMUGGLE.length}\r\n\r\n${SMUGGLE}`,
      methods: ['OPTIONS'],
      expect: { reject: [400] },
      upstream: [],
    },
  ];
}

function upgradeCases(): Case[] {
  const ws: Array<[string, string]> = [
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['Sec-WebSocket-Version', '13'],
  ];
  return [
    {
      name: 'Upgrade: h2c',
      group: 'upgrade',
      bytes:
        build('GET', '/h2c', {
          headers: [
            ['Connection', 'Upgrade, HTTP2-Settings'],
            ['Upgrade', 'h2c'],
            ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
          ],
        }) + build('GET', '/after'),
      methods: ['GET', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'GET', target: '/h2c', body: '', absent: ['upgrade', 'http2-settings'] },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'Upgrade: h2c on POST with a body',
      group: 'upgrade',
      bytes:
        build('POST', '/h2c-post', {
          headers: [
            ['Connection', 'Upgrade, HTTP2-Settings'],
            ['Upgrade', 'h2c'],
            ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
          ],
          body: SMUGGLE,
        }) + build('GET', '/after'),
      methods: ['POST', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'POST', target: '/h2c-post', body: SMUGGLE, absent: ['upgrade', 'http2-settings'] },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
    {
      name: 'Upgrade: websocket, app answers 200',
      group: 'upgrade',
      bytes: build('GET', '/ws', { headers: ws }),
      methods: ['GET'],
      expect: 'forward',
      upstream: [
        {
          method: 'GET',
          target: '/ws',
          body: '',
          present: [['upgrade', 'websocket'], ['sec-websocket-key']],
        },
      ],
      response: { closes: true },
    },
    {
      // A declined handshake ends the connection: what the client sent after it (here a request
      // the app would otherwise read on the tunnel) never reaches the app.
      name: 'Upgrade: websocket declined, later bytes',
      group: 'upgrade',
      bytes: build('GET', '/ws', { headers: ws }) + SMUGGLE,
      methods: ['GET'],
      expect: 'forward',
      upstream: [{ method: 'GET', target: '/ws', body: '', present: [['upgrade', 'websocket']] }],
      response: { closes: true },
    },
    {
      name: 'Upgrade: websocket on POST with a body',
      group: 'upgrade',
      bytes: build('POST', '/ws-post', { headers: ws, body: SMUGGLE }) + build('GET', '/after'),
      methods: ['POST', 'GET'],
      expect: 'forward',
      upstream: [
        { method: 'POST', target: '/ws-post', body: SMUGGLE, absent: ['upgrade'] },
        { method: 'GET', target: '/after', body: '' },
      ],
    },
  ];
}

function responseCases(): Case[] {
  const after = build('GET', '/after');
  const two = (m: string, t: string, response?: ResponseExpect, statuses = [200, 200]): Case => ({
    name: `response ${m} ${t}`,
    group: 'response',
    bytes: build(m, t) + after,
    methods: [m, 'GET'],
    expect: 'forward',
    upstream: [
      { method: m, target: t, body: '' },
      { method: 'GET', target: '/after', body: '' },
    ],
    response: { statuses, ...response },
  });
  return [
    two('GET', '/r/close'),
    two('HEAD', '/r/plain'),
    two('HEAD', '/r/chunked'),
    two('GET', '/r/204', {}, [204, 200]),
    two('GET', '/r/304', {}, [304, 200]),
    two('GET', '/r/103', { interimAllowed: [103] }),
    two('GET', '/r/chunked'),
    two('GET', '/r/slow?ms=50'),
    {
      name: 'response GET /r/abort (app closes mid-body)',
      group: 'response',
      bytes: build('GET', '/r/abort'),
      methods: ['GET'],
      expect: 'forward',
      upstream: [{ method: 'GET', target: '/r/abort', body: '' }],
      response: { truncated: true, closes: true },
    },
  ];
}

/** The whole matrix. */
export const CASES: Case[] = [
  ...methodCases(),
  ...framingCases(),
  ...pipelineCases(),
  ...expectCases(),
  ...hostCases(),
  ...upgradeCases(),
  ...responseCases(),
];
