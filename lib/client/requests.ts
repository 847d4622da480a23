/**
 * SUBSCRIBE and UNSUBSCRIBE requests awaiting their ack: session state. They are kept in order until
 * acknowledged and re-sent, under fresh packet ids, on every new connection; their acks (or local
 * failures) are applied to the subscription registry, and — for the re-subscribes the client makes
 * after the server lost its session — reported per filter. @internal
 */
import { PacketType, type SubackPacket, type SubscribePacket, type Subscription, type UnsubackPacket } from '../codec/index.js';
import { SubscribeError, type MqttClientError } from './errors.js';
import type { ResubscribeResult } from './options.js';
import type { ActiveSubscription, SubscriptionRegistry } from './subscriptions.js';

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

  constructor(
    private readonly subscriptions: SubscriptionRegistry,
    /** Reports the outcome of one re-subscribed filter (the client's 'resubscribed' event). */
    private readonly resubscribed: (result: ResubscribeResult) => void,
  ) {}

  /** Appends a request; returns the promise its ack (or failure) settles. */
  add(req: PendingRequest): Promise<SubackPacket & UnsubackPacket> {
    const promise = new Promise<SubackPacket & UnsubackPacket>((resolve, reject) => {
      req.resolve = resolve;
      req.reject = reject;
    });
    this.list.push(req);
    return promise;
  }

  /**
   * After a CONNACK without session: queues a re-subscribe of every active subscription, one
   * SUBSCRIBE per original `subscribe()` group, ahead of the requests the application queued.
   */
  queueResubscribe(): void {
    const resubscribes: PendingRequest[] = [];
    for (const { group, entries } of this.subscriptions.takeForResubscribe()) {
      const properties: SubscribePacket['properties'] =
        group.identifier === undefined && group.userProperties === undefined
          ? undefined
          : { subscriptionIdentifier: group.identifier, userProperties: group.userProperties };
      resubscribes.push({ type: PacketType.SUBSCRIBE, subscriptions: entries.map((e) => e.subscription), properties, entries, resubscribe: true });
    }
    this.list.unshift(...resubscribes);
  }

  /** Every unacknowledged request, in order (to send after a CONNACK). */
  all(): readonly PendingRequest[] {
    return this.list;
  }

  /** Records that `req` went out under `packetId`. */
  sent(req: PendingRequest, packetId: number): void {
    this.byId.set(packetId, req);
  }

  /** A SUBACK/UNSUBACK: settles the request it answers (if any), applying each reason code to its subscription. */
  acked(ack: SubackPacket | UnsubackPacket): void {
    const req = this.take(ack.packetId, ack.type);
    if (req === undefined) return;
    if (req.entries !== undefined) {
      const entries = req.entries;
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k]!;
        const code = ack.reasonCodes[k] ?? 0x80;
        this.subscriptions.granted(e, code);
        if (req.resubscribe) {
          this.resubscribed({
            topicFilter: e.subscription.topicFilter,
            subscription: e.subscription,
            reasonCode: code,
            error: code >= 0x80 ? new SubscribeError(code) : undefined,
          });
        }
      }
    }
    req.resolve?.(ack as SubackPacket & UnsubackPacket);
  }

  /** A request could not be sent (a local check, or no packet id free): it fails with `error`. */
  failed(req: PendingRequest, error: MqttClientError): void {
    this.remove(req);
    if (req.entries !== undefined) {
      for (const e of req.entries) {
        this.subscriptions.granted(e, error.reasonCode >= 0x80 ? error.reasonCode : 0x80);
        if (req.resubscribe) {
          this.resubscribed({ topicFilter: e.subscription.topicFilter, subscription: e.subscription, reasonCode: error.reasonCode, error });
        }
      }
    }
    req.reject?.(error);
  }

  /** Removes and returns the request an ack of `type` answers, if any. */
  private take(packetId: number, ackType: number): PendingRequest | undefined {
    const req = this.byId.get(packetId);
    const expected = ackType === PacketType.SUBACK ? PacketType.SUBSCRIBE : PacketType.UNSUBSCRIBE;
    if (req === undefined || req.type !== expected) return undefined;
    this.byId.delete(packetId);
    this.remove(req);
    return req;
  }

  /** Forgets a request. */
  private remove(req: PendingRequest): void {
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
