/** Small helpers over policy rules. */
export type PolicyRule = string | { cidr: string; except?: readonly string[] | undefined } | { list: string };

/** `10.0.0.0/8`, `10.0.0.0/8 except 10.1.0.0/16`, `list partners`. */
export function describeRule(rule: PolicyRule): string {
  if (typeof rule === 'string') return rule;
  if ('list' in rule) return `list ${rule.list}`;
  return rule.except?.length ? `${rule.cidr} except ${rule.except.join(', ')}` : rule.cidr;
}
