/**
 * Backpressure from pull-model receivers to the socket: while any {@link MessageReceiver} is full,
 * the client's connection stops reading, and it reads again once every full receiver has drained.
 * Session state — receivers outlive connections — so a new connection starts paused while one is
 * still full. @internal
 */
import type { MessageReceiver } from './receiver.js';

/** Pauses and resumes reading on whatever connection is current. */
export interface ReadControl {
  pauseReading(): void;
  resumeReading(): void;
}

/** The receivers that are full, and the reading they hold back. @internal */
export class ReceiverBackpressure {
  private readonly full = new Set<MessageReceiver>();

  constructor(private readonly reading: ReadControl) {}

  /** Some receiver is full: a connection must not read. */
  get blocked(): boolean {
    return this.full.size !== 0;
  }

  /** A receiver is full: stop reading the socket until it drains. */
  receiverFull(receiver: MessageReceiver): void {
    if (!this.full.has(receiver)) {
      this.full.add(receiver);
      // Calls back at once if it drained (or closed) meanwhile.
      receiver.onDrain(this.onDrained);
    }
    if (this.full.size !== 0) this.reading.pauseReading();
  }

  /** Forgets every receiver (the client closed them). */
  clear(): void {
    for (const r of this.full) r.offDrain(this.onDrained);
    this.full.clear();
  }

  private readonly onDrained = (receiver: MessageReceiver): void => {
    if (!this.full.delete(receiver)) return;
    if (this.full.size === 0) this.reading.resumeReading();
  };
}
