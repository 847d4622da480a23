/**
 * The broker's write-through to its {@link BrokerStore} (issue 14): the one object the core, the
 * connections and the sessions call when durable state changes. It turns live objects into store
 * records, stages them, and runs one group commit per event-loop turn.
 *
 * Two rules make "nothing acknowledged is lost" hold:
 * - **Acks wait for the commit.** PUBACK/PUBREC of an inbound QoS 1/2 message are queued with
 *   {@link Persistence.acknowledge} and sent once the group holding the message is durable — or, when
 *   the commit fails, replaced by 0x97 (store full) / 0x80, and the message is not acknowledged.
 * - **No bytes before the store has them.** While a group is being committed, the core holds every
 *   socket write ({@link Persistence.holding}): a delivery, its PUBREL, a CONNACK or a SUBACK never
 *   reaches a peer before the state that produced it is on disk. So what a peer has seen is never
 *   ahead of what a restart restores (a QoS 2 message cannot be delivered twice across a crash).
 *
 * A broker without persistence has no Persistence object at all (the core's field is null), so its hot
 * path pays one null check.
 */
import type { Will } from '../../codec/index.js';
import { StoreFullError } from '../../store/index.js';
import type { Message } from '../message.js';
import type { Delivery, Session, SessionJournal } from '../session.js';
import type { SubscriptionEntry } from '../topic-tree.js';
import type { BrokerStore } from './broker-store.js';
import type { OutboundState, StoredMessage, StoredSession, StoredWill } from './records.js';

/** How long a lazily staged delete may wait for a group commit to join before it is committed alone. */
const LAZY_COMMIT_MS = 200;

/** Who receives a deferred acknowledgement (the connection the PUBLISH came on). */
export interface AckTarget {
  /** Sends PUBACK/PUBREC (`type`) for `packetId` with `reasonCode` (≥ 0x80 when the store failed). */
  sendStoredAck(type: number, packetId: number, reasonCode: number): void;
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
  /** A group commit is pending: writes are held and acks wait. */
  private pending = false;
  // Deferred acks of the pending group, as parallel arrays (no object per ack).
  private ackTargets: AckTarget[] = [];
  private ackTypes: number[] = [];
  private ackIds: number[] = [];
  private ackCodes: number[] = [];
  private held: (() => void)[] = [];
  // The last message turned into a record: a message routed to many sessions is converted once.
  private lastMessage: Message | null = null;
  private lastStored: StoredMessage | null = null;
  private lazyTimer: NodeJS.Timeout | null = null;
  private readonly settled = (): void => this.release(undefined);
  private readonly failed = (err: unknown): void => this.release(err instanceof Error ? err : new Error(String(err)));

  constructor(
    readonly store: BrokerStore,
    /** Told once when the store fails (the broker reports it; new QoS 1/2 publishes are refused). */
    private readonly onFailure: (error: Error) => void,
  ) {}

  /** Whether socket writes must wait: something is staged and not yet durable. */
  get holding(): boolean {
    return this.pending;
  }

  /** Runs `fn` once the pending group is durable (or failed); at once when none is pending. */
  afterCommit(fn: () => void): void {
    if (!this.pending) fn();
    else this.held.push(fn);
  }

  /**
   * Acknowledges an inbound QoS 1/2 message once what was staged for it is durable: now when nothing
   * is pending (acks keep their order: one pending before makes this one wait too).
   */
  acknowledge(target: AckTarget, type: number, packetId: number, reasonCode: number): void {
    if (!this.pending) {
      target.sendStoredAck(type, packetId, reasonCode);
      return;
    }
    this.ackTargets.push(target);
    this.ackTypes.push(type);
    this.ackIds.push(packetId);
    this.ackCodes.push(reasonCode);
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
    this.store.deleteOutbound(session.clientId, d.seq);
    d.seq = 0;
    // Lazily: a finished message that comes back after a crash is only re-sent (QoS 1: a duplicate
    // the protocol allows; QoS 2 past PUBREC: a PUBREL the client answers), so no write waits for
    // this delete and it joins the next group commit instead of costing an fsync of its own.
    this.touchLazily();
  }

  private write(session: Session, d: Delivery, state: OutboundState): void {
    if (d.seq === 0) d.seq = ++session.lastSeq;
    const m = d.message;
    let stored = this.lastStored;
    if (m !== this.lastMessage || stored === null) {
      stored = this.lastStored = storedMessage(m);
      this.lastMessage = m;
    }
    const ids = d.subscriptionIds;
    this.store.putOutbound({
      clientId: session.clientId,
      seq: d.seq,
      state,
      packetId: state === 'queued' ? 0 : d.packetId,
      qos: d.qos as 1 | 2,
      subscriptionIds: ids === undefined ? undefined : typeof ids === 'number' ? [ids] : ids,
      message: stored,
    });
    this.touch();
  }

  // Group commit -----------------------------------------------------------------------------------------

  /** Something that need not be durable before any write was staged: commit it with the next group, or soon. */
  private touchLazily(): void {
    if (this.pending || this.lazyTimer !== null) return;
    this.lazyTimer = setTimeout(this.commitLazily, LAZY_COMMIT_MS);
  }

  private readonly commitLazily = (): void => {
    this.lazyTimer = null;
    if (!this.pending) this.store.commit().catch(this.failed);
  };

  /** Something was staged: make sure this turn's group commit is coming. */
  private touch(): void {
    if (this.pending) return;
    this.pending = true;
    this.store.commit().then(this.settled, this.failed);
  }

  /** The group settled: send (or refuse) its acks, then the writes that waited for it. */
  private release(error: Error | undefined): void {
    this.pending = false;
    this.lastMessage = null;
    this.lastStored = null;
    if (error !== undefined && this.failure === undefined) {
      this.failure = error;
      this.onFailure(error);
    }
    const targets = this.ackTargets;
    const types = this.ackTypes;
    const ids = this.ackIds;
    const codes = this.ackCodes;
    if (targets.length !== 0) {
      this.ackTargets = [];
      this.ackTypes = [];
      this.ackIds = [];
      this.ackCodes = [];
      const refusal = error === undefined ? 0 : storeFailureReasonCode(error);
      for (let i = 0; i < targets.length; i++) targets[i]!.sendStoredAck(types[i]!, ids[i]!, refusal === 0 ? codes[i]! : refusal);
    }
    const held = this.held;
    if (held.length !== 0) {
      this.held = [];
      for (const fn of held) fn();
    }
  }

  /** Commits what is staged and closes the store. */
  async close(): Promise<void> {
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    await this.store.close();
  }
}
