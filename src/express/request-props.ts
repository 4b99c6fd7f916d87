/**
 * How realip's answer reaches Express's request: `req.realip` (the context) is the one property
 * stored per request; `req.clientIp` and `req.ip` are accessors on Express's own request
 * prototype that read it.
 *
 * Why: Express re-prototypes every request (`Object.setPrototypeOf(req, app.request)`), and each
 * property added to such an object takes V8's slow path (measured at 1.5-2 µs per property on a
 * real request under load, three times what the whole resolve costs). The accessors are installed
 * once, on the prototype that owns Express's `ip` getter (shared by every app and mounted sub-app
 * of that Express copy), and fall back to Express's getter for requests realip has not seen (routes
 * mounted before the middleware, other apps): nothing changes for them.
 */
import type { Request } from 'express';
import type { Context } from '../http/context.js';
import './augment.js';

/** Marks a prototype that carries the accessors (a registered symbol: one per process, every copy). */
const PATCHED = Symbol.for('realip.express.requestAccessors');
/** On a context: the middleware that made it leaves `req.ip` to Express (`setReqIp: false`). */
const KEEP_EXPRESS_IP = Symbol.for('realip.express.keepIp');

type MarkedContext = Context & { [KEEP_EXPRESS_IP]?: boolean };

const hasOwn = Object.prototype.hasOwnProperty;

interface Patched {
  [PATCHED]?: boolean;
}

interface WithContext {
  realip?: MarkedContext | null;
}

function clientIpGetter(this: WithContext): string | undefined {
  const c = this.realip;
  return c === undefined || c === null || c.resolution === undefined ? undefined : c.resolution.ip;
}

/** An assignment (e.g. another middleware setting `req.clientIp`) becomes an own property. */
function ownValue(this: object, name: string, value: unknown): void {
  Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
}

/** Finds the prototype that owns Express's `ip` getter and installs the accessors there once. */
function patch(req: Request): boolean {
  for (
    let o = Object.getPrototypeOf(req) as (object & Patched) | null;
    o !== null;
    o = Object.getPrototypeOf(o) as (object & Patched) | null
  ) {
    if (o[PATCHED] === true) return true;
    const d = Object.getOwnPropertyDescriptor(o, 'ip');
    if (d === undefined) continue;
    if (typeof d.get !== 'function' || d.configurable !== true) return false;
    const original = d.get as (this: Request) => unknown;
    Object.defineProperty(o, 'clientIp', {
      get: clientIpGetter,
      set(this: object, v: unknown) {
        ownValue.call(this, 'clientIp', v);
      },
      enumerable: false,
      configurable: true,
    });
    Object.defineProperty(o, 'ip', {
      get(this: Request & WithContext): unknown {
        const c = this.realip;
        if (c !== undefined && c !== null && c.resolution !== undefined && c[KEEP_EXPRESS_IP] !== true) {
          return c.resolution.ip;
        }
        return original.call(this);
      },
      set(this: object, v: unknown) {
        ownValue.call(this, 'ip', v);
      },
      enumerable: d.enumerable ?? false,
      configurable: true,
    });
    Object.defineProperty(o, PATCHED, { value: true });
    return true;
  }
  return false;
}

/**
 * Records `ctx` on `req` and makes `req.clientIp` (and, with `setReqIp`, `req.ip`) return its
 * resolved IP. Requests that do not inherit Express's getter (plain objects in tests, other
 * frameworks' requests passed to the middleware) get own properties instead.
 */
export function attachContext(req: Request, ctx: Context, setReqIp: boolean): void {
  if (req.realip !== ctx) req.realip = ctx;
  const proto = Object.getPrototypeOf(req) as Patched | null;
  if ((proto !== null && proto[PATCHED] === true) || patch(req)) {
    // Own properties set earlier (another middleware's `req.clientIp`) would shadow the accessors.
    if (hasOwn.call(req, 'clientIp')) req.clientIp = ctx.resolution?.ip;
    if (setReqIp) {
      if (hasOwn.call(req, 'ip')) ownValue.call(req, 'ip', ctx.resolution?.ip);
      const c = ctx as MarkedContext;
      if (c[KEEP_EXPRESS_IP] === true) c[KEEP_EXPRESS_IP] = false; // reused by a setReqIp: true stage
    } else {
      // The accessors are shared: this middleware's contexts say "leave req.ip to Express".
      (ctx as MarkedContext)[KEEP_EXPRESS_IP] = true;
    }
    return;
  }
  const ip = ctx.resolution?.ip;
  req.clientIp = ip;
  if (setReqIp) {
    Object.defineProperty(req, 'ip', { value: ip, writable: true, enumerable: true, configurable: true });
  }
}
