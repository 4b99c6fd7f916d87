/**
 * Option paths and the small helpers every spec's messages use: rendering and parsing
 * `rateLimit.tiers[1].limits[0].points`, describing a value without leaking secrets, and the
 * "did you mean" candidate. Shared by the stage specs (factories) and the policy file.
 */

/** A segment of an option path: a key or an array index. */
export type PathSegment = string | number;

/** Renders a path: `['rateLimit', 'tiers', 0, 'name']` is `rateLimit.tiers[0].name`. */
export function pathToString(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * Parses a path as stage constructors write it (`rateLimit.tiers[1].limits[0].points`,
 * `lists["a.b"][0]`) back into segments.
 */
export function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      i++;
      continue;
    }
    if (c === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) break;
      const inner = path.slice(i + 1, close);
      if (/^[0-9]+$/.test(inner)) out.push(Number(inner));
      else if (inner.startsWith('"')) {
        // A quoted key may itself contain "]": find the closing quote first.
        const end = path.indexOf('"]', i + 2);
        const raw = path.slice(i + 1, end + 1);
        try {
          out.push(JSON.parse(raw) as string);
        } catch {
          out.push(raw);
        }
        i = end + 2;
        continue;
      } else out.push(inner);
      i = close + 1;
      continue;
    }
    let j = i;
    while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
    out.push(path.slice(i, j));
    i = j;
  }
  return out;
}

const SECRET_KEY = /(url|key|secret|password|token|value)$/i;

/** A short description of a value for messages: `"abc"`, `42`, `an array`, `a mapping`. */
export function describeValue(value: unknown, path: readonly PathSegment[] = []): string {
  const last = path[path.length - 1];
  if (typeof last === 'string' && SECRET_KEY.test(last) && typeof value === 'string')
    return 'a string (not shown)';
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (typeof value === 'string') {
    const s = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(s);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** The closest candidate within a small edit distance (for "did you mean"). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  const w = word.toLowerCase();
  // Longer words tolerate more typos (trustedProxy -> trustedProxies is 3 edits).
  let bestD = Math.max(2, Math.floor(w.length / 4)) + 1;
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== undefined) return best;
  // A prefix of a candidate (or the other way round) is a likely typo too, when nothing is close
  // by edit distance: `maxEntr` for `maxEntries`.
  if (w.length >= 4) {
    const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(w) || w.startsWith(c.toLowerCase()));
    if (prefixed.length === 1) return prefixed[0];
  }
  return best;
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 4) return 99;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}
