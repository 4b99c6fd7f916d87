import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { PolicyError, loadPolicyFile, parsePolicy } from '../../src/policy/index.js';
import { checkPolicyFile, checkPolicyText, mapConfigError } from '../../src/policy/parse.js';
import { formatPolicyIssue } from '../../src/policy/errors.js';

const lines = (text: string) => checkPolicyText(text, { filename: 'p.yaml' }).issues.map(formatPolicyIssue);

describe('parsePolicy: one problem per case, at its line', () => {
  it.each([
    // [policy text, expected line]
    [
      'resolve:\n  trustedProxy: [10.0.0.0/8]\n',
      'p.yaml:2: resolve.trustedProxy: unknown key (expected one of trustedProxies, header, hops, preset, maxEntries, maxHeaderBytes, allowTrustAll, nodeCidrs); did you mean "trustedProxies"?',
    ],
    [
      'resolve:\n  trustedProxies:\n    - 10.0.0.0/8\n    - 10.0.0/8\n',
      'p.yaml:4: resolve.trustedProxies[1]: invalid address "10.0.0" in "10.0.0/8"',
    ],
    [
      'resolve:\n  trustedProxies: 10.0.0.0/8\n',
      'p.yaml:2: resolve.trustedProxies: wrong type (got "10.0.0.0/8", expected a list; write it as [10.0.0.0/8]',
    ],
    [
      'resolve:\n  trustedProxies: [0.0.0.0/0]\n',
      'p.yaml:2: resolve.trustedProxies[0]: trusts every address',
    ],
    ['resolve:\n  hops: 0\n', 'p.yaml:2: resolve.hops: too small (got 0, expected a number >= 1)'],
    [
      'resolve:\n  preset: cloudflar\n',
      'p.yaml:2: resolve.preset: unknown preset (got "cloudflar", expected one of cloudflare,',
    ],
    [
      'resolve:\n  preset: { name: cloudflare, requireHeader: { name: x-token } }\n',
      'p.yaml:2: resolve.preset.requireHeader: needs exactly one of value or valueEnv (got neither)',
    ],
    [
      'access:\n  allow:\n    - { list: partnerz }\nlists:\n  partners: [203.0.113.0/24]\n',
      'p.yaml:3: access.allow[0].list: unknown list (got "partnerz", expected one of partners)',
    ],
    [
      'access:\n  deny:\n    - cidr: 10.0.0.0/8\n      except: [192.168.1.0/24]\n',
      'p.yaml:4: access.deny[0].except[0]: "192.168.1.0/24" is not inside the block\'s cidr 10.0.0.0/8',
    ],
    [
      'access:\n  deny:\n    - { cidr: 10.0.0.0/8, exept: [10.1.0.0/16] }\n',
      'p.yaml:3: access.deny[0].exept: unknown key (expected one of cidr, except); did you mean "except"?',
    ],
    [
      'access:\n  countries: { allow: [DE] }\n',
      'p.yaml:2: access.countries: country rules need a GeoIP database',
    ],
    [
      'access:\n  exempt: [/healthz/../admin]\n',
      'p.yaml:2: access.exempt[0]: invalid path "/healthz/../admin"',
    ],
    [
      'access:\n  undeterminable: maybe\n',
      'p.yaml:2: access.undeterminable: not a valid value (got "maybe", expected one of "deny", "allow")',
    ],
    [
      'rateLimit:\n  tiers: []\n',
      'p.yaml:2: rateLimit.tiers: too few entries (got 0, expected at least 1 entry)',
    ],
    [
      'rateLimit:\n  tiers:\n    - name: a\n      limits:\n        - points: 10\n',
      'p.yaml:5: rateLimit.tiers[0].limits[0].duration: missing (expected a number)',
    ],
    [
      'rateLimit:\n  tiers:\n    - name: a\n      limits: [{ points: 1.5, duration: 1 }]\n',
      'p.yaml:4: rateLimit.tiers[0].limits[0].points: not a whole number (got 1.5, expected an integer)',
    ],
    [
      'rateLimit:\n  tiers:\n    - { name: a, limits: [{ points: 1, duration: 1 }] }\n    - { name: b, match: [private], limits: [{ points: 1, duration: 1 }] }\n',
      'p.yaml:4: rateLimit.tiers[1].name: unreachable tier',
    ],
    [
      'rateLimit:\n  tiers:\n    - { name: a, match: [private], limits: [{ points: 1, duration: 1 }] }\n    - { name: a, limits: [{ points: 1, duration: 1 }] }\n',
      'p.yaml:4: rateLimit.tiers[1].name: duplicate tier name (got "a", expected a name not used by tiers[0])',
    ],
    [
      'rateLimit:\n  store: redis\n  tiers: [{ name: a, limits: [{ points: 1, duration: 1 }] }]\n',
      'p.yaml:2: rateLimit.store: store: redis needs a connection',
    ],
    [
      'rateLimit:\n  store: redis\n  redis: { url: "redis://x" }\n  tiers: [{ name: a, limits: [{ points: 1, duration: 0.5 }] }]\n',
      'p.yaml:4: rateLimit.tiers[0].limits[0].duration: not a whole number of seconds (got 0.5',
    ],
    [
      'rateLimit:\n  redis: { url: "redis://x" }\n  tiers: [{ name: a, limits: [{ points: 1, duration: 1 }] }]\n',
      'p.yaml:2: rateLimit.redis: is set but unused',
    ],
    ['log:\n  anonymize: hmac\n', 'p.yaml:2: log.anonymize: hmac needs a key'],
    [
      'log:\n  hmacKeyEnv: KEY\n',
      'p.yaml:2: log.hmacKeyEnv: is only used with anonymize: hmac (got anonymize "none")',
    ],
    [
      'metrics:\n  enabled: yes\n',
      'p.yaml:2: metrics.enabled: wrong type (got "yes", expected true or false)',
    ],
    ['version: 2\n', 'p.yaml:1: version: not a valid value (got 2, expected 1)'],
    [
      'lists:\n  "bad name": [10.0.0.0/8]\n',
      'p.yaml:2: lists["bad name"]: invalid name (got "bad name", list names use',
    ],
    [
      'geo:\n  databases: []\n',
      'p.yaml:2: geo.databases: too few entries (got 0, expected at least 1 entry)',
    ],
    [
      'rsolve: {}\n',
      'p.yaml:1: rsolve: unknown key (expected one of $schema, version, lists, resolve, geo, access, rateLimit, log, metrics); did you mean "resolve"?',
    ],
  ])('%j', (text, expected) => {
    const got = lines(text);
    expect(got).toHaveLength(1);
    expect(got[0]).toContain(expected);
  });
});

