/**
 * What a policy names but does not hold: secrets in environment variables and files (keys,
 * certificates), read when a stack is built. A missing one is reported as a policy problem at the
 * key that names it.
 */
import { readFileSync } from 'node:fs';
import type { ConfigIssue } from '../errors.js';

/** Where problems go (the stack's stage errors). */
export interface IssueSink {
  readonly issues: ConfigIssue[];
}

/** The value of environment variable `name`, or undefined with the problem reported at `path`. */
export function secretFromEnv(name: string, path: string, errors: IssueSink): string | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') {
    errors.issues.push({
      path,
      message: `environment variable ${name} is not set (got nothing, expected the secret in ${name})`,
      code: 'ERR_REALIP_POLICY_SECRET',
    });
    return undefined;
  }
  return value;
}

/** A file the policy names (key, certificate), or undefined with the problem reported at `path`. */
export function readPolicyFile(file: string, path: string, errors: IssueSink): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    errors.issues.push({
      path,
      message: `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      code: 'ERR_REALIP_POLICY_FILE',
    });
    return undefined;
  }
}
