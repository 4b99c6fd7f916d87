/**
 * RFC 9457 problem details. Bodies are built with JSON.stringify so extension members are escaped.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A problem document: the standard members plus extensions. */
export interface Problem {
  /** URI reference identifying the problem type. @default 'about:blank' */
  type?: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** Serialises a problem with `type` first and `about:blank` as the default type. */
export function problemBody(problem: Problem): string {
  return JSON.stringify({ type: problem.type ?? 'about:blank', ...problem });
}

/**
 * A response realip sends instead of the app's: the access stage's 403, the rate limiter's 429 and
 * 503 (`storeFailure: 'closed'`), the sidecar's own errors. Header names are lower case; the
 * writer adds `content-length`.
 */
export interface ProblemResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * How one framework writes a response: Node's `ServerResponse` (so Express's `res`, and the
 * sidecar's) is {@link NODE_RESPONSE}; Fastify's `reply` has its own. A static object per framework,
 * so writing allocates nothing for the target.
 */
export interface ResponseTarget<R> {
  status(res: R, status: number): void;
  header(res: R, name: string, value: string): void;
  /** Ends the response; `body` is undefined for HEAD. */
  end(res: R, body: string | undefined): void;
}

/** Writes `r` through `target`: status, headers, `content-length`, and the body unless `head`. */
export function sendProblemResponse<R>(
  target: ResponseTarget<R>,
  res: R,
  r: ProblemResponse,
  head: boolean,
): void {
  target.status(res, r.status);
  const headers = r.headers;
  for (const name in headers) target.header(res, name, headers[name]!);
  target.header(res, 'content-length', String(Buffer.byteLength(r.body)));
  target.end(res, head ? undefined : r.body);
}

/** The part of Node's `ServerResponse` the writer uses (Express's `res` is one). */
interface NodeResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

/** Writes on a `node:http` `ServerResponse`, Express's `res` included. */
export const NODE_RESPONSE: ResponseTarget<NodeResponseLike> = {
  status(res, status) {
    res.statusCode = status;
  },
  header(res, name, value) {
    res.setHeader(name, value);
  },
  end(res, body) {
    res.end(body);
  },
};
