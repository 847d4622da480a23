/**
 * Packet → bytes at protocol level 4 (MQTT 3.1.1) or 3 (MQTT 3.1), measured then written into one Buffer
 * of exactly its size, like the v5 encoder (encode.ts), which hands over here when asked for another level.
 *
 * Translation rules, so that a broker can pass the packets it builds for v5 clients:
 * - `properties` are not on the wire at these levels and are left out (a PUBLISH still needs a topic name:
 *   an alias must be resolved first);
 * - CONNACK: a v5 refusal code becomes its 3.1.1 return code (`connackReturnCodeFor`);
 * - SUBACK: a v5 refusal becomes 0x80 (`subackReturnCodeFor`);
 * - PUBACK/PUBREC/PUBREL/PUBCOMP: a success code (< 0x80) is written as the plain ack; a failure code
 *   throws 0x82, since a 3.1.1 ack cannot refuse and sending it would acknowledge what was not kept;
 * - UNSUBACK: reason codes are not on the wire; DISCONNECT: only reason 0 (a 3.1.1 server never sends one);
 * - AUTH, and SUBSCRIBE options other than the QoS (No Local, Retain As Published, Retain Handling),
 *   have no form at these levels and throw 0x82;
 * - CONNECT: the protocol name follows the level; a password needs a user name (MQTT-3.1.2-22); the client
 *   id follows the level's rules (0x85).
 */
import { MqttProtocolError, malformed, protocolError } from './errors.js';
import { checkClientId, protocolNameOf } from './decode-mqtt311.js';
import { connackReturnCodeFor, subackReturnCodeFor } from './mqtt311-codes.js';
import { PACKET_NAMES, PacketType, type ConnectPacket, type Packet, type PublishPacket } from './packets.js';
import { MAX_STRING_BYTES, quote, utf8Length, writeUtf8 } from './strings.js';
import { measureTopicFilter, measureTopicName } from './topics.js';
import { MAX_VARINT, isBinary, isIntIn, varintSize, writeVarint } from './wire.js';

function unsupported(what: string, level: 3 | 4): MqttProtocolError {
  return protocolError(`${what} cannot be expressed in MQTT ${level === 4 ? '3.1.1' : '3.1'}`);
}

function checkPacketId(id: unknown, type: number): number {
  if (!isIntIn(id, 1, 0xffff)) throw protocolError(`${PACKET_NAMES[type]} needs a packet identifier 1..65535`);
  return id;
}

function binaryLength(v: unknown, what: string): number {
  if (!isBinary(v)) throw malformed(`${what} must be a Buffer`);
  if (v.length > MAX_STRING_BYTES) throw malformed(`${what} is longer than ${MAX_STRING_BYTES} bytes`);
  return v.length;
}

function topicNameLength(topic: string, what: string): number {
  const n = topic === '' ? -1 : measureTopicName(topic);
  if (n < 0) throw new MqttProtocolError(0x90, `invalid ${what} ${quote(topic)}${topic === '' ? ' (a topic alias must be resolved first)' : ''}`);
  return n;
}

function filterLength(filter: string): number {
  const n = measureTopicFilter(filter);
  if (n < 0) throw new MqttProtocolError(0x8f, `invalid topic filter ${quote(filter)}`);
  return n;
}

function measureConnect(p: ConnectPacket, level: 3 | 4): number {
  if (p.protocolVersion !== undefined && p.protocolVersion !== level) {
    throw new MqttProtocolError(0x84, `CONNECT of protocol version ${p.protocolVersion} encoded at level ${level}`);
  }
  const name = protocolNameOf(level);
  if (p.protocolName !== undefined && p.protocolName !== name) {
    throw new MqttProtocolError(0x84, `CONNECT protocol name ${quote(p.protocolName)} at level ${level}; expected ${name}`);
  }
  if (!isIntIn(p.keepAlive, 0, 0xffff)) throw malformed('keepAlive must be an integer 0..65535');
  if (p.password != null && p.username == null) throw malformed('a password needs a user name in MQTT 3.1.1 (MQTT-3.1.2-22)');
  let n = 2 + name.length + 4 + 2 + utf8Length(p.clientId, 'client identifier');
  checkClientId(level, p.clientId, p.cleanStart);
  const will = p.will;
  if (will != null) {
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) throw malformed('will QoS must be 0, 1 or 2');
    n += 4 + topicNameLength(will.topic, 'will topic') + binaryLength(will.payload, 'will payload');
  }
  if (p.username != null) n += 2 + utf8Length(p.username, 'user name');
  if (p.password != null) n += 2 + binaryLength(p.password, 'password');
  return n;
}