describe('every problem at once', () => {
  const text = [
    'version: 1', // 1
    'resolve:', // 2
    '  trustedProxies: [10.0.0.0/8, 10.0.0/8, 0.0.0.0/0]', // 3
    '  hopz: 2', // 4
    'access:', // 5
    '  allow: [{ list: nope }]', // 6
    '  colour: blue', // 7
    'rateLimit:', // 8
    '  store: fixed', // 9
    '  tiers:', // 10
    '    - { name: a, limits: [{ points: 0, duration: 1 }] }', // 11
    '    - { name: a, match: [private], limits: [{ points: 1, duration: x }] }', // 12
    'metrics: { enabled: 1 }', // 13
  ].join('\n');

  it('reports each problem of each section, sorted by line, in one PolicyError', () => {
    let error: unknown;
    try {
      parsePolicy(text, { filename: 'all.yaml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as PolicyError;
    const got = e.issues.map((i) => `${i.line} ${i.path}`);
    expect(got).toEqual([
      '3 resolve.trustedProxies[1]',
      '3 resolve.trustedProxies[2]',
      '4 resolve.hopz',
      '6 access.allow[0].list',
      '7 access.colour',
      '9 rateLimit.store',
      '11 rateLimit.tiers[0].limits[0].points',
      '12 rateLimit.tiers[1].name',
      '12 rateLimit.tiers[1].name',
      '12 rateLimit.tiers[1].limits[0].duration',
      '13 metrics.enabled',
    ]);
    // The message is ready to print: one `file:line: path: message` line per problem, no stack.
    expect(e.message.split('\n')).toHaveLength(11);
    expect(e.message.split('\n').every((l) => l.startsWith('all.yaml:'))).toBe(true);
    expect(e.issues.find((i) => i.path === 'resolve.trustedProxies[2]')?.code).toBe('ERR_REALIP_TRUST_ALL');
    expect(e.issues.find((i) => i.path === 'resolve.trustedProxies[1]')?.code).toBe(
      'ERR_REALIP_CIDR_INVALID',
    );
  });
});

describe('syntax and shape of the file', () => {
  it.each([
    ['a: [\n', 'p.yaml:2: YAML:'],
    ['resolve: {}\nresolve: {}\n', 'p.yaml:2: YAML: this key appears twice in the same mapping'],
    ['resolve: {}\n---\naccess: {}\n', 'YAML: a policy file holds one document'],
    ['resolve:\n\t- x\n', 'p.yaml:2: YAML:'],
    ['', 'p.yaml: empty policy'],
    ['# only a comment\n', 'p.yaml: empty policy'],
    ['- a\n- b\n', 'p.yaml:1: wrong type (got a list, expected a mapping'],
    ['42\n', 'p.yaml:1: wrong type (got 42, expected a mapping'],
  ])('%j', (text, expected) => {
    const got = lines(text);
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got[0]).toContain(expected);
  });

  it('reads JSON with positions', () => {
    const json = '{\n  "resolve": {\n    "trustedProxies": ["10.0.0.0/8", "nope"]\n  }\n}\n';
    expect(lines(json)).toEqual([
      expect.stringContaining('p.yaml:3: resolve.trustedProxies[1]: invalid address "nope"'),
    ]);
  });

  it('follows YAML anchors and aliases', () => {
    const text = 'lists:\n  a: &nets [10.0.0.0/8]\nresolve:\n  trustedProxies: *nets\n';
    expect(parsePolicy(text).resolve?.trustedProxies).toEqual(['10.0.0.0/8']);
  });

  it('refuses an alias bomb without hanging', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      );
    const got = lines(bomb.join('\n'));
    expect(got[0]).toContain('YAML:');
  });

  it('never shows secrets in messages', () => {
    const text =
      'rateLimit:\n  store: redis\n  redis: { url: 42 }\n  tiers: [{ name: a, limits: [{ points: 1, duration: 1 }] }]\n';
    expect(lines(text)[0]).toContain('rateLimit.redis.url: wrong type (got 42');
    const text2 =
      'resolve:\n  preset: { name: azure-front-door, requireHeader: { value: "" } }\n  trustedProxies: [10.0.0.0/8]\n';
    const msg = lines(text2).join('\n');
    expect(msg).toContain('resolve.preset.requireHeader.value');
    expect(msg).not.toContain('""');
  });
});

