/**
 * RFC 9457 problem details. Bodies are built with JSON.stringify so extension members are escaped.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A problem document: the standard members plus extensions. */
export interface Problem {
  /** URI reference identifying the problem type. @default 'about:blank' */
  type?: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** Serialises a problem with `type` first and `about:blank` as the default type. */
export function problemBody(problem: Problem): string {
  return JSON.stringify({ type: problem.type ?? 'about:blank', ...problem });
}
