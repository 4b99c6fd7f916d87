/**
 * The request-framing matrix (cases.ts) through the sidecar, against a strict app and against a
 * vulnerable app that ignores bodies on GET/HEAD/DELETE/OPTIONS. Every accepted client request
 * must reach the app as exactly one request with the same method, origin-form target, end-to-end
 * headers and body; nothing smuggled arrives; each client gets its own response; refusals carry
 * the expected status; a body on a bodyless method never shares an upstream connection.
 */
import { describe, expect, it } from 'vitest';
import { startSidecar } from '../helpers.js';
import { exchange } from './client.js';
import { BODYLESS_METHODS, CASES, build } from './cases.js';
import { runThroughSidecar, violations } from './invariants.js';
import { startRecorder } from './recorder.js';

describe('framing matrix through the sidecar, strict app', () => {
  it.concurrent.for(CASES.map((c) => [c.name, c] as const))('%s', async ([, c], { expect }) => {
    const run = await runThroughSidecar(c);
    expect(violations(c, run, false)).toEqual([]);
  });
});

describe('framing matrix through the sidecar, app ignoring bodies on GET/HEAD/DELETE/OPTIONS', () => {
  it.concurrent.for(CASES.map((c) => [c.name, c] as const))('%s', async ([, c], { expect }) => {
    const run = await runThroughSidecar(c, { ignoreBodyOn: BODYLESS_METHODS });
    expect(violations(c, run, true)).toEqual([]);
  });
});

describe('upstream URL with a path', () => {
  it('prefixes origin-form and absolute-form targets with it', async () => {
    const rec = await startRecorder();
    const sc = await startSidecar(`${rec.url}/base`, {});
    try {
      const ex = await exchange(
        sc.port,
        build('GET', '/x?y=1') + 'GET http://example.test/abs HTTP/1.1\r\nHost: example.test\r\n\r\n',
        { headMethods: ['GET', 'GET'] },
      );
      expect(ex.finals.map((f) => f.status)).toEqual([200, 200]);
      expect(rec.requests().map((r) => r.target)).toEqual(['/base/x?y=1', '/base/abs']);
    } finally {
      await sc.sidecar.close();
      await rec.close();
    }
  });
});
