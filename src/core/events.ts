/**
 * Lifecycle and warning events: one shape, one level table, one line format.
 *
 * The sidecar (`listening`, `shutdown`, `upstream-error`, ...), the policy stack (`policy-reloaded`,
 * `policy-reload-failed`, ...) and realip warnings all report through the same kind of event, and
 * the sidecar writes each as one JSON line on stderr:
 *
 *   {"time":"2026-01-31T12:00:00.000Z","level":"error","event":"policy-reload-failed","file":...}
 *
 * The catalogue (names, levels, fields) is documented in docs/sidecar.md, "Logs".
 */
import type { RealipWarning } from '../types.js';

/** Severity of an event. */
export type EventLevel = 'info' | 'warn' | 'error';

/** A lifecycle or warning event: its kebab-case name, its level and its own fields. */
export interface RealipEvent {
  /** kebab-case name, e.g. `policy-reloaded` (the catalogue is in docs/sidecar.md). */
  readonly event: string;
  readonly level: EventLevel;
  readonly [field: string]: unknown;
}

/** Receives lifecycle and warning events. */
export type EventHandler = (event: RealipEvent) => void;

/** The level of every known event; the one place where levels are decided. */
const LEVELS: ReadonlyMap<string, EventLevel> = new Map<string, EventLevel>([
  // The sidecar
  ['listening', 'info'],
  ['signal', 'info'],
  ['shutdown', 'info'],
  ['upstream-error', 'warn'],
  ['stack-error', 'error'],
  ['admin-error', 'error'],
  // realip warnings (WRN_REALIP_*, docs/errors.md), reload failures of lists, GeoIP and TLS files included
  ['warning', 'warn'],
  // The policy stack
  ['policy-reloaded', 'info'],
  ['policy-reload-failed', 'error'],
  ['policy-watch-error', 'warn'],
  ['list-reloaded', 'info'],
  ['geo-reloaded', 'info'],
  ['redis-tls-reloaded', 'info'],
]);

/** Names of every event realip emits (for docs and tests). */
export const EVENT_NAMES: readonly string[] = Object.freeze([...LEVELS.keys()]);

/** The level of an event name (`info` for names realip does not emit itself). */
export function eventLevel(name: string): EventLevel {
  return LEVELS.get(name) ?? 'info';
}

/** Builds an event with its level from the table. */
export function createEvent(name: string, fields: Readonly<Record<string, unknown>> = {}): RealipEvent {
  return { ...fields, event: name, level: eventLevel(name) };
}

/** A warning as an event: `{ event: 'warning', level: 'warn', code, message, help, count }`. */
export function warningEvent(w: RealipWarning): RealipEvent {
  return createEvent('warning', { code: w.code, message: w.message, help: w.help, count: w.count });
}

/** Turns a warning handler's input into events for `onEvent`. */
export function warningsTo(onEvent: EventHandler): (w: RealipWarning) => void {
  return (w) => onEvent(warningEvent(w));
}

function isLevel(value: unknown): value is EventLevel {
  return value === 'info' || value === 'warn' || value === 'error';
}

/**
 * Formats one event as a JSON line: `time` (ISO 8601), `level`, `event`, then its other fields.
 * An event without a level (the sidecar's own) gets the one from the table.
 */
export function formatEventLine(
  e: { readonly event: string; readonly level?: unknown; readonly [field: string]: unknown },
  now: Date = new Date(),
): string {
  const { time: _time, level, event, ...fields } = e;
  return (
    JSON.stringify({
      time: now.toISOString(),
      level: isLevel(level) ? level : eventLevel(event),
      event,
      ...fields,
    }) + '\n'
  );
}

/** Writes one event as a JSON line on stderr (the sidecar's event stream). */
export function writeEventLine(e: {
  readonly event: string;
  readonly level?: unknown;
  readonly [field: string]: unknown;
}): void {
  process.stderr.write(formatEventLine(e));
}
