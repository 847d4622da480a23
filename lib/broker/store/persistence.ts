/**
 * The broker's write-through to its {@link BrokerStore} (issue 14): the one object the core, the
 * connections and the sessions call when durable state changes. It turns live objects into store
 * records, stages them, and runs one group commit per event-loop turn.
 *
 * Two rules make "nothing acknowledged is lost" hold:
 * - **Acks wait for the commit.** PUBACK/PUBREC of an inbound QoS 1/2 message are queued with
 *   {@link Persistence.acknowledge} and sent once the group holding the message is durable — or, when
 *   the commit fails, replaced by 0x97 (store full) / 0x80, and the message is not acknowledged.
 * - **No bytes before the store has them.** A connection that is sent a packet while a group is not
 *   yet durable is held until that group is ({@link Persistence.unsettledGroup}): a QoS 2 delivery,
 *   a PUBREL, PUBCOMP, CONNACK or SUBACK never reaches a peer before the state that produced it is on
 *   disk, so what a peer has seen is never ahead of what a restart restores (a QoS 2 message cannot
 *   be delivered twice across a crash). QoS 0/1 deliveries are not held: a QoS 1 message seen before
 *   its group is durable was not acknowledged to its publisher yet, so a crash makes it come again —
 *   the duplicate QoS 1 allows — and an online subscriber's work overlaps the commit.
 *
 * Groups are numbered; a commit may start while the previous one is still being synced, and each
 * held ack or connection waits for the group that was newest when it was held.
 *
 * A broker without persistence has no Persistence object at all (the core's field is null), so its hot
 * path pays one null check.
 */
import { PacketType, type Will } from '../../codec/index.js';
import { StoreFullError } from '../../store/index.js';
import type { Message } from '../message.js';
import type { Delivery, Session, SessionJournal } from '../session.js';
import type { SubscriptionEntry } from '../topic-tree.js';
import type { BrokerStore } from './broker-store.js';
import type { DurableRetainedStore } from './durable-retained.js';
import type { OutboundState, StoredMessage, StoredSession, StoredWill } from './records.js';

/** How long a lazily staged delete may wait for a group commit to join before it is committed alone. */
const LAZY_COMMIT_MS = 200;
/**
 * How long a group holding nothing but QoS 1 deliveries just sent to online subscribers waits for their
 * PUBACKs: each one that comes takes its record back, and a group left empty settles without touching
 * the disk (the message reached every persistent session it was for). Costs at most this much latency
 * when a subscriber is slow.
 */
const ACK_WAIT_MS = 2;

/** Something whose output waits for a group commit (a connection's buffered packets, the core's batch). */
export interface HeldWrite {
  /** The group it waited for is durable: write now (it may be held again for a newer group). */
  releaseHeld(): void;
}

/** Who receives a deferred acknowledgement (the connection the PUBLISH came on). */
export interface AckTarget {
  /** Sends PUBACK/PUBREC (`type`) for `packetId` with `reasonCode` (≥ 0x80 when the store failed). */
  sendStoredAck(type: number, packetId: number, reasonCode: number): void;
}

/**
 * Whether a packet (by its first byte) shows the peer state that a store commit must make durable first:
 * everything but QoS 0/1 PUBLISH, PUBACK/PUBREC (sent only once their message is stored, or refusals)
 * and PINGRESP. See {@link Persistence}.
 */
export function showsDurableState(firstByte: number): boolean {
  const type = firstByte >> 4;
  if (type === PacketType.PUBLISH) return (firstByte & 0x06) === 0x04;
  return type !== PacketType.PUBACK && type !== PacketType.PUBREC && type !== PacketType.PINGRESP;
}

/** The reason code for an inbound QoS 1/2 message the store could not keep. */
export function storeFailureReasonCode(error: unknown): number {
  return error instanceof StoreFullError ? 0x97 : 0x80;
}

/** A message as stored (payload kept as is: a view into the encoding or an owned copy). */
export function storedMessage(m: Message): StoredMessage {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    arrivedAt: 0,
    expiresAt: m.expiresAt,
  };
}

function storedWill(will: Will, delayInterval: number): StoredWill {
  return {
    message: { topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: will.properties, arrivedAt: 0, expiresAt: 0 },
    delayInterval,
  };
}

