/**
 * "Deliver what nginx delivers": every framing case (cases.ts) through nginx and through the
 * sidecar, each in front of its own fresh recorder. Where nginx forwards, the sidecar forwards the
 * same requests (method, target, end-to-end headers, body bytes); where nginx refuses, the sidecar
 * refuses too (its own 4xx/5xx). Deliberate differences are listed in ALLOWED with the reason.
 * Prints a table of both outcomes per case.
 */
import { afterAll, describe, it } from 'vitest';
import { requireCommand } from '../../support/env.js';
import { exchange, type Exchange } from './client.js';
import { CASES, type Case } from './cases.js';
import { closeWithin, headerMap, matchUpstream, runThroughSidecar } from './invariants.js';
import { startNginx } from './nginx.js';
import { headerValues, startRecorder, type Req } from './recorder.js';

const hasNginx = requireCommand('nginx', 'nginx-light');

/** Known, deliberate differences: the sidecar's outcome there, and why it differs from nginx's. */
const ALLOWED: Record<string, { sidecar: 'forward' | 'refuse'; reason: string }> = {
  'TRACE none': {
    sidecar: 'forward',
    reason: 'nginx refuses every TRACE (405); a bodyless TRACE is harmless',
  },
  'OPTIONS *': {
    sidecar: 'forward',
    reason: 'nginx 1.22 answers asterisk-form with 400; realip forwards OPTIONS *',
  },
  'absolute-form, other authority': {
    sidecar: 'refuse',
    reason: 'nginx forwards it as origin-form (its $host would be the target authority); realip answers 400',
  },
  'Connection: x-drop removes X-Drop': {
    sidecar: 'forward',
    reason: 'nginx ignores Connection-listed names; RFC 9110 §7.6.1 says remove them (realip does)',
  },
  'Upgrade: websocket declined, later bytes': {
    sidecar: 'forward',
    reason:
      'nginx (no WebSocket config) serves the handshake as a plain request and then the next one; realip closes a declined handshake',
  },
  'response GET /r/103': {
    sidecar: 'forward',
    reason: 'nginx 1.22 takes 103 as the final response and never forwards the pipelined next request',
  },
};

/** Headers each proxy sets, strips or rewrites by design; compared without them. */
const PROXY_HEADERS = new Set([
  'host',
  'x-real-ip',
  'forwarded',
  'connection',
  'content-length',
  'transfer-encoding',
  'expect',
  'upgrade',
  'http2-settings',
  'keep-alive',
  'te',
  'trailer',
]);
const dropProxyHeader = (l: string): boolean => PROXY_HEADERS.has(l) || l.startsWith('x-forwarded-');

interface Outcome {
  ex: Exchange;
  upstream: Req[];
  /** Status of the proxy's own 4xx/5xx (no X-Recorder-N), if it refused. */
  refusal: number | undefined;
}

function outcomeOf(ex: Exchange, upstream: Req[]): Outcome {
  const own = ex.finals.find((r) => r.status >= 400 && headerValues(r.headers, 'x-recorder-n').length === 0);
  return { ex, upstream, refusal: own?.status };
}

function describeOutcome(o: Outcome): string {
  const statuses = o.ex.responses.map((r) => r.status).join(',') || '-';
  const verb = o.refusal === undefined ? 'forward' : `refuse ${o.refusal}`;
  const flags = `${o.ex.truncated ? ' trunc' : ''}${o.ex.timedOut ? ' timeout' : ''}`;
  return `${verb} (app got ${o.upstream.length}; client got ${statuses}${flags})`;
}

async function runThroughNginx(c: Case): Promise<Outcome> {
  const rec = await startRecorder();
  const nginx = await startNginx(rec.port);
  try {
    const ex = await exchange(nginx.port, c.bytes, { headMethods: c.methods });
    await new Promise((r) => setTimeout(r, 30));
    return outcomeOf(ex, rec.requests());
  } finally {
    await nginx.close();
    await rec.close();
  }
}

