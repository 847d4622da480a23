/**
 * Session state (spec 4.1) and outgoing delivery towards one client: subscriptions, QoS 1/2 messages
 * in flight (bounded by the client's Receive Maximum), and the bounded queue of messages waiting
 * (client offline, receive maximum reached, or its socket full). Everything is allocated lazily: an
 * idle session is a handful of fields.
 *
 * Queue policy when `maxQueuedMessages` is reached: a new QoS 0 message is dropped; for a QoS 1/2 one
 * the oldest queued QoS 0 message is evicted first; if there is none, `queueFullPolicy` decides
 * (`dropNew`: the new message is refused; `dropOldest`: the oldest queued one is evicted). Each drop is
 * reported to the host (counted and emitted as a `drop` event): QoS 1/2 messages are never lost silently.
 */
import { PacketType, type Packet, type QoS } from '../codec/index.js';
import type { Message } from './message.js';
import type { SharedGroup, SubscriptionEntry } from './topic-tree.js';
import type { LongTimer } from './timers.js';

/** Why a message was not delivered to a client (see the `drop` event). */
export type DropReason = 'queueFull' | 'packetTooLarge' | 'noSubscriberAvailable';

/** The connection a session is bound to, as the session sees it. */
export interface SessionLink {
  /** True while outgoing bytes are piling up (socket full): publishes wait in the session queue. */
  readonly congested: boolean;
  /** The client's Receive Maximum (CONNECT; default 65,535). */
  readonly receiveMaximum: number;
  /** The client's Maximum Packet Size (CONNECT; default unlimited). */
  readonly maximumPacketSize: number;
  /** Queues encoded bytes for the next batched write. */
  sendBuffer(buf: Buffer): void;
  /** Encodes and queues a control packet. */
  sendPacket(packet: Packet): void;
}

/** The broker options a session reads (the resolved broker options satisfy it). */
export interface SessionOptions {
  /** Bound of the queue of messages waiting for the client. */
  readonly maxQueuedMessages: number;
  /** What a full queue does with a new QoS 1/2 message when no QoS 0 one can make room. */
  readonly queueFullPolicy: 'dropNew' | 'dropOldest';
  /** Whether QoS 0 messages are queued for an offline client. */
  readonly queueQoS0Offline: boolean;
}

/** What a session needs from the broker. */
export interface SessionHost {
  readonly options: SessionOptions;
  /** The current time in ms (one clock for the whole broker). */
  now(): number;
  /** A message was not delivered to `session` for `reason`: count it and tell the world. */
  dropped(session: Session, message: Message, qos: QoS, reason: DropReason): void;
  /** The queue of connected `subscriber` is filling: slow down the client that published `message` (flow control). */
  throttle(publisher: object | null, subscriber: Session): void;
  /** The queue of `subscriber` has drained: let the clients it slowed down go on. */
  release(subscriber: Session): void;
}

/** Publishers held back for one subscriber (see SessionHost.throttle). */
export interface Throttle {
  /** Held-back publishers (their connections), resumed by {@link SessionHost.release}. */
  readonly publishers: Set<{ unblock(reason: number): void }>;
  /** Supervisor tick when throttling began. */
  readonly since: number;
  /** The subscriber stayed congested past the slow-consumer timeout: it no longer holds anyone back. */
  slow: boolean;
}

/** One message on its way to one client: QoS after downgrade, retain flag, subscription ids. */
export class Delivery {
  /** Packet identifier once sent (QoS 1/2), else 0. */
  packetId = 0;
  /** QoS 2: PUBREC received and PUBREL sent; only PUBCOMP is awaited. */
  released = false;
  constructor(
    readonly message: Message,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly subscriptionIds: number | number[] | undefined,
    /** The shared group it was routed through, or null. */
    readonly group: SharedGroup<Session> | null,
  ) {}
}

