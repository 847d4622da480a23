/**
 * Session state (spec 4.1) and outgoing delivery towards one client: subscriptions, QoS 1/2 messages
 * in flight (bounded by the client's Receive Maximum), and the bounded queue of messages waiting
 * (client offline, receive maximum reached, or its socket full). Everything is allocated lazily: an
 * idle session is a handful of fields.
 *
 * Each session's queue has its own limits (`maxQueuedMessages`, `maxQueuedBytes`; the broker-wide
 * `maxTotalQueuedBytes` bounds them all). When one is reached: a new QoS 0 message is dropped; for a
 * QoS 1/2 one queued QoS 0 messages are evicted first, oldest first; if that is not enough,
 * `queueFullPolicy` decides (`dropNew`: the new message is refused — {@link Session.deliver} returns
 * false and the publisher gets 0x97 Quota exceeded; `dropOldest`: the oldest queued ones are evicted).
 * Each drop is reported to the host (counted and emitted as a `drop` event): QoS 1/2 messages are never
 * lost silently. A full queue slows nobody down by itself; see {@link Session.backedUp}.
 *
 * Slightly over 500 lines: the queue, the in-flight map and their byte accounting change together on
 * every delivery (the broker's hottest path) and must stay consistent; the store journal is an
 * interface implemented elsewhere (store/persistence.ts).
 */
import { PacketType, type Packet, type QoS } from '../codec/index.js';
import type { Message } from './message.js';
import type { SharedGroup, SubscriptionEntry } from './topic-tree.js';
import type { LongTimer } from './timers.js';

/** Why a message was not delivered to a client (see the `drop` event). */
export type DropReason = 'queueFull' | 'memoryLimit' | 'packetTooLarge' | 'noSubscriberAvailable' | 'notAuthorized';

/** The bytes a queued message is charged with (its payload and topic; shared payloads are charged to each queue, as Mosquitto does). */
export function queuedSize(m: Message): number {
  return m.payload.length + m.topic.length;
}

/** The connection a session is bound to, as the session sees it. */
export interface SessionLink {
  /** True while outgoing bytes are piling up (socket full): publishes wait in the session queue. */
  readonly congested: boolean;
  /** The client's Receive Maximum (CONNECT; default 65,535), capped by the broker's `maxInflightMessages`. */
  readonly receiveMaximum: number;
  /** The client's Maximum Packet Size (CONNECT; default unlimited). */
  readonly maximumPacketSize: number;
  /** Queues encoded bytes for the next batched write. */
  sendBuffer(buf: Buffer): void;
  /** Encodes and queues a control packet. */
  sendPacket(packet: Packet): void;
  /**
   * The PUBLISH bytes of `message` for this client, in its protocol version (and with a topic alias
   * when the broker uses them towards it): {@link Message.encode}'s arguments.
   */
  encodePublish(message: Message, qos: QoS, retain: boolean, subscriptionIds: number | number[] | undefined, packetId: number, dup: boolean, now: number): Buffer;
}

/** The broker options a session reads (the resolved broker options satisfy it). */
export interface SessionOptions {
  /** Bound of the queue of messages waiting for the client. */
  readonly maxQueuedMessages: number;
  /** Bound of the bytes queued for the client (0: none). */
  readonly maxQueuedBytes: number;
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
  /** Whether the broker-wide bound of queued bytes is reached: nothing more is queued anywhere. */
  readonly memoryFull: boolean;
  /** Bytes entered (positive) or left (negative) a session queue: the broker-wide account. */
  queuedBytesChanged(delta: number): void;
  /** The queue of `subscriber` has drained: let the clients it slowed down go on. */
  release(subscriber: Session): void;
}

/**
 * Mirrors a persistent session's QoS 1/2 deliveries into the broker store (lib/broker/store/persistence.ts).
 * Null on sessions that end with their connection, and on every session of a broker without persistence.
 */
export interface SessionJournal {
  /** `d` was queued (not sent yet). */
  queued(session: Session, d: Delivery): void;
  /** `d` was sent with its packet id (PUBLISH out, awaiting PUBACK/PUBREC). */
  sent(session: Session, d: Delivery): void;
  /** PUBREC came for `d` and PUBREL goes out. */
  released(session: Session, d: Delivery): void;
  /** `d` is done (acknowledged, dropped, expired, or handed to another session). */
  completed(session: Session, d: Delivery): void;
}

