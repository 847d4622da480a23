/**
 * Flow control towards publishers. Every subscriber has its own bounded queue (session.ts), so a stuck
 * one costs only its own queue; a publisher is held back (not read) only when every route of its
 * message is backed up (router.ts decides, this file holds and releases), or when all queues together
 * reach `maxTotalQueuedBytes`. A subscriber holding publishers back for `slowConsumerTimeout` is a slow
 * consumer: it lets them go and its queue policy applies instead; so does the memory bound.
 */
import { Blocker } from './connection-contract.js';
import { Connection } from './connection.js';
import type { ResolvedOptions } from './options.js';
import { Session } from './session.js';
import type { Supervisor } from './supervisor.js';

/** Publishers held back by the broker-wide bound of queued bytes, and since when (supervisor tick). */
interface MemoryHold {
  readonly publishers: Set<Connection>;
  readonly since: number;
}

/** Holds and releases publishers; keeps the broker-wide account of queued bytes. */
export class FlowControl {
  private queuedBytesTotal = 0;
  private memoryHold: MemoryHold | null = null;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly supervisor: Pick<Supervisor, 'tick' | 'elapsedSince'>,
  ) {}

  /** The connection of a client that published, when it can be held back (a connected client, not the broker). */
  private publisherConnection(publisher: object | null): Connection | null {
    if (!(publisher instanceof Session)) return null;
    const conn = publisher.link;
    return conn instanceof Connection ? conn : null;
  }

  /**
   * Every route of a message is backed up: stop reading its publisher until one of them has drained
   * (a publisher that is one of its own routes is never held: it would wait for itself).
   */
  holdBack(publisher: object | null, routes: readonly (Session | undefined)[], count: number): void {
    if (this.options.slowConsumerTimeout === 0) return;
    const conn = this.publisherConnection(publisher);
    if (conn === null) return;
    for (let i = 0; i < count; i++) if (routes[i] === publisher) return;
    for (let i = 0; i < count; i++) {
      const sub = routes[i]!;
      const t = (sub.throttle ??= { publishers: new Set(), since: this.supervisor.tick, slow: false });
      // A slow consumer holds nobody: it is not asked to release anyone either.
      if (!t.slow) t.publishers.add(conn);
    }
    conn.block(Blocker.Downstream);
  }

  /** `subscriber` drained (or went offline): the publishers it held go on (if another route holds one still, its next message says so). */
  release(subscriber: Session): void {
    const t = subscriber.throttle;
    if (t === null) return;
    subscriber.throttle = null;
    for (const conn of t.publishers) (conn as Connection).unblock(Blocker.Downstream);
  }

  /** A subscriber holding publishers back past the slow-consumer timeout stops doing so: its queue policy applies. */
  checkSlowConsumer(subscriber: Session): void {
    const t = subscriber.throttle!;
    if (t.slow || this.supervisor.elapsedSince(t.since) < this.options.slowConsumerTimeout) return;
    t.slow = true;
    const held = [...t.publishers];
    t.publishers.clear();
    for (const conn of held) (conn as Connection).unblock(Blocker.Downstream);
  }

  /** Whether the broker-wide bound of queued bytes is reached. */
  get memoryFull(): boolean {
    const max = this.options.maxTotalQueuedBytes;
    return max !== 0 && this.queuedBytesTotal >= max;
  }

  /** Bytes queued in all sessions. */
  get queuedBytes(): number {
    return this.queuedBytesTotal;
  }

  /** Bytes entered (positive) or left (negative) a session queue. */
  queuedBytesChanged(delta: number): void {
    this.queuedBytesTotal += delta;
    // Hysteresis: held publishers go on once the queues are down to three quarters of the bound.
    if (delta < 0 && this.memoryHold !== null && this.queuedBytesTotal * 4 <= this.options.maxTotalQueuedBytes * 3) this.releaseMemoryHold();
  }

  /** The broker-wide bound is reached: stop reading the client that published (until the queues drain, or the timeout). */
  holdForMemory(publisher: object | null): void {
    if (this.options.slowConsumerTimeout === 0) return;
    const conn = this.publisherConnection(publisher);
    if (conn === null) return;
    const hold = (this.memoryHold ??= { publishers: new Set(), since: this.supervisor.tick });
    hold.publishers.add(conn);
    conn.block(Blocker.Memory);
  }

  private releaseMemoryHold(): void {
    const hold = this.memoryHold!;
    this.memoryHold = null;
    for (const conn of hold.publishers) conn.unblock(Blocker.Memory);
  }

  /**
   * Every supervisor tick. Publishers are held for the memory bound at most the slow-consumer timeout:
   * the queues may be waiting on them (their acknowledgements).
   */
  supervise(): void {
    const hold = this.memoryHold;
    if (hold !== null && this.supervisor.elapsedSince(hold.since) >= this.options.slowConsumerTimeout) this.releaseMemoryHold();
  }
}
