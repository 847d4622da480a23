/**
 * Client session state (spec 4.1): packet identifiers, outgoing QoS 1/2 messages in flight, the
 * queue of publishes waiting to be sent, and inbound QoS 2 packet ids awaiting PUBREL.
 *
 * The state sits behind {@link SessionStore} so that it can be made durable: a store that persists
 * `packet` and `state` of each {@link OutgoingMessage} plus the inbound ids lets a restarted process
 * resume its session (reconnect with cleanStart false and the same client id). The default
 * {@link MemorySessionStore} keeps it for the life of the process. The interface is synchronous
 * because it is on the hot path; a durable store may write behind.
 */
import type { PubackPacket, PubcompPacket, PublishPacket } from '../codec/index.js';

/**
 * Where an outgoing message is in its flow:
 * - `queued`: waiting for a connection, for the server's receive quota or for socket drain; no packet id yet;
 * - `publish`: PUBLISH sent, awaiting PUBACK (QoS 1) or PUBREC (QoS 2);
 * - `pubrel`: PUBREC received and PUBREL sent, awaiting PUBCOMP (QoS 2).
 */
export type OutgoingState = 'queued' | 'publish' | 'pubrel';

/** What a publish resolves with: PUBACK for QoS 1, PUBCOMP for QoS 2, nothing for QoS 0. */
export type PublishResult = PubackPacket | PubcompPacket | undefined;

/** One outgoing application message and the settlement of its `publish()` promise. */
export interface OutgoingMessage {
  /** The PUBLISH as the application made it: full topic (aliases are applied per connection); packetId set once in flight. */
  readonly packet: PublishPacket;
  state: OutgoingState;
  /** Runtime only, not to persist: sent on the current network connection (counts against the server's receive maximum). */
  sent: boolean;
  /** Runtime only, not to persist: settles the `publish()` promise (absent for messages restored from a store). */
  resolve?: (result: PublishResult | PromiseLike<PublishResult>) => void;
  /** Runtime only, not to persist. */
  reject?: (error: Error) => void;
}

/** Storage of the client session state. Implement it to make sessions survive a process restart. */
export interface SessionStore {
  /** Adds a message in flight (it has a packet id), or records its new state. Iteration keeps first-insertion order. */
  setInflight(msg: OutgoingMessage): void;
  getInflight(packetId: number): OutgoingMessage | undefined;
  /** Removes a completed (or abandoned) message; returns whether it was there. */
  deleteInflight(packetId: number): boolean;
  /** Messages in flight, in the order they were first sent (the order they must be re-sent in, spec 4.6). */
  inflight(): IterableIterator<OutgoingMessage>;
  readonly inflightCount: number;

  /** Appends a publish to the queue of those waiting to be sent. */
  pushPending(msg: OutgoingMessage): void;
  /** The oldest waiting publish, without removing it. */
  peekPending(): OutgoingMessage | undefined;
  /** Removes and returns the oldest waiting publish. */
  shiftPending(): OutgoingMessage | undefined;
  readonly pendingCount: number;

  /**
   * Records an inbound QoS 2 packet id: its message was delivered and PUBREC sent (or, with
   * `manualAck`, the application accepted it while its connection was lost); awaiting PUBREL.
   * A re-sent PUBLISH with this id is answered with PUBREC and not delivered again.
   */
  addIncoming(packetId: number): void;
  hasIncoming(packetId: number): boolean;
  /** Forgets an inbound id once PUBREL arrived; returns whether it was there. */
  deleteIncoming(packetId: number): boolean;
  readonly incomingCount: number;
  /** Forgets every inbound id (the server has no session any more). */
  clearIncoming(): void;

  /** Forgets everything. */
  clear(): void;
}

/** The default {@link SessionStore}: everything in memory. */
export class MemorySessionStore implements SessionStore {
  private readonly inflightById = new Map<number, OutgoingMessage>();
  private readonly pending: OutgoingMessage[] = [];
  private pendingHead = 0;
  private readonly incoming = new Set<number>();

