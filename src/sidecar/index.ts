/** realip/sidecar entry: the reverse-proxy sidecar, its PROXY protocol front and built-in stack. */
export { createSidecar, type Sidecar } from './sidecar.js';
export { createResolveStack, type ResolverLike, type ResolveStackOptions } from './default-stack.js';
export type { ProxySource, ProxyProtocolStats } from './proxy-listener.js';
export type {
  SidecarStack,
  SidecarRequest,
  SidecarConnection,
  SidecarOptions,
  SidecarEvent,
  ListenAddress,
  ProxyProtocolOptions,
} from './types.js';
// The PROXY protocol parser (`parseProxyHeader`) is exported by the core entry (`realip`).
export type { ProxyHeader, ProxyCommand, ProxyFamily } from '../resolve/proxy-protocol.js';
