/**
 * An application message on its way through the broker, and its encoding towards subscribers.
 * A message is encoded once per distinct (QoS, retain flag) variant; further subscribers of the same
 * variant get a copy of those bytes with their packet identifier patched in (QoS 0: the very same
 * buffer). Variants with subscription identifiers or a decremented expiry are encoded per delivery.
 * MQTT 3.1.1/3.1 subscribers get their own cached encoding (encode311), made lazily: v5-only traffic
 * never pays for it.
 */
import { PacketType, encodePacket, type Properties, type PublishPacket, type QoS } from '../codec/index.js';
import type { PublishedMessage } from './auth.js';

/**
 * A retained message as stored: the published message plus its absolute expiry. (Defined here, beside
 * the Message that implements it, so that the storage interfaces depend on messages and not back.)
 */
export interface RetainedMessage extends PublishedMessage {
  /** When it expires (ms since the epoch), or 0 for never. An expired message is deleted when next seen. */
  readonly expiresAt: number;
}

/** Encoder options of the MQTT 3.1.1 encoding (3.1 has the same PUBLISH). */
const AT_LEVEL_4 = { protocolVersion: 4 } as const;

/** Offset of the packet identifier in an encoded PUBLISH of QoS > 0: after the fixed header and the topic. */
function packetIdOffset(buf: Buffer): number {
  let i = 1;
  while ((buf[i]! & 0x80) !== 0) i++;
  i++;
  return i + 2 + buf.readUInt16BE(i);
}

/** The properties a PUBLISH may carry onwards: everything except the sender's topic alias. */
function forwardable(props: Properties | undefined): Properties | undefined {
  if (props === undefined || props.topicAlias === undefined) return props;
  const { topicAlias: _alias, ...rest } = props;
  for (const _k in rest) return rest;
  return undefined;
}

/** A message being routed. Immutable once created, except for its payload being copied by {@link own}. */
export class Message implements RetainedMessage {
  readonly topic: string;
  /** A view into the received bytes until {@link own} copies it. */
  payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /** The properties forwarded to subscribers (no topic alias, no subscription identifier). */
  readonly properties: Properties | undefined;
  /** When the message expires (ms since the epoch), or 0 when it never does. */
  readonly expiresAt: number;
  /** The session that published it (for No Local), or null for wills and broker-originated messages. */
  readonly origin: object | null;
  private owned = false;
  // One cached encoding (the common case: every subscriber gets the same variant).
  private encKey = -1;
  private encBuf: Buffer | undefined = undefined;
  private encPidOffset = 0;
  // The MQTT 3.1.1 encoding (no properties), cached the same way, made only when a 3.1.1/3.1 client subscribes.
  private enc311Key = -1;
  private enc311Buf: Buffer | undefined = undefined;
  private enc311PidOffset = 0;

  constructor(
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    properties: Properties | undefined,
    origin: object | null,
    now: number,
    expiresAt?: number,
  ) {
    this.topic = topic;
    this.payload = payload;
    this.qos = qos;
    this.retain = retain;
    this.properties = forwardable(properties);
    this.origin = origin;
    // Like Mosquitto, an interval of 0 means "no expiry" rather than "already expired".
    const interval = properties?.messageExpiryInterval;
    this.expiresAt = expiresAt ?? (interval !== undefined && interval > 0 ? now + interval * 1000 : 0);
  }

  /** The message itself when it is one, else a Message built from a stored retained message. */
  static from(m: RetainedMessage, now: number): Message {
    if (m instanceof Message) return m;
    // A stored payload is independent already.
    return new Message(m.topic, m.payload, m.qos, true, m.properties, null, now, m.expiresAt).owns();
  }

  /** Declares the payload independent already (a copy its creator made), so {@link own} keeps it as is. */
  owns(): this {
    this.owned = true;
    return this;
  }

  /** Whether the message has outlived its Message Expiry Interval at `now`. */
  isExpired(now: number): boolean {
    return this.expiresAt !== 0 && this.expiresAt <= now;
  }