/** See the file comment. */
export class Persistence implements SessionJournal {
  /** The error that stopped the store's writes, once one did; new QoS 1/2 publishes are then refused. */
  failure: Error | undefined = undefined;
  /** Session records as last written (to rewrite one with a new disconnect time or will). */
  private readonly records = new Map<string, StoredSession>();
  /** The broker's retained store when it reads from the data file: told when its writes are durable. */
  retained: DurableRetainedStore | null = null;
  // Group commit bookkeeping: groups are numbered from 1 in the order the store forms them.
  private lastCommit: Promise<void> | undefined = undefined;
  private groups = 0;
  /** The newest group with staged changes (0: none yet). */
  private stagedGroup = 0;
  /** The newest group known durable (or failed). */
  private settledGroup = 0;
  // Deferred acks, oldest first, as parallel arrays (no object per ack), each with the group it waits for.
  private ackTargets: AckTarget[] = [];
  private ackTypes: number[] = [];
  private ackIds: number[] = [];
  private ackCodes: number[] = [];
  private ackGroups: number[] = [];
  private ackHead = 0;
  /** Held connections (each flushes itself once its group has settled) and callbacks, with their groups. */
  private held: HeldWrite[] = [];
  private heldGroups: number[] = [];
  // The last message turned into a record: a message routed to many sessions is converted once.
  private lastMessage: Message | null = null;
  private lastStored: StoredMessage | null = null;
  private lazyTimer: NodeJS.Timeout | null = null;
  // Cancellable deliveries (see ACK_WAIT_MS) in the store group `candidatesGroup`.
  private candidates = 0;
  private candidatesGroup = -1;

  constructor(
    readonly store: BrokerStore,
    /** Told once when the store fails (the broker reports it; new QoS 1/2 publishes are refused). */
    private readonly onFailure: (error: Error) => void,
    /** Called after a group released acks or writes: they go out at once, not a loop turn later. */
    private readonly onReleased: () => void = () => undefined,
  ) {}

  /**
   * The group a packet sent now depends on: the newest one with staged changes while it is not yet
   * durable, else 0 (nothing to wait for).
   */
  get unsettledGroup(): number {
    return this.stagedGroup > this.settledGroup ? this.stagedGroup : 0;
  }

  /** Whether `group` (from {@link unsettledGroup}) is durable (or failed) by now. */
  settled(group: number): boolean {
    return group <= this.settledGroup;
  }

  /** Runs `write.releaseHeld()` once `group` has settled (at once if it has). */
  hold(write: HeldWrite, group: number): void {
    if (group <= this.settledGroup) write.releaseHeld();
    else {
      this.held.push(write);
      this.heldGroups.push(group);
    }
  }

  /**
   * Acknowledges an inbound QoS 1/2 message once what was staged for it is durable: now when nothing
   * is unsettled (acks keep their order: one waiting before makes this one wait too).
   */
  acknowledge(target: AckTarget, type: number, packetId: number, reasonCode: number): void {
    const group = this.unsettledGroup;
    if (group === 0 && this.ackHead === this.ackTargets.length) {
      target.sendStoredAck(type, packetId, reasonCode);
      return;
    }
    this.ackTargets.push(target);
    this.ackTypes.push(type);
    this.ackIds.push(packetId);
    this.ackCodes.push(reasonCode);
    this.ackGroups.push(group === 0 ? this.settledGroup : group);
  }

  // Sessions --------------------------------------------------------------------------------------------

  /**
   * A client connected to `session` (its expiry interval set from CONNECT): a session that outlives its
   * connection is written (with the will that a lost connection would publish), one that does not is removed.
   */
  sessionConnected(session: Session, protocolVersion: number, will: Will | null): void {
    if (session.expiryInterval === 0) {
      if (session.journal !== null) this.sessionEnded(session);
      return;
    }
    if (session.journal === null) {
      session.journal = this;
      // It becomes persistent now: what it already holds goes to the store too.
      const subs = session.subscriptions;
      if (subs !== null) for (const entry of subs.values()) this.subscriptionChanged(session, entry.topicFilter, entry);
      for (const d of session.deliveries()) {
        if (d.packetId === 0) this.queued(session, d);
        else if (d.released) this.write(session, d, 'pubrec');
        else this.sent(session, d);
      }
    }
    const delay = will === null ? 0 : Math.min(will.properties?.willDelayInterval ?? 0, session.expiryInterval);
    this.putSession({
      clientId: session.clientId,
      protocolVersion: protocolVersion as 3 | 4 | 5,
      expiryInterval: session.expiryInterval,
      disconnectedAt: 0,
      // Published at restart if the broker dies while the client is connected (its connection was lost).
      will: will === null ? undefined : storedWill(will, delay),
    });
  }

