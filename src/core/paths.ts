/**
 * Path exemptions (`exempt: ['/healthz', '/static/']`).
 *
 * An entry ending in `/` is a prefix that matches whole segments (`/static/` matches `/static` and
 * `/static/a.css`); any other entry matches exactly, ignoring the query string. A path that could
 * mean something else to the application is never exempt: dot-segments, empty segments, `;`, `\`,
 * and percent-encoded `.`, `/` or `\`, so `/healthz/../admin` cannot ride an exemption.
 */
import type { IssueCollector } from '../errors.js';
import { joinPath } from '../errors.js';

/** Returns true when the request path is exempt. */
export type PathExemption = (url: string) => boolean;

/** Never exempts anything (no list configured). */
export const NO_EXEMPTION: PathExemption = () => false;

function isSuspicious(path: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3b || c === 0x5c) return true; // ; \
    if (c === 0x2f) {
      const n = i + 1 < end ? path.charCodeAt(i + 1) : -1;
      if (n === 0x2f) return true; // empty segment
      if (n === 0x2e) {
        // "/." or "/.." followed by "/" or the end
        const n2 = i + 2 < end ? path.charCodeAt(i + 2) : -1;
        if (n2 === -1 || n2 === 0x2f) return true;
        if (n2 === 0x2e) {
          const n3 = i + 3 < end ? path.charCodeAt(i + 3) : -1;
          if (n3 === -1 || n3 === 0x2f) return true;
        }
      }
    } else if (c === 0x25 && i + 2 < end) {
      const h = path.charCodeAt(i + 1);
      const l = path.charCodeAt(i + 2) | 0x20;
      // %2e %2f %5c in any case
      if ((h === 0x32 && (l === 0x65 || l === 0x66)) || (h === 0x35 && l === 0x63)) return true;
    }
  }
  return false;
}

/**
 * Compiles an exemption list; each entry must start with `/`. Problems go to `issues` under `path`.
 */
export function compileExemptPaths(
  list: readonly string[] | undefined,
  path: string,
  issues: IssueCollector,
): PathExemption {
  if (list === undefined || list.length === 0) return NO_EXEMPTION;
  if (!Array.isArray(list)) {
    issues.add(path, 'expected an array of paths such as "/healthz" or "/static/"');
    return NO_EXEMPTION;
  }
  const exact = new Set<string>();
  const prefixes: string[] = [];
  list.forEach((p, i) => {
    if (typeof p !== 'string' || !p.startsWith('/') || isSuspicious(p, p.length) || p.includes('?')) {
      issues.add(
        joinPath(path, i),
        `invalid path ${JSON.stringify(p)} (expected an absolute path such as "/healthz", or a prefix ending in "/")`,
      );
      return;
    }
    if (p.length > 1 && p.endsWith('/')) {
      prefixes.push(p);
      exact.add(p.slice(0, -1));
    } else {
      exact.add(p);
    }
  });
  return (url: string): boolean => {
    let end = url.indexOf('?');
    if (end < 0) end = url.length;
    if (isSuspicious(url, end)) return false;
    const path = end === url.length ? url : url.slice(0, end);
    if (exact.has(path)) return true;
    for (let i = 0; i < prefixes.length; i++) if (path.startsWith(prefixes[i]!)) return true;
    return false;
  };
}
