/**
 * Hot reload of the policy itself. The file is watched with `watchFileContent` (ConfigMap symlink
 * swaps, renames, a poll as a backstop); each new version is parsed, validated and its files
 * checked, then handed to `onChange` (which builds and swaps the stack, and may itself reject
 * the policy by throwing). Anything wrong keeps the running policy, reports one event
 * (`policy-reload-failed`) and counts a failure; nothing is half-applied.
 */
import { readFileSync } from 'node:fs';
import { createEvent, writeEventLine, type EventHandler } from '../core/events.js';
import { watchFileContent, type FileWatcher } from '../core/watch.js';
import { PolicyError, formatPolicyIssue } from './errors.js';
import { checkPolicyFiles } from './files.js';
import { checkPolicyText, mapConfigError } from './parse.js';
import type { Policy } from './schema.js';

/** A logger-like sink (pino, console). */
export interface PolicyLogger {
  info(obj: object, msg?: string): void;
  /** Used for `warn` events when present (else `error`). */
  warn?(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PolicyWatchOptions {
  /** Applies a new, valid policy; throw to reject it (the old one stays). */
  onChange(policy: Policy): void | Promise<void>;
  /** Called with the error when a new version is rejected (after it is logged and counted). */
  onError?: (error: Error) => void;
  /**
   * Receives `policy-reloaded`, `policy-reload-failed` and `policy-watch-error` events (see
   * docs/sidecar.md, "Logs"). Takes precedence over `logger`.
   * @default `logger` when given, else a JSON line on stderr (`time`, `level`, `event`, fields)
   */
  onEvent?: EventHandler;
  /** Where reloads and rejections are logged (the event's fields, and a message), without `onEvent`. */
  logger?: PolicyLogger;
  /** The content already applied (so it is not delivered again). @default the file as it is now */
  initial?: string | Buffer;
  /** Backstop poll interval. @default 2000 */
  pollMs?: number;
  /** @default 100 */
  debounceMs?: number;
}

/** Reload counters (also exported as metrics by the stack). */
export interface PolicyReloadStats {
  /** New versions applied. */
  readonly reloads: number;
  /** New versions rejected (invalid, or refused by `onChange`). */
  readonly failures: number;
  /** Epoch ms of the last applied version (0 until one is applied). */
  readonly lastReloadAt: number;
  /** The last rejection's message, or undefined after a success. */
  readonly lastError: string | undefined;
}

export interface PolicyWatcher extends FileWatcher {
  stats(): PolicyReloadStats;
}

/** Where the watcher's events go: `onEvent`, else `logger` (with a message), else stderr. */
function eventSink(options: PolicyWatchOptions): (name: string, fields: object, msg: string) => void {
  const { onEvent, logger } = options;
  if (onEvent !== undefined) return (name, fields) => onEvent(createEvent(name, { ...fields }));
  if (logger !== undefined) {
    return (name, fields, msg) => {
      const e = createEvent(name, { ...fields });
      const { level: _level, ...obj } = e;
      if (e.level === 'info') logger.info(obj, msg);
      else if (e.level === 'warn' && logger.warn !== undefined) logger.warn(obj, msg);
      else logger.error(obj, msg);
    };
  }
  return (name, fields) => writeEventLine(createEvent(name, { ...fields }));
}

/** Watches a policy file and applies every valid new version. */
export function watchPolicyFile(path: string, options: PolicyWatchOptions): PolicyWatcher {
  const report = eventSink(options);
  let reloads = 0;
  let failures = 0;
  let lastReloadAt = 0;
  let lastError: string | undefined;

  const reject = (error: Error) => {
    failures++;
    lastError = error.message;
    const problems = error instanceof PolicyError ? error.issues.map(formatPolicyIssue) : [error.message];
    report(
      'policy-reload-failed',
      { file: path, problems, count: failures },
      'policy reload rejected; the previous policy stays in force',
    );
    options.onError?.(error);
  };

  const apply = async (content: Buffer): Promise<void> => {
    const check = checkPolicyText(content.toString('utf8'), { filename: path });
    let policy = check.policy;
    let issues = check.issues;
    if (policy) {
      const problems = await checkPolicyFiles(policy);
      if (problems.length > 0) {
        issues = problems.map((p) => ({
          ...check.locate(p.path),
          message: p.message,
          code: p.code ?? 'ERR_REALIP_POLICY_FILE',
        }));
        policy = undefined;
      }
    }
    if (!policy) {
      reject(new PolicyError(issues));
      return;
    }
    try {
      await options.onChange(policy);
    } catch (error) {
      const mapped = mapConfigError(error, check);
      reject(mapped instanceof Error ? mapped : new Error(String(mapped)));
      return;
    }
    reloads++;
    lastReloadAt = Date.now();
    lastError = undefined;
    report('policy-reloaded', { file: path, count: reloads }, 'policy reloaded');
  };

  const watcher = watchFileContent(path, options.initial ?? readNow(path), apply, {
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
    // A missing file (mid-swap, deleted) keeps the policy; it is not a rejected version.
    onError: (error) =>
      report('policy-watch-error', { file: path, error: error.message }, 'policy file unreadable'),
  });

  return {
    check: watcher.check,
    close: watcher.close,
    stats: () => ({ reloads, failures, lastReloadAt, lastError }),
  };
}

function readNow(path: string): Buffer {
  // Synchronous on purpose: called once at start, before serving. A missing file compares as
  // empty, so the first readable version is delivered.
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}
