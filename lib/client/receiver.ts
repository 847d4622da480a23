/**
 * The pull model of the seed: a bounded queue of received messages that the application reads with
 * `recv()` or `for await`. When it holds `capacity` messages the client stops reading the socket, so
 * a slow consumer slows the broker down (TCP flow control) instead of dropping messages or growing
 * memory without bound. Reading resumes once the queue falls to `lowWaterMark`.
 */
import type { PublishPacket } from '../codec/index.js';
import { ReceiverClosedError } from './errors.js';
import { Queue } from './queue.js';

/**
 * A received application message: the decoded PUBLISH with its topic resolved (topic aliases
 * applied). `payload` is a view into the bytes read from the network, not a copy.
 */
export type MqttMessage = PublishPacket;

/** Options of {@link MessageReceiver}. */
export interface MessageReceiverOptions {
  /**
   * Messages held before the client pauses reading the socket; default 1024. Messages already read
   * from the network when the limit is hit are still queued, so the queue may exceed `capacity` by
   * the messages of one network read.
   */
  capacity?: number;
  /** Queue length at which reading resumes; default `capacity / 2`. */
  lowWaterMark?: number;
}

interface Waiter {
  resolve(value: MqttMessage | IteratorResult<MqttMessage>): void;
  reject(reason: Error): void;
  /** Resolve with an IteratorResult (for `for await`) rather than the bare message (for `recv()`). */
  iterator: boolean;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/** Pull-model receiver of messages; pass it to `client.subscribe(…, receiver)`. */
export class MessageReceiver implements AsyncIterable<MqttMessage> {
  /** Queue length at which the client stops reading the socket. */
  readonly capacity: number;
  /** Queue length at which the client resumes reading. */
  readonly lowWaterMark: number;
  private readonly queue = new Queue<MqttMessage>();
  private readonly waiters = new Queue<Waiter>();
  private drainListeners: Array<(receiver: MessageReceiver) => void> = [];
  private closedReason: Error | undefined;

  constructor(options: MessageReceiverOptions = {}) {
    const capacity = options.capacity ?? 1024;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be an integer ≥ 1');
    const low = options.lowWaterMark ?? Math.floor(capacity / 2);
    if (!Number.isInteger(low) || low < 0 || low >= capacity) {
      throw new RangeError('lowWaterMark must be an integer in [0, capacity)');
    }
    this.capacity = capacity;
    this.lowWaterMark = low;
  }

  /** Messages waiting to be read. */
  get size(): number {
    return this.queue.length;
  }

  /** Whether `close()` was called (buffered messages may still be read). */
  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /**
   * The next message, waiting for one if the queue is empty. Rejects with the close reason
   * (a {@link ReceiverClosedError}, or `ClientClosedError` after `client.disconnect()`) once the
   * receiver is closed and empty.
   */
  recv(): Promise<MqttMessage> {
    const msg = this.queue.shift();
    if (msg !== undefined) {
      this.afterShift();
      return Promise.resolve(msg);
    }
    if (this.closedReason !== undefined) return Promise.reject(this.closedReason);
    return new Promise<MqttMessage>((resolve, reject) => {
      this.waiters.push({ resolve: resolve as Waiter['resolve'], reject, iterator: false });
    });
  }

  /** The next message if one is queued, else undefined; never waits. */
  tryRecv(): MqttMessage | undefined {
    const msg = this.queue.shift();
    if (msg !== undefined) this.afterShift();
    return msg;
  }

  /**
   * Stops accepting messages. Messages already queued can still be read; after them `recv()` rejects
   * and iteration ends. Messages that arrive later for its subscriptions are not delivered to it (when
   * no other receiver or callback takes them, they are unhandled: event 'unhandledMessage'), so
   * unsubscribe first. Idempotent.
   */
  close(reason: Error = new ReceiverClosedError()): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) {
      if (w.iterator) w.resolve(DONE);
      else w.reject(reason);
    }
    // A closed receiver no longer holds the client back.
    this.notifyDrain();
  }

  /**
   * Async iteration over the messages; ends when the receiver is closed and drained. Leaving the
   * loop early (`break`, `return`, an exception) closes the receiver, as with Node streams: nobody
   * would read it any more and a full receiver would keep the client from reading the socket.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<MqttMessage> {
    const next = (): Promise<IteratorResult<MqttMessage>> => {
      const msg = this.queue.shift();
      if (msg !== undefined) {
        this.afterShift();
        return Promise.resolve({ value: msg, done: false });
      }
      if (this.closedReason !== undefined) return Promise.resolve(DONE);
      return new Promise<IteratorResult<MqttMessage>>((resolve, reject) => {
        this.waiters.push({ resolve: resolve as Waiter['resolve'], reject, iterator: true });
      });
    };
    const iterator: AsyncIterableIterator<MqttMessage> = {
      next,
      return: (): Promise<IteratorResult<MqttMessage>> => {
        this.close();
        return Promise.resolve(DONE);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Hands a message to the receiver. Returns false when the queue is at capacity: the caller should
   * stop reading and wait for {@link onDrain}. A closed receiver drops the message and returns true.
   * @internal
   */
  push(msg: MqttMessage): boolean {
    if (this.closedReason !== undefined) return true;
    const w = this.waiters.shift();
    if (w !== undefined) {
      w.resolve(w.iterator ? { value: msg, done: false } : msg);
      return true;
    }
    this.queue.push(msg);
    return this.queue.length < this.capacity;
  }

  /**
   * Calls `listener` once, when the queue falls to `lowWaterMark` or the receiver closes.
   * @internal
   */
  onDrain(listener: (receiver: MessageReceiver) => void): void {
    if (this.closedReason !== undefined || this.queue.length <= this.lowWaterMark) {
      listener(this);
      return;
    }
    this.drainListeners.push(listener);
  }

  /** Removes a listener added with {@link onDrain}. @internal */
  offDrain(listener: (receiver: MessageReceiver) => void): void {
    const i = this.drainListeners.indexOf(listener);
    if (i !== -1) this.drainListeners.splice(i, 1);
  }

  private afterShift(): void {
    if (this.drainListeners.length !== 0 && this.queue.length <= this.lowWaterMark) this.notifyDrain();
  }

  private notifyDrain(): void {
    const listeners = this.drainListeners;
    if (listeners.length === 0) return;
    this.drainListeners = [];
    for (const l of listeners) l(this);
  }
}
