/**
 * The sidecar's built-in stack: resolve only (no geo, access list or rate limit). With the default
 * resolver options it is Local mode: no proxy is trusted, so the socket peer (or the PROXY protocol
 * source) is the client and every forwarding header is ignored, then replaced by the sidecar.
 */
import type { ServerResponse } from 'node:http';
import { createContext } from '../http/context.js';
import type { ResolveInput, Resolution, UndeterminablePolicy } from '../types.js';
import { sendProblem } from './problem.js';
import type { SidecarConnection, SidecarRequest, SidecarStack } from './types.js';

/** What the built-in stack needs from a resolver (`createResolver()` returns one). */
export interface ResolverLike {
  resolve(input: ResolveInput): Resolution;
}

/** Options of `createResolveStack()`. */
export interface ResolveStackOptions {
  /**
   * A request whose client IP cannot be determined is refused with 403 (`'deny'`) or forwarded
   * without `X-Real-IP`/`X-Forwarded-For` (`'allow'`).
   * @default 'deny' (a request nobody can attribute must not slip past per-IP controls)
   */
  undeterminable?: UndeterminablePolicy;
}

class ResolveInputImpl implements ResolveInput {
  remoteAddress: string | undefined = undefined;
  headers: Readonly<Record<string, string | string[] | undefined>> = {};
  proxyProtocol: { sourceAddress: string; sourcePort?: number } | undefined = undefined;
}

/** A stack that only resolves the client IP; the policy's full stack replaces it. */
export function createResolveStack(resolver: ResolverLike, options: ResolveStackOptions = {}): SidecarStack {
  const deny = (options.undeterminable ?? 'deny') === 'deny';
  const bySource = new Map<string, number>();
  let undeterminable = 0;
  return {
    handle(req: SidecarRequest, res: ServerResponse, conn: SidecarConnection): boolean {
      const input = new ResolveInputImpl();
      input.remoteAddress = req.socket.remoteAddress;
      input.headers = req.headers;
      input.proxyProtocol = conn.proxyProtocol;
      const resolution = resolver.resolve(input);
      const ctx = createContext();
      ctx.resolution = resolution;
      req.realip = ctx;
      bySource.set(resolution.source, (bySource.get(resolution.source) ?? 0) + 1);
      if (resolution.ip === undefined) {
        undeterminable++;
        if (deny) {
          sendProblem(res, 403, 'ERR_REALIP_SIDECAR_UNDETERMINABLE', 'the client IP could not be determined');
          return false;
        }
      }
      return true;
    },
    metrics(): string {
      const lines = [
        '# HELP realip_sidecar_resolutions_total Requests resolved by the built-in stack, by source.',
        '# TYPE realip_sidecar_resolutions_total counter',
      ];
      for (const [source, n] of [...bySource].sort()) {
        lines.push(`realip_sidecar_resolutions_total{source="${source}"} ${n}`);
      }
      lines.push(
        '# HELP realip_sidecar_undeterminable_total Requests whose client IP could not be determined.',
        '# TYPE realip_sidecar_undeterminable_total counter',
        `realip_sidecar_undeterminable_total ${undeterminable}`,
      );
      return lines.join('\n') + '\n';
    },
  };
}