describe('the validated policy', () => {
  it('is normalised and frozen', () => {
    const policy = parsePolicy(
      [
        '$schema: ./policy.schema.json',
        'lists: { partners: { file: lists/p.txt } }',
        'resolve: { header: X-Real-IP, trustedProxies: [loopback] }',
        'geo: { databases: [embedded, db/country.mmdb, { path: /abs/asn.mmdb, fields: [asn, org] }] }',
        'access: { countries: { deny: [kp] } }',
        'rateLimit: { tiers: [{ name: eu, countries: [de, Fr], limits: [{ points: 1, duration: 1 }] }] }',
        'metrics: { countries: [de, Us] }',
        'log: { headers: [User-Agent], requestIdHeader: X-Request-Id }',
      ].join('\n'),
      { filename: '/etc/realip/policy.yaml' },
    );
    expect(policy.$schema).toBeUndefined();
    expect(policy.lists?.partners).toEqual({ file: '/etc/realip/lists/p.txt' });
    expect(policy.resolve?.header).toBe('x-real-ip');
    expect(policy.geo?.databases).toEqual([
      'embedded',
      '/etc/realip/db/country.mmdb',
      { path: '/abs/asn.mmdb', fields: ['asn', 'org'] },
    ]);
    expect(policy.access?.countries?.deny).toEqual(['KP']);
    expect(policy.rateLimit?.tiers[0]?.countries).toEqual(['DE', 'FR']);
    // these passed the schema in any case and then failed to build the stage
    expect(policy.metrics?.countries).toEqual(['DE', 'US']);
    expect(policy.log?.headers).toEqual(['user-agent']);
    expect(policy.log?.requestIdHeader).toBe('x-request-id');
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.rateLimit?.tiers[0]?.limits[0])).toBe(true);
  });

  it('resolves relative paths against baseDir when given', () => {
    const p = parsePolicy('lists: { a: { file: x.txt } }', { baseDir: '/srv' });
    expect(p.lists?.a).toEqual({ file: '/srv/x.txt' });
  });
});

