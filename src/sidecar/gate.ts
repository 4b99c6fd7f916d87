/**
 * The bound on connections to the app: at most `limit` exchanges hold an app connection at once,
 * at most `queueLimit` wait for one, each for at most `queueTimeoutMs`, in arrival order. A waiter
 * that cannot be queued, or waits too long, is told so (`busy`) and answered 503 by the caller.
 *
 * Hand-written rather than undici's own queue: undici queues without a bound in length or time.
 */

/** Something that waits for an app connection. */
export interface GateWaiter {
  /** It may use a connection now; it must call `release()` exactly once when done with it. */
  admitted(): void;
  /** No connection within the bounds: answer 503. */
  busy(reason: 'queue-full' | 'queue-timeout'): void;
}

interface Entry {
  readonly waiter: GateWaiter;
  timer: NodeJS.Timeout | undefined;
  /** Admitted, timed out or cancelled: skip it. */
  done: boolean;
}

export class ConnectionGate {
  /** Exchanges holding a connection now. */
  active = 0;
  /** Entries waiting (some may be done; `waiting` counts the live ones). */
  private readonly queue: Entry[] = [];
  private head = 0;
  /** Live waiters. */
  waiting = 0;

  constructor(
    readonly limit: number,
    readonly queueLimit: number,
    readonly queueTimeoutMs: number,
  ) {}

  /**
   * Admits `waiter` now or queues it. Returns a function that cancels the wait (the client went
   * away); it does nothing once the waiter was admitted or told it is busy.
   */
  acquire(waiter: GateWaiter): () => void {
    if (this.active < this.limit) {
      this.active++;
      waiter.admitted();
      return noop;
    }
    if (this.waiting >= this.queueLimit) {
      waiter.busy('queue-full');
      return noop;
    }
    const entry: Entry = { waiter, timer: undefined, done: false };
    entry.timer = setTimeout(() => {
      if (entry.done) return;
      entry.done = true;
      this.waiting--;
      waiter.busy('queue-timeout');
    }, this.queueTimeoutMs);
    this.queue.push(entry);
    this.waiting++;
    return () => {
      if (entry.done) return;
      entry.done = true;
      this.waiting--;
      clearTimeout(entry.timer);
    };
  }

  /** A connection was given back: the oldest live waiter gets it. */
  release(): void {
    this.active--;
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Entry;
      if (entry.done) continue;
      entry.done = true;
      this.waiting--;
      clearTimeout(entry.timer);
      this.active++;
      this.compact();
      entry.waiter.admitted();
      return;
    }
    this.compact();
  }

  /** Drops the consumed front of the queue once it is most of the array. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    } else if (this.head === this.queue.length && this.head > 0) {
      this.queue.length = 0;
      this.head = 0;
    }
  }
}

function noop(): void {}
