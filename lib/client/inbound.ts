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
import { PacketType, type PublishPacket } from '../codec/index.js';
import type { Link } from './link.js';
import type { SessionStore } from './session.js';

const { PUBACK, PUBREC, PUBCOMP } = PacketType;

/**
 * A delivered QoS 1/2 message whose acknowledgement has not gone out yet, as a handle: its position
 * in the flow's receive order. Kept in parallel arrays rather than one object per message, since
 * the common case — acks given in receive order — then costs no allocation and no Map. @internal
 */
export type PendingAck = number;

/** `codes` entry of a message the application has not acknowledged yet. */
const AWAITING = -1;
/** Pending acks found by scanning from the head before an id index is built (acks out of order). */
const SCAN_LIMIT = 16;

/** Inbound QoS 1/2 state of one network connection. @internal */
export class InboundFlow {
  // Messages delivered and not yet acknowledged on the wire, in the order received: a ring indexed
  // by a running position (`seq & mask`), as parallel arrays.
  private messages: (PublishPacket | undefined)[] = new Array<PublishPacket | undefined>(16);
  private ids = new Uint16Array(16);
  private qos = new Uint8Array(16);
  /** The reason code the application gave, or {@link AWAITING}. */
  private codes = new Int16Array(16);
  private mask = 15;
  /** Position of the oldest entry (wraps as an int32; only differences and low bits are used). */
  private head = 0;
  private count = 0;
  /**
   * Packet ids awaiting our ack on this connection, a bit each: a PUBLISH re-sent meanwhile is a
   * duplicate. Once closed, the unacknowledged ones stay until {@link supersede} (see {@link close}).
   */
  private readonly awaiting = new Uint32Array(2048);
  private awaitingCount = 0;
  /** Packet id → position, built only once acks come far out of order; dropped when the ring empties. */
  private index: Map<number, number> | undefined;
  private closed = false;
  /** After close: record QoS 2 messages the application accepts as received (see {@link close}). */
  private recordLateAcks = false;

  constructor(
    readonly link: Link,
    private readonly store: SessionStore,
  ) {}

  /** Messages delivered on this connection whose acknowledgement has not gone out. */
  get pendingCount(): number {
    return this.awaitingCount;
  }

  /**
   * Exactly-once bookkeeping for a received QoS 1/2 PUBLISH; returns whether to deliver it.
   * Not delivered: a PUBLISH whose packet id awaits our ack on this connection (a re-send: the
   * server cannot reuse an id before our ack), and a QoS 2 PUBLISH whose id got PUBREC already —
   * answered with PUBREC again, behind the acks due before it.
   */
  admit(packet: PublishPacket): boolean {
    const id = packet.packetId as number;
    if (this.isAwaiting(id)) return false;
    if (packet.qos === 2 && this.store.hasIncoming(id)) {
      this.settle(this.track(packet), 0x00);
      return false;
    }
    return true;
  }

  /** Manual mode: records an admitted QoS 1/2 message as awaiting `ack()`, in receive order. */
  track(message: PublishPacket): PendingAck {
    if (this.count > this.mask) this.grow();
    const id = message.packetId as number;
    const seq = (this.head + this.count) | 0;
    const i = seq & this.mask;
    this.messages[i] = message;
    this.ids[i] = id;
    this.qos[i] = message.qos;
    this.codes[i] = AWAITING;
    this.count++;
    this.awaiting[id >>> 5]! |= 1 << (id & 31);
    this.awaitingCount++;
    this.index?.set(id, seq);
    return seq;
  }

  /**
   * The pending ack of `message` if it was delivered on this connection and is not acknowledged
   * yet. Matched by identity, not only by packet id: another message may carry the same id later.
   */
  find(message: PublishPacket): PendingAck | undefined {
    const id = message.packetId as number;
    if (!this.isAwaiting(id)) return undefined;
    const mask = this.mask;
    const messages = this.messages;
    // Acks mostly come in receive order: look at the head first, then a little further.
    const n = this.count < SCAN_LIMIT ? this.count : SCAN_LIMIT;
    for (let k = 0; k < n; k++) {
      const seq = (this.head + k) | 0;
      if (messages[seq & mask] === message) return this.codes[seq & mask] === AWAITING ? seq : undefined;
    }
    if (this.count <= SCAN_LIMIT) return undefined;
    let index = this.index;
    if (index === undefined) {
      index = this.index = new Map();
      for (let k = 0; k < this.count; k++) {
        const seq = (this.head + k) | 0;
        index.set(this.ids[seq & mask]!, seq);
      }
    }
    const seq = index.get(id);
    if (seq === undefined) return undefined;
    const i = seq & mask;
    return messages[i] === message && this.codes[i] === AWAITING ? seq : undefined;
  }

