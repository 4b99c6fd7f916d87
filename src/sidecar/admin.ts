/**
 * The admin listener: `/healthz`, `/readyz`, `/metrics` and `/top-clients`, plain HTTP, GET and
 * HEAD only, never rate-limited.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ADMIN_PATHS } from './options.js';
import { sendProblem } from './problem.js';
import type { SidecarEvent, SidecarStack } from './types.js';

/** What the admin listener reads from the sidecar. */
export interface AdminHost {
  /** True from the start of shutdown: `/readyz` answers 503. */
  readonly draining: boolean;
  readonly stack: SidecarStack;
  /** The sidecar's own metrics (the stack's come first on `/metrics`). */
  metricsText(): string;
  onEvent(event: SidecarEvent): void;
}

/** Answers one admin request. */
export async function serveAdmin(req: IncomingMessage, res: ServerResponse, host: AdminHost): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    sendProblem(res, 405, 'ERR_REALIP_ADMIN_METHOD', 'the admin listener answers GET and HEAD only');
    return;
  }
  try {
    switch (path) {
      case ADMIN_PATHS.healthz:
        sendText(res, 200, 'ok\n');
        return;
      case ADMIN_PATHS.readyz: {
        if (host.draining) {
          sendText(res, 503, 'shutting down\n');
          return;
        }
        const ready = host.stack.ready === undefined ? true : await host.stack.ready();
        sendText(res, ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
        return;
      }
      case ADMIN_PATHS.metrics: {
        const stackText = host.stack.metrics === undefined ? '' : await host.stack.metrics();
        const body =
          (stackText === '' || stackText.endsWith('\n') ? stackText : stackText + '\n') + host.metricsText();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(body);
        return;
      }
      case ADMIN_PATHS.topClients: {
        const top = host.stack.topClients === undefined ? [] : host.stack.topClients();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(top ?? []) + '\n');
        return;
      }
      default:
        sendProblem(res, 404, 'ERR_REALIP_ADMIN_NOT_FOUND', `no admin endpoint at ${path}`);
    }
  } catch (error) {
    host.onEvent({
      event: 'admin-error',
      path,
      error: error instanceof Error ? error.message : String(error),
    });
    if (!res.headersSent) sendProblem(res, 500, 'ERR_REALIP_STACK_FAILED', 'the admin endpoint failed');
    else res.destroy();
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}
