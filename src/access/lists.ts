/**
 * Named IP lists, shared by every stage that takes rules (`{ list: 'partners' }` in access rules
 * and rate-limit tiers).
 *
 * A list is inline (rules in the options) or file-backed (one rule a line). File-backed lists are
 * hot reloaded through `watchFileContent`, which survives Kubernetes ConfigMap `..data` symlink
 * swaps and rename-over writes. A reload builds the new matcher completely, then swaps one
 * reference: requests in flight see the old list or the new one, never a mix. A file that does
 * not parse keeps the old list, and the failure is reported (callback + counter).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { ConfigError, IssueCollector } from '../errors.js';
import { isValidListDefinition, ipListsOptionsSpec, listsSpec } from './spec.js';
import { LIST_NAME } from '../spec/common.js';
import { parsePath, pathToString } from '../spec/paths.js';
import { checkOptions } from '../spec/spec.js';
import type { IpLists, IpLookup } from '../types.js';
import { compileRanges, matcherFromRanges, type IpMatcher, type IpRule } from '../core/cidr.js';
import type { IpKind } from '../core/ip.js';
import { WarningEmitter } from '../core/warnings.js';
import { watchFileContent, type FileWatcher } from '../core/watch.js';

export type {
  IpListDefinition,
  IpListDefinitions,
  IpListFile,
  IpListInline,
  IpListsOptions,
} from './spec.js';
import type { IpListDefinition, IpListDefinitions, IpListFile, IpListsOptions } from './spec.js';

/** Why a reload of a file-backed list was rejected. */
export interface IpListReloadError {
  /** The list's name. */
  readonly list: string;
  /** The file's absolute path. */
  readonly file: string;
  /** What went wrong (unreadable file, invalid line with its number, empty file). */
  readonly error: Error;
}

/** A successful reload. */
export interface IpListReloadEvent {
  readonly list: string;
  readonly file: string;
  /** Number of rules in the new version. */
  readonly rules: number;
  /** Number of disjoint address ranges after merging. */
  readonly ranges: number;
}

/** Per-list counters and facts, from {@link ManagedIpLists.stats}. */
export interface IpListStats {
  readonly name: string;
  readonly source: 'inline' | 'file';
  /** Absolute path, for file-backed lists. */
  readonly file: string | undefined;
  /** Rules in the version in use. */
  readonly rules: number;
  /** Disjoint ranges in the version in use. */
  readonly ranges: number;
  /** Successful reloads since creation. */
  readonly reloads: number;
  /** Rejected reloads since creation (the old version stayed in use). */
  readonly reloadErrors: number;
  /** Message of the most recent rejected reload, cleared by a successful one. */
  readonly lastError: string | undefined;
  /** When the version in use was loaded (ms since the epoch). */
  readonly loadedAt: number;
}

/** {@link IpLists} plus reload control and counters. */
export interface ManagedIpLists extends IpLists {
  /** Counters for every list, in definition order. */
  stats(): IpListStats[];
  /** Total rejected reloads over all lists. */
  readonly reloadErrors: number;
  /** Re-reads file-backed lists now (all, or the named one); resolves when done. */
  reload(name?: string): Promise<void>;
}

/** Parsed list file: the rules and the line each came from. */
interface ParsedFile {
  rules: string[];
  lines: number[];
}

function parseListText(text: string): ParsedFile {
  const rules: string[] = [];
  const lines: number[] = [];
  // Strip a UTF-8 byte order mark; accept CRLF line ends.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const all = body.split('\n');
  for (let i = 0; i < all.length; i++) {
    let line = all[i]!;
    const hash = line.indexOf('#');
    if (hash >= 0) line = line.slice(0, hash);
    line = line.trim();
    if (line === '') continue;
    rules.push(line);
    lines.push(i + 1);
  }
  return { rules, lines };
}

/**
 * Compiles a list file's text. Returns the matcher, or the problems (with line numbers) as
 * messages.
 */