  setInflight(msg: OutgoingMessage): void {
    this.inflightById.set(msg.packet.packetId as number, msg);
  }
  getInflight(packetId: number): OutgoingMessage | undefined {
    return this.inflightById.get(packetId);
  }
  deleteInflight(packetId: number): boolean {
    return this.inflightById.delete(packetId);
  }
  inflight(): IterableIterator<OutgoingMessage> {
    return this.inflightById.values();
  }
  get inflightCount(): number {
    return this.inflightById.size;
  }

  pushPending(msg: OutgoingMessage): void {
    this.pending.push(msg);
  }
  peekPending(): OutgoingMessage | undefined {
    return this.pending[this.pendingHead];
  }
  shiftPending(): OutgoingMessage | undefined {
    if (this.pendingHead === this.pending.length) return undefined;
    const msg = this.pending[this.pendingHead];
    this.pending[this.pendingHead++] = undefined as unknown as OutgoingMessage;
    // Compact once the consumed prefix dominates, keeping shift O(1) amortised.
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    } else if (this.pendingHead >= 1024 && this.pendingHead * 2 >= this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    return msg;
  }
  get pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }

  addIncoming(packetId: number): void {
    this.incoming.add(packetId);
  }
  hasIncoming(packetId: number): boolean {
    return this.incoming.has(packetId);
  }
  deleteIncoming(packetId: number): boolean {
    return this.incoming.delete(packetId);
  }
  get incomingCount(): number {
    return this.incoming.size;
  }
  clearIncoming(): void {
    this.incoming.clear();
  }

  clear(): void {
    this.inflightById.clear();
    this.pending.length = 0;
    this.pendingHead = 0;
    this.incoming.clear();
  }
}

/** Largest packet identifier (spec 2.2.1). */
const MAX_PACKET_ID = 65535;

/** Session logic over a {@link SessionStore}: packet id allocation and the resend plan after a reconnect. */
export class ClientSession {
  private lastPacketId = 0;

  constructor(readonly store: SessionStore) {}

  /**
   * A free packet identifier, cycling through 1–65535 and skipping those in flight or for which
   * `inUse` returns true (pending SUBSCRIBE/UNSUBSCRIBE). Undefined when all 65,535 are taken.
   */
  allocatePacketId(inUse?: (packetId: number) => boolean): number | undefined {
    let id = this.lastPacketId;
    for (let tries = 0; tries < MAX_PACKET_ID; tries++) {
      id = id === MAX_PACKET_ID ? 1 : id + 1;
      if (this.store.getInflight(id) === undefined && (inUse === undefined || !inUse(id))) {
        this.lastPacketId = id;
        return id;
      }
    }
    return undefined;
  }

  /**
   * After a new CONNACK: every message in flight is unsent on the new connection. Returns them in
   * their original order, ready to be re-sent:
   * - `sessionPresent` — the server kept the session: a message awaiting PUBACK/PUBREC is re-sent
   *   as PUBLISH with DUP set; one awaiting PUBCOMP is re-sent as PUBREL (spec 4.4);
   * - otherwise the server has no record of them: every flow restarts from a fresh PUBLISH (DUP 0),
   *   and the inbound QoS 2 ids are forgotten.
   */
  prepareResend(sessionPresent: boolean): OutgoingMessage[] {
    const { store } = this;
    if (!sessionPresent) store.clearIncoming();
    const out: OutgoingMessage[] = [];
    for (const msg of store.inflight()) {
      msg.sent = false;
      if (sessionPresent) {
        if (msg.state === 'publish') msg.packet.dup = true;
      } else {
        msg.packet.dup = false;
        if (msg.state !== 'publish') {
          msg.state = 'publish';
          store.setInflight(msg);
        }
      }
      out.push(msg);
    }
    return out;
  }
}
