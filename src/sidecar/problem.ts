/** Problem responses written by the sidecar (RFC 9457 with a stable `code` extension). */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { NODE_RESPONSE, problemBody, PROBLEM_CONTENT_TYPE, sendProblemResponse } from '../http/problem.js';

const HEADERS = Object.freeze({ 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' });

/** Answers an RFC 9457 problem with a stable `code` extension (see docs/errors.md). */
export function sendProblem(res: ServerResponse, status: number, code: string, detail: string): void {
  const body = problemBody({ title: STATUS_CODES[status] ?? 'Error', status, detail, code });
  sendProblemResponse(NODE_RESPONSE, res, { status, headers: HEADERS, body }, false);
}