  /**
   * Makes the payload independent of the received chunk before the message is kept beyond this tick
   * (queued, in flight, retained): a 64-byte view must not pin a 64 KiB socket read.
   */
  own(): this {
    if (!this.owned) {
      this.owned = true;
      const p = this.payload;
      const enc = this.encBuf ?? this.enc311Buf;
      if (enc !== undefined) {
        // Once encoded, the payload is the tail of the encoding (never written to afterwards): no copy.
        this.payload = enc.subarray(enc.length - p.length);
      } else if (p.byteLength !== p.buffer.byteLength) {
        // Small copies come from Node's shared pool: cheaper than one ArrayBuffer each.
        this.payload = Buffer.from(p);
      }
    }
    return this;
  }

  /**
   * The PUBLISH bytes for one subscriber. `subscriptionIds` and a message expiry make the variant
   * unique to that delivery; otherwise the cached encoding is reused.
   */
  encode(qos: QoS, retain: boolean, subscriptionIds: number | number[] | undefined, packetId: number, dup: boolean, now: number): Buffer {
    if (subscriptionIds === undefined && this.expiresAt === 0 && !dup) {
      const key = qos * 2 + (retain ? 1 : 0);
      if (key === this.encKey) {
        const cached = this.encBuf!;
        if (qos === 0) return cached;
        const copy = Buffer.allocUnsafe(cached.length);
        cached.copy(copy, 0, 0, cached.length);
        copy.writeUInt16BE(packetId, this.encPidOffset);
        return copy;
      }
      const buf = encodePacket(this.packet(qos, retain, packetId, false, this.properties));
      this.encKey = key;
      this.encBuf = buf;
      if (qos !== 0) this.encPidOffset = packetIdOffset(buf);
      return buf;
    }
    let props = this.properties;
    if (this.expiresAt !== 0 || subscriptionIds !== undefined) {
      props = { ...props };
      if (this.expiresAt !== 0) props.messageExpiryInterval = Math.max(1, Math.ceil((this.expiresAt - now) / 1000));
      if (subscriptionIds !== undefined) props.subscriptionIdentifier = subscriptionIds;
    }
    return encodePacket(this.packet(qos, retain, packetId, dup, props));
  }

  /**
   * The PUBLISH bytes for one MQTT 3.1.1 or 3.1 subscriber: no properties, so no subscription identifiers
   * and no remaining expiry (the broker still drops the message once expired) — one cached encoding per
   * (QoS, retain) serves every such subscriber, its packet identifier and DUP flag patched into a copy.
   */
  encode311(qos: QoS, retain: boolean, packetId: number, dup: boolean): Buffer {
    const key = qos * 2 + (retain ? 1 : 0);
    if (key === this.enc311Key) {
      const cached = this.enc311Buf!;
      if (qos === 0) return cached;
      const copy = Buffer.allocUnsafe(cached.length);
      cached.copy(copy, 0, 0, cached.length);
      copy.writeUInt16BE(packetId, this.enc311PidOffset);
      if (dup) copy[0] = copy[0]! | 0x08;
      return copy;
    }
    // Like encode(): the first subscriber gets the encoding itself, later ones a patched copy of it.
    const buf = encodePacket(this.packet(qos, retain, packetId, dup, undefined), AT_LEVEL_4);
    if (dup) return buf;
    this.enc311Key = key;
    this.enc311Buf = buf;
    if (qos !== 0) this.enc311PidOffset = packetIdOffset(buf);
    return buf;
  }

  private packet(qos: QoS, retain: boolean, packetId: number, dup: boolean, properties: Properties | undefined): PublishPacket {
    return {
      type: PacketType.PUBLISH,
      topic: this.topic,
      payload: this.payload,
      qos,
      retain,
      dup,
      packetId: qos === 0 ? undefined : packetId,
      properties,
    };
  }
}