/** Differences between what nginx and the sidecar delivered (empty when they agree). */
function compare(c: Case, ng: Outcome, sc: Outcome): string[] {
  const bad: string[] = [];
  if (ng.refusal !== undefined) {
    if (sc.refusal === undefined) bad.push(`nginx refuses (${ng.refusal}), the sidecar does not`);
    // Requests pipelined before the refused one: nginx delivers them too, but under load it may
    // read the bad request first and answer 400 alone, so the case's own list also counts.
    const asExpected = [...ng.upstream, ...c.upstream].map((r) => ({
      method: r.method,
      target: r.target,
      body: '',
    }));
    const matched = matchUpstream(asExpected, sc.upstream);
    const extra = sc.upstream.filter((r) => !matched.includes(r));
    if (extra.length > 0)
      bad.push(`the sidecar forwarded ${extra.map((r) => `${r.method} ${r.target}`).join(', ')}`);
    return bad;
  }
  if (sc.refusal !== undefined) bad.push(`the sidecar refuses (${sc.refusal}), nginx forwards`);
  if (sc.upstream.length !== ng.upstream.length) {
    bad.push(`app got ${ng.upstream.length} requests from nginx, ${sc.upstream.length} from the sidecar`);
  }
  const matched = matchUpstream(
    ng.upstream.map((r) => ({ method: r.method, target: r.target, body: '' })),
    sc.upstream,
  );
  ng.upstream.forEach((n, i) => {
    const s = matched[i];
    if (s === undefined) {
      bad.push(`the sidecar did not deliver ${n.method} ${n.target}`);
      return;
    }
    const nh = JSON.stringify(headerMap(n.headers, dropProxyHeader));
    const sh = JSON.stringify(headerMap(s.headers, dropProxyHeader));
    if (nh !== sh) bad.push(`${n.method} ${n.target}: headers nginx ${nh} sidecar ${sh}`);
    if (!n.body.equals(s.body)) {
      bad.push(`${n.method} ${n.target}: body nginx ${n.body.length} bytes, sidecar ${s.body.length} bytes`);
    }
  });
  return bad;
}

const table = new Map<string, [string, string, string]>();

afterAll(() => {
  if (table.size === 0) return;
  const rows = CASES.filter((c) => table.has(c.name)).map((c) => [c.name, ...table.get(c.name)!]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((x, i) => (i < 3 ? x.padEnd(w[i]!) : x)).join(' | ');
  console.log(
    [
      'nginx 1.22 vs sidecar, per framing case:',
      line(['case', 'nginx', 'sidecar', 'verdict']),
      ...rows.map(line),
    ].join('\n'),
  );
});

describe.runIf(hasNginx)('deliver what nginx delivers', () => {
  it.concurrent.for(CASES.map((c) => [c.name, c] as const))('%s', async ([, c], { expect }) => {
    const [ng, scRun] = await Promise.all([runThroughNginx(c), runThroughSidecar(c)]);
    const sc = outcomeOf(scRun.ex, scRun.rec.requests());
    const allowed = ALLOWED[c.name];
    const diff = compare(c, ng, sc);
    let verdict: string;
    if (allowed !== undefined) {
      const got = sc.refusal === undefined ? 'forward' : 'refuse';
      verdict =
        got === allowed.sidecar
          ? `allowed: ${allowed.reason}`
          : `DIFF: expected the sidecar to ${allowed.sidecar}`;
    } else {
      const sameStatus = ng.refusal === sc.refusal;
      verdict = diff.length > 0 ? `DIFF: ${diff[0]}` : sameStatus ? 'same' : 'both refuse';
    }
    table.set(c.name, [describeOutcome(ng), describeOutcome(sc), verdict]);
    if (allowed !== undefined) {
      expect(sc.refusal === undefined ? 'forward' : 'refuse', allowed.reason).toBe(allowed.sidecar);
    } else {
      expect(diff).toEqual([]);
    }
  });

  it('nginx itself answers a plain request through the recorder', async ({ expect }) => {
    const rec = await startRecorder();
    const nginx = await startNginx(rec.port);
    try {
      const ex = await exchange(nginx.port, 'GET /plain HTTP/1.1\r\nHost: example.test\r\n\r\n', {
        headMethods: ['GET'],
      });
      expect(ex.finals.map((f) => f.status)).toEqual([200]);
      expect(rec.requests().map((r) => r.target)).toEqual(['/plain']);
    } finally {
      await closeWithin(nginx.close(), 3000);
      await rec.close();
    }
  });
});