/** Session state of one client identifier. */
export class Session {
  /** The connection currently bound, or null while the client is offline. */
  link: SessionLink | null = null;
  /** Session Expiry Interval in seconds (0: the session ends with the connection; 0xFFFFFFFF: never). */
  expiryInterval = 0;
  /** Subscriptions by topic filter as subscribed. */
  subscriptions: Map<string, SubscriptionEntry<Session>> | null = null;
  /**
   * Shared subscriptions made in this session, unsubscribed ones included (their unacknowledged
   * deliveries may still be in flight); 0 lets the broker skip redistribution work.
   */
  sharedCount = 0;
  /** Packet identifiers of inbound QoS 2 messages already routed, awaiting PUBREL (exactly once). */
  inboundQoS2: Set<number> | null = null;
  /** Publishers held back because this session's queue is filling, or null. */
  throttle: Throttle | null = null;
  /** Timer ending the session after its expiry interval, while offline. */
  expiryTimer: LongTimer | null = null;
  /** Scratch for routing: one message is delivered once per session (see Router). */
  routeStamp = 0;
  routeSlot = 0;

  private inflight: Map<number, Delivery> | null = null;
  /** In-flight messages still to be (re)sent on the current connection, oldest first. */
  private resend: Delivery[] | null = null;
  private queue: (Delivery | undefined)[] | null = null;
  private queueHead = 0;
  private queuedQoS0 = 0;
  private nextPacketId = 1;

  constructor(
    readonly clientId: string,
    private readonly host: SessionHost,
  ) {}

  /** Messages waiting in the queue. */
  get queuedCount(): number {
    return this.queue === null ? 0 : this.queue.length - this.queueHead;
  }

  /** Whether messages wait to be sent (queued, or in flight and still to be re-sent). */
  get hasBacklog(): boolean {
    return this.resend !== null || (this.queue !== null && this.queueHead !== this.queue.length);
  }

  /** QoS 1/2 messages sent (or to be re-sent) and not yet fully acknowledged. */
  get inflightCount(): number {
    return this.inflight === null ? 0 : this.inflight.size;
  }