/** Publishers held back because every route of their messages, this subscriber included, is backed up (see Router). */
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
  /** Id of its store record (persistent sessions, QoS 1/2), else 0. */
  seq = 0;
  /**
   * Index of its record's put in the store group `stagedGroup` while that put may still be taken back
   * (a QoS 1 delivery sent at once whose PUBACK may come before the group is written), else -1.
   */
  stagedIndex = -1;
  stagedGroup = 0;
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
  /** Write-through of deliveries to the broker store while the session is persistent, else null. */
  journal: SessionJournal | null = null;
  /** Highest store record id given to a delivery of this session (see Delivery.seq). */
  lastSeq = 0;
  /** Scratch for routing: one message is delivered once per session (see Router). */
  routeStamp = 0;
  routeSlot = 0;

  private inflight: Map<number, Delivery> | null = null;
  /** In-flight messages still to be (re)sent on the current connection, oldest first. */
  private resend: Delivery[] | null = null;
  private queue: (Delivery | undefined)[] | null = null;
  private queueHead = 0;
  private queuedQoS0 = 0;
  /** Bytes charged for the queued messages (see {@link queuedSize}), and for the QoS 0 ones among them. */
  private queuedBytesTotal = 0;
  private queuedQoS0Bytes = 0;
  private nextPacketId = 1;

  constructor(
    readonly clientId: string,
    private readonly host: SessionHost,
  ) {}

  /** Messages waiting in the queue. */
  get queuedCount(): number {
    return this.queue === null ? 0 : this.queue.length - this.queueHead;
  }

  /** Bytes charged for the queued messages. */
  get queuedBytes(): number {
    return this.queuedBytesTotal;
  }

  /**
   * Whether this connected client's queue is at least half full (messages or bytes): a route that
   * holds its publishers back — but only together with every other route of their messages (Router),
   * and only until the slow-consumer timeout declares it slow.
   */
  get backedUp(): boolean {
    if (this.link === null || this.queue === null) return false;
    const { maxQueuedMessages, maxQueuedBytes } = this.host.options;
    return (this.queue.length - this.queueHead) * 2 >= maxQueuedMessages || (maxQueuedBytes !== 0 && this.queuedBytesTotal * 2 >= maxQueuedBytes);
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
   * identifiers: now when the client can take it, else into the queue. Returns false when a QoS 1/2
   * message could not be kept (queue full under `dropNew`, or the broker-wide bound reached): it was
   * reported dropped, and a publisher must not be told it was accepted.
   */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: number | number[] | undefined, group: SharedGroup<Session> | null): boolean {
    const link = this.link;
    if (link === null) {
      if (qos === 0 && !this.host.options.queueQoS0Offline) return true;
      return this.enqueue(message, qos, retain, subscriptionIds, group);
    }
    if (this.queueHead !== (this.queue?.length ?? 0) || this.resend !== null || link.congested || (qos !== 0 && this.sentInflight() >= link.receiveMaximum)) {
      return this.enqueue(message, qos, retain, subscriptionIds, group);
    }
    if (qos === 0) {
      const buf = link.encodePublish(message, 0, retain, subscriptionIds, 0, false, message.expiresAt === 0 ? 0 : this.host.now());
      if (buf.length > link.maximumPacketSize) this.host.dropped(this, message, 0, 'packetTooLarge');
      else link.sendBuffer(buf);
      return true;
    }
    // Encoded first, so that own() can keep the payload as a view of the encoding instead of copying it.
    this.transmit(new Delivery(message, qos, retain, subscriptionIds, group), link);
    message.own();
    return true;
  }

  /** Sends queued messages while the client can take them (after an ack, a drain, or a reconnect). */
  pump(): void {
    const link = this.link;
    if (link === null) return;
    if (this.resend !== null && !this.resendInflight(link)) return;
    const q = this.queue;
    if (q !== null) {
      let now = 0; // read once, and only if a queued message can expire
      let left = 0;
      while (this.queueHead < q.length && !link.congested) {
        const d = q[this.queueHead]!;
        if (d.qos !== 0 && this.sentInflight() >= link.receiveMaximum) break;
        q[this.queueHead++] = undefined;
        const size = queuedSize(d.message);
        left += size;
        if (d.qos === 0) {
          this.queuedQoS0--;
          this.queuedQoS0Bytes -= size;
        }
        if (d.message.expiresAt !== 0) {
          if (now === 0) now = this.host.now();
          if (d.message.isExpired(now)) {
            if (d.seq !== 0) this.journal?.completed(this, d);
            continue;
          }
        }
        this.transmit(d, link);
      }
      if (left !== 0) {
        this.queuedBytesTotal -= left;
        this.host.queuedBytesChanged(-left);
      }
      this.compactQueue();
    }
    if (this.throttle !== null && this.drainedBelowQuarter()) this.host.release(this);
  }

  /** Hysteresis of flow control: held publishers go on once the queue is down to a quarter of its limits. */
  private drainedBelowQuarter(): boolean {
    const { maxQueuedMessages, maxQueuedBytes } = this.host.options;
    return this.queuedCount * 4 <= maxQueuedMessages && (maxQueuedBytes === 0 || this.queuedBytesTotal * 4 <= maxQueuedBytes);
  }

  /** Re-sends in-flight messages after a resume, oldest first; returns whether all have been. */
  private resendInflight(link: SessionLink): boolean {
    const resend = this.resend!;
    // Each one re-sent counts against the Receive Maximum at once.
    while (resend.length !== 0 && !link.congested && this.sentInflight() < link.receiveMaximum) {
      const d = resend.shift()!;
      const buf = link.encodePublish(d.message, d.qos, d.retain, d.subscriptionIds, d.packetId, true, d.message.expiresAt === 0 ? 0 : this.host.now());
      if (buf.length > link.maximumPacketSize) {
        this.inflight!.delete(d.packetId);
        if (d.seq !== 0) this.journal?.completed(this, d);
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
    if (d.seq !== 0) this.journal?.completed(this, d);
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
    if (d.seq !== 0) this.journal?.released(this, d);
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
          if (d.seq !== 0) this.journal?.completed(this, d);
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
          if (d.seq !== 0) this.journal?.completed(this, d);
          taken.push(d);
          this.unaccount(d);
        } else {
          q[w++] = d;
        }
      }
      q.length = w;
    }
    return taken;
  }

  /**
   * Puts a delivery loaded from the broker store back: in flight with its packet id (re-sent with DUP,
   * or PUBREL when `released`, on resume) or, with packet id 0, at the end of the queue. Call in `seq`
   * order. Returns an older in-flight delivery with the same packet id, which it replaces.
   */
  restore(d: Delivery): Delivery | undefined {
    if (d.packetId === 0) {
      (this.queue ??= []).push(d);
      // Charged like a delivery queued live (see enqueue), so the queue limits hold after a restart too.
      const size = queuedSize(d.message);
      if (d.qos === 0) {
        this.queuedQoS0++;
        this.queuedQoS0Bytes += size;
      }
      this.queuedBytesTotal += size;
      this.host.queuedBytesChanged(size);
      return undefined;
    }
    const inflight = (this.inflight ??= new Map());
    // Two records with one packet id: the older one was finished (its delete had not been committed).
    const displaced = inflight.get(d.packetId);
    inflight.set(d.packetId, d);
    if (d.packetId >= this.nextPacketId) this.nextPacketId = d.packetId === 0xffff ? 1 : d.packetId + 1;
    return displaced;
  }

  /** Every QoS 1/2 delivery held, in flight first, then queued (to write them all when a session becomes persistent). */
  *deliveries(): IterableIterator<Delivery> {
    if (this.inflight !== null) yield* this.inflight.values();
    const q = this.queue;
    if (q !== null) for (let i = this.queueHead; i < q.length; i++) if (q[i]!.qos !== 0) yield q[i]!;
  }

  /** Forgets everything in flight or queued (the session ended). */
  clearMessages(): void {
    this.inflight = null;
    this.resend = null;
    this.queue = null;
    this.queueHead = 0;
    this.queuedQoS0 = 0;
    this.queuedQoS0Bytes = 0;
    if (this.queuedBytesTotal !== 0) this.host.queuedBytesChanged(-this.queuedBytesTotal);
    this.queuedBytesTotal = 0;
  }

  /** A queued delivery leaves the queue other than by being sent: its counts and bytes go. */
  private unaccount(d: Delivery): void {
    const size = queuedSize(d.message);
    if (d.qos === 0) {
      this.queuedQoS0--;
      this.queuedQoS0Bytes -= size;
    }
    this.queuedBytesTotal -= size;
    this.host.queuedBytesChanged(-size);
  }

  private sentInflight(): number {
    const n = this.inflight === null ? 0 : this.inflight.size;
    return this.resend === null ? n : n - this.resend.length;
  }

  private transmit(d: Delivery, link: SessionLink): void {
    const now = d.message.expiresAt === 0 ? 0 : this.host.now();
    if (d.qos === 0) {
      const buf = link.encodePublish(d.message, 0, d.retain, d.subscriptionIds, 0, false, now);
      if (buf.length > link.maximumPacketSize) this.host.dropped(this, d.message, 0, 'packetTooLarge');
      else link.sendBuffer(buf);
      return;
    }
    const id = this.allocatePacketId();
    const buf = link.encodePublish(d.message, d.qos, d.retain, d.subscriptionIds, id, false, now);
    if (buf.length > link.maximumPacketSize) {
      // Spec 3.1.2.11.4: discard it and behave as if it had been sent and acknowledged.
      if (d.seq !== 0) this.journal?.completed(this, d);
      this.host.dropped(this, d.message, d.qos, 'packetTooLarge');
      return;
    }
    d.packetId = id;
    this.inflight!.set(id, d);
    // Staged before the bytes are queued: the core writes no bytes before the store has them.
    if (this.journal !== null) this.journal.sent(this, d);
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

  /** Queues a delivery within the limits (see the file comment); false when a QoS 1/2 message could not be kept. */
  private enqueue(message: Message, qos: QoS, retain: boolean, subscriptionIds: number | number[] | undefined, group: SharedGroup<Session> | null): boolean {
    const { maxQueuedMessages, maxQueuedBytes, queueFullPolicy } = this.host.options;
    const size = queuedSize(message);
    if (this.host.memoryFull) {
      // The broker-wide bound: nothing more is queued anywhere until the queues drain.
      this.host.dropped(this, message, qos, 'memoryLimit');
      return qos === 0;
    }
    const q = (this.queue ??= []);
    if (this.overLimit(1, size, maxQueuedMessages, maxQueuedBytes)) {
      if (qos === 0 || maxQueuedMessages === 0 || (maxQueuedBytes !== 0 && size > maxQueuedBytes)) {
        this.host.dropped(this, message, qos, 'queueFull');
        return qos === 0;
      }
      // Room is made from queued QoS 0 messages first, oldest first — only if they free enough.
      if (!this.overLimit(1 - this.queuedQoS0, size - this.queuedQoS0Bytes, maxQueuedMessages, maxQueuedBytes)) {
        while (this.queuedQoS0 !== 0 && this.overLimit(1, size, maxQueuedMessages, maxQueuedBytes)) this.evict(this.indexOfOldestQoS0());
      } else if (queueFullPolicy === 'dropOldest') {
        while (this.queueHead < q.length && this.overLimit(1, size, maxQueuedMessages, maxQueuedBytes)) this.evict(this.queueHead);
      } else {
        this.host.dropped(this, message, qos, 'queueFull');
        return false;
      }
    }
    const d = new Delivery(message.own(), qos, retain, subscriptionIds, group);
    q.push(d);
    if (qos === 0) {
      this.queuedQoS0++;
      this.queuedQoS0Bytes += size;
    } else if (this.journal !== null) this.journal.queued(this, d);
    this.queuedBytesTotal += size;
    this.host.queuedBytesChanged(size);
    return true;
  }

  /** Whether `count` more messages of `bytes` more bytes would pass a limit of this queue. */
  private overLimit(count: number, bytes: number, maxMessages: number, maxBytes: number): boolean {
    return this.queuedCount + count > maxMessages || (maxBytes !== 0 && this.queuedBytesTotal + bytes > maxBytes);
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
    this.unaccount(d);
    if (d.qos !== 0 && d.seq !== 0) this.journal?.completed(this, d);
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
