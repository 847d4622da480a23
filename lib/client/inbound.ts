/**
 * The receiving side of QoS 1/2 on one network connection: the acknowledgements the client owes
 * the server (PUBACK, PUBREC, PUBCOMP) and exactly-once bookkeeping.
 *
 * Two modes:
 * - automatic (default): a message is acknowledged on receipt (the ack is queued just before the
 *   message is handed to the application, and leaves in this tick's write batch);
 * - manual (`manualAck`): each QoS 1/2 message waits for `client.ack()`. Acknowledgements go out in
 *   the order the PUBLISHes were received (spec 4.6, as paho.golang does): an ack given early is held
 *   until every message received before it is acknowledged too. For QoS 2 the PUBREC itself is
 *   deferred — once the server has a PUBREC it forgets the message, so a crash before it means the
 *   message is redelivered.
 *
 * One {@link InboundFlow} lives per network connection. An ack always goes out on the connection
 * that delivered the message, never a later one: after a reconnect the server may reuse that packet
 * identifier for another message, and redelivers the unacknowledged one, which gets its own ack.
 *
 * Receive Maximum: a conforming server stops sending QoS 1/2 messages while Receive Maximum of them
 * (our CONNECT property) are unacknowledged, so in manual mode the application's pace throttles the
 * server. By default the client treats a server that sends more as a protocol error (DISCONNECT
 * 0x93, spec 3.3.4; the check is in the client, counting {@link InboundFlow.pendingCount} and the
 * QoS 2 ids awaiting PUBREL). Mosquitto 2.0.11, for one, keeps only the first window — with Receive
 * Maximum 4 it was measured with 40 QoS 1 messages outstanding — and there the disconnect would turn
 * that broker bug into a reconnect-and-redeliver loop; option `enforceReceiveMaximum: false` tolerates
 * it instead. Tolerating costs nothing unbounded: the state kept per message is a packet id, of which
 * there are at most 65,535 in flight. Applications that need a hard bound on concurrent work keep
 * their own (as the Nest transport does).
 */
import { PacketType, encodePacket, type PublishPacket } from '../codec/index.js';
import type { Link } from './link.js';
import { Queue } from './queue.js';
import type { SessionStore } from './session.js';

const { PUBACK, PUBREC, PUBCOMP } = PacketType;

/** A delivered QoS 1/2 message whose acknowledgement has not gone out yet. @internal */
export interface PendingAck {
  /** The message object handed to the application: `ack()` must be given this very object. */
  readonly message: PublishPacket;
  readonly packetId: number;
  readonly qos: 1 | 2;
  /** The application acknowledged it (the ack itself may still wait for earlier messages). */
  acked: boolean;
  /** Reason code of the PUBACK/PUBREC to send. */
  reasonCode: number;
}

/** Inbound QoS 1/2 state of one network connection. @internal */
export class InboundFlow {
  /** Messages delivered and not yet acknowledged on the wire, in the order received. */
  private readonly order = new Queue<PendingAck>();
  /**
   * The same messages by packet id: a PUBLISH re-sent meanwhile is a duplicate, and `ack()` finds
   * its message here. Once closed, the unacknowledged ones stay until {@link supersede} (see {@link close}).
   */
  private readonly byId = new Map<number, PendingAck>();
  private closed = false;
  /** After close: record QoS 2 messages the application accepts as received (see {@link close}). */
  private recordLateAcks = false;

  constructor(
    readonly link: Link,
    private readonly store: SessionStore,
  ) {}

  /** Messages delivered on this connection whose acknowledgement has not gone out. */
  get pendingCount(): number {
    return this.byId.size;
  }

  /**
   * Exactly-once bookkeeping for a received QoS 1/2 PUBLISH; returns whether to deliver it.
   * Not delivered: a PUBLISH whose packet id awaits our ack on this connection (a re-send: the
   * server cannot reuse an id before our ack), and a QoS 2 PUBLISH whose id got PUBREC already —
   * answered with PUBREC again, behind the acks due before it.
   */
  admit(packet: PublishPacket): boolean {
    const id = packet.packetId as number;
    if (this.byId.has(id)) return false;
    if (packet.qos === 2 && this.store.hasIncoming(id)) {
      this.settle(this.track(packet), 0x00);
      return false;
    }
    return true;
  }

