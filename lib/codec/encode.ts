/**
 * Packet → bytes. Each packet is measured first (which also validates it), then written into one
 * Buffer of exactly that size: no intermediate buffers, no concatenation.
 */
import { MqttProtocolError, malformed, protocolError } from './errors.js';
import { measureProperties, propertySectionSize, writeProperties } from './encode-properties.js';
import {
  PACKET_NAMES,
  PacketType,
  type AckPacket,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type DisconnectPacket,
  type Packet,
  type PublishPacket,
  type SubackPacket,
  type SubscribePacket,
  type UnsubackPacket,
  type UnsubscribePacket,
  type ProtocolVersion,
} from './packets.js';
import { WILL_PROPERTIES } from './properties.js';
import { encodePacket311, encodedLength311 } from './encode-mqtt311.js';
import { isReasonCodeAllowed } from './reason-codes.js';
import { MAX_STRING_BYTES, quote, utf8Length, writeUtf8 } from './strings.js';
import { measureTopicFilter, measureTopicName } from './topics.js';
import { MAX_VARINT, isBinary, isIntIn, varintSize, writeVarint } from './wire.js';

/** Options of {@link encodePacket}. */
export interface EncodeOptions {
  /**
   * Largest packet, in bytes including the fixed header, the receiver accepts (its Maximum Packet Size);
   * a larger packet throws MqttProtocolError 0x95 instead of being encoded.
   */
  maximumPacketSize?: number;
  /**
   * The protocol level to encode for: 5 (the default), 4 (MQTT 3.1.1) or 3 (MQTT 3.1). At 3 and 4 the
   * packet is translated as encode-mqtt311.ts describes (properties left out, v5 refusal codes mapped to
   * 3.1.1 return codes, codes a 3.1.1 packet cannot carry refused with 0x82).
   */
  protocolVersion?: ProtocolVersion;
}

type AnyAck = AckPacket<4 | 5 | 6 | 7>;

// Results of the measuring pass, read by the writing pass that immediately follows it. Encoding is
// synchronous and never re-entered, so module-level scratch is safe and spares an object per packet.
let firstByte = 0;
let propsLength = 0;
let willPropsLength = 0;

function checkPacketId(id: unknown, type: number): void {
  if (!isIntIn(id, 1, 0xffff)) throw protocolError(`${PACKET_NAMES[type]} needs a packet identifier 1..65535`);
}

function checkReasonCode(type: number, code: number): void {
  if (!isReasonCodeAllowed(type, code)) {
    throw protocolError(`reason code ${code} is not allowed in ${PACKET_NAMES[type]}`);
  }
}

function binaryLength(v: unknown, what: string): number {
  if (!isBinary(v)) throw malformed(`${what} must be a Buffer`);
  if (v.length > MAX_STRING_BYTES) throw malformed(`${what} is longer than ${MAX_STRING_BYTES} bytes`);
  return v.length;
}

function measureConnect(p: ConnectPacket): number {
  if (p.protocolName !== undefined && p.protocolName !== 'MQTT') {
    throw new MqttProtocolError(0x84, `cannot encode protocol ${p.protocolName}; only MQTT`);
  }
  if (p.protocolVersion !== undefined && p.protocolVersion !== 5) {
    throw new MqttProtocolError(0x84, `cannot encode protocol version ${p.protocolVersion}; only 5`);
  }
  if (!isIntIn(p.keepAlive, 0, 0xffff)) throw malformed('keepAlive must be an integer 0..65535');
  const props = p.properties;
  propsLength = measureProperties(props, PacketType.CONNECT);
  if (props?.authenticationData !== undefined && props.authenticationMethod === undefined) {
    throw protocolError('authenticationData needs an authenticationMethod');
  }
  // Protocol Name (6), Protocol Level (1), Connect Flags (1), Keep Alive (2).
  let n = 10 + propertySectionSize(propsLength) + 2 + utf8Length(p.clientId, 'client identifier');
  const will = p.will;
  if (will != null) {
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) throw malformed('will QoS must be 0, 1 or 2');
    const topicLength = measureTopicName(will.topic);
    if (topicLength < 0) throw new MqttProtocolError(0x90, `invalid will topic ${quote(will.topic)}`);
    willPropsLength = measureProperties(will.properties, WILL_PROPERTIES);
    n += propertySectionSize(willPropsLength) + 4 + topicLength + binaryLength(will.payload, 'will payload');
  }
  if (p.username != null) n += 2 + utf8Length(p.username, 'user name');
  if (p.password != null) n += 2 + binaryLength(p.password, 'password');
  firstByte = 0x10;
  return n;
}

