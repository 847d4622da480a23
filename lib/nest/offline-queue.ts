/**
 * The bounded queue of `send()`/`emit()` calls made while ClientMqtt5 is connecting or
 * reconnecting. FIFO; each call has its own deadline; every call settles exactly once — it is
 * either handed to `run()` in order when the connection is back, or failed with a typed error:
 * `Mqtt5OfflineQueueFullError` on overflow, its own timeout error when its deadline passes,
 * the close error on `close()`. Nothing is dropped silently.
 *
 * Only used while offline, so a timer per entry (armed only with a deadline) is cheap enough and
 * keeps entries with different per-call timeouts exact.
 */
import { Mqtt5OfflineQueueFullError } from './errors.js';

/** A call waiting for the connection. */
export interface OfflineCall {
  /** Called once the connection is back, in queue order, synchronously within `drain()`. */
  run(): void;
  /** Called instead of `run()` when the call cannot wait any longer (overflow, timeout, close). */
  fail(error: Error): void;
}

/** A queued call, as `enqueue()` returns it (to cancel it, or to read its deadline). */
export interface OfflineEntry {
  readonly call: OfflineCall;
  /** `performance.now()` after which the call fails; Infinity: no deadline. */
  readonly deadline: number;
}

interface Entry extends OfflineEntry {
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

/** Bounded FIFO of calls waiting for a connection. */
export class OfflineQueue {
  private readonly entries: Entry[] = [];
  /** Index of the first live entry (entries before it were settled; compacted lazily). */
  private head = 0;
  private live = 0;

  constructor(
    /** Most calls waiting at once; 0 = none may wait (every enqueue fails). */
    readonly limit: number,
  ) {}

  /** Calls waiting. */
  get size(): number {
    return this.live;
  }

  /**
   * Queues a call. With a full queue the call fails at once with Mqtt5OfflineQueueFullError (and
   * undefined is returned). `timeoutMs` > 0 fails it with `timeoutError()` when it is still
   * waiting after that long; 0 = no deadline.
   */
  enqueue(call: OfflineCall, timeoutMs: number, timeoutError: () => Error): OfflineEntry | undefined {
    if (this.live >= this.limit) {
      call.fail(new Mqtt5OfflineQueueFullError(this.limit));
      return undefined;
    }
    const entry: Entry = {
      call,
      deadline: timeoutMs > 0 ? performance.now() + timeoutMs : Infinity,
      timer: undefined,
      settled: false,
    };
    if (timeoutMs > 0) {
      entry.timer = setTimeout(() => this.settle(entry, timeoutError()), timeoutMs);
    }
    this.entries.push(entry);
    this.live++;
    return entry;
  }

  /** Removes a call that no longer wants to wait (e.g. its observable was unsubscribed); it is not settled. */
  cancel(entry: OfflineEntry): boolean {
    const e = entry as Entry;
    if (e.settled) return false;
    this.finish(e);
    return true;
  }

  /**
   * Hands every waiting call to its `run()`, oldest first. `canContinue` is asked before each call:
   * when it turns false (the connection dropped again) the rest keep waiting, in order. A `run()`
   * that throws fails that call with what it threw; the others continue.
   */
  drain(canContinue: () => boolean = () => true): number {
    let ran = 0;
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]!;
      if (entry.settled) {
        this.head++;
        continue;
      }
      if (!canContinue()) break;
      this.finish(entry);
      ran++;
      try {
        entry.call.run();
      } catch (error) {
        entry.call.fail(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.compact();
    return ran;
  }

  /** Fails every waiting call with `error` (e.g. Mqtt5ClosedError on close()). */
  close(error: Error): void {
    const waiting = this.entries.splice(0);
    this.head = 0;
    for (const entry of waiting) this.settle(entry, error);
  }

  private settle(entry: Entry, error: Error): void {
    if (entry.settled) return;
    this.finish(entry);
    entry.call.fail(error);
    this.compact();
  }

  private finish(entry: Entry): void {
    entry.settled = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    this.live--;
  }

  /** Drops settled entries from the front, and all of them once the array is mostly dead. */
  private compact(): void {
    while (this.head < this.entries.length && this.entries[this.head]!.settled) this.head++;
    if (this.head === this.entries.length) {
      this.entries.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    } else if (this.entries.length > 2048 && this.live * 2 < this.entries.length - this.head) {
      // Many timed-out entries in the middle: keep the array proportional to the live calls.
      const kept = this.entries.filter((e, i) => i >= this.head && !e.settled);
      this.entries.length = 0;
      this.entries.push(...kept);
      this.head = 0;
    }
  }
}
