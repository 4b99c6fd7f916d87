/**
 * Files a policy refers to: list files (one rule per line, `#` comments), GeoIP databases (and the
 * embedded `@ip-location-db` one), HMAC key files, Redis TLS certificates and keys. Checked when a
 * policy is loaded from disk, so `realip check` catches a missing or broken list before a deployment
 * does.
 */
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IssueCollector } from '../errors.js';
import { compileRanges } from '../core/cidr.js';
import type { Problem } from '../spec/issues.js';
import { EMBEDDED_GEO, REDIS_TLS_FILES, type Policy } from './schema.js';

/** The package holding the embedded country database (CC BY 4.0 data by the NRO, via ip-location-db). */
export const EMBEDDED_GEO_PACKAGE = '@ip-location-db/geo-whois-asn-country-mmdb';
const EMBEDDED_GEO_FILE = 'geo-whois-asn-country.mmdb';

/**
 * The path of the embedded country MMDB, or undefined when its package is not installed (it is a
 * development dependency of realip: `npm install @ip-location-db/geo-whois-asn-country-mmdb`).
 */
export function embeddedGeoDatabase(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve(`${EMBEDDED_GEO_PACKAGE}/package.json`)), EMBEDDED_GEO_FILE);
  } catch {
    return undefined;
  }
}

/** Maps a policy's database entry to a file path (`embedded` to the package's file). */
export function geoDatabasePath(entry: string): string | undefined {
  return entry === EMBEDDED_GEO ? embeddedGeoDatabase() : entry;
}

/** One rule per line; `#` starts a comment; blank lines are skipped. */
export function parseListText(text: string): { rules: string[]; lines: number[] } {
  const rules: string[] = [];
  const lines: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (line) {
      rules.push(line);
      lines.push(i + 1);
    }
  });
  return { rules, lines };
}

/** Reads and compiles a list file; problems name the file's own line. */
export async function checkListFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return [`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`];
  }
  const { rules, lines } = parseListText(text);
  const issues = new IssueCollector();
  compileRanges(rules, '', issues);
  return issues.issues.map((issue) => {
    const m = /^\[(\d+)\]/.exec(issue.path);
    const line = m ? lines[Number(m[1])] : undefined;
    return `${path}${line ? `:${line}` : ''}: ${issue.message}`;
  });
}

async function readable(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.R_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  }
}

/** Checks every file a (schema-valid, paths resolved) policy refers to. */
export async function checkPolicyFiles(policy: Policy): Promise<Problem[]> {
  const out: Problem[] = [];
  for (const [name, list] of Object.entries(policy.lists ?? {})) {
    if (!('file' in list)) continue;
    for (const message of await checkListFile(list.file)) {
      out.push({ path: ['lists', name, 'file'], message, code: 'ERR_REALIP_CIDR_INVALID' });
    }
  }
  const dbs = policy.geo?.databases ?? [];
  for (let i = 0; i < dbs.length; i++) {
    const db = dbs[i]!;
    const entry = typeof db === 'string' ? db : db.path;
    const path = geoDatabasePath(entry);
    if (path === undefined) {
      out.push({
        path: ['geo', 'databases', i],
        message: `the embedded database is not installed (got "embedded", expected the ${EMBEDDED_GEO_PACKAGE} package: npm install ${EMBEDDED_GEO_PACKAGE})`,
        code: 'ERR_REALIP_POLICY_FILE',
      });
      continue;
    }
    const problem = await readable(path);
    if (problem) {
      out.push({
        path: ['geo', 'databases', i],
        message: `cannot read ${path} (${problem})`,
        code: 'ERR_REALIP_POLICY_FILE',
      });
    }
  }
  const files: Array<[string | undefined, Problem['path']]> = [
    [policy.log?.hmacKeyFile, ['log', 'hmacKeyFile']],
  ];
  const tls = policy.rateLimit?.redis?.tls;
  for (const k of REDIS_TLS_FILES) files.push([tls?.[k], ['rateLimit', 'redis', 'tls', k]]);
  for (const [file, path] of files) {
    if (!file) continue;
    const problem = await readable(file);
    if (problem)
      out.push({ path, message: `cannot read ${file} (${problem})`, code: 'ERR_REALIP_POLICY_FILE' });
  }
  return out;
}
