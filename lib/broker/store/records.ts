/**
 * The records a {@link BrokerStore} keeps: plain, serialisable data with stable ids — no live
 * sessions, timers or sockets. Times are wall-clock milliseconds since the epoch, so that expiries and
 * will delays count across a downtime.
 */
import type { Properties, QoS } from '../../codec/index.js';

/** An application message as stored (queued for a session, retained, or a will). */
export interface StoredMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  /** The PUBLISH properties as received (messageExpiryInterval is the original one; see expiresAt). */
  readonly properties: Properties | undefined;
  /** When the broker received it (ms since the epoch). */
  readonly arrivedAt: number;
  /** When it expires (ms since the epoch, from its message expiry interval), or 0 for never. */
  readonly expiresAt: number;
}

/** A will message and its delay (spec 3.1.3.2). */
export interface StoredWill {
  readonly message: StoredMessage;
  /** Will Delay Interval in seconds. */
  readonly delayInterval: number;
}

/** A session that outlives its connection (clean start 0 or a session expiry interval > 0). */
export interface StoredSession {
  readonly clientId: string;
  /** 3 (3.1), 4 (3.1.1) or 5. */
  readonly protocolVersion: 3 | 4 | 5;
  /** Session Expiry Interval in seconds (0xFFFFFFFF: never). */
  readonly expiryInterval: number;
  /** When its connection ended (ms since the epoch), or 0 while connected. */
  readonly disconnectedAt: number;
  /** The will to publish when the session ends or its delay passes; absent when none is pending. */
  readonly will: StoredWill | undefined;
}

/** One subscription of a session, keyed by (clientId, filter). */
export interface StoredSubscription {
  readonly clientId: string;
  /** The topic filter as subscribed, including any `$share/{group}/` prefix. */
  readonly filter: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  /** Subscription Identifier, when one was given. */
  readonly subscriptionId: number | undefined;
}

/**
 * Where an outbound QoS 1/2 message is in its flow:
 * - `queued`: not sent yet (no packet id);
 * - `sent`: PUBLISH sent with `packetId`, awaiting PUBACK / PUBREC;
 * - `pubrec`: PUBREC received and PUBREL sent, awaiting PUBCOMP (the message itself is done).
 */
export type OutboundState = 'queued' | 'sent' | 'pubrec';

/** A QoS 1/2 message for a session, keyed by (clientId, seq). */
export interface StoredOutbound {
  readonly clientId: string;
  /**
   * Stable id of the message within its session, increasing in delivery order; the broker assigns it
   * (continuing after the highest loaded one) and it never changes as the state moves on.
   */
  readonly seq: number;
  readonly state: OutboundState;
  /** Packet identifier once sent; 0 while queued. */
  readonly packetId: number;
  /** QoS of this delivery (the minimum of the message's and the subscription's). */
  readonly qos: 1 | 2;
  /** Subscription identifiers to send with it. */
  readonly subscriptionIds: readonly number[] | undefined;
  /**
   * The shared subscription (`$share/{group}/{filter}`) that routed it, so that after a restart it can
   * still be handed to another member of the group; absent for ordinary subscriptions (and in records
   * written before this field existed).
   */
  readonly share?: string | undefined;
  readonly message: StoredMessage;
}

/** An inbound QoS 2 packet id whose PUBREC was sent and whose PUBREL has not arrived, keyed by (clientId, packetId). */
export interface StoredInbound {
  readonly clientId: string;
  readonly packetId: number;
}
