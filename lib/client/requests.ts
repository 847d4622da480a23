/**
 * SUBSCRIBE and UNSUBSCRIBE requests awaiting their ack. They are kept in order until acknowledged
 * and re-sent, under fresh packet ids, after every reconnect. @internal
 */
import { PacketType, type SubackPacket, type SubscribePacket, type Subscription, type UnsubackPacket } from '../codec/index.js';
import type { ActiveSubscription } from './subscriptions.js';

/** One SUBSCRIBE or UNSUBSCRIBE. */
export interface PendingRequest {
  readonly type: typeof PacketType.SUBSCRIBE | typeof PacketType.UNSUBSCRIBE;
  readonly subscriptions?: Subscription[];
  readonly topicFilters?: string[];
  readonly properties: SubscribePacket['properties'];
  /** SUBSCRIBE: the registry entries it creates, in the order of `subscriptions`. */
  readonly entries?: ActiveSubscription[];
  /** An internal re-subscribe after a session loss: results go to 'resubscribed' events, no promise. */
  readonly resubscribe: boolean;
  resolve?: (ack: SubackPacket & UnsubackPacket) => void;
  reject?: (error: Error) => void;
}

/** The requests not yet acknowledged, in order, and the packet ids of those sent on the current connection. */
export class RequestQueue {
  private readonly list: PendingRequest[] = [];
  private readonly byId = new Map<number, PendingRequest>();
  /** Whether a packet id is taken by a request in flight (for the packet id allocator). */
  readonly inUse = (packetId: number): boolean => this.byId.has(packetId);

  /** Appends a request; returns the promise its ack (or failure) settles. */
  add(req: PendingRequest): Promise<SubackPacket & UnsubackPacket> {
    const promise = new Promise<SubackPacket & UnsubackPacket>((resolve, reject) => {
      req.resolve = resolve;
      req.reject = reject;
    });
    this.list.push(req);
    return promise;
  }

  /** Puts internal requests ahead of those the application queued. */
  prepend(reqs: PendingRequest[]): void {
    this.list.unshift(...reqs);
  }

  /** Every unacknowledged request, in order (to send after a CONNACK). */
  all(): readonly PendingRequest[] {
    return this.list;
  }

  /** Records that `req` went out under `packetId`. */
  sent(req: PendingRequest, packetId: number): void {
    this.byId.set(packetId, req);
  }

  /** Removes and returns the request an ack of `type` answers, if any. */
  take(packetId: number, ackType: number): PendingRequest | undefined {
    const req = this.byId.get(packetId);
    const expected = ackType === PacketType.SUBACK ? PacketType.SUBSCRIBE : PacketType.UNSUBSCRIBE;
    if (req === undefined || req.type !== expected) return undefined;
    this.byId.delete(packetId);
    this.remove(req);
    return req;
  }

  /** Forgets a request (it failed). */
  remove(req: PendingRequest): void {
    const i = this.list.indexOf(req);
    if (i !== -1) this.list.splice(i, 1);
  }

  /** The connection is gone: nothing is in flight any more (all will be re-sent). */
  connectionLost(): void {
    this.byId.clear();
  }

  /** Removes and returns every request. */
  drain(): PendingRequest[] {
    this.byId.clear();
    return this.list.splice(0);
  }
}