describe('never a stack trace for user input', () => {
  it('checkPolicyText never throws and every issue has a place and a message (random YAML-ish text)', () => {
    const piece = fc.constantFrom(
      'resolve:',
      'access:',
      'rateLimit:',
      'tiers:',
      '  - ',
      'name: a',
      'limits:',
      'points: 1',
      'duration: x',
      'trustedProxies: [',
      ']',
      '{',
      '}',
      ': ',
      '- ',
      '10.0.0.0/8',
      '"',
      "'",
      '&a',
      '*a',
      '\n',
      '  ',
      '#',
      'lists:',
      '{ list: a }',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const r = checkPolicyText(parts.join(''), { filename: 'f.yaml' });
        expect(r.policy === undefined).toBe(r.issues.length > 0);
        for (const i of r.issues) {
          expect(i.message.length).toBeGreaterThan(0);
          expect(i.file).toBe('f.yaml');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('checkPolicyText never throws on random JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const r = checkPolicyText(JSON.stringify(value));
        for (const i of r.issues) expect(typeof formatPolicyIssue(i)).toBe('string');
      }),
      { numRuns: 300 },
    );
  });
});

describe('policy files on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realip-policy-'));
    await mkdir(join(dir, 'lists'));
    await writeFile(join(dir, 'lists', 'good.txt'), '# partners\n203.0.113.0/24\n\n2001:db8::/32 # v6\n');
    await writeFile(join(dir, 'lists', 'bad.txt'), '10.0.0.0/8\n# comment\n10.0.0/8\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a valid policy with its list files', async () => {
    const path = join(dir, 'ok.yaml');
    await writeFile(
      path,
      'lists:\n  partners: { file: lists/good.txt }\naccess:\n  allow: [{ list: partners }]\n',
    );
    const p = await loadPolicyFile(path);
    expect(p.lists?.partners).toEqual({ file: join(dir, 'lists', 'good.txt') });
  });

  it('points at the bad line of a list file and at the policy line that names it', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(
      path,
      'version: 1\nlists:\n  blocked:\n    file: lists/bad.txt\n  gone: { file: lists/missing.txt }\n',
    );
    const c = await checkPolicyFile(path);
    const got = c.issues.map(formatPolicyIssue);
    expect(got).toHaveLength(2);
    expect(got[0]).toMatch(
      new RegExp(
        `^${path}:4: lists\\.blocked\\.file: ${join(dir, 'lists', 'bad.txt')}:3: invalid address "10\\.0\\.0"`,
      ),
    );
    expect(got[1]).toMatch(
      new RegExp(`^${path}:5: lists\\.gone\\.file: cannot read .*missing\\.txt \\(ENOENT\\)`),
    );
  });

  it('reports an unreadable policy file and a missing GeoIP database', async () => {
    await expect(loadPolicyFile(join(dir, 'nope.yaml'))).rejects.toThrow(
      /nope\.yaml: cannot read the policy file \(ENOENT\)/,
    );
    const path = join(dir, 'geo.yaml');
    await writeFile(path, 'geo:\n  databases:\n    - missing.mmdb\n');
    await expect(loadPolicyFile(path)).rejects.toThrow(
      /geo\.yaml:3: geo\.databases\[0\]: cannot read .*missing\.mmdb \(ENOENT\)/,
    );
  });
});

describe('mapConfigError: stage constructor errors at their line', () => {
  const text =
    'resolve:\n  trustedProxies: [10.0.0.0/8]\nrateLimit:\n  tiers:\n    - name: a\n      limits:\n        - { points: 1, duration: 1 }\n';
  const check = checkPolicyText(text, { filename: 'p.yaml' });

  it.each([
    ['rateLimit.tiers[0].limits[0].points', undefined, 'p.yaml:7: rateLimit.tiers[0].limits[0].points: bad'],
    ['tiers[0].name', 'rateLimit', 'p.yaml:5: rateLimit.tiers[0].name: bad'],
    ['trustedProxies[0]', 'resolve', 'p.yaml:2: resolve.trustedProxies[0]: bad'],
    ['resolve.header', 'resolve', 'p.yaml:1: resolve.header: bad'],
  ])('%s (section %s)', (path, section, expected) => {
    const mapped = mapConfigError(new ConfigError([{ path, message: 'bad', code: 'ERR_X' }]), check, section);
    expect(mapped).toBeInstanceOf(PolicyError);
    expect((mapped as PolicyError).message).toBe(expected);
    expect((mapped as PolicyError).code).toBe('ERR_X');
  });

  it('passes other errors through', () => {
    const e = new Error('boom');
    expect(mapConfigError(e, check)).toBe(e);
  });
});
