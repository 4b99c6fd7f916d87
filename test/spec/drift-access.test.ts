import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { accessSpec, listDefinition } from '../../src/access/spec.js';
import { createAccessPolicy } from '../../src/access/access.js';
import { createIpLists } from '../../src/access/lists.js';
import { driftSuite, factoryVerdict, policyVerdict, type DriftStage } from './drift.js';

const partners = ['203.0.113.0/24'];

const access: DriftStage = {
  name: 'access',
  spec: accessSpec,
  base: {
    allow: ['10.0.0.0/8', { list: 'partners' }],
    deny: [{ cidr: '192.0.2.0/24', except: ['192.0.2.1'] }],
    countries: { allow: ['de'], deny: ['FR'] },
    unknownCountry: 'deny',
    exempt: ['/healthz', '/static/'],
    undeterminable: 'deny',
    exposeIp: false,
    exposeReason: false,
    problemType: 'about:blank',
  },
  // Code only: lists from createIpLists() or definitions (a policy has its `lists` section).
  skip: ['lists'],
  factory: (o) => createAccessPolicy({ ...o, lists: { partners } }).close(),
  // Country rules need a GeoIP database in a policy (a cross-section rule).
  policy: (o) => ({ version: 1, lists: { partners }, geo: { databases: ['embedded'] }, access: o }),
  factoryPath: 'access',
  policyPath: 'access',
};
driftSuite(access);

const file = join(mkdtempSync(join(tmpdir(), 'realip-drift-')), 'partners.txt');
writeFileSync(file, '203.0.113.0/24\n');

const list: DriftStage = {
  name: 'lists',
  spec: listDefinition,
  base: { file, watch: false, allowEmpty: false },
  factory: (o) => createIpLists({ p: o as never }).close(),
  policy: (o) => ({ version: 1, lists: { p: o } }),
  factoryPath: 'lists.p',
  policyPath: 'lists.p',
};
driftSuite(list);

describe('access and lists: values one copy accepted and the other refused now get one verdict', () => {
  it('a country both allowed and denied (the policy took it; the stage refused it when built)', () => {
    const o = { ...access.base, countries: { allow: ['de', 'US'], deny: ['DE'] } };
    expect({ factory: factoryVerdict(access, o), policy: policyVerdict(access, o) }).toEqual({
      factory: ['access.countries.allow'],
      policy: ['access.countries.allow'],
    });
  });

  it('an inline { rules } list with a stray key (the factory ignored it, the policy refused it)', () => {
    const o = { rules: ['10.0.0.0/8'], watch: true };
    expect({ factory: factoryVerdict(list, o), policy: policyVerdict(list, o) }).toEqual({
      factory: ['lists.p.watch'],
      policy: ['lists.p.watch'],
    });
  });

  it('a { list } reference with an invalid name (the factory said "unknown list", the policy "invalid")', () => {
    const o = { ...access.base, deny: [{ list: 'bad name' }] };
    expect({ factory: factoryVerdict(access, o), policy: policyVerdict(access, o) }).toEqual({
      factory: ['access.deny[0].list'],
      policy: ['access.deny[0].list'],
    });
  });

  it('a reference to an undefined list: one message in code and in a policy', () => {
    const o = { ...access.base, allow: [{ list: 'partner' }] };
    expect(() => access.factory(o)).toThrow(
      'access.allow[0].list: unknown list (got "partner", expected one of partners)',
    );
    expect(policyVerdict(access, o)).toEqual(['access.allow[0].list']);
  });

  it('country codes in any case, normalised to upper case both ways', () => {
    const p = createAccessPolicy({ countries: { deny: ['kp'] } });
    expect(p.decide('198.51.100.1', { country: 'KP' }).reason).toBe('country-deny');
    expect(policyVerdict(access, { countries: { deny: ['kp'] } })).toBeUndefined();
  });
});