export function compileListText(
  text: string,
  options: { allowEmpty?: boolean } = {},
): { matcher: IpMatcher; rules: number } | { problems: string[] } {
  const parsed = parseListText(text);
  if (parsed.rules.length === 0 && options.allowEmpty !== true) {
    return {
      problems: ['the file has no rules (set allowEmpty: true if an empty list is intended)'],
    };
  }
  const issues = new IssueCollector();
  const ranges = compileRanges(parsed.rules, '', issues);
  if (!issues.ok) {
    return {
      problems: issues.issues.map((issue) => {
        const m = /^\[(\d+)\]/.exec(issue.path);
        const line = m ? parsed.lines[Number(m[1])] : undefined;
        return `${line === undefined ? '' : `line ${line}: `}${issue.message}`;
      }),
    };
  }
  return { matcher: matcherFromRanges(ranges), rules: parsed.rules.length };
}

/**
 * The live lookup for one list. Stages keep this object; a reload replaces `current`, so every
 * later lookup sees the new version.
 */
class LiveList implements IpLookup {
  current: IpMatcher;
  rules: number;
  reloads = 0;
  reloadErrors = 0;
  lastError: string | undefined = undefined;
  loadedAt = Date.now();
  watcher: FileWatcher | undefined = undefined;
  /** Content of the version in use (file-backed lists). */
  lastText = '';
  /** Compiles and swaps in new content; throws when it is rejected. */
  apply: (content: string) => void = () => {};
  /** Records a rejected reload. */
  fail: (error: Error) => void = () => {};

  constructor(
    readonly name: string,
    readonly file: string | undefined,
    matcher: IpMatcher,
    rules: number,
  ) {
    this.current = matcher;
    this.rules = rules;
  }

  has(address: string): boolean {
    return this.current.has(address);
  }

  hasParsed(kind: IpKind, words: Uint32Array): boolean {
    return this.current.hasParsed(kind, words);
  }
}

/** A changed list file was rejected (docs/errors.md): once per list until it reloads again. */
const WRN_LIST_RELOAD = 'WRN_REALIP_LIST_RELOAD_FAILED';

function isFileDef(def: IpListDefinition): def is IpListFile {
  return typeof def === 'object' && def !== null && !Array.isArray(def) && 'file' in def;
}

/**
 * Creates named IP lists. Every definition is validated and every file read at construction; all
 * problems are thrown together as one {@link ConfigError}. File-backed lists are then watched
 * (unless `watch: false`); call `close()` to stop watching.
 *
 * @example
 * const lists = createIpLists({
 *   partners: ['203.0.113.0/24', '2001:db8:1::/48'],
 *   blocked: { file: '/etc/realip/blocked.txt' },
 * });
 * app.use(ipFilter({ lists, deny: [{ list: 'blocked' }] }));
 */
