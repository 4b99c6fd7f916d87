/**
 * The load of bench/stack.ts and bench/stack-stages.ts (the leading underscore keeps bench/run.mjs
 * from running it): an allow-list of 1,000 CIDRs and 100,000 client IPs, 95% of them inside it, sent
 * through a trusted hop's X-Forwarded-For.
 */
import { xffScript } from './_wrk.js';

/** Rate-limit points no run reaches. */
export const HIGH = 1_000_000_000;
export const CIDRS = 1000;

/** 1,000 /16s: 20.0.0.0/16 ... 23.231.0.0/16. */
export function allowList(): string[] {
  const out: string[] = [];
  for (let k = 0; k < CIDRS; k++) out.push(`${20 + (k >> 8)}.${k & 255}.0.0/16`);
  return out;
}

/** 100,000 public client IPs, 95% inside the allow-list, spread over all its CIDRs. */
export function clientIps(): string[] {
  const ips: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    if (i % 20 === 19) {
      ips.push(`150.${(i >> 8) & 255}.${i & 255}.${1 + (i % 250)}`); // outside: 403
    } else {
      const k = i % CIDRS;
      ips.push(`${20 + (k >> 8)}.${k & 255}.${(i >> 4) & 255}.${1 + (i % 250)}`);
    }
  }
  return ips;
}

/** wrk's Lua script: the same 100,000 client IPs as clientIps(), one per request, in order. */
export const STACK_WRK_SCRIPT = xffScript(
  100_000,
  `if i % 20 == 19 then
    ips[i + 1] = string.format("150.%d.%d.%d", band(rshift(i, 8), 255), band(i, 255), 1 + (i % 250))
  else
    local k = i % ${CIDRS}
    ips[i + 1] = string.format("%d.%d.%d.%d", 20 + rshift(k, 8), band(k, 255), band(rshift(i, 4), 255), 1 + (i % 250))
  end`,
);
