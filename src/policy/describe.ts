/**
 * A plain-language summary of a policy, printed by `realip check` and the demo, so a reader can
 * confirm the file says what they meant ("Local mode: no proxy is trusted").
 */
import { describeRule } from './rules.js';
import type { Policy, RateLimitTierPolicy } from './schema.js';

function limitText(l: { points: number; duration: number; burst?: number | undefined }): string {
  const per =
    l.duration === 1 ? 's' : l.duration === 60 ? 'min' : l.duration === 3600 ? 'h' : `${l.duration} s`;
  return `${l.points} r/${per}${l.burst !== undefined ? ` burst ${l.burst}` : ''}`;
}

function tierText(t: RateLimitTierPolicy, only: boolean): string {
  const who = [
    ...(t.match ? [t.match.map(describeRule).join(', ')] : []),
    ...(t.countries ? [`countries ${t.countries.join(', ')}`] : []),
  ];
  return `${t.name} (${who.length ? who.join('; ') : only ? 'every client' : 'every other client'}): ${t.limits.map(limitText).join(' and ')} per client`;
}

/** One line per stage. */
export function describePolicy(policy: Policy): string[] {
  const lines: string[] = [];
  const r = policy.resolve ?? {};
  const preset = typeof r.preset === 'string' ? r.preset : r.preset?.name;
  const trusted = r.trustedProxies ?? [];
  if (preset) {
    lines.push(
      `resolve: preset ${preset}${trusted.length ? ` plus ${trusted.map(describeRule).join(', ')}` : ''}${r.hops ? `, client at hop ${r.hops}` : ''}`,
    );
  } else if (trusted.length === 0 && !r.hops) {
    lines.push(
      'resolve: Local mode: no proxy is trusted; the socket peer is the client and forwarding headers are ignored',
    );
  } else {
    lines.push(
      `resolve: trusts ${trusted.length ? trusted.map(describeRule).join(', ') : 'no proxy (hop count only)'}; reads ${r.header ?? 'x-forwarded-for'}${r.hops ? `, client at hop ${r.hops} from the right` : ', walking right to left'}`,
    );
  }
  if (policy.geo)
    lines.push(
      `geo: ${policy.geo.databases
        .map((d) => (typeof d === 'string' ? d : d.path))
        .map((d) => (d === 'embedded' ? 'embedded country database' : d))
        .join(', ')}`,
    );
  const a = policy.access;
  const parts: string[] = [];
  if (a?.allow?.length) parts.push(`allow only ${a.allow.map(describeRule).join(', ')}`);
  if (a?.deny?.length) parts.push(`deny ${a.deny.map(describeRule).join(', ')}`);
  if (a?.countries?.allow?.length) parts.push(`countries allowed ${a.countries.allow.join(', ')}`);
  if (a?.countries?.deny?.length) parts.push(`countries denied ${a.countries.deny.join(', ')}`);
  if (a?.exempt?.length) parts.push(`exempt ${a.exempt.join(', ')}`);
  lines.push(
    `access: ${parts.length ? parts.join('; ') : 'everyone allowed'}; undeterminable clients ${(a?.undeterminable ?? 'deny') === 'deny' ? 'denied' : 'allowed'}`,
  );
  const rl = policy.rateLimit;
  if (rl) {
    lines.push(
      `rateLimit (${rl.store ?? 'memory'}): ${rl.tiers.map((t) => tierText(t, rl.tiers.length === 1)).join('; ')}`,
    );
  } else {
    lines.push('rateLimit: none');
  }
  const log = policy.log;
  lines.push(
    log?.enabled === false
      ? 'log: off'
      : `log: ${log?.level ?? 'info'}, addresses ${log?.anonymize && log.anonymize !== 'none' ? log.anonymize : 'in full'}, ${log?.fieldStyle ?? 'otel'} fields`,
  );
  lines.push(`metrics: ${policy.metrics?.enabled === false ? 'off' : 'on'}`);
  return lines;
}