  /**
   * The application acknowledged `pending` with `reasonCode`. The ack goes out now if every message
   * received before it is acknowledged, else when they are. Returns false, doing nothing, when it
   * was acknowledged already or its connection is gone (then a QoS 2 message accepted with a
   * success code is recorded as received, see {@link close}).
   */
  settle(pending: PendingAck, reasonCode: number): boolean {
    const offset = (pending - this.head) | 0;
    if (offset < 0 || offset >= this.count) return false;
    const i = pending & this.mask;
    if (this.codes[i] !== AWAITING) return false;
    this.codes[i] = reasonCode;
    if (this.closed) {
      this.clearAwaiting(this.ids[i]!);
      if (this.recordLateAcks) this.recordReceived(i);
      return false;
    }
    if (offset === 0) this.flush();
    return true;
  }

  /** Automatic mode: acknowledges a delivered message at once. */
  ackNow(packetId: number, qos: 1 | 2): void {
    this.send(packetId, qos, 0x00);
  }

  /** A PUBREL: the QoS 2 flow ends with PUBCOMP (0x92 for an id we have no record of). */
  onPubrel(packetId: number): void {
    const known = this.store.deleteIncoming(packetId);
    this.link.writeAck(PUBCOMP, packetId, known ? 0x00 : 0x92);
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
    if (!sessionKept) {
      this.clear();
      return;
    }
    // Acknowledged ones are done with; unacknowledged ones stay findable while their late ack can
    // still be recorded (the ring is not touched again but by settle()).
    const mask = this.mask;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      if (this.codes[i] === AWAITING) continue;
      this.clearAwaiting(this.ids[i]!);
      this.recordReceived(i);
    }
  }

  /** A new connection was established: acks of this one's messages no longer mean anything. */
  supersede(): void {
    this.recordLateAcks = false;
    this.clear();
  }

  private isAwaiting(id: number): boolean {
    return (this.awaiting[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  private clearAwaiting(id: number): void {
    this.awaiting[id >>> 5]! &= ~(1 << (id & 31));
    this.awaitingCount--;
  }

  /** Forgets every message of this connection. */
  private clear(): void {
    this.messages.fill(undefined);
    this.count = 0;
    this.awaiting.fill(0);
    this.awaitingCount = 0;
    this.index = undefined;
  }

  /** Sends the acks at the head of the queue that the application has given. */
  private flush(): void {
    const mask = this.mask;
    const messages = this.messages;
    const codes = this.codes;
    const index = this.index;
    while (this.count !== 0) {
      const i = this.head & mask;
      const code = codes[i]!;
      if (code === AWAITING) break;
      const id = this.ids[i]!;
      messages[i] = undefined;
      this.head = (this.head + 1) | 0;
      this.count--;
      this.clearAwaiting(id);
      index?.delete(id);
      this.send(id, this.qos[i] as 1 | 2, code);
    }
    if (this.count === 0) this.index = undefined;
  }

  /** Doubles the ring, keeping every entry at `seq & mask` of the new mask. */
  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const mask = cap - 1;
    const messages = new Array<PublishPacket | undefined>(cap);
    const ids = new Uint16Array(cap);
    const qos = new Uint8Array(cap);
    const codes = new Int16Array(cap);
    for (let k = 0; k < this.count; k++) {
      const seq = (this.head + k) | 0;
      const from = seq & this.mask;
      const to = seq & mask;
      messages[to] = this.messages[from];
      ids[to] = this.ids[from]!;
      qos[to] = this.qos[from]!;
      codes[to] = this.codes[from]!;
    }
    this.messages = messages;
    this.ids = ids;
    this.qos = qos;
    this.codes = codes;
    this.mask = mask;
  }

  private send(packetId: number, qos: 1 | 2, reasonCode: number): void {
    const type = qos === 1 ? PUBACK : PUBREC;
    this.link.writeAck(type, packetId, reasonCode);
    // An error PUBREC ends the flow (spec 4.3.3): the id is free, no PUBREL follows.
    if (qos === 2 && reasonCode < 0x80) this.store.addIncoming(packetId);
  }

  private recordReceived(i: number): void {
    if (this.qos[i] === 2 && this.codes[i]! < 0x80) this.store.addIncoming(this.ids[i]!);
  }
}