function writeConnect(p: ConnectPacket, buf: Buffer, off: number): number {
  const will = p.will;
  let flags = p.cleanStart ? 0x02 : 0;
  if (will != null) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password != null) flags |= 0x40;
  if (p.username != null) flags |= 0x80;
  // 00 04 'M' 'Q' 'T' 'T', level 5
  buf[off] = 0;
  buf[off + 1] = 4;
  buf[off + 2] = 0x4d;
  buf[off + 3] = 0x51;
  buf[off + 4] = 0x54;
  buf[off + 5] = 0x54;
  buf[off + 6] = 5;
  buf[off + 7] = flags;
  buf[off + 8] = p.keepAlive >>> 8;
  buf[off + 9] = p.keepAlive & 0xff;
  off = writeProperties(buf, off + 10, p.properties, propsLength);
  off = writeUtf8(buf, off, p.clientId);
  if (will != null) {
    off = writeProperties(buf, off, will.properties, willPropsLength);
    off = writeUtf8(buf, off, will.topic);
    off = writeBinary(buf, off, will.payload);
  }
  if (p.username != null) off = writeUtf8(buf, off, p.username);
  if (p.password != null) off = writeBinary(buf, off, p.password);
  return off;
}

function writeBinary(buf: Buffer, off: number, data: Uint8Array): number {
  buf[off] = data.length >>> 8;
  buf[off + 1] = data.length & 0xff;
  buf.set(data, off + 2);
  return off + 2 + data.length;
}

function measureConnack(p: ConnackPacket): number {
  checkReasonCode(PacketType.CONNACK, p.reasonCode);
  // MQTT-3.2.2-6: a refused connection has no session.
  if (p.sessionPresent && p.reasonCode !== 0) throw protocolError('sessionPresent must be false when reasonCode is not 0');
  propsLength = measureProperties(p.properties, PacketType.CONNACK);
  firstByte = 0x20;
  return 2 + propertySectionSize(propsLength);
}

function writeConnack(p: ConnackPacket, buf: Buffer, off: number): number {
  buf[off] = p.sessionPresent ? 1 : 0;
  buf[off + 1] = p.reasonCode;
  return writeProperties(buf, off + 2, p.properties, propsLength);
}

function measurePublish(p: PublishPacket): number {
  const qos = p.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed('QoS must be 0, 1 or 2');
  if (qos === 0 && p.dup) throw malformed('DUP must be 0 for QoS 0 (MQTT-3.3.1-2)');
  const props = p.properties;
  propsLength = props === undefined ? 0 : measureProperties(props, PacketType.PUBLISH);
  const topic = p.topic;
  let topicLength = 0;
  if (topic === '') {
    if (props?.topicAlias === undefined) throw protocolError('an empty topic name needs a topic alias');
  } else {
    topicLength = measureTopicName(topic);
    if (topicLength < 0) throw new MqttProtocolError(0x90, `invalid topic name ${quote(topic)}`);
  }
  const payload = p.payload;
  if (!isBinary(payload)) throw malformed('payload must be a Buffer');
  let n = 2 + topicLength + propertySectionSize(propsLength) + payload.length;
  if (qos !== 0) {
    checkPacketId(p.packetId, PacketType.PUBLISH);
    n += 2;
  }
  firstByte = 0x30 | (p.dup ? 0x08 : 0) | (qos << 1) | (p.retain ? 0x01 : 0);
  return n;
}

function writePublish(p: PublishPacket, buf: Buffer, off: number): number {
  off = writeUtf8(buf, off, p.topic);
  if (p.qos !== 0) {
    const id = p.packetId!;
    buf[off] = id >>> 8;
    buf[off + 1] = id & 0xff;
    off += 2;
  }
  off = writeProperties(buf, off, p.properties, propsLength);
  buf.set(p.payload, off);
  return off + p.payload.length;
}

function measureAck(p: AnyAck): number {
  const type = p.type;
  checkPacketId(p.packetId, type);
  const code = p.reasonCode ?? 0;
  checkReasonCode(type, code);
  propsLength = measureProperties(p.properties, type);
  // PUBREL has the fixed-header flags 0010 (3.6.1); the others 0000.
  firstByte = (type << 4) | (type === PacketType.PUBREL ? 0x02 : 0);
  // Short forms (3.4.2.1): no Reason Code when it is 0 and there are no properties; no Property Length
  // when there are no properties.
  if (propsLength === 0) return code === 0 ? 2 : 3;
  return 3 + propertySectionSize(propsLength);
}

