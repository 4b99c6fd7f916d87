/** realip/sidecar entry: the reverse-proxy sidecar, its PROXY protocol front and built-in stack. */
export { createSidecar, type Sidecar } from './sidecar.js';
export { createResolveStack, type ResolverLike, type ResolveStackOptions } from './default-stack.js';
export {
  createProxyProtocolServer,
  getProxySource,
  type ProxySource,
  type ProxyProtocolStats,
} from './proxy-listener.js';
export { SIDECAR_DEFAULTS, ADMIN_PATHS } from './options.js';
export { HOP_BY_HOP, SPOOFABLE } from './headers.js';
export { sendProblem } from './problem.js';
export type {
  SidecarStack,
  SidecarRequest,
  SidecarConnection,
  SidecarOptions,
  SidecarEvent,
  ListenAddress,
  ProxyProtocolOptions,
} from './types.js';
export {
  parseProxyHeader,
  ProxyHeaderParser,
  type ProxyHeader,
  type ProxyParseResult,
  type ProxyFeedResult,
  type ProxyErrorCode,
  type ProxyCommand,
  type ProxyFamily,
} from '../core/proxy-protocol.js';
