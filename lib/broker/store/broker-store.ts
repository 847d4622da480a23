/**
 * What the broker persists so that a restart loses nothing it acknowledged (issue 14): sessions,
 * subscriptions, outbound QoS 1/2 messages with their state, inbound QoS 2 ids, retained messages.
 *
 * The broker keeps working on its live objects in memory; the store is a mirror written through at
 * the points where the protocol needs durability. Mutations of one event-loop turn are staged with the
 * `put…`/`delete…` methods and made durable together by {@link BrokerStore.commit} — one group commit
 * (one fsync) for everything that arrived in the turn — and the broker sends PUBACK / PUBREC / SUBACK
 * only once the commit's promise resolves.
 */
import type { StoredInbound, StoredMessage, StoredOutbound, StoredSession, StoredSubscription } from './records.js';

/** Receives the stored state at startup, record by record (no giant arrays for a million retained messages). */
export interface BrokerStoreLoader {
  session(session: StoredSession): void;
  subscription(subscription: StoredSubscription): void;
  /** Outbound messages of a session come in `seq` order. */
  outbound(message: StoredOutbound): void;
  inbound(inbound: StoredInbound): void;
  /** Absent when retained messages are read from the store on demand: they are then only counted. */
  retained?(message: StoredMessage): void;
}

/** Counts of what {@link BrokerStore.load} delivered. */
export interface BrokerStoreLoadStats {
  readonly sessions: number;
  readonly subscriptions: number;
  readonly outbound: number;
  readonly inbound: number;
  readonly retained: number;
}

/** Durable storage of broker state; see the file comment for the commit discipline. */
export interface BrokerStore {
  /** False for the in-memory store: the broker may skip building records and waiting for commits. */
  readonly durable: boolean;

  /** Stages a session (insert or replace). */
  putSession(session: StoredSession): void;
  /** Stages the removal of a session with its subscriptions, outbound messages and inbound ids. */
  deleteSession(clientId: string): void;
  putSubscription(subscription: StoredSubscription): void;
  deleteSubscription(clientId: string, filter: string): void;
  /**
   * Stages an outbound message, or its new state (same clientId and seq); returns its index in the
   * group being staged, for {@link BrokerStore.cancel} (-1 when the store cannot cancel).
   */
  putOutbound(message: StoredOutbound): number;
  deleteOutbound(clientId: string, seq: number): void;
  putInbound(clientId: string, packetId: number): void;
  deleteInbound(clientId: string, packetId: number): void;
  /** Stages a retained message, replacing the one of its topic. */
  putRetained(message: StoredMessage): void;
  deleteRetained(topic: string): void;

  /**
   * Commits everything staged so far, and whatever else is staged until the end of this event-loop
   * turn, as one transaction. Every call in one turn returns the same promise: it resolves once the
   * group is durable (per the store's sync mode) and rejects with a `StoreWriteError` (`STORE_FULL`
   * when the disk is full) if it, or any earlier commit, failed — after a failure, every later commit
   * rejects too.
   */
  commit(): Promise<void>;

  /** Like {@link BrokerStore.commit}, but the group may wait up to `ms` (for its writes to be cancelled). */
  commitWithin(ms: number): Promise<void>;

  /** Number of the group that mutations staged now belong to. */
  readonly stagingGroup: number;

  /** Takes back a put of the group still being staged (it is not written); returns whether it did. */
  cancel(group: number, index: number): boolean;

  /** Reads everything stored, in one pass per table. Call once, at startup, before any mutation. */
  load(loader: BrokerStoreLoader): BrokerStoreLoadStats;

  /** Commits what is staged, flushes and closes. */
  close(): Promise<void>;
}