  /** Manual mode: records an admitted QoS 1/2 message as awaiting `ack()`, in receive order. */
  track(message: PublishPacket): PendingAck {
    const packetId = message.packetId as number;
    const pending: PendingAck = { message, packetId, qos: message.qos as 1 | 2, acked: false, reasonCode: 0 };
    this.order.push(pending);
    this.byId.set(packetId, pending);
    return pending;
  }

  /**
   * The pending ack of `message` if it was delivered on this connection and is not acknowledged
   * yet. Matched by identity, not only by packet id: another message may carry the same id later.
   */
  find(message: PublishPacket): PendingAck | undefined {
    const pending = this.byId.get(message.packetId as number);
    return pending !== undefined && pending.message === message && !pending.acked ? pending : undefined;
  }

  /**
   * The application acknowledged `pending` with `reasonCode`. The ack goes out now if every message
   * received before it is acknowledged, else when they are. Returns false, doing nothing, when it
   * was acknowledged already or its connection is gone (then a QoS 2 message accepted with a
   * success code is recorded as received, see {@link close}).
   */
  settle(pending: PendingAck, reasonCode: number): boolean {
    if (pending.acked) return false;
    pending.acked = true;
    pending.reasonCode = reasonCode;
    if (this.closed) {
      this.byId.delete(pending.packetId);
      if (this.recordLateAcks) this.recordReceived(pending);
      return false;
    }
    if (this.order.peek() === pending) this.flush();
    return true;
  }

  /** Automatic mode: acknowledges a delivered message at once. */
  ackNow(packetId: number, qos: 1 | 2): void {
    this.send(packetId, qos, 0x00);
  }

  /** A PUBREL: the QoS 2 flow ends with PUBCOMP (0x92 for an id we have no record of). */
  onPubrel(packetId: number): void {
    const known = this.store.deleteIncoming(packetId);
    this.link.write(encodePacket({ type: PUBCOMP, packetId, reasonCode: known ? 0x00 : 0x92 }));
  }

  /**
   * The connection is gone: acks still owed are never sent (a later connection may use these packet
   * ids for other messages); the server redelivers those messages.
   *
   * When `sessionKept` (the server keeps the session), a QoS 2 message the application has accepted
   * with a success code — before the close, with its PUBREC held behind earlier messages, or after it
   * until the next CONNACK — is recorded as received, as if its PUBREC had gone out: the server must
   * re-send that PUBLISH first on the next connection (spec 4.4), and it is then answered with PUBREC
   * instead of being delivered a second time. A CONNACK without session forgets the record.
   */
  close(sessionKept: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.recordLateAcks = sessionKept;
    for (let p = this.order.shift(); p !== undefined; p = this.order.shift()) {
      if (!p.acked) continue;
      this.byId.delete(p.packetId);
      if (sessionKept) this.recordReceived(p);
    }
    // Unacknowledged messages stay findable only while their late ack can still be recorded.
    if (!sessionKept) this.byId.clear();
  }

  /** A new connection was established: acks of this one's messages no longer mean anything. */
  supersede(): void {
    this.recordLateAcks = false;
    this.byId.clear();
  }

  /** Sends the acks at the head of the queue that the application has given. */
  private flush(): void {
    const order = this.order;
    for (let p = order.peek(); p !== undefined && p.acked; p = order.peek()) {
      order.shift();
      this.byId.delete(p.packetId);
      this.send(p.packetId, p.qos, p.reasonCode);
    }
  }

  private send(packetId: number, qos: 1 | 2, reasonCode: number): void {
    if (qos === 1) {
      this.link.write(encodePacket({ type: PUBACK, packetId, reasonCode }));
      return;
    }
    this.link.write(encodePacket({ type: PUBREC, packetId, reasonCode }));
    // An error PUBREC ends the flow (spec 4.3.3): the id is free, no PUBREL follows.
    if (reasonCode < 0x80) this.store.addIncoming(packetId);
  }

  private recordReceived(p: PendingAck): void {
    if (p.qos === 2 && p.reasonCode < 0x80) this.store.addIncoming(p.packetId);
  }
}