  /**
   * Delivers `message` with the given QoS (already downgraded), retain flag and subscription
   * identifiers: now when the client can take it, else into the queue.
   */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: number | number[] | undefined, group: SharedGroup<Session> | null): void {
    const link = this.link;
    if (link === null) {
      if (qos === 0 && !this.host.options.queueQoS0Offline) return;
      this.enqueue(new Delivery(message.own(), qos, retain, subscriptionIds, group));
      return;
    }
    if (this.queueHead !== (this.queue?.length ?? 0) || this.resend !== null || link.congested || (qos !== 0 && this.sentInflight() >= link.receiveMaximum)) {
      this.enqueue(new Delivery(message.own(), qos, retain, subscriptionIds, group));
      // Flow control: hold the publisher back before the queue is full (and starts dropping).
      const max = this.host.options.maxQueuedMessages;
      if (max !== 0 && this.queuedCount * 2 >= max) this.host.throttle(message.origin, this);
      return;
    }
    if (qos === 0) {
      const buf = message.encode(0, retain, subscriptionIds, 0, false, message.expiresAt === 0 ? 0 : this.host.now());
      if (buf.length > link.maximumPacketSize) this.host.dropped(this, message, 0, 'packetTooLarge');
      else link.sendBuffer(buf);
      return;
    }
    // Encoded first, so that own() can keep the payload as a view of the encoding instead of copying it.
    this.transmit(new Delivery(message, qos, retain, subscriptionIds, group), link);
    message.own();
  }

  /** Sends queued messages while the client can take them (after an ack, a drain, or a reconnect). */
  pump(): void {
    const link = this.link;
    if (link === null) return;
    if (this.resend !== null && !this.resendInflight(link)) return;
    const q = this.queue;
    if (q !== null) {
      let now = 0; // read once, and only if a queued message can expire
      while (this.queueHead < q.length && !link.congested) {
        const d = q[this.queueHead]!;
        if (d.qos !== 0 && this.sentInflight() >= link.receiveMaximum) break;
        q[this.queueHead++] = undefined;
        if (d.qos === 0) this.queuedQoS0--;
        if (d.message.expiresAt !== 0) {
          if (now === 0) now = this.host.now();
          if (d.message.isExpired(now)) continue;
        }
        this.transmit(d, link);
      }
      this.compactQueue();
    }
    if (this.throttle !== null && this.queuedCount * 4 <= this.host.options.maxQueuedMessages) this.host.release(this);
  }

  /** Re-sends in-flight messages after a resume, oldest first; returns whether all have been. */
  private resendInflight(link: SessionLink): boolean {
    const resend = this.resend!;
    // Each one re-sent counts against the Receive Maximum at once.
    while (resend.length !== 0 && !link.congested && this.sentInflight() < link.receiveMaximum) {
      const d = resend.shift()!;
      const buf = d.message.encode(d.qos, d.retain, d.subscriptionIds, d.packetId, true, d.message.expiresAt === 0 ? 0 : this.host.now());
      if (buf.length > link.maximumPacketSize) {
        this.inflight!.delete(d.packetId);
        this.host.dropped(this, d.message, d.qos, 'packetTooLarge');
      } else {
        link.sendBuffer(buf);
      }
    }
    if (resend.length !== 0) return false;
    this.resend = null;
    return true;
  }

  /** PUBACK from the client. Returns false when no QoS 1 message awaited it. */
  onPuback(packetId: number): boolean {
    const d = this.inflight?.get(packetId);
    if (d === undefined || d.qos !== 1) return false;
    this.complete(d);
    return true;
  }

  /** A message in flight is done: free its identifier (and its place in the resend list), send more. */
  private complete(d: Delivery): void {
    this.inflight!.delete(d.packetId);
    const resend = this.resend;
    if (resend !== null) {
      // Acknowledged although not re-sent yet on this connection (it got the original).
      const i = resend.indexOf(d);
      if (i !== -1) resend.splice(i, 1);
      if (resend.length === 0) this.resend = null;
    }
    this.pump();
  }

  /** PUBREC from the client: answers PUBREL (0x92 when the packet identifier is unknown). */
  onPubrec(packetId: number, reasonCode: number): void {
    const link = this.link!;
    const d = this.inflight?.get(packetId);
    if (d === undefined || d.qos !== 2) {
      link.sendPacket({ type: PacketType.PUBREL, packetId, reasonCode: 0x92 });
      return;
    }
    if (reasonCode >= 0x80) {
      // The client refused the message: the flow ends here (spec 4.3.3).
      this.complete(d);
      return;
    }
    d.released = true;
    link.sendPacket({ type: PacketType.PUBREL, packetId });
  }

  /** PUBCOMP from the client. Returns false when no released QoS 2 message awaited it. */
  onPubcomp(packetId: number): boolean {
    const d = this.inflight?.get(packetId);
    if (d === undefined || !d.released) return false;
    this.complete(d);
    return true;
  }

  /**
   * Binds a new connection. With `resume`, unacknowledged QoS 1/2 messages are re-sent (PUBREL for
   * those already received, PUBLISH with DUP for the rest, in their original order) and the queue follows.
   */
  attach(link: SessionLink, resume: boolean): void {
    this.link = link;
    const inflight = this.inflight;
    if (resume && inflight !== null && inflight.size !== 0) {
      const resend: Delivery[] = [];
      for (const d of inflight.values()) {
        if (d.released) link.sendPacket({ type: PacketType.PUBREL, packetId: d.packetId });
        else resend.push(d);
      }
      this.resend = resend.length === 0 ? null : resend;
    }
    this.pump();
  }

  /** Unbinds the connection (the client went offline); in-flight messages will be re-sent on resume. */
  detach(): void {
    this.link = null;
    this.resend = null;
    // Messages for an offline session are queued by design: nobody is held back for it.
    if (this.throttle !== null) this.host.release(this);
  }

  /**
   * Removes the not yet acknowledged deliveries made through shared subscriptions (in flight and not yet
   * received by the client, or queued), so that the broker can hand them to another group member.
   * `keep` decides per delivery: true leaves it with this session.
   */
  takeShared(keep: (d: Delivery) => boolean): Delivery[] {
    const taken: Delivery[] = [];
    if (this.inflight !== null) {
      for (const [id, d] of this.inflight) {
        if (d.group !== null && !d.released && !keep(d)) {
          this.inflight.delete(id);
          taken.push(d);
        }
      }
    }
    const q = this.queue;
    if (q !== null) {
      let w = this.queueHead;
      for (let r = this.queueHead; r < q.length; r++) {
        const d = q[r]!;
        if (d.group !== null && !keep(d)) {
          taken.push(d);
          if (d.qos === 0) this.queuedQoS0--;
        } else {
          q[w++] = d;
        }
      }
      q.length = w;
    }
    return taken;
  }

  /** Forgets everything in flight or queued (the session ended). */
  clearMessages(): void {
    this.inflight = null;
    this.resend = null;
    this.queue = null;
    this.queueHead = 0;
    this.queuedQoS0 = 0;
  }

  private sentInflight(): number {
    const n = this.inflight === null ? 0 : this.inflight.size;
    return this.resend === null ? n : n - this.resend.length;
  }

  private transmit(d: Delivery, link: SessionLink): void {
    const now = d.message.expiresAt === 0 ? 0 : this.host.now();
    if (d.qos === 0) {
      const buf = d.message.encode(0, d.retain, d.subscriptionIds, 0, false, now);
      if (buf.length > link.maximumPacketSize) this.host.dropped(this, d.message, 0, 'packetTooLarge');
      else link.sendBuffer(buf);
      return;
    }
    const id = this.allocatePacketId();
    const buf = d.message.encode(d.qos, d.retain, d.subscriptionIds, id, false, now);
    if (buf.length > link.maximumPacketSize) {
      // Spec 3.1.2.11.4: discard it and behave as if it had been sent and acknowledged.
      this.host.dropped(this, d.message, d.qos, 'packetTooLarge');
      return;
    }
    d.packetId = id;
    this.inflight!.set(id, d);
    link.sendBuffer(buf);
  }

  private allocatePacketId(): number {
    const inflight = (this.inflight ??= new Map());
    // In flight is bounded by Receive Maximum (≤ 65,535), so a free identifier exists.
    let id = this.nextPacketId;
    while (inflight.has(id)) id = id === 0xffff ? 1 : id + 1;
    this.nextPacketId = id === 0xffff ? 1 : id + 1;
    return id;
  }

  private enqueue(d: Delivery): void {
    const { maxQueuedMessages, queueFullPolicy } = this.host.options;
    const q = (this.queue ??= []);
    if (q.length - this.queueHead >= maxQueuedMessages) {
      if (d.qos === 0 || maxQueuedMessages === 0) {
        this.host.dropped(this, d.message, d.qos, 'queueFull');
        return;
      }
      if (this.queuedQoS0 !== 0) {
        this.evict(this.indexOfOldestQoS0());
      } else if (queueFullPolicy === 'dropOldest') {
        this.evict(this.queueHead);
      } else {
        this.host.dropped(this, d.message, d.qos, 'queueFull');
        return;
      }
    }
    q.push(d);
    if (d.qos === 0) this.queuedQoS0++;
  }

  private indexOfOldestQoS0(): number {
    const q = this.queue!;
    for (let i = this.queueHead; i < q.length; i++) if (q[i]!.qos === 0) return i;
    return this.queueHead;
  }

  private evict(index: number): void {
    const q = this.queue!;
    const d = q[index]!;
    if (index === this.queueHead) {
      q[this.queueHead++] = undefined;
    } else {
      q.splice(index, 1);
    }
    if (d.qos === 0) this.queuedQoS0--;
    this.host.dropped(this, d.message, d.qos, 'queueFull');
  }

  private compactQueue(): void {
    const q = this.queue!;
    if (this.queueHead === q.length) {
      // Drop the array itself: an idle session keeps no queue storage.
      this.queue = null;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > q.length) {
      q.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }
}
