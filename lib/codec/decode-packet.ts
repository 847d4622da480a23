/**
 * Bytes → packet, for one packet whose bytes are all present. The streaming {@link PacketDecoder}
 * (decoder.ts) finds packet boundaries and calls {@link PacketParser.parse} on each body, in place.
 *
 * Reason codes of the rejections (spec 4.13 leaves malformed vs. protocol error to each rule):
 * - 0x81 Malformed Packet: reserved flag bits, QoS 3 in PUBLISH, QoS 0 with DUP, a Variable Byte Integer
 *   over 4 bytes or not in its shortest form, a length overrunning the Remaining Length, trailing bytes,
 *   invalid UTF-8 or U+0000, an unknown property or one not allowed in that packet (spec 2.2.2.2 calls
 *   both malformed), reserved bits in subscription options, CONNECT will flags inconsistent;
 * - 0x82 Protocol Error: a property that may appear once repeated, a 0/1 property with another value,
 *   0 where the spec forbids it (packet identifier, Topic Alias, Receive Maximum, Maximum Packet Size,
 *   Subscription Identifier), a reason code the packet type may not carry, an empty SUBSCRIBE, SUBACK,
 *   UNSUBSCRIBE or UNSUBACK list, QoS or Retain Handling 3 in subscription options, No Local on a shared
 *   subscription, an empty topic name without Topic Alias, Authentication Data without Method,
 *   Session Present with a failure in CONNACK;
 * - 0x84 Unsupported Protocol Version: CONNECT whose protocol is not MQTT 5 (an {@link UnsupportedProtocolError}
 *   naming the protocol asked for, so that a broker can answer CONNACK in a format the client reads);
 * - 0x8F Topic Filter invalid: a filter with misplaced wildcards or a malformed `$share/`;
 * - 0x90 Topic Name invalid: wildcards in a PUBLISH or will topic.
 */
import { MqttProtocolError, UnsupportedProtocolError, malformed, protocolError } from './errors.js';
import {
  PACKET_NAMES,
  PacketType,
  type ConnectPacket,
  type Packet,
  type Properties,
  type PublishPacket,
  type QoS,
  type Subscription,
  type UserProperty,
} from './packets.js';
import { PROPERTY_BY_ID, WILL_PROPERTIES } from './properties.js';
import { isReasonCodeAllowed } from './reason-codes.js';
import { quote, readUtf8 } from './strings.js';
import { isValidTopicFilter } from './topics.js';

const EMPTY = Buffer.alloc(0);

/**
 * Throws unless `first`, the first byte of a fixed header, has a known packet type and the flags that
 * type requires (spec 2.1.3): PUBLISH flags are DUP/QoS/RETAIN with QoS ≤ 2 and no DUP at QoS 0;
 * PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0010; every other type 0000.
 */
export function checkFirstByte(first: number): void {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type === PacketType.PUBLISH) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) throw malformed('PUBLISH with QoS 3');
    if (qos === 0 && (flags & 0x08) !== 0) throw malformed('PUBLISH with QoS 0 and DUP set (MQTT-3.3.1-2)');
    return;
  }
  if (type === 0) throw malformed('reserved packet type 0');
  const expected = type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE ? 2 : 0;
  if (flags !== expected) throw malformed(`${PACKET_NAMES[type]} with reserved flag bits ${flags.toString(2).padStart(4, '0')}`);
}

/** Reads one packet body: a cursor over `buf[pos, end)` plus the per-type decoders. One instance per decoder. */
export class PacketParser {
  protected buf: Buffer = EMPTY;
  protected pos = 0;
  protected end = 0;

  /**
   * Decodes the body `buf[start, end)` of a packet whose fixed header byte is `first` (already checked by
   * {@link checkFirstByte}). Every byte must be used. A PUBLISH payload is a view into `buf`; other binary
   * fields (correlation data, will payload, password, authentication data) are copies, since they tend to be
   * kept long after the packet and would otherwise pin the whole received chunk.
   */
  parse(first: number, buf: Buffer, start: number, end: number): Packet {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    let packet: Packet;
    const type = first >> 4;
    switch (type) {
      case PacketType.PUBLISH:
        packet = this.publish(first);
        break;
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
        packet = this.ack(type);
        break;
      case PacketType.CONNECT:
        packet = this.connect();
        break;
      case PacketType.CONNACK:
        packet = this.connack();
        break;
      case PacketType.SUBSCRIBE:
        packet = this.subscribe();
        break;
      case PacketType.SUBACK:
      case PacketType.UNSUBACK:
        packet = this.reasonCodeList(type);
        break;
      case PacketType.UNSUBSCRIBE:
        packet = this.unsubscribe();
        break;
      case PacketType.PINGREQ:
      case PacketType.PINGRESP:
        packet = { type };
        break;
      case PacketType.DISCONNECT:
      case PacketType.AUTH:
        packet = this.reasonOnly(type);
        break;
      default:
        throw this.reservedType(type);
    }
    if (this.pos !== end) throw malformed(`${end - this.pos} trailing bytes after ${PACKET_NAMES[type]}`);
    // Do not keep the received bytes alive between packets.
    this.buf = EMPTY;
    return packet;
  }

