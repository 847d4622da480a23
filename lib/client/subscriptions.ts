/**
 * The client's record of its subscriptions and the routing of received messages to their
 * receivers or callbacks: by Subscription Identifier when the PUBLISH carries one we know,
 * otherwise by matching the topic against every subscribed filter (overlapping filters included).
 * Each receiver or callback gets a message once even when several of its filters match.
 */
import { parseSharedSubscription, topicMatches, type Subscription, type UserProperty } from '../codec/index.js';
import { MessageReceiver, type MqttMessage } from './receiver.js';

/** Push-model callback. A returned promise that rejects is reported like a thrown error. */
export type MessageHandler = (message: MqttMessage) => void | Promise<void>;

/** Where the messages of a subscription go: a {@link MessageReceiver} (pull) or a callback (push). */
export type MessageSink = MessageReceiver | MessageHandler;

/** What one `subscribe()` call shares among its filters (re-sent together after a session loss). */
export interface SubscribeGroup {
  readonly identifier: number | undefined;
  readonly userProperties: UserProperty[] | undefined;
}

/** One subscribed topic filter. */
export interface ActiveSubscription {
  readonly subscription: Subscription;
  readonly group: SubscribeGroup;
  /** The filter messages are matched against: the topic filter without a `$share/<group>/` prefix. */
  readonly matchFilter: string;
  readonly receiver: MessageReceiver | undefined;
  readonly handler: MessageHandler | undefined;
  /** `pending` from SUBSCRIBE until a SUBACK grants it, then `active`. */
  state: 'pending' | 'active';
}

/** Callbacks of the client for what delivery runs into. */
export interface DeliveryHost {
  /** A receiver reached its capacity: stop reading the socket until it drains. */
  receiverFull(receiver: MessageReceiver): void;
  /** A push-model callback threw or its promise rejected. */
  handlerFailed(error: unknown): void;
}

/** Subscriptions by filter, and message routing. */
export class SubscriptionRegistry {
  private readonly byFilter = new Map<string, ActiveSubscription>();
  private readonly byIdentifier = new Map<number, ActiveSubscription[]>();
  /** Snapshot of byFilter's values for the matching loop; rebuilt on every change. */
  private list: ActiveSubscription[] = [];
  private readonly onRejected: (error: unknown) => void;

  constructor(private readonly host: DeliveryHost) {
    this.onRejected = (error: unknown) => this.host.handlerFailed(error);
  }

  get size(): number {
    return this.byFilter.size;
  }

  get(filter: string): ActiveSubscription | undefined {
    return this.byFilter.get(filter);
  }

  /** Records the filters of a SUBSCRIBE about to be sent (messages may arrive before its SUBACK). */
  add(subscriptions: Subscription[], group: SubscribeGroup, sink: MessageSink): ActiveSubscription[] {
    const receiver = sink instanceof MessageReceiver ? sink : undefined;
    const handler = receiver === undefined ? (sink as MessageHandler) : undefined;
    const added: ActiveSubscription[] = [];
    for (const subscription of subscriptions) {
      const shared = parseSharedSubscription(subscription.topicFilter);
      const entry: ActiveSubscription = {
        subscription,
        group,
        matchFilter: shared === undefined ? subscription.topicFilter : shared.filter,
        receiver,
        handler,
        state: 'pending',
      };
      // The same filter again replaces the subscription, on the server (spec 3.8.4) and here.
      this.byFilter.delete(subscription.topicFilter);
      this.byFilter.set(subscription.topicFilter, entry);
      added.push(entry);
    }
    this.rebuild();
    return added;
  }

  /** Applies a SUBACK reason code to an entry: granted → active; refused → forgotten. */
  granted(entry: ActiveSubscription, reasonCode: number): void {
    if (reasonCode < 0x80) {
      entry.state = 'active';
    } else if (this.byFilter.get(entry.subscription.topicFilter) === entry) {
      this.byFilter.delete(entry.subscription.topicFilter);
      this.rebuild();
    }
  }

  /** Forgets a filter (on UNSUBSCRIBE). */
  remove(filter: string): boolean {
    if (!this.byFilter.delete(filter)) return false;
    this.rebuild();
    return true;
  }

  /** Every entry, in subscription order. */
  entries(): readonly ActiveSubscription[] {
    return this.list;
  }