function writeConnect(p: ConnectPacket, level: 3 | 4, buf: Buffer, off: number): number {
  off = writeUtf8(buf, off, protocolNameOf(level));
  const will = p.will;
  let flags = p.cleanStart ? 0x02 : 0;
  if (will != null) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password != null) flags |= 0x40;
  if (p.username != null) flags |= 0x80;
  buf[off] = level;
  buf[off + 1] = flags;
  buf[off + 2] = p.keepAlive >>> 8;
  buf[off + 3] = p.keepAlive & 0xff;
  off = writeUtf8(buf, off + 4, p.clientId);
  if (will != null) {
    off = writeUtf8(buf, off, will.topic);
    buf[off] = will.payload.length >>> 8;
    buf[off + 1] = will.payload.length & 0xff;
    buf.set(will.payload, off + 2);
    off += 2 + will.payload.length;
  }
  if (p.username != null) off = writeUtf8(buf, off, p.username);
  if (p.password != null) {
    buf[off] = p.password.length >>> 8;
    buf[off + 1] = p.password.length & 0xff;
    buf.set(p.password, off + 2);
    off += 2 + p.password.length;
  }
  return off;
}

function measurePublish(p: PublishPacket): number {
  const qos = p.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed('QoS must be 0, 1 or 2');
  if (qos === 0 && p.dup) throw malformed('DUP must be 0 for QoS 0 (MQTT-3.3.1-2)');
  if (!isBinary(p.payload)) throw malformed('payload must be a Buffer');
  let n = 2 + topicNameLength(p.topic, 'topic name') + p.payload.length;
  if (qos !== 0) {
    checkPacketId(p.packetId, PacketType.PUBLISH);
    n += 2;
  }
  return n;
}

/** Remaining Length of `p` at `level`; validates. */
function measure(p: Packet, level: 3 | 4): number {
  if (p === null || typeof p !== 'object') throw malformed('a packet must be an object');
  switch (p.type) {
    case PacketType.PUBLISH:
      return measurePublish(p);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: {
      checkPacketId(p.packetId, p.type);
      const code = p.reasonCode ?? 0;
      if (!isIntIn(code, 0, 0x7f)) throw unsupported(`${PACKET_NAMES[p.type]} with reason code 0x${Number(code).toString(16)}`, level);
      return 2;
    }
    case PacketType.CONNECT:
      return measureConnect(p, level);
    case PacketType.CONNACK: {
      const code = connackReturnCodeFor(p.reasonCode);
      if (!isIntIn(p.reasonCode, 0, 0xff)) throw protocolError('CONNACK reason code must be a byte');
      if (p.sessionPresent && code !== 0) throw protocolError('sessionPresent must be false when the connection is refused (MQTT-3.2.2-4)');
      return 2;
    }
    case PacketType.SUBSCRIBE: {
      checkPacketId(p.packetId, p.type);
      const subs = p.subscriptions;
      if (!Array.isArray(subs) || subs.length === 0) throw protocolError('SUBSCRIBE needs at least one subscription');
      let n = 2;
      for (let i = 0; i < subs.length; i++) {
        const s = subs[i]!;
        if (s === null || typeof s !== 'object') throw malformed('a subscription must be an object');
        if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw protocolError('subscription QoS must be 0, 1 or 2');
        if (s.noLocal === true || s.retainAsPublished === true || (s.retainHandling ?? 0) !== 0) {
          throw unsupported('a subscription with noLocal, retainAsPublished or retainHandling', level);
        }
        n += 3 + filterLength(s.topicFilter);
      }
      return n;
    }
    case PacketType.SUBACK: {
      checkPacketId(p.packetId, p.type);
      const codes = p.reasonCodes;
      if (!Array.isArray(codes) || codes.length === 0) throw protocolError('SUBACK needs at least one return code');
      for (let i = 0; i < codes.length; i++) if (!isIntIn(codes[i], 0, 0xff)) throw protocolError('a SUBACK code must be a byte');
      return 2 + codes.length;
    }
    case PacketType.UNSUBSCRIBE: {
      checkPacketId(p.packetId, p.type);
      const filters = p.topicFilters;
      if (!Array.isArray(filters) || filters.length === 0) throw protocolError('UNSUBSCRIBE needs at least one topic filter');
      let n = 2;
      for (let i = 0; i < filters.length; i++) n += 2 + filterLength(filters[i]!);
      return n;
    }
    case PacketType.UNSUBACK:
      checkPacketId(p.packetId, p.type);
      return 2;
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return 0;
    case PacketType.DISCONNECT:
      if ((p.reasonCode ?? 0) !== 0) throw unsupported(`DISCONNECT with reason code 0x${Number(p.reasonCode).toString(16)}`, level);
      return 0;
    case PacketType.AUTH:
      throw unsupported('AUTH', level);
    default:
      throw malformed(`unknown packet type ${String((p as { type: unknown }).type)}`);
  }
}

