/**
 * `realip check policy.yaml [...]`: validates policy files and prints every problem as
 * `file:line: path: message`. Exit 0 when all are valid, 2 otherwise (or for bad arguments).
 */
import { parseArgs } from 'node:util';
import { checkPolicyFile, policySource } from '../policy/parse.js';
import { formatPolicyIssue } from '../policy/errors.js';
import { describePolicy } from '../policy/describe.js';
import { PolicyError, type PolicyIssue } from '../policy/errors.js';
import type { Policy } from '../policy/schema.js';

const SILENT = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * Builds every stage of a valid policy without serving, connecting to Redis or writing logs, so
 * problems only a stage can see (a preset that needs your proxies, an unreadable MMDB) are
 * reported by `check` too, at their line.
 */
async function stageIssues(policy: Policy): Promise<PolicyIssue[]> {
  const { createStackInternal } = await import('../policy/stack.js');
  try {
    const stack = await createStackInternal(policy, { logger: SILENT, onWarning: () => {} }, false, true);
    await stack.close();
    return [];
  } catch (error) {
    if (error instanceof PolicyError) return [...error.issues];
    throw error;
  }
}

/**
 * `--connect`: builds the stack for real and waits up to `timeoutMs` for its Redis connection.
 * Returns the problems (the client's own connection errors), none when it connected or the policy
 * has no Redis store.
 */
async function connectIssues(policy: Policy, file: string, timeoutMs: number): Promise<PolicyIssue[]> {
  const { createStackInternal } = await import('../policy/stack.js');
  let stack: Awaited<ReturnType<typeof createStackInternal>>;
  try {
    stack = await createStackInternal(policy, { logger: SILENT, onWarning: () => {} }, false);
  } catch (error) {
    if (error instanceof PolicyError) return [...error.issues];
    throw error;
  }
  try {
    const deadline = Date.now() + timeoutMs;
    let status = stack.pipeline.redisStatus();
    while (status !== undefined && !status.ready && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      status = stack.pipeline.redisStatus();
    }
    if (status === undefined || status.ready) return [];
    const at = policySource(policy)?.locate(['rateLimit', 'redis']);
    return [
      {
        file: at?.file ?? file,
        line: at?.line ?? 0,
        column: at?.column ?? 0,
        path: 'rateLimit.redis',
        message: `not connected within ${timeoutMs / 1000} s (${status.errors.length > 0 ? status.errors.join('; ') : 'no error reported'})`,
        code: 'ERR_REALIP_POLICY_REDIS',
      },
    ];
  } finally {
    await stack.close();
  }
}

const HELP = `Usage: realip check [--json] [--quiet] [--connect] <policy.yaml> [more.yaml ...]

Validates policy files (YAML or JSON) and the files they refer to (lists, GeoIP databases), then
builds every stage (without serving or connecting) so stage-level problems are found too.
Prints every problem as file:line: path: message. Exit code 0 when all are valid, 2 otherwise.

Options:
  --json          print { file, valid, issues, summary } objects, one per line
  --quiet         print problems only
  --schema-only   skip building the stages (no GeoIP database is opened)
  --connect       also connect to the policy's Redis (rateLimit.redis, secrets from the environment)
                  and report why it fails: run it where the sidecar runs
  --timeout S     how long --connect waits for Redis (default 5 s)
  -h, --help`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        'schema-only': { type: 'boolean' },
        connect: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`realip check: ${(error as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (parsed.positionals.length === 0) {
    process.stderr.write(`realip check: no policy file given\n\n${HELP}\n`);
    return 2;
  }
  const timeout = parsed.values.timeout === undefined ? 5 : Number(parsed.values.timeout);
  if (!(timeout > 0 && timeout <= 300)) {
    process.stderr.write(
      `realip check: --timeout: expected seconds from 0 to 300 (got "${parsed.values.timeout}")\n`,
    );
    return 2;
  }
  let ok = true;
  for (const file of parsed.positionals) {
    const check = await checkPolicyFile(file);
    if (check.policy && !parsed.values['schema-only']) {
      let issues = await stageIssues(check.policy);
      if (issues.length === 0 && parsed.values.connect)
        issues = await connectIssues(check.policy, file, timeout * 1000);
      if (issues.length > 0) {
        check.issues = issues;
        check.policy = undefined;
      }
    }
    const valid = check.policy !== undefined;
    ok &&= valid;
    if (parsed.values.json) {
      process.stdout.write(
        JSON.stringify({
          file,
          valid,
          issues: check.issues,
          ...(check.policy ? { summary: describePolicy(check.policy) } : {}),
        }) + '\n',
      );
      continue;
    }
    if (!valid) {
      for (const issue of check.issues) process.stderr.write(formatPolicyIssue(issue) + '\n');
      process.stderr.write(
        `${file}: ${check.issues.length} problem${check.issues.length === 1 ? '' : 's'}\n`,
      );
    } else if (!parsed.values.quiet) {
      process.stdout.write(
        `${file}: OK\n${describePolicy(check.policy!)
          .map((l) => `  ${l}\n`)
          .join('')}`,
      );
    }
  }
  return ok ? 0 : 2;
}
