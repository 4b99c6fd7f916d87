/**
 * The forwarding invariants of the framing tests, as functions that return a list of violations
 * (empty when all hold): one upstream request per accepted client request with the same method,
 * origin-form target, end-to-end headers and body; nothing smuggled; each client gets its own
 * response; a body on a bodyless method never shares an upstream connection with a later request.
 * Also the run-one-case harness shared by the matrix, the nginx comparison and the property test.
 */
import { startSidecar } from '../helpers.js';
import { exchange, type Exchange, type Resp } from './client.js';
import { BODYLESS_METHODS, bytesOf, type Case, type Upstream } from './cases.js';
import {
  headerValues,
  parseAll,
  startRecorder,
  type HeaderList,
  type Recorder,
  type RecorderOptions,
  type Req,
} from './recorder.js';

const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy',
]);
/** Request headers a proxy handles itself: framing, Expect, h2c settings, Host (checked apart). */
const HANDLED = new Set(['content-length', 'expect', 'http2-settings', 'host']);
/** Headers the sidecar may or may not forward (not end-to-end by every reading of the RFCs). */
const OPTIONAL = new Set(['trailer']);
/** What the sidecar writes itself. */
const ADDED = new Set([
  'host',
  'x-real-ip',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
]);
const SPOOFABLE = new Set([
  'x-real-ip',
  'forwarded',
  'forwarded-for',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
]);
const isSpoofable = (lower: string): boolean => SPOOFABLE.has(lower) || lower.startsWith('x-forwarded');

