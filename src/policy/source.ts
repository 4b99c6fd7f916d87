/**
 * The policy text as a YAML document (JSON is read the same way: it is YAML's flow style), kept
 * so every problem can be pointed at its line: `locate(['rateLimit', 'tiers', 0, 'name'])`.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { PathSegment } from './errors.js';

export interface SourcePosition {
  line: number;
  column: number;
}

export interface PolicySource {
  /** The plain data (undefined for an empty document). */
  readonly data: unknown;
  /** YAML syntax problems, each with its position. */
  readonly syntaxErrors: readonly { message: string; line: number; column: number }[];
  /**
   * The position of the value at `path` (or of its key, with `key: true`); for a missing key,
   * the nearest enclosing key that exists. Line 0 when the document is empty.
   */
  locate(path: readonly PathSegment[], options?: { key?: boolean }): SourcePosition;
}

/** Parses policy text; never throws for bad input (problems are in `syntaxErrors`). */
export function readPolicySource(text: string): PolicySource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: false,
    // Aliases are rare in policies; a bound keeps a "billion laughs" file from exploding.
    // (toJS enforces maxAliasCount.)
  });
  const position = (offset: number): SourcePosition => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const syntaxErrors = doc.errors.map((e) => {
    const p = position(e.pos[0]);
    return { message: cleanYamlMessage(e.message, e.code), line: p.line, column: p.column };
  });
  let data: unknown;
  if (syntaxErrors.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      syntaxErrors.push({ message: `YAML: ${(error as Error).message}`, line: 1, column: 1 });
    }
  }

  const locate = (path: readonly PathSegment[], options?: { key?: boolean }): SourcePosition => {
    let node: unknown = doc.contents;
    if (!node) return { line: 0, column: 0 };
    let best: SourcePosition = positionOf(node as Node) ?? { line: 1, column: 1 };
    for (let i = 0; i < path.length; i++) {
      node = resolveAlias(doc, node);
      const seg = path[i]!;
      if (isMap(node)) {
        // Keys may contain dots (list names): try the longest key first that matches.
        let pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair && typeof seg === 'string') {
          for (let j = path.length - 1; j > i && !pair; j--) {
            const joined = path.slice(i, j + 1).join('.');
            pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === joined);
            if (pair) i = j;
          }
        }
        if (!pair) return best;
        const keyPos = positionOf(pair.key as Node);
        if (i === path.length - 1 && options?.key) return keyPos ?? best;
        const valuePos = pair.value ? positionOf(pair.value as Node) : undefined;
        // A value on the next line (block style) is better pointed at by its key when it is a
        // collection; scalars point at themselves.
        best = (isScalar(pair.value) ? valuePos : keyPos) ?? valuePos ?? best;
        node = pair.value;
        if (!node) return keyPos ?? best;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) return best;
        best = positionOf(item as Node) ?? best;
        node = item;
      } else {
        return best;
      }
    }
    return best;
  };

  function positionOf(node: Node | null | undefined): SourcePosition | undefined {
    const range = node && (node as { range?: [number, number, number] | null }).range;
    return range ? position(range[0]) : undefined;
  }

  return { data, syntaxErrors, locate };
}

function resolveAlias(doc: Document, node: unknown): unknown {
  let n = node;
  for (let i = 0; i < 10 && isAlias(n); i++) n = n.resolve(doc);
  return n;
}

function cleanYamlMessage(message: string, code: string): string {
  const first = message.split('\n')[0] ?? message;
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'YAML: this key appears twice in the same mapping';
    case 'MULTIPLE_DOCS':
      return 'YAML: a policy file holds one document (remove the "---" separator)';
    case 'TAB_AS_INDENT':
      return 'YAML: tabs are not allowed for indentation; use spaces';
    default:
      return `YAML: ${first.replace(/ at line \d+, column \d+.*$/, '')}`;
  }
}
