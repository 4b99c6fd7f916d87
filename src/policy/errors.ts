/**
 * Policy problems, with their place in the file: `policy.yaml:12: rateLimit.tiers[0].limits[0].points:
 * too small (got 0, expected an integer >= 1)`.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';

/** One problem in a policy file. */
export interface PolicyIssue extends ConfigIssue {
  /** The file (as given to `parsePolicy`/`loadPolicyFile`), or `<policy>` for text without a name. */
  readonly file: string;
  /** 1-based line, 0 when the problem has no place in the file (e.g. the file is empty). */
  readonly line: number;
  /** 1-based column, 0 when unknown. */
  readonly column: number;
}

/** Formats an issue as `file:line: path: message`. */
export function formatPolicyIssue(issue: PolicyIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}` : issue.file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/**
 * An invalid policy: every problem found, each with its file position. `message` holds one
 * `file:line: path: message` line per problem, ready to print.
 */
export class PolicyError extends ConfigError {
  declare readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    super(issues);
    this.name = 'PolicyError';
    this.message = issues.map(formatPolicyIssue).join('\n');
  }
}

export { pathToString, parsePath, type PathSegment } from '../spec/paths.js';