/** Header list grouped by lower-case name, values in order, as a stable string for comparison. */
export function headerMap(headers: HeaderList, drop: (lower: string) => boolean): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, v] of headers) {
    const lower = n.toLowerCase();
    if (drop(lower)) continue;
    (out[lower] ??= []).push(v);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Lower-case tokens of the Connection header(s). */
function connectionTokens(headers: HeaderList): string[] {
  return headerValues(headers, 'connection')
    .join(',')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** The end-to-end headers a client request must arrive with. */
export function expectedEndToEnd(client: HeaderList): Record<string, string[]> {
  const listed = new Set(connectionTokens(client));
  return headerMap(
    client,
    (l) => HOP.has(l) || HANDLED.has(l) || OPTIONAL.has(l) || isSpoofable(l) || listed.has(l),
  );
}

/** The end-to-end headers the app received (without what the sidecar writes itself). */
export function receivedEndToEnd(up: HeaderList, keepUpgrade: boolean): Record<string, string[]> {
  return headerMap(up, (l) => ADDED.has(l) || OPTIONAL.has(l) || (keepUpgrade && l === 'upgrade'));
}

const show = (x: unknown): string => JSON.stringify(x);

/** Which recorder request a response came from (the recorder stamps X-Recorder-N). */
function responseOrigin(resp: Resp, rec: Recorder): Req | undefined {
  const n = headerValues(resp.headers, 'x-recorder-n')[0];
  if (n === undefined) return undefined;
  return rec.requests().find((r) => r.n === Number(n));
}

/** True when this upstream request carried a body the app might not expect. */
export function bodyOnBodylessMethod(r: Req): boolean {
  if (!BODYLESS_METHODS.includes(r.method)) return false;
  if (r.ignoredBody) return true;
  return r.framing === 'chunked' || (r.framing === 'length' && r.body.length > 0);
}

/** Checks the client side: statuses, each response from its own request, interim, truncation, close. */
export function checkResponses(c: Case, ex: Exchange, rec: Recorder, legit: Req[]): string[] {
  const bad: string[] = [];
  const finals = ex.finals;
  const forwardCount = c.upstream.length;
  const r = c.response ?? {};
  if (c.expect === 'forward') {
    const wanted = r.truncated ? forwardCount : c.methods.length;
    if (finals.length !== wanted) {
      bad.push(`expected ${wanted} final responses, got ${finals.length} (${finals.map((f) => f.status)})`);
    }
  } else {
    if (finals.length !== forwardCount + 1) {
      bad.push(
        `expected ${forwardCount} forwarded responses then a refusal, got statuses ${show(finals.map((f) => f.status))}`,
      );
    } else if (!c.expect.reject.includes(finals[forwardCount]!.status)) {
      bad.push(`refusal status ${finals[forwardCount]!.status}, expected one of ${show(c.expect.reject)}`);
    } else if (headerValues(finals[forwardCount]!.headers, 'x-recorder-n').length > 0) {
      bad.push('the refusal came from the app, not the proxy');
    }
  }
  for (let i = 0; i < Math.min(forwardCount, finals.length); i++) {
    const resp = finals[i]!;
    const want = c.upstream[i]!;
    const status = r.statuses?.[i] ?? 200;
    if (resp.status !== status) bad.push(`response ${i}: status ${resp.status}, expected ${status}`);
    const origin = responseOrigin(resp, rec);
    if (origin === undefined) {
      bad.push(`response ${i} (${resp.status}) does not come from any app request`);
      continue;
    }
    if (!legit.includes(origin) || origin.method !== want.method || origin.target !== want.target) {
      bad.push(
        `response ${i} answers ${origin.method} ${origin.target} (app request ${origin.n}), not ${want.method} ${want.target}`,
      );
    }
    if (resp.status === 200 && c.methods[i] !== 'HEAD' && !(r.truncated && i === forwardCount - 1)) {
      try {
        const named = JSON.parse(resp.body.toString('latin1')) as { target?: string; n?: number };
        if (named.n !== origin.n || named.target !== origin.target) {
          bad.push(
            `response ${i} body ${resp.body.toString('latin1')} does not name app request ${origin.n}`,
          );
        }
      } catch {
        bad.push(
          `response ${i} body is not the app's JSON: ${show(resp.body.toString('latin1').slice(0, 80))}`,
        );
      }
    }
  }
  const interim = ex.responses.filter((x) => x.interim).map((x) => x.status);
  for (const s of r.interimRequired ?? []) {
    if (!interim.includes(s)) bad.push(`interim ${s} not received (got ${show(interim)})`);
  }
  const allowed = new Set([...(r.interimRequired ?? []), ...(r.interimAllowed ?? [])]);
  for (const s of interim) if (!allowed.has(s)) bad.push(`unexpected interim response ${s}`);
  if (r.truncated) {
    if (!ex.truncated) bad.push('the aborted response reached the client as complete');
    if (!ex.closedByPeer) bad.push('the connection stayed open after an aborted response');
  } else if (ex.truncated) {
    bad.push('a response was truncated');
  }
  if (r.closes && !ex.closedByPeer) bad.push('the client connection was not closed');
  if (ex.garbage !== undefined) bad.push(`unparseable reply: ${ex.garbage}`);
  if (ex.timedOut) bad.push('the exchange timed out');
  return bad;
}

/** Checks one forwarded request against what the client sent. */
function checkOne(i: number, want: Upstream, got: Req, client: Req | undefined, clientIp: string): string[] {
  const bad: string[] = [];
  const at = `upstream ${i} (${want.method} ${want.target})`;
  if (got.method !== want.method) bad.push(`${at}: method ${got.method}`);
  if (got.target !== want.target) bad.push(`${at}: target ${show(got.target)}`);
  if (got.body.toString('latin1') !== want.body) {
    bad.push(`${at}: body ${show(got.body.toString('latin1').slice(0, 80))} (${got.body.length} bytes)`);
  }
  if (got.body.length > 0 && got.framing === 'none') bad.push(`${at}: body without framing`);
  for (const [name, value] of want.present ?? []) {
    const v = headerValues(got.headers, name);
    if (v.length === 0 || (value !== undefined && !v.includes(value))) {
      bad.push(`${at}: header ${name}${value === undefined ? '' : `: ${value}`} missing (got ${show(v)})`);
    }
  }
  for (const name of want.absent ?? []) {
    if (headerValues(got.headers, name).length > 0) bad.push(`${at}: header ${name} must not be forwarded`);
  }
  for (const name of ['expect', 'http2-settings', 'proxy-connection', 'te']) {
    if (headerValues(got.headers, name).length > 0) bad.push(`${at}: ${name} forwarded`);
  }
  const xr = headerValues(got.headers, 'x-real-ip');
  if (show(xr) !== show([clientIp])) bad.push(`${at}: x-real-ip ${show(xr)}`);
  const xff = headerValues(got.headers, 'x-forwarded-for');
  if (show(xff) !== show([clientIp])) bad.push(`${at}: x-forwarded-for ${show(xff)}`);
  const host = headerValues(got.headers, 'host');
  if (host.length !== 1) bad.push(`${at}: ${host.length} Host headers`);
  if (client !== undefined) {
    const clientHost = headerValues(client.headers, 'host');
    if (clientHost.length === 1 && host[0] !== clientHost[0]) bad.push(`${at}: Host ${show(host)}`);
    const keepUpgrade = (want.present ?? []).some(([n]) => n === 'upgrade');
    const exp = expectedEndToEnd(client.headers);
    const rcv = receivedEndToEnd(got.headers, keepUpgrade);
    if (show(exp) !== show(rcv)) bad.push(`${at}: end-to-end headers ${show(rcv)}, expected ${show(exp)}`);
    if (client.framing === 'length' && client.body.length > 0) {
      const cl = headerValues(got.headers, 'content-length');
      if (got.framing !== 'length' || cl[0] !== String(client.body.length)) {
        bad.push(`${at}: Content-Length ${client.body.length} forwarded as ${got.framing} ${show(cl)}`);
      }
    }
  }
  return bad;
}

/** Requests on the recorder that came from inside a body the (vulnerable) recorder ignored. */
export function smuggledByIgnoring(rec: Recorder): Set<Req> {
  const out = new Set<Req>();
  for (const conn of rec.connections) {
    let inside = -1;
    for (const r of conn.requests) {
      if (r.offset < inside) out.add(r);
      if (r.ignoredBody && r.declaredEnd !== undefined) inside = Math.max(inside, r.declaredEnd);
    }
  }
  return out;
}

/** No upstream connection carries a request after a body on GET/HEAD/DELETE/OPTIONS. */
export function checkNoReuse(rec: Recorder): string[] {
  const bad: string[] = [];
  for (const conn of rec.connections) {
    let after: Req | undefined;
    for (const r of conn.requests) {
      if (after !== undefined && (after.declaredEnd === undefined || r.offset >= after.declaredEnd)) {
        bad.push(
          `upstream connection ${conn.index} reused for ${r.method} ${r.target} after ${after.method} ${after.target} with a body`,
        );
        break;
      }
      if (after === undefined && bodyOnBodylessMethod(r)) after = r;
    }
  }
  return bad;
}

/**
 * Everything the app received, against the case. `vulnerable`: the recorder ignored bodies on
 * bodyless methods, so only method/target of the requests the client sent are compared.
 */
export function checkUpstream(c: Case, rec: Recorder, clientIp: string, vulnerable: boolean): string[] {
  const bad: string[] = [];
  const smuggled = smuggledByIgnoring(rec);
  const legit = rec.requests().filter((r) => !smuggled.has(r));
  if (!vulnerable) {
    for (const conn of rec.connections) {
      if (conn.garbage !== undefined) bad.push(`upstream connection ${conn.index}: ${conn.garbage}`);
    }
  }
  if (legit.some((r) => r.target.startsWith('/smuggled'))) bad.push('/smuggled reached the app as a request');
  // Pipelined requests are forwarded concurrently, so match by method and target, not by order.
  const matched = matchUpstream(c.upstream, legit);
  const unexpected = legit.filter((r) => !matched.includes(r));
  if (unexpected.length > 0) {
    bad.push(
      `app received unexpected requests: ${unexpected.map((r) => `${r.method} ${r.target}`).join(', ')}`,
    );
  }
  const clients = parseAll(Buffer.from(bytesOf(c), 'latin1')).requests;
  c.upstream.forEach((want, i) => {
    const got = matched[i];
    if (got === undefined) {
      bad.push(`app never received ${want.method} ${want.target}`);
      return;
    }
    if (!vulnerable) bad.push(...checkOne(i, want, got, clients[i] as Req | undefined, clientIp));
  });
  bad.push(...checkNoReuse(rec));
  return bad;
}

/** For each expected request, the first unused app request with the same method and target. */
export function matchUpstream(expected: Upstream[], got: Req[]): Array<Req | undefined> {
  const used = new Set<Req>();
  return expected.map((want) => {
    const r = got.find((g) => !used.has(g) && g.method === want.method && g.target === want.target);
    if (r !== undefined) used.add(r);
    return r;
  });
}

export interface CaseRun {
  ex: Exchange;
  rec: Recorder;
  /** Upstream connections still open after the exchange although they carried a bodyless-method body. */
  lingering: string[];
  /** Connection index of every legit (non-smuggled) app request. */
  legit: Req[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one case through a fresh sidecar in front of a fresh recorder. */
export async function runThroughSidecar(
  c: Case,
  recorderOptions: RecorderOptions = {},
  exchangeOptions: { timeoutMs?: number; localAddress?: string } = {},
): Promise<CaseRun> {
  const rec = await startRecorder(recorderOptions);
  const sc = await startSidecar(rec.url, {});
  try {
    const ex = await exchange(sc.port, c.bytes, {
      headMethods: c.methods,
      // Wait for the close a case expects instead of a short linger.
      lingerMs: c.response?.closes ? 1000 : undefined,
      ...exchangeOptions,
    });
    // Let the app see anything still in flight (a smuggled tail, a late close).
    await sleep(30);
    const lingering: string[] = [];
    for (const conn of rec.connections) {
      if (!conn.requests.some(bodyOnBodylessMethod)) continue;
      for (let t = 0; t < 20 && !conn.closed; t++) await sleep(15);
      if (!conn.closed)
        lingering.push(`upstream connection ${conn.index} kept open after a bodyless-method body`);
    }
    const smuggled = smuggledByIgnoring(rec);
    return { ex, rec, lingering, legit: rec.requests().filter((r) => !smuggled.has(r)) };
  } finally {
    // The app first: a sidecar still waiting on it must not hold the close up.
    await rec.close();
    await closeWithin(sc.sidecar.close(), 2000);
  }
}

/** Waits for `p`, but no longer than `ms` (a hung close must not hang the suite). */
export async function closeWithin(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** All violations of a sidecar run. */
export function violations(c: Case, run: CaseRun, vulnerable: boolean, clientIp = '127.0.0.1'): string[] {
  return [
    ...checkUpstream(c, run.rec, clientIp, vulnerable),
    ...checkResponses(c, run.ex, run.rec, run.legit),
    ...run.lingering,
  ];
}