  /** The client of a persistent session went offline; `will` is the one now waiting for its delay, if any. */
  sessionDisconnected(session: Session, will: Will | null, now: number): void {
    if (session.journal === null) return;
    const prev = this.records.get(session.clientId);
    const delay = will === null ? 0 : Math.min(will.properties?.willDelayInterval ?? 0, session.expiryInterval);
    this.putSession({
      clientId: session.clientId,
      protocolVersion: prev?.protocolVersion ?? 5,
      expiryInterval: session.expiryInterval,
      disconnectedAt: now,
      will: will === null || delay === 0 ? undefined : storedWill(will, delay),
    });
  }

  /** The will of `session` was published or cancelled: it is no longer pending. */
  willDone(session: Session): void {
    if (session.journal === null) return;
    const prev = this.records.get(session.clientId);
    if (prev === undefined || prev.will === undefined) return;
    this.putSession({ ...prev, will: undefined });
  }

  /** `session` ended: it and everything it held leave the store. */
  sessionEnded(session: Session): void {
    if (session.journal === null) return;
    session.journal = null;
    this.records.delete(session.clientId);
    this.store.deleteSession(session.clientId);
    this.touch();
  }

  /** Records a loaded session as known (restore). */
  loaded(session: StoredSession): void {
    this.records.set(session.clientId, session);
  }

  private putSession(record: StoredSession): void {
    this.records.set(record.clientId, record);
    this.store.putSession(record);
    this.touch();
  }

  // Subscriptions, inbound QoS 2, retained ----------------------------------------------------------------

  /** A subscription of `session` was added or replaced (`entry`), or removed (null). */
  subscriptionChanged(session: Session, filter: string, entry: SubscriptionEntry<Session> | null): void {
    if (session.journal === null) return;
    if (entry === null) {
      this.store.deleteSubscription(session.clientId, filter);
    } else {
      this.store.putSubscription({
        clientId: session.clientId,
        filter,
        qos: entry.qos,
        noLocal: entry.noLocal,
        retainAsPublished: entry.retainAsPublished,
        retainHandling: entry.retainHandling,
        subscriptionId: entry.subscriptionId === 0 ? undefined : entry.subscriptionId,
      });
    }
    this.touch();
  }

  /** An inbound QoS 2 packet id was routed (added) or released by PUBREL. */
  inboundChanged(session: Session, packetId: number, added: boolean): void {
    if (session.journal === null) return;
    if (added) this.store.putInbound(session.clientId, packetId);
    else this.store.deleteInbound(session.clientId, packetId);
    this.touch();
  }

  /** The retained message of a topic was set (`message`) or deleted (null). */
  retainedChanged(topic: string, message: Message | null): void {
    if (message === null) this.store.deleteRetained(topic);
    else this.store.putRetained(storedMessage(message));
    this.touch();
    this.retained?.staged(topic, message, this.stagedGroup);
  }

  // SessionJournal: the deliveries of persistent sessions ---------------------------------------------------

  queued(session: Session, d: Delivery): void {
    this.write(session, d, 'queued');
  }

  sent(session: Session, d: Delivery): void {
    this.write(session, d, 'sent');
  }

  released(session: Session, d: Delivery): void {
    this.write(session, d, 'pubrec');
  }

  completed(session: Session, d: Delivery): void {
    const index = d.stagedIndex;
    if (index !== -1) {
      d.stagedIndex = -1;
      const group = d.stagedGroup;
      if (this.store.cancel(group, index)) {
        // Acknowledged before its record was written: there is nothing on disk to delete.
        d.seq = 0;
        if (group === this.candidatesGroup && --this.candidates === 0) this.touch(false);
        return;
      }
    }
    this.store.deleteOutbound(session.clientId, d.seq);
    d.seq = 0;
    // Lazily: a finished message that comes back after a crash is only re-sent (QoS 1: a duplicate
    // the protocol allows; QoS 2 past PUBREC: a PUBREL the client answers), so no write waits for
    // this delete and it joins the next group commit instead of costing an fsync of its own.
    this.touchLazily();
  }

