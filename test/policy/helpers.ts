/**
 * Drives a composed stack with synthetic `node:http` requests: any socket peer address (10.x,
 * Cloudflare ranges, ...) that a test cannot bind to locally, through the real `stack.handle()`.
 */
import http from 'node:http';
import { Socket } from 'node:net';
import type { PolicyStack } from '../../src/policy/index.js';
import type { RealipContext } from '../../src/types.js';

export const silentLogger = { info: () => {}, warn: () => {}, error: () => {} };

export interface Sent {
  /** True when the stack let the request through to the app. */
  forwarded: boolean;
  /** 200 when forwarded, else the stack's status. */
  status: number;
  ip: string | undefined;
  ctx: RealipContext;
  headers: http.OutgoingHttpHeaders;
  body: string;
}

export interface RequestSpec {
  peer: string | undefined;
  headers?: Record<string, string>;
  url?: string;
  method?: string;
  proxyProtocol?: string;
}

export async function send(stack: PolicyStack, spec: RequestSpec): Promise<Sent> {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: spec.peer });
  const req = new http.IncomingMessage(socket);
  req.method = spec.method ?? 'GET';
  req.url = spec.url ?? '/';
  for (const [k, v] of Object.entries(spec.headers ?? {})) req.headers[k.toLowerCase()] = v;
  const res = new http.ServerResponse(req);
  let body = '';
  const end = res.end.bind(res);
  res.end = ((chunk?: unknown) => {
    if (typeof chunk === 'string') body += chunk;
    return end();
  }) as typeof res.end;
  const forwarded = await stack.handle(
    req,
    res,
    spec.proxyProtocol ? { proxyProtocol: { sourceAddress: spec.proxyProtocol } } : {},
  );
  const ctx = (req as { realip?: RealipContext }).realip!;
  socket.destroy();
  return {
    forwarded,
    status: forwarded ? 200 : res.statusCode,
    ip: ctx.resolution?.ip,
    ctx,
    headers: res.getHeaders(),
    body,
  };
}

/** Sends `n` identical requests; returns the statuses. */
export async function burst(stack: PolicyStack, n: number, spec: RequestSpec): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(stack, spec)).status);
  return out;
}

/** `[200 x a, 429 x b]` as a compact string for assertions: "200x21 429x1". */
export function runs(statuses: number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < statuses.length) {
    let j = i;
    while (j < statuses.length && statuses[j] === statuses[i]) j++;
    parts.push(`${statuses[i]}x${j - i}`);
    i = j;
  }
  return parts.join(' ');
}
