/**
 * Express (4 and 5) adapter of the resolver: `app.use(clientIp(options))`.
 */
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { Context } from '../http/context.js';
import { booleanOption, resolveIncoming, splitAdapterOptions, type ResolverLike } from '../http/request.js';
import type { ResolverOptions } from '../types.js';
import './augment.js';
import { attachContext } from './request-props.js';

/** Options of the Express adapter itself (combined with the resolver's options). */
export interface ExpressAdapterOptions {
  /**
   * Make `req.ip` return the resolved client IP (an own property shadowing Express's getter), so
   * morgan, express-rate-limit, pino-http serializers and your own code all see the same answer.
   * Express's getter answers from its own `trust proxy` setting, which is a second, diverging source
   * of truth. Set `false` to leave `req.ip` to Express.
   * @default true
   */
  setReqIp?: boolean;
}

/**
 * Options of `clientIp()`: the resolver's options plus the adapter's, or a prebuilt resolver as
 * `{ resolver, setReqIp? }` (share one compiled configuration between apps).
 */
export type ExpressClientIpOptions =
  | (ResolverOptions & ExpressAdapterOptions)
  | (ExpressAdapterOptions & { resolver: ResolverLike; onWarning?: ResolverOptions['onWarning'] });

const ADAPTER_KEYS = ['setReqIp'] as const;

export const WRN_EXPRESS_TRUST_PROXY = 'WRN_REALIP_EXPRESS_TRUST_PROXY';

/**
 * Resolves the client IP of every request and records it on `req.clientIp` (`string | undefined`)
 * and `req.realip.resolution`; unless `setReqIp: false`, `req.ip` returns the same value.
 *
 * ```ts
 * app.use(clientIp({ trustedProxies: ['10.0.0.0/8'] }));
 * app.get('/', (req, res) => res.send(req.clientIp ?? 'unknown'));
 * ```
 * @param options resolver options plus adapter options, `{ resolver }`, or a resolver.
 * @throws ConfigError when the options are invalid (every problem at once).
 */
export function clientIp(options?: ExpressClientIpOptions | ResolverLike): RequestHandler {
  const { resolver, adapter, warn } = splitAdapterOptions(options, ADAPTER_KEYS);
  const issues: ConfigIssue[] = [];
  const setReqIp = booleanOption(adapter, 'setReqIp', true, issues);
  if (issues.length > 0) throw new ConfigError(issues);

  const trustProxyMessage =
    "Express's `trust proxy` setting is enabled while realip resolves the client IP: two sources of " +
    'truth disagree on who the client is (req.ips, req.protocol and req.hostname still follow ' +
    '`trust proxy`' +
    (setReqIp ? ')' : ', and so does req.ip because setReqIp is false)') +
    ". Remove app.set('trust proxy', ...) and configure trustedProxies in realip only.";

  // The app whose `trust proxy` was last checked: checked again only when a request comes from
  // another app (a router shared between apps, a mounted sub-app), so the steady state is one
  // reference comparison.
  let checkedApp: Application | undefined;

  return function realipClientIp(req: Request, _res: Response, next: NextFunction): void {
    const app = req.app as Application | undefined;
    if (app !== checkedApp && app !== undefined) {
      checkedApp = app;
      if (expressTrustsProxies(app)) warn(WRN_EXPRESS_TRUST_PROXY, trustProxyMessage);
    }
    const resolution = resolveIncoming(resolver, req);
    let context = req.realip as Context | undefined;
    if (context === undefined) context = new Context();
    context.resolution = resolution;
    attachContext(req, context, setReqIp);
    next();
  };
}

/** Probed once per app: any address Express would trust as a proxy at hop 0 or 1. */
const PROBES = [
  '127.0.0.1',
  '::1',
  '10.0.0.1',
  '172.16.0.1',
  '192.168.0.1',
  '100.64.0.1',
  'fc00::1',
  '203.0.113.1',
];

/**
 * True when Express's own `trust proxy` is on: the setting is truthy (it inherits from a parent app
 * when left at its default), or the compiled `trust proxy fn` trusts any probe address (someone set
 * the function directly).
 */
function expressTrustsProxies(app: Application): boolean {
  const get = (app as { get?: unknown }).get;
  if (typeof get !== 'function') return false;
  const setting: unknown = get.call(app, 'trust proxy');
  if (setting) return true;
  const fn: unknown = get.call(app, 'trust proxy fn');
  if (typeof fn !== 'function') return false;
  for (const address of PROBES) {
    for (let hop = 0; hop < 2; hop++) {
      try {
        if ((fn as (address: string, hop: number) => unknown)(address, hop)) return true;
      } catch {
        // A user-supplied trust function that throws on unexpected input: not our concern here.
      }
    }
  }
  return false;
}