function writeId(buf: Buffer, off: number, id: number): number {
  buf[off] = id >>> 8;
  buf[off + 1] = id & 0xff;
  return off + 2;
}

function writeBody(p: Packet, level: 3 | 4, buf: Buffer, off: number): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      off = writeUtf8(buf, off, p.topic);
      if (p.qos !== 0) off = writeId(buf, off, p.packetId!);
      buf.set(p.payload, off);
      return off + p.payload.length;
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      return writeId(buf, off, p.packetId);
    case PacketType.CONNECT:
      return writeConnect(p, level, buf, off);
    case PacketType.CONNACK: {
      const code = connackReturnCodeFor(p.reasonCode);
      buf[off] = p.sessionPresent && code === 0 ? 1 : 0;
      buf[off + 1] = code;
      return off + 2;
    }
    case PacketType.SUBSCRIBE:
      off = writeId(buf, off, p.packetId);
      for (const s of p.subscriptions) {
        off = writeUtf8(buf, off, s.topicFilter);
        buf[off++] = s.qos;
      }
      return off;
    case PacketType.SUBACK:
      off = writeId(buf, off, p.packetId);
      for (const c of p.reasonCodes) buf[off++] = subackReturnCodeFor(c);
      return off;
    case PacketType.UNSUBSCRIBE:
      off = writeId(buf, off, p.packetId);
      for (const f of p.topicFilters) off = writeUtf8(buf, off, f);
      return off;
    default: // PINGREQ, PINGRESP, DISCONNECT
      return off;
  }
}

function firstByteOf(p: Packet): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      return 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
    case PacketType.PUBREL:
    case PacketType.SUBSCRIBE:
    case PacketType.UNSUBSCRIBE:
      return (p.type << 4) | 0x02;
    default:
      return p.type << 4;
  }
}

function tooLarge(size: number, limit: number): MqttProtocolError {
  return new MqttProtocolError(0x95, `packet of ${size} bytes exceeds the maximum packet size of ${limit} bytes`);
}

function checkLevel(level: number): void {
  if (level !== 3 && level !== 4) throw new RangeError(`protocolVersion must be 3, 4 or 5, not ${String(level)}`);
}

/** {@link encodedLength} at level 3 or 4. */
export function encodedLength311(packet: Packet, level: 3 | 4): number {
  checkLevel(level);
  const remaining = measure(packet, level);
  if (remaining > MAX_VARINT) throw tooLarge(1 + 4 + remaining, 1 + 4 + MAX_VARINT);
  return 1 + varintSize(remaining) + remaining;
}

/** {@link encodePacket} at level 3 or 4 (see the translation rules at the top of this file). */
export function encodePacket311(packet: Packet, level: 3 | 4, maximumPacketSize: number | undefined): Buffer {
  checkLevel(level);
  const remaining = measure(packet, level);
  if (remaining > MAX_VARINT) throw tooLarge(1 + 4 + remaining, 1 + 4 + MAX_VARINT);
  const total = 1 + varintSize(remaining) + remaining;
  if (maximumPacketSize !== undefined && total > maximumPacketSize) throw tooLarge(total, maximumPacketSize);
  const buf = Buffer.allocUnsafe(total);
  buf[0] = firstByteOf(packet);
  const end = writeBody(packet, level, buf, writeVarint(buf, 1, remaining));
  // The measuring and writing passes must agree; a mismatch would leak uninitialised memory.
  if (end !== total) throw new MqttProtocolError(0x83, `encoder wrote ${end} of ${total} bytes`);
  return buf;
}
