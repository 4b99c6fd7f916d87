/**
 * Property: for any short sequence of requests (random method, framing, chunk splits, trailers,
 * extra headers, bodies that are sometimes themselves HTTP requests), pipelined in one write or cut
 * at random byte offsets, the app behind the sidecar receives exactly the requests the client sent
 * (same method, target, end-to-end headers, body) and each client request gets its own response.
 * Runs against the strict recorder and, at random, against one that ignores bodies on GET/HEAD/
 * DELETE/OPTIONS.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BODYLESS_METHODS, build, type BodyFraming, type Case } from './cases.js';
import { runThroughSidecar, violations } from './invariants.js';

const METHODS = ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'PROPFIND'];
const HEADER_NAMES = ['X-A', 'X-B', 'Accept', 'Cookie', 'X-Forwarded-For', 'X-Real-IP', 'X_Under'];

const token = fc.stringMatching(/^[A-Za-z0-9=;,./_-]{1,16}$/);

const body = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[ -~\r\n]{1,40}$/),
  token.map((t) => `GET /smuggled-${t.replace(/[^A-Za-z0-9]/g, '')} HTTP/1.1\r\nHost: x\r\n\r\n`),
  fc.integer({ min: 1, max: 3000 }).map((n) => 'b'.repeat(n)),
);

const request = fc.record({
  method: fc.constantFrom(...METHODS),
  framing: fc.constantFrom<BodyFraming>('none', 'length', 'chunked', 'chunked-trailers'),
  body,
  splits: fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 4 }),
  headers: fc.array(fc.tuple(fc.constantFrom(...HEADER_NAMES), token), { maxLength: 3 }),
});

const scenario = fc.record({
  requests: fc.array(request, { minLength: 1, maxLength: 5 }),
  /** Byte offsets (as fractions of the total) where the client's writes are cut. */
  cuts: fc.oneof(
    fc.constant([] as number[]),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
  ),
  vulnerable: fc.boolean(),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function toCase(s: Scenario): Case {
  const raw: string[] = [];
  const c: Case = {
    name: 'property',
    group: 'pipeline',
    bytes: '',
    methods: [],
    expect: 'forward',
    upstream: [],
  };
  s.requests.forEach((r, i) => {
    const target = `/prop/${i}?m=${r.method}`;
    const bodyText = r.framing === 'none' ? '' : r.body;
    raw.push(
      build(r.method, target, { headers: r.headers, body: bodyText, framing: r.framing, splits: r.splits }),
    );
    c.methods.push(r.method);
    c.upstream.push({ method: r.method, target, body: bodyText });
  });
  const all = raw.join('');
  const offsets = [...new Set(s.cuts.map((f) => Math.floor(f * all.length)))]
    .filter((o) => o > 0 && o < all.length)
    .sort((a, b) => a - b);
  const parts: string[] = [];
  let prev = 0;
  for (const o of [...offsets, all.length]) {
    parts.push(all.slice(prev, o));
    prev = o;
  }
  c.bytes = parts.length === 1 ? all : parts;
  return c;
}

describe('random request sequences through the sidecar', () => {
  it('the app receives exactly what each client sent, and each client its own response', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const c = toCase(s);
        const run = await runThroughSidecar(c, s.vulnerable ? { ignoreBodyOn: BODYLESS_METHODS } : {}, {
          timeoutMs: 2000,
        });
        expect(violations(c, run, s.vulnerable)).toEqual([]);
      }),
      { numRuns: 60, plugins: [fc.interruptAfterTimeLimit(18_000)] },
    );
  }, 30_000);
});