  private write(session: Session, d: Delivery, state: OutboundState): void {
    const first = d.seq === 0;
    if (first) d.seq = ++session.lastSeq;
    const m = d.message;
    let stored = this.lastStored;
    if (m !== this.lastMessage || stored === null) {
      stored = this.lastStored = storedMessage(m);
      this.lastMessage = m;
    }
    const ids = d.subscriptionIds;
    const index = this.store.putOutbound({
      clientId: session.clientId,
      seq: d.seq,
      state,
      packetId: state === 'queued' ? 0 : d.packetId,
      qos: d.qos as 1 | 2,
      subscriptionIds: ids === undefined ? undefined : typeof ids === 'number' ? [ids] : ids,
      share: d.group === null ? undefined : d.group.subscription,
      message: stored,
    });
    if (first && state === 'sent' && d.qos === 1 && index !== -1) {
      // Sent at once to an online subscriber, whose PUBACK may beat the disk (see ACK_WAIT_MS).
      const group = this.store.stagingGroup;
      if (group !== this.candidatesGroup) {
        this.candidatesGroup = group;
        this.candidates = 0;
      }
      this.candidates++;
      d.stagedGroup = group;
      d.stagedIndex = index;
      this.touch(true);
      return;
    }
    d.stagedIndex = -1;
    this.touch();
  }

  // Group commit -----------------------------------------------------------------------------------------

  /** Something that need not be durable before any write was staged: commit it with the next group, or soon. */
  private touchLazily(): void {
    if (this.unsettledGroup !== 0 || this.lazyTimer !== null) return;
    this.lazyTimer = setTimeout(this.commitLazily, LAZY_COMMIT_MS);
  }

  private readonly commitLazily = (): void => {
    this.lazyTimer = null;
    if (this.unsettledGroup === 0) this.touch();
  };

  /**
   * Something was staged: make sure the store's group that holds it is coming (at the end of the turn,
   * or within ACK_WAIT_MS when `mayWait` and nothing else asked for it sooner), and number it.
   */
  private touch(mayWait = false): void {
    const commit = mayWait ? this.store.commitWithin(ACK_WAIT_MS) : this.store.commit();
    if (commit === this.lastCommit) return;
    // A new group (the store hands out one promise per group).
    this.lastCommit = commit;
    const group = ++this.groups;
    this.stagedGroup = group;
    commit.then(
      () => this.release(group, undefined),
      (err: unknown) => this.release(group, err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Group `group` settled: send (or refuse) the acks and release the writes that waited for it. */
  private release(group: number, error: Error | undefined): void {
    if (group > this.settledGroup) this.settledGroup = group;
    if (group === this.stagedGroup) {
      this.lastMessage = null;
      this.lastStored = null;
    }
    if (error !== undefined && this.failure === undefined) {
      this.failure = error;
      this.onFailure(error);
    }
    const settled = this.settledGroup;
    if (error === undefined) this.retained?.committed(settled);
    const targets = this.ackTargets;
    let head = this.ackHead;
    const sentAcks = head < targets.length && this.ackGroups[head]! <= settled;
    if (head < targets.length && this.ackGroups[head]! <= settled) {
      const refusal = error === undefined ? 0 : storeFailureReasonCode(error);
      const types = this.ackTypes;
      const ids = this.ackIds;
      const codes = this.ackCodes;
      const groups = this.ackGroups;
      for (; head < targets.length && groups[head]! <= settled; head++) {
        targets[head]!.sendStoredAck(types[head]!, ids[head]!, refusal === 0 ? codes[head]! : refusal);
      }
      if (head === targets.length) {
        this.ackTargets = [];
        this.ackTypes = [];
        this.ackIds = [];
        this.ackCodes = [];
        this.ackGroups = [];
        head = 0;
      } else if (head > 1024 && head * 2 > targets.length) {
        // Under steady load the queue may never drain: drop the sent prefix now and then.
        targets.splice(0, head);
        this.ackTypes.splice(0, head);
        this.ackIds.splice(0, head);
        this.ackCodes.splice(0, head);
        this.ackGroups.splice(0, head);
        head = 0;
      }
      this.ackHead = head;
    }
    const held = this.held;
    if (held.length !== 0) {
      const groups = this.heldGroups;
      this.held = [];
      this.heldGroups = [];
      for (let i = 0; i < held.length; i++) {
        if (groups[i]! <= settled) held[i]!.releaseHeld();
        else {
          this.held.push(held[i]!);
          this.heldGroups.push(groups[i]!);
        }
      }
    }
    if (sentAcks || held.length !== 0) this.onReleased();
  }

  /** Commits what is staged and closes the store. */
  async close(): Promise<void> {
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    await this.store.close();
  }
}