function writeAck(p: AnyAck, buf: Buffer, off: number, remaining: number): number {
  buf[off] = p.packetId >>> 8;
  buf[off + 1] = p.packetId & 0xff;
  if (remaining === 2) return off + 2;
  buf[off + 2] = p.reasonCode ?? 0;
  if (remaining === 3) return off + 3;
  return writeProperties(buf, off + 3, p.properties, propsLength);
}

function measureSubscribe(p: SubscribePacket): number {
  checkPacketId(p.packetId, PacketType.SUBSCRIBE);
  propsLength = measureProperties(p.properties, PacketType.SUBSCRIBE);
  const subs = p.subscriptions;
  if (!Array.isArray(subs) || subs.length === 0) throw protocolError('SUBSCRIBE needs at least one subscription');
  let n = 2 + propertySectionSize(propsLength);
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (s === null || typeof s !== 'object') throw malformed('a subscription must be an object');
    const filterLength = measureTopicFilter(s.topicFilter);
    if (filterLength < 0) throw new MqttProtocolError(0x8f, `invalid topic filter ${quote(s.topicFilter)}`);
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw protocolError('subscription QoS must be 0, 1 or 2');
    const rh = s.retainHandling ?? 0;
    if (rh !== 0 && rh !== 1 && rh !== 2) throw protocolError('retainHandling must be 0, 1 or 2');
    if (s.noLocal && s.topicFilter.startsWith('$share/')) {
      throw protocolError('noLocal must not be set on a shared subscription (MQTT-3.8.3-4)');
    }
    n += 3 + filterLength;
  }
  firstByte = 0x82;
  return n;
}

function writeSubscribe(p: SubscribePacket, buf: Buffer, off: number): number {
  buf[off] = p.packetId >>> 8;
  buf[off + 1] = p.packetId & 0xff;
  off = writeProperties(buf, off + 2, p.properties, propsLength);
  const subs = p.subscriptions;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    off = writeUtf8(buf, off, s.topicFilter);
    buf[off++] = s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4);
  }
  return off;
}

function measureSubackOrUnsuback(p: SubackPacket | UnsubackPacket): number {
  const type = p.type;
  checkPacketId(p.packetId, type);
  propsLength = measureProperties(p.properties, type);
  const codes = p.reasonCodes;
  if (!Array.isArray(codes) || codes.length === 0) throw protocolError(`${PACKET_NAMES[type]} needs at least one reason code`);
  for (let i = 0; i < codes.length; i++) checkReasonCode(type, codes[i]!);
  firstByte = type << 4;
  return 2 + propertySectionSize(propsLength) + codes.length;
}

function writeSubackOrUnsuback(p: SubackPacket | UnsubackPacket, buf: Buffer, off: number): number {
  buf[off] = p.packetId >>> 8;
  buf[off + 1] = p.packetId & 0xff;
  off = writeProperties(buf, off + 2, p.properties, propsLength);
  const codes = p.reasonCodes;
  for (let i = 0; i < codes.length; i++) buf[off++] = codes[i]!;
  return off;
}

function measureUnsubscribe(p: UnsubscribePacket): number {
  checkPacketId(p.packetId, PacketType.UNSUBSCRIBE);
  propsLength = measureProperties(p.properties, PacketType.UNSUBSCRIBE);
  const filters = p.topicFilters;
  if (!Array.isArray(filters) || filters.length === 0) throw protocolError('UNSUBSCRIBE needs at least one topic filter');
  let n = 2 + propertySectionSize(propsLength);
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i]!;
    const filterLength = measureTopicFilter(f);
    if (filterLength < 0) throw new MqttProtocolError(0x8f, `invalid topic filter ${quote(f)}`);
    n += 2 + filterLength;
  }
  firstByte = 0xa2;
  return n;
}

function writeUnsubscribe(p: UnsubscribePacket, buf: Buffer, off: number): number {
  buf[off] = p.packetId >>> 8;
  buf[off + 1] = p.packetId & 0xff;
  off = writeProperties(buf, off + 2, p.properties, propsLength);
  const filters = p.topicFilters;
  for (let i = 0; i < filters.length; i++) off = writeUtf8(buf, off, filters[i]!);
  return off;
}

function measureReasonOnly(p: DisconnectPacket | AuthPacket): number {
  const type = p.type;
  const code = p.reasonCode ?? 0;
  checkReasonCode(type, code);
  propsLength = measureProperties(p.properties, type);
  firstByte = type << 4;
  // Short forms (3.14.2.1, 3.15.2.1): nothing when the reason is 0 without properties, no Property Length without properties.
  if (propsLength === 0) return code === 0 ? 0 : 1;
  return 1 + propertySectionSize(propsLength);
}