export function createIpLists(definitions: IpListDefinitions, options: IpListsOptions = {}): ManagedIpLists {
  const path = typeof options?.path === 'string' ? options.path : 'lists';
  // Names, shapes and inline rules are checked by the spec; files are read below, so a broken
  // file is reported together with every other problem.
  const issues = new IssueCollector();
  for (const issue of [
    ...checkOptions(ipListsOptionsSpec, options ?? {}, ''),
    ...checkOptions(listsSpec, definitions, path),
  ]) {
    issues.add(issue.path, issue.message, issue.code);
  }
  const lists = new Map<string, LiveList>();
  // Without onReloadError: a process warning per list, until it reloads again.
  const warnings = new WarningEmitter();
  if (definitions === null || typeof definitions !== 'object' || Array.isArray(definitions)) {
    issues.throwIfAny();
  }
  const base = parsePath(path);
  for (const name of Object.keys(definitions)) {
    const def = definitions[name]!;
    if (!LIST_NAME.test(name)) continue;
    if (isFileDef(def)) {
      if (typeof def.file !== 'string' || def.file === '') continue;
      const at = pathToString([...base, name, 'file']);
      const file = resolvePath(def.file);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        issues.add(at, `cannot read ${file}: ${(error as Error).message}`, 'ERR_REALIP_LIST_FILE');
        continue;
      }
      const compiled = compileListText(text, { allowEmpty: def.allowEmpty === true });
      if ('problems' in compiled) {
        for (const p of compiled.problems) issues.add(at, `${file}: ${p}`, 'ERR_REALIP_LIST_FILE');
        continue;
      }
      if (!issues.ok) continue; // nothing is built when anything is wrong
      const list = new LiveList(name, file, compiled.matcher, compiled.rules);
      lists.set(name, list);
      const allowEmpty = def.allowEmpty === true;
      list.apply = (content) => {
        const next = compileListText(content, { allowEmpty });
        if ('problems' in next) throw new Error(next.problems.join('; '));
        // Swap: the matcher is complete before anyone can see it.
        list.current = next.matcher;
        list.rules = next.rules;
        list.reloads++;
        list.lastError = undefined;
        warnings.forget(name);
        list.loadedAt = Date.now();
        list.lastText = content;
        options.onReload?.({ list: name, file, rules: next.rules, ranges: next.matcher.rangeCount });
      };
      list.fail = (error) => {
        list.reloadErrors++;
        list.lastError = error.message;
        const event: IpListReloadError = { list: name, file, error };
        if (options.onReloadError) {
          try {
            options.onReloadError(event);
          } catch {
            // A throwing callback must not break the watcher.
          }
        } else {
          warnings.emit(
            WRN_LIST_RELOAD,
            `realip: list "${name}" (${file}) was not reloaded, the previous version stays in use: ${error.message}`,
            name,
          );
        }
      };
      list.lastText = text;
      if (def.watch !== false) {
        list.watcher = watchFileContent(file, text, (content) => list.apply(content.toString('utf8')), {
          ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
          ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
          onError: (error) => list.fail(error),
        });
      }
      continue;
    }
    if (!isValidListDefinition(def)) continue; // reported by the spec
    const rules = Array.isArray(def) ? def : (def as { rules: readonly IpRule[] }).rules;
    const ranges = compileRanges(rules, '', new IssueCollector());
    lists.set(name, new LiveList(name, undefined, matcherFromRanges(ranges), rules.length));
  }
  if (!issues.ok) {
    for (const l of lists.values()) l.watcher?.close();
    throw new ConfigError(issues.issues);
  }
  const names = [...lists.keys()];
  return {
    get: (name) => lists.get(name),
    names: () => names.slice(),
    get reloadErrors() {
      let n = 0;
      for (const l of lists.values()) n += l.reloadErrors;
      return n;
    },
    stats: () =>
      [...lists.values()].map((l) => ({
        name: l.name,
        source: l.file === undefined ? 'inline' : 'file',
        file: l.file,
        rules: l.rules,
        ranges: l.current.rangeCount,
        reloads: l.reloads,
        reloadErrors: l.reloadErrors,
        lastError: l.lastError,
        loadedAt: l.loadedAt,
      })),
    reload: async (name) => {
      const targets =
        name === undefined ? [...lists.values()] : [lists.get(name)].filter((l) => l !== undefined);
      await Promise.all(targets.map((l) => (l.watcher ? l.watcher.check() : manualReload(l))));
    },
    close: () => {
      for (const l of lists.values()) l.watcher?.close();
    },
  };
}

/** Reload of a list that is not watched (`watch: false`): read, compare, apply. */
async function manualReload(list: LiveList): Promise<void> {
  if (list.file === undefined) return;
  let text: string;
  try {
    text = await readFile(list.file, 'utf8');
  } catch (error) {
    list.fail(error as Error);
    return;
  }
  if (text === list.lastText) return;
  try {
    list.apply(text);
  } catch (error) {
    list.fail(error as Error);
  }
}

/** True when `value` looks like an {@link IpLists} instance rather than definitions. */
