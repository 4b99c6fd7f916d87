/** Express request augmentation: `req.clientIp` and `req.realip`. */
import type { RealipContext } from '../types.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The resolved client IP (canonical), or undefined when it cannot be determined. Set by `clientIp()`. */
      clientIp: string | undefined;
      /** What realip knows about this request; stages fill it in order. Set by `clientIp()`. */
      realip: RealipContext;
    }
  }
}

export {};