function writeReasonOnly(p: DisconnectPacket | AuthPacket, buf: Buffer, off: number, remaining: number): number {
  if (remaining === 0) return off;
  buf[off] = p.reasonCode ?? 0;
  if (remaining === 1) return off + 1;
  return writeProperties(buf, off + 1, p.properties, propsLength);
}

/** Validates `p` and returns its Remaining Length; leaves the first byte and section lengths in the scratch variables. */
function measure(p: Packet): number {
  if (p === null || typeof p !== 'object') throw malformed('a packet must be an object');
  switch (p.type) {
    case PacketType.PUBLISH:
      return measurePublish(p);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return measureAck(p);
    case PacketType.CONNECT:
      return measureConnect(p);
    case PacketType.CONNACK:
      return measureConnack(p);
    case PacketType.SUBSCRIBE:
      return measureSubscribe(p);
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return measureSubackOrUnsuback(p);
    case PacketType.UNSUBSCRIBE:
      return measureUnsubscribe(p);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      firstByte = p.type << 4;
      return 0;
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return measureReasonOnly(p);
    default:
      throw malformed(`unknown packet type ${String((p as { type: unknown }).type)}`);
  }
}

function writeBody(p: Packet, buf: Buffer, off: number, remaining: number): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      return writePublish(p, buf, off);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return writeAck(p, buf, off, remaining);
    case PacketType.CONNECT:
      return writeConnect(p, buf, off);
    case PacketType.CONNACK:
      return writeConnack(p, buf, off);
    case PacketType.SUBSCRIBE:
      return writeSubscribe(p, buf, off);
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return writeSubackOrUnsuback(p, buf, off);
    case PacketType.UNSUBSCRIBE:
      return writeUnsubscribe(p, buf, off);
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return writeReasonOnly(p, buf, off, remaining);
    default: // PINGREQ, PINGRESP
      return off;
  }
}

function tooLarge(size: number, limit: number): MqttProtocolError {
  return new MqttProtocolError(0x95, `packet of ${size} bytes exceeds the maximum packet size of ${limit} bytes`);
}

/**
 * Size in bytes of `packet` once encoded (fixed header included). Validates like {@link encodePacket}
 * and throws the same errors, except that it does not apply a maximum packet size.
 */
export function encodedLength(packet: Packet, opts?: EncodeOptions): number {
  const level = opts?.protocolVersion;
  if (level !== undefined && level !== 5) return encodedLength311(packet, level);
  const remaining = measure(packet);
  if (remaining > MAX_VARINT) throw tooLarge(1 + 4 + remaining, 1 + 4 + MAX_VARINT);
  return 1 + varintSize(remaining) + remaining;
}

/**
 * Encodes `packet` into one Buffer of exactly its size. Validates what it writes and throws
 * MqttProtocolError: 0x90 for an invalid topic name, 0x8F for an invalid topic filter, 0x95 when the
 * packet exceeds `opts.maximumPacketSize` (or the protocol's 268,435,460 bytes), 0x84 for a CONNECT of
 * another protocol version, 0x82 for protocol errors (missing packet identifier, reason code the packet
 * type may not carry, zero where it is not allowed, …), 0x81 for values the wire format cannot carry.
 * A QoS 0 PUBLISH has no packet identifier on the wire, so a `packetId` on it is ignored.
 */
export function encodePacket(packet: Packet, opts?: EncodeOptions): Buffer {
  if (opts !== undefined && opts.protocolVersion !== undefined && opts.protocolVersion !== 5) {
    return encodePacket311(packet, opts.protocolVersion, opts.maximumPacketSize);
  }
  const remaining = measure(packet);
  if (remaining > MAX_VARINT) throw tooLarge(1 + 4 + remaining, 1 + 4 + MAX_VARINT);
  const total = 1 + varintSize(remaining) + remaining;
  const limit = opts?.maximumPacketSize;
  if (limit !== undefined && total > limit) throw tooLarge(total, limit);
  const buf = Buffer.allocUnsafe(total);
  buf[0] = firstByte;
  const end = writeBody(packet, buf, writeVarint(buf, 1, remaining), remaining);
  // The measuring and writing passes must agree; a mismatch would leak uninitialised memory.
  if (end !== total) throw new MqttProtocolError(0x83, `encoder wrote ${end} of ${total} bytes`);
  return buf;
}