  /** The error for a packet type this protocol version does not have. */
  protected reservedType(type: number): MqttProtocolError {
    return malformed(`reserved packet type ${type}`);
  }

  /** Drops the reference to the last buffer parsed (after a failure, which skips the usual release). */
  release(): void {
    this.buf = EMPTY;
  }

  // ---- primitives: each checks that it stays within `end` ----

  protected overrun(what: string): MqttProtocolError {
    return malformed(`${what} overruns the packet`);
  }

  protected u8(what: string): number {
    if (this.pos >= this.end) throw this.overrun(what);
    return this.buf[this.pos++]!;
  }

  protected u16(what: string): number {
    const p = this.pos;
    if (p + 2 > this.end) throw this.overrun(what);
    this.pos = p + 2;
    return (this.buf[p]! << 8) | this.buf[p + 1]!;
  }

  protected u32(what: string): number {
    const p = this.pos;
    if (p + 4 > this.end) throw this.overrun(what);
    this.pos = p + 4;
    return this.buf.readUInt32BE(p);
  }

  /** A Variable Byte Integer: at most 4 bytes, in its shortest form (MQTT-1.5.5-1). */
  private varint(what: string): number {
    const buf = this.buf;
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) throw this.overrun(what);
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * mult;
      if (b < 0x80) {
        if (b === 0 && i !== 0) throw malformed(`${what} is not in its shortest form`);
        return value;
      }
      mult *= 0x80;
    }
    throw malformed(`${what} is longer than 4 bytes`);
  }

  protected utf8(what: string): string {
    const len = this.u16(what);
    const start = this.pos;
    const stop = start + len;
    if (stop > this.end) throw this.overrun(what);
    this.pos = stop;
    return len === 0 ? '' : readUtf8(this.buf, start, stop, what);
  }

  /** Binary Data (two-byte length + bytes), copied. */
  protected binary(what: string): Buffer {
    const len = this.u16(what);
    const start = this.pos;
    if (start + len > this.end) throw this.overrun(what);
    this.pos = start + len;
    const out = Buffer.allocUnsafe(len);
    this.buf.copy(out, 0, start, start + len);
    return out;
  }

  protected packetId(type: number): number {
    const id = this.u16('packet identifier');
    if (id === 0) throw protocolError(`${PACKET_NAMES[type]} with packet identifier 0`);
    return id;
  }

  private reasonCode(type: number): number {
    const code = this.u8('reason code');
    if (!isReasonCodeAllowed(type, code)) {
      throw protocolError(`reason code 0x${code.toString(16)} is not allowed in ${PACKET_NAMES[type]}`);
    }
    return code;
  }

  /**
   * A property section for packet type `context` (or {@link WILL_PROPERTIES}), driven by the property table.
   * Returns undefined when it is empty, so that a packet without properties has no `properties` key.
   */
  protected properties(context: number): Properties | undefined {
    const len = this.varint('property length');
    if (len === 0) return undefined;
    const end = this.pos + len;
    if (end > this.end) throw this.overrun('property length');
    const outerEnd = this.end;
    this.end = end;
    const buf = this.buf;
    const bit = 1 << context;
    const props: Properties = {};
    const out = props as Record<string, unknown>;
    let seen = 0;
    while (this.pos < end) {
      // Property identifiers are Variable Byte Integers, but every assigned one fits in a byte; a
      // multi-byte identifier cannot be an assigned one and is rejected as unknown.
      const id = buf[this.pos++]!;
      const def = PROPERTY_BY_ID[id];
      if (def === undefined) throw malformed(`unknown property 0x${id.toString(16)}`);
      if ((def.contextMask & bit) === 0) {
        throw malformed(`property ${def.name} is not allowed in ${context === WILL_PROPERTIES ? 'will properties' : PACKET_NAMES[context]}`);
      }
      const repeated = (seen & def.bit) !== 0;
      if (repeated && (def.repeatMask & bit) === 0) throw protocolError(`property ${def.name} appears more than once`);
      seen |= def.bit;
      const name = def.name;
      switch (def.type) {
        case 'bool': {
          const b = this.u8(name);
          if (b > 1) throw protocolError(`${name} must be 0 or 1, not ${b}`);
          out[name] = b === 1;
          break;
        }
        case 'byte': {
          const b = this.u8(name);
          if (b > 1) throw protocolError(`${name} must be 0 or 1, not ${b}`);
          out[name] = b;
          break;
        }
        case 'u16': {
          const v = this.u16(name);
          if (v === 0 && def.nonZero) throw new MqttProtocolError(def.zeroReasonCode, `${name} must not be 0`);
          out[name] = v;
          break;
        }
        case 'u32': {
          const v = this.u32(name);
          if (v === 0 && def.nonZero) throw new MqttProtocolError(def.zeroReasonCode, `${name} must not be 0`);
          out[name] = v;
          break;
        }
        case 'varint': {
          const v = this.varint(name);
          if (v === 0 && def.nonZero) throw new MqttProtocolError(def.zeroReasonCode, `${name} must not be 0`);
          if (!repeated) out[name] = v;
          else {
            const prev = out[name] as number | number[];
            if (typeof prev === 'number') out[name] = [prev, v];
            else prev.push(v);
          }
          break;
        }
        case 'utf8':
          out[name] = this.utf8(name);
          break;
        case 'binary':
          out[name] = this.binary(name);
          break;
        case 'pair': {
          const pair: UserProperty = [this.utf8('user property name'), this.utf8('user property value')];
          if (!repeated) props.userProperties = [pair];
          else props.userProperties!.push(pair);
          break;
        }
      }
    }
    this.end = outerEnd;
    return props;
  }

  // ---- packets ----

  protected publish(first: number): PublishPacket {
    const qos = ((first >> 1) & 3) as QoS;
    const topic = this.utf8('topic name');
    const packetId = qos === 0 ? 0 : this.packetId(PacketType.PUBLISH);
    const properties = this.properties(PacketType.PUBLISH);
    if (topic.length === 0) {
      if (properties?.topicAlias === undefined) throw protocolError('PUBLISH with an empty topic name and no topic alias');
    } else if (topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) {
      throw new MqttProtocolError(0x90, `PUBLISH topic name ${quote(topic)} contains a wildcard`);
    }
    const payload = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    const packet: PublishPacket = {
      type: PacketType.PUBLISH,
      topic,
      payload,
      qos,
      retain: (first & 0x01) !== 0,
      dup: (first & 0x08) !== 0,
    };
    if (qos !== 0) packet.packetId = packetId;
    if (properties !== undefined) packet.properties = properties;
    return packet;
  }

  protected ack(type: 4 | 5 | 6 | 7): Packet {
    const packetId = this.packetId(type);
    // Short forms (3.4.2.1): Remaining Length 2 means reason 0; below 4, no properties.
    if (this.pos === this.end) return { type, packetId, reasonCode: 0 };
    const reasonCode = this.reasonCode(type);
    if (this.pos === this.end) return { type, packetId, reasonCode };
    const properties = this.properties(type);
    return properties === undefined ? { type, packetId, reasonCode } : { type, packetId, reasonCode, properties };
  }

  protected connect(): ConnectPacket {
    const nameLen = this.u16('protocol name');
    const p = this.pos;
    if (p + nameLen > this.end) throw this.overrun('protocol name');
    const b = this.buf;
    const isMqtt = nameLen === 4 && b[p] === 0x4d && b[p + 1] === 0x51 && b[p + 2] === 0x54 && b[p + 3] === 0x54;
    this.pos = p + nameLen;
    const level = this.u8('protocol level');
    // Checked before anything that differs between versions: a 3.1.1 client gets 0x84, not 0x81.
    if (!isMqtt || level !== 5) {
      throw new UnsupportedProtocolError(isMqtt ? 'MQTT' : b.toString('latin1', p, p + Math.min(nameLen, 16)), level);
    }
    const flags = this.u8('connect flags');
    if ((flags & 0x01) !== 0) throw malformed('CONNECT reserved flag is set (MQTT-3.1.2-3)');
    const hasWill = (flags & 0x04) !== 0;
    const willQoS = (flags >> 3) & 3;
    const willRetain = (flags & 0x20) !== 0;
    if (!hasWill && (willQoS !== 0 || willRetain)) throw malformed('CONNECT will QoS or retain set without a will (MQTT-3.1.2-11)');
    if (willQoS === 3) throw malformed('CONNECT will QoS 3');
    const keepAlive = this.u16('keep alive');
    const properties = this.properties(PacketType.CONNECT);
    if (properties?.authenticationData !== undefined && properties.authenticationMethod === undefined) {
      throw protocolError('CONNECT with authentication data but no authentication method');
    }
    const packet: ConnectPacket = {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clientId: this.utf8('client identifier'),
      keepAlive,
      cleanStart: (flags & 0x02) !== 0,
    };
    if (properties !== undefined) packet.properties = properties;
    if (hasWill) {
      const willProperties = this.properties(WILL_PROPERTIES);
      const topic = this.utf8('will topic');
      if (topic.length === 0 || topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) {
        throw new MqttProtocolError(0x90, `invalid will topic ${quote(topic)}`);
      }
      const payload = this.binary('will payload');
      packet.will = { topic, payload, qos: willQoS as QoS, retain: willRetain };
      if (willProperties !== undefined) packet.will.properties = willProperties;
    }
    if ((flags & 0x80) !== 0) packet.username = this.utf8('user name');
    if ((flags & 0x40) !== 0) packet.password = this.binary('password');
    return packet;
  }

  protected connack(): Packet {
    const flags = this.u8('connect acknowledge flags');
    if ((flags & 0xfe) !== 0) throw malformed('CONNACK reserved flag bits are set (MQTT-3.2.2-1)');
    const reasonCode = this.reasonCode(PacketType.CONNACK);
    const sessionPresent = flags === 1;
    if (sessionPresent && reasonCode !== 0) throw protocolError('CONNACK with session present and a failure (MQTT-3.2.2-6)');
    const properties = this.properties(PacketType.CONNACK);
    return properties === undefined
      ? { type: PacketType.CONNACK, sessionPresent, reasonCode }
      : { type: PacketType.CONNACK, sessionPresent, reasonCode, properties };
  }

  protected topicFilter(): string {
    const filter = this.utf8('topic filter');
    if (!isValidTopicFilter(filter)) throw new MqttProtocolError(0x8f, `invalid topic filter ${quote(filter)}`);
    return filter;
  }

  protected subscribe(): Packet {
    const packetId = this.packetId(PacketType.SUBSCRIBE);
    const properties = this.properties(PacketType.SUBSCRIBE);
    const subscriptions: Subscription[] = [];
    while (this.pos < this.end) {
      const topicFilter = this.topicFilter();
      const options = this.u8('subscription options');
      if ((options & 0xc0) !== 0) throw malformed('subscription options reserved bits are set (MQTT-3.8.3-5)');
      const qos = options & 3;
      if (qos === 3) throw protocolError('subscription with maximum QoS 3');
      const retainHandling = (options >> 4) & 3;
      if (retainHandling === 3) throw protocolError('subscription with retain handling 3');
      const noLocal = (options & 0x04) !== 0;
      if (noLocal && topicFilter.startsWith('$share/')) throw protocolError('no local on a shared subscription (MQTT-3.8.3-4)');
      subscriptions.push({
        topicFilter,
        qos: qos as QoS,
        noLocal,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as 0 | 1 | 2,
      });
    }
    if (subscriptions.length === 0) throw protocolError('SUBSCRIBE without subscriptions (MQTT-3.8.3-2)');
    return properties === undefined
      ? { type: PacketType.SUBSCRIBE, packetId, subscriptions }
      : { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties };
  }

  protected unsubscribe(): Packet {
    const packetId = this.packetId(PacketType.UNSUBSCRIBE);
    const properties = this.properties(PacketType.UNSUBSCRIBE);
    const topicFilters: string[] = [];
    while (this.pos < this.end) topicFilters.push(this.topicFilter());
    if (topicFilters.length === 0) throw protocolError('UNSUBSCRIBE without topic filters (MQTT-3.10.3-2)');
    return properties === undefined
      ? { type: PacketType.UNSUBSCRIBE, packetId, topicFilters }
      : { type: PacketType.UNSUBSCRIBE, packetId, topicFilters, properties };
  }

  /** SUBACK and UNSUBACK: packet id, properties, one reason code per filter. */
  protected reasonCodeList(type: 9 | 11): Packet {
    const packetId = this.packetId(type);
    const properties = this.properties(type);
    if (this.pos === this.end) throw protocolError(`${PACKET_NAMES[type]} without reason codes`);
    const reasonCodes: number[] = [];
    while (this.pos < this.end) reasonCodes.push(this.reasonCode(type));
    return properties === undefined ? { type, packetId, reasonCodes } : { type, packetId, reasonCodes, properties };
  }

  /** DISCONNECT and AUTH: an optional reason code and optional properties. */
  protected reasonOnly(type: 14 | 15): Packet {
    // Short forms (3.14.2.1, 3.15.2.1): Remaining Length 0 means reason 0; 1, no properties.
    if (this.pos === this.end) return { type, reasonCode: 0 };
    const reasonCode = this.reasonCode(type);
    if (this.pos === this.end) return { type, reasonCode };
    const properties = this.properties(type);
    return properties === undefined ? { type, reasonCode } : { type, reasonCode, properties };
  }
}
