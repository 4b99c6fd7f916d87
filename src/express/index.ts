/** Express adapters (Express 4 and 5). One export line per stage. */
import './augment.js';
export {};
export { ipFilter, type ExpressAccessOptions, type IpFilterMiddleware } from './access.js';
export { clientIp, type ExpressClientIpOptions, type ExpressAdapterOptions } from './client-ip.js';
