/**
 * Watches one file for content changes in a way that survives Kubernetes ConfigMap updates.
 *
 * A mounted ConfigMap is `file -> ..data/file` with `..data -> ..2026_11_27_...`; an update swaps
 * the `..data` symlink atomically, so a watch on the file's inode never fires. We watch the
 * *directory* (which sees the rename) and poll as a backstop, and we compare contents, not
 * events: every trigger re-reads the path through its symlinks and calls `onChange` only when the
 * bytes differ from the last ones delivered.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileWatchOptions {
  /** Backstop poll interval. @default 2000 */
  pollMs?: number;
  /** Coalesce bursts of events (a swap is several). @default 100 */
  debounceMs?: number;
  /** Called when the file cannot be read (missing, permissions). The last good content stays in use. */
  onError?: (error: Error) => void;
}

export interface FileWatcher {
  /** Re-reads now; resolves after `onChange` (if any) has run. */
  check(): Promise<void>;
  close(): void;
}

/**
 * Calls `onChange(content)` whenever the file's content changes. The initial content is NOT
 * delivered (load it yourself first and pass its bytes as `initial`). `onChange` may throw to
 * reject the new content (e.g. invalid); the watcher then reports it via `onError` and will
 * deliver the same bytes again only if they change.
 */
export function watchFileContent(
  path: string,
  initial: Buffer | string,
  onChange: (content: Buffer) => void | Promise<void>,
  options: FileWatchOptions = {},
): FileWatcher {
  const pollMs = options.pollMs ?? 2000;
  const debounceMs = options.debounceMs ?? 100;
  const digest = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  let last = digest(initial);
  // Identity of the file last read (through symlinks): polls skip the read and hash while it is
  // unchanged, which matters for large files such as a GeoIP City database.
  let lastStat = '';
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const run = async (): Promise<void> => {
    let content: Buffer;
    try {
      const st = await stat(path);
      const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      if (id === lastStat) return;
      content = await readFile(path);
      lastStat = id;
    } catch (error) {
      options.onError?.(error as Error);
      return;
    }
    const d = digest(content);
    if (d === last || closed) return;
    last = d;
    try {
      await onChange(content);
    } catch (error) {
      options.onError?.(error as Error);
    }
  };

  const check = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = run().finally(() => {
      running = undefined;
      if (again && !closed) {
        again = false;
        void check();
      }
    });
    return running;
  };

  const schedule = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void check();
    }, debounceMs);
    timer.unref();
  };

  let dirWatcher: FSWatcher | undefined;
  try {
    // ConfigMap swaps touch `..data`, not the file's own name, so any event in the directory
    // triggers a content check (cheap: one read and a hash).
    dirWatcher = watch(dirname(path), { persistent: false }, schedule);
    dirWatcher.on('error', (e) => options.onError?.(e));
  } catch (error) {
    options.onError?.(error as Error);
  }
  const poll = setInterval(() => void check(), pollMs);
  poll.unref();

  return {
    check,
    close() {
      closed = true;
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      dirWatcher?.close();
    },
  };
}
