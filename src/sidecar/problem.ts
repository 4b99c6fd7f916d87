/** Problem responses written by the sidecar (RFC 9457 with a stable `code` extension). */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { problemBody, PROBLEM_CONTENT_TYPE } from '../core/problem.js';

/** Answers an RFC 9457 problem with a stable `code` extension (see docs/errors.md). */
export function sendProblem(res: ServerResponse, status: number, code: string, detail: string): void {
  const body = problemBody({ title: STATUS_CODES[status] ?? 'Error', status, detail, code });
  res.writeHead(status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
