/**
 * Reading a client's request body: the gap between two reads is bounded (`clientBodyTimeoutMs`,
 * nginx's `client_body_timeout`), the size is bounded (`maxBodyBytes`), and small bodies are read
 * whole before they take an app connection (request buffering, nginx's `proxy_request_buffering`),
 * so slow uploaders hold sidecar memory, not app connections.
 *
 * The gap timer runs only while the sidecar waits for the client: while the app is slow to read
 * (backpressure), the reader is not asking for data and the client is not to blame.
 */
import type { IncomingMessage } from 'node:http';

/** A body failure the client is answered for (408 or 413). */
export class ClientBodyError extends Error {
  constructor(
    readonly status: 408 | 413,
    readonly code: 'ERR_REALIP_CLIENT_BODY_TIMEOUT' | 'ERR_REALIP_BODY_TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}

/** The client went away mid-body: nothing to answer. */
export class ClientGone extends Error {}

/** Waits until `req` has data or ended; rejects after `gapMs` of silence, or when it fails. */
function readable(req: IncomingMessage, gapMs: number): Promise<void> {
  if (req.readableEnded) return Promise.resolve();
  if (req.destroyed) return Promise.reject(new ClientGone('the client closed the connection mid-body'));
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      req.removeListener('readable', onReadable);
      req.removeListener('end', onReadable);
      req.removeListener('error', onError);
      req.removeListener('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onReadable = (): void => done();
    const onError = (): void => done(new ClientGone('the client closed the connection mid-body'));
    const onClose = (): void => {
      if (!req.readableEnded) onError();
    };
    const timer =
      gapMs > 0
        ? setTimeout(
            () =>
              done(
                new ClientBodyError(
                  408,
                  'ERR_REALIP_CLIENT_BODY_TIMEOUT',
                  `the client sent no body data for ${gapMs} ms`,
                ),
              ),
            gapMs,
          )
        : undefined;
    req.on('readable', onReadable);
    req.on('end', onReadable);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * The body's chunks as they arrive, with the gap and size bounds. `received` counts bytes
 * already read (by a buffering step before this one).
 */
export async function* bodyChunks(
  req: IncomingMessage,
  gapMs: number,
  maxBytes: number,
  received = 0,
): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = req.read() as Buffer | null;
    if (chunk !== null) {
      received += chunk.length;
      if (received > maxBytes) {
        throw new ClientBodyError(
          413,
          'ERR_REALIP_BODY_TOO_LARGE',
          `the request body exceeds ${maxBytes} bytes`,
        );
      }
      yield chunk;
      continue;
    }
    if (req.readableEnded) return;
    await readable(req, gapMs);
  }
}

/** A body read up to a size: whole (`rest` undefined), or its start and the reader of the rest. */
export interface BufferedBody {
  readonly chunks: Buffer[];
  readonly bytes: number;
  /** The rest of a body larger than the buffer, still to be read. */
  readonly rest: AsyncGenerator<Buffer> | undefined;
}

/**
 * Reads the body until it ends or passes `limit` bytes. A body that fits comes back whole; a
 * larger one comes back as what was read plus the generator to read the rest with.
 */
export async function bufferBody(
  req: IncomingMessage,
  limit: number,
  gapMs: number,
  maxBytes: number,
): Promise<BufferedBody> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const it = bodyChunks(req, gapMs, maxBytes);
  for (;;) {
    const next = await it.next();
    if (next.done === true) return { chunks, bytes, rest: undefined };
    chunks.push(next.value);
    bytes += next.value.length;
    if (bytes > limit) return { chunks, bytes, rest: it };
  }
}

/** The buffered start of a body, then the rest; calls `sent` once the last byte was handed on. */
export async function* joined(
  start: readonly Buffer[],
  rest: AsyncIterable<Buffer> | undefined,
  sent: () => void,
): AsyncGenerator<Buffer> {
  for (const chunk of start) yield chunk;
  if (rest !== undefined) for await (const chunk of rest) yield chunk;
  sent();
}
