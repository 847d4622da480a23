/**
 * Startup from a {@link BrokerStore}: rebuilds sessions, subscriptions, queued and in-flight messages
 * (with their packet ids and states), inbound QoS 2 ids and retained messages, then resumes the clocks
 * across the downtime: a session whose expiry passed while the broker was down ends (its will goes out),
 * a will whose delay passed is published now, the others are re-armed with what is left of their time.
 */
import type { QoS, Will } from '../../codec/index.js';
import type { ClientInfo } from '../auth.js';
import { Message, type RetainedMessage } from '../message.js';
import { Delivery, type Session } from '../session.js';
import type { SubscriptionEntry, SubscriptionOptions } from '../topic-tree.js';
import type { BrokerStoreLoadStats } from './broker-store.js';
import type { Persistence } from './persistence.js';
import type { StoredMessage, StoredSession, StoredWill } from './records.js';

/** What restoring needs from the broker engine. */
export interface RestoreHost {
  now(): number;
  /** Creates and registers an offline session. */
  createSession(clientId: string): Session;
  /** Adds a subscription of `session` to the topic tree. */
  subscribe(session: Session, filter: string, options: SubscriptionOptions): SubscriptionEntry<Session>;
  /** Stores a retained message in memory (a plain record: it becomes a Message when delivered). */
  retain(message: RetainedMessage): void;
  /** Ends `session` (its will, if pending, is published). */
  endSession(session: Session): void;
  /** Publishes `will` of `session` now. */
  publishWill(will: Will, client: ClientInfo, session: Session): void;
  /** Publishes `will` after `delayMs` unless the client comes back. */
  scheduleWill(session: Session, will: Will, client: ClientInfo, delayMs: number): void;
  /** Ends `session` after `ms` unless the client comes back. */
  scheduleExpiry(session: Session, ms: number): void;
}

/**
 * Copies restored payloads into shared slabs: a million small retained payloads as a million
 * ArrayBuffers cost seconds of allocation and GC at startup (measured: half of a restart). A slab stays
 * alive while one of its messages does, so it is kept small.
 */
class PayloadSlabs {
  private slab = Buffer.allocUnsafeSlow(0);
  private used = 0;

  copy(p: Uint8Array): Buffer {
    const n = p.byteLength;
    if (n > SLAB_MAX_PAYLOAD) return Buffer.from(p);
    if (this.used + n > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    out.set(p);
    this.used += n;
    return out;
  }
}
const SLAB_SIZE = 64 * 1024;
const SLAB_MAX_PAYLOAD = 1024;

function toMessage(m: StoredMessage, slabs: PayloadSlabs): Message {
  return new Message(m.topic, slabs.copy(m.payload), m.qos, m.retain, m.properties, null, 0, m.expiresAt).owns();
}

function toWill(w: StoredWill): Will {
  const m = w.message;
  const payload = Buffer.isBuffer(m.payload) ? m.payload : Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  return m.properties === undefined
    ? { topic: m.topic, payload, qos: m.qos, retain: m.retain }
    : { topic: m.topic, payload, qos: m.qos, retain: m.retain, properties: m.properties };
}

/** The identity a restored will is published under (its connection is gone). */
function restoredClient(s: StoredSession): ClientInfo {
  return Object.freeze({
    clientId: s.clientId,
    username: undefined,
    remoteAddress: undefined,
    remotePort: undefined,
    transport: 'tcp' as const,
    protocolVersion: s.protocolVersion,
    peerCertificate: undefined,
  });
}

/**
 * Loads everything from the store into `host`; returns the counts. Call once, before listening. With
 * `loadRetained` false the retained messages stay in the store (read on demand) and are only counted.
 */
export function restoreBroker(persistence: Persistence, host: RestoreHost, loadRetained = true): BrokerStoreLoadStats {
  const now = host.now();
  const slabs = new PayloadSlabs();
  const sessions = new Map<string, { session: Session; record: StoredSession }>();
  const stats = persistence.store.load({
    session(record) {
      const session = host.createSession(record.clientId);
      session.expiryInterval = record.expiryInterval;
      session.journal = persistence;
      persistence.loaded(record);
      sessions.set(record.clientId, { session, record });
    },
    subscription(sub) {
      const s = sessions.get(sub.clientId)?.session;
      if (s === undefined) return; // an orphan (cannot happen: a session's records are deleted with it)
      const entry = host.subscribe(s, sub.filter, {
        qos: sub.qos,
        noLocal: sub.noLocal,
        retainAsPublished: sub.retainAsPublished,
        retainHandling: sub.retainHandling,
        subscriptionId: sub.subscriptionId ?? 0,
      });
      (s.subscriptions ??= new Map()).set(sub.filter, entry);
      if (entry.group !== null) s.sharedCount++;
    },
    outbound(o) {
      const s = sessions.get(o.clientId)?.session;
      if (s === undefined) return;
      const ids = o.subscriptionIds;
      // Its shared group, found through the session's restored subscription (loaded before outbound).
      const group = o.share === undefined ? null : (s.subscriptions?.get(o.share)?.group ?? null);
      const d = new Delivery(toMessage(o.message, slabs), o.qos as QoS, o.message.retain, ids === undefined ? undefined : ids.length === 1 ? ids[0] : [...ids], group);
      d.seq = o.seq;
      if (o.seq > s.lastSeq) s.lastSeq = o.seq;
      if (o.state !== 'queued') {
        d.packetId = o.packetId;
        d.released = o.state === 'pubrec';
      }
      const displaced = s.restore(d);
      if (displaced !== undefined) persistence.completed(s, displaced);
    },
    inbound(i) {
      const s = sessions.get(i.clientId)?.session;
      if (s !== undefined) (s.inboundQoS2 ??= new Set()).add(i.packetId);
    },
    retained: !loadRetained ? undefined : (m) => {
      if (m.expiresAt !== 0 && m.expiresAt <= now) {
        persistence.retainedChanged(m.topic, null);
        return;
      }
      // The decoded record serves as is (its payload is a copy): no Message, no further copy for each
      // of possibly a million retained messages.
      host.retain(Buffer.isBuffer(m.payload) ? (m as StoredMessage & { payload: Buffer }) : { ...m, payload: slabs.copy(m.payload) });
    },
  });
  // Clocks across the downtime. A session connected when the broker died lost its connection then: its
  // time counts from now (the moment of the crash is unknown), and its will is pending.
  for (const { session, record } of sessions.values()) {
    const since = record.disconnectedAt === 0 ? now : record.disconnectedAt;
    const elapsed = Math.max(0, now - since);
    const will = record.will;
    const client = will === undefined ? null : restoredClient(record);
    if (record.disconnectedAt === 0) persistence.sessionDisconnected(session, will === undefined ? null : toWill(will), now);
    if (record.expiryInterval !== 0xffff_ffff && elapsed >= record.expiryInterval * 1000) {
      if (will !== undefined) host.publishWill(toWill(will), client!, session);
      host.endSession(session);
      continue;
    }
    if (will !== undefined) {
      const left = will.delayInterval * 1000 - elapsed;
      if (left <= 0) {
        host.publishWill(toWill(will), client!, session);
        persistence.willDone(session);
      } else {
        host.scheduleWill(session, toWill(will), client!, left);
      }
    }
    if (record.expiryInterval !== 0xffff_ffff) host.scheduleExpiry(session, record.expiryInterval * 1000 - elapsed);
  }
  return stats;
}