  /** The receivers of all subscriptions (to close them when the client closes). */
  receivers(): Set<MessageReceiver> {
    const out = new Set<MessageReceiver>();
    for (const e of this.list) if (e.receiver !== undefined) out.add(e.receiver);
    return out;
  }

  clear(): void {
    this.byFilter.clear();
    this.rebuild();
  }

  /**
   * For a session the server lost: every active subscription, grouped by the `subscribe()` call that
   * made it (one SUBSCRIBE each, keeping its identifier and user properties), now marked pending.
   */
  takeForResubscribe(): Array<{ group: SubscribeGroup; entries: ActiveSubscription[] }> {
    const groups = new Map<SubscribeGroup, ActiveSubscription[]>();
    for (const e of this.list) {
      if (e.state !== 'active') continue;
      e.state = 'pending';
      const list = groups.get(e.group);
      if (list === undefined) groups.set(e.group, [e]);
      else list.push(e);
    }
    return [...groups].map(([group, entries]) => ({ group, entries }));
  }

  /**
   * Routes a received message to its receivers/callbacks. Returns how many got it (0: nobody
   * subscribed to it, e.g. a message of a session resumed by a new process, or only receivers that
   * are closed — they drop it, and the client must know that nobody will acknowledge it).
   */
  dispatch(msg: MqttMessage): number {
    if (this.byIdentifier.size !== 0) {
      const ids = msg.properties?.subscriptionIdentifier;
      if (ids !== undefined) {
        const n = this.dispatchByIdentifier(msg, ids);
        // Identifiers we do not know (set by an earlier process on a resumed session) fall back to matching.
        if (n !== 0) return n;
      }
    }
    const list = this.list;
    const topic = msg.topic;
    let first: ActiveSubscription | undefined;
    let seen: ActiveSubscription[] | undefined;
    let delivered = 0;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (!topicMatches(e.matchFilter, topic)) continue;
      if (first === undefined) {
        first = e;
      } else {
        if (sameSink(first, e)) continue;
        if (seen === undefined) seen = [first];
        else if (hasSink(seen, e)) continue;
        seen.push(e);
      }
      if (this.deliver(e, msg)) delivered++;
    }
    return delivered;
  }

  private dispatchByIdentifier(msg: MqttMessage, ids: number | number[]): number {
    const targets: ActiveSubscription[] = [];
    if (typeof ids === 'number') this.collectTargets(ids, targets);
    else for (const id of ids) this.collectTargets(id, targets);
    let delivered = 0;
    for (const e of targets) if (this.deliver(e, msg)) delivered++;
    return delivered;
  }

  /** Adds the subscriptions of identifier `id` to `targets`, one per sink. */
  private collectTargets(id: number, targets: ActiveSubscription[]): void {
    const list = this.byIdentifier.get(id);
    if (list === undefined) return;
    for (const e of list) if (!hasSink(targets, e)) targets.push(e);
  }

  /** Hands `msg` to one subscription's sink; false when that is a closed receiver (which drops it). */
  private deliver(e: ActiveSubscription, msg: MqttMessage): boolean {
    const receiver = e.receiver;
    if (receiver !== undefined) {
      if (receiver.closed) return false;
      if (!receiver.push(msg)) this.host.receiverFull(receiver);
      return true;
    }
    try {
      const result = (e.handler as MessageHandler)(msg);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, this.onRejected);
      }
    } catch (error) {
      this.host.handlerFailed(error);
    }
    return true;
  }

  private rebuild(): void {
    this.list = [...this.byFilter.values()];
    this.byIdentifier.clear();
    for (const e of this.list) {
      const id = e.group.identifier;
      if (id === undefined) continue;
      const l = this.byIdentifier.get(id);
      if (l === undefined) this.byIdentifier.set(id, [e]);
      else l.push(e);
    }
  }
}

function sameSink(a: ActiveSubscription, b: ActiveSubscription): boolean {
  return a.receiver !== undefined ? a.receiver === b.receiver : a.handler === b.handler;
}

/** Whether one of `list` delivers to the same sink as `e` (a loop, not `some()`: no closure per message). */
function hasSink(list: readonly ActiveSubscription[], e: ActiveSubscription): boolean {
  for (let i = 0; i < list.length; i++) if (sameSink(list[i]!, e)) return true;
  return false;
}
