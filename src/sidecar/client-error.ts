/**
 * Requests Node's parser refused on the public listener (400, 431, 408), answered without
 * breaking the responses still due on the same connection.
 */
import http, { type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { problemBody, PROBLEM_CONTENT_TYPE } from '../http/problem.js';

/** The last response started on a client connection. */
const LAST_RESPONSE = Symbol('realip.lastResponse');

type Tracked = Duplex & { [LAST_RESPONSE]?: ServerResponse };

/** Records `res` as the last response started on its connection (one property write). */
export function noteResponse(socket: Socket, res: ServerResponse): void {
  (socket as Tracked)[LAST_RESPONSE] = res;
}

/**
 * Bytes on a connection did not parse: a pipelined request after good ones, or the body of a
 * refused request. A response still due on it goes first and the 400 follows the last one, as
 * nginx answers, unless that one closes the connection anyway.
 */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (err.code === 'ECONNRESET' && socket.destroyed)) {
    socket.destroy();
    return;
  }
  const last = (socket as Tracked)[LAST_RESPONSE];
  if (last !== undefined) {
    if (!last.shouldKeepAlive) return;
    if (!last.writableEnded) {
      last.once('finish', () => answer(err, socket));
      return;
    }
  }
  answer(err, socket);
}

/** Answers a request Node's parser refused and closes the connection. */
function answer(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = problemBody({ title: http.STATUS_CODES[status]!, status, detail: 'malformed HTTP request' });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
