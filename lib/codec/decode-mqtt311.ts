/**
 * Bytes → packet for MQTT 3.1.1 (level 4) and 3.1 (level 3): the v5 parser's cursor and primitives, with
 * the older wire forms — no property sections, no reason codes in acks, UNSUBACK or DISCONNECT, CONNACK
 * return codes 0x00–0x05, SUBACK 0x00–0x02/0x80, a subscription options byte holding only the QoS, and
 * no AUTH packet (type 15 is reserved, so malformed).
 *
 * Reason codes of the rejections (a 3.1.1 peer never sees them; they classify the failure for the
 * broker, which closes the connection, or answers CONNACK through `connackReturnCodeFor`):
 * - 0x81 Malformed Packet: reserved bits, a length overrunning the packet, trailing bytes, invalid UTF-8,
 *   reserved packet type 15, CONNECT will flags inconsistent, a password without a user name
 *   (MQTT-3.1.2-22), a DISCONNECT with a body;
 * - 0x82 Protocol Error: packet identifier 0, an empty SUBSCRIBE/UNSUBSCRIBE, a SUBACK return code
 *   outside 0x00–0x02/0x80, a CONNACK return code above 0x05, QoS 3 in a subscription;
 * - 0x84 ({@link UnsupportedProtocolError}): a CONNECT of another protocol name or level;
 * - 0x85 Client Identifier not valid (CONNACK 0x02): an empty client id with Clean Session 0 (MQTT-3.1.3-8),
 *   or at level 3 an empty one or one longer than 23 bytes (3.1 §3.1);
 * - 0x8F / 0x90: an invalid topic filter / topic name (empty, or with wildcards).
 */
import { MqttProtocolError, UnsupportedProtocolError, malformed, protocolError } from './errors.js';
import { PacketParser } from './decode-packet.js';
import { isSubackReturnCode } from './mqtt311-codes.js';
import { PACKET_NAMES, PacketType, type ConnectPacket, type Packet, type PublishPacket, type QoS, type Subscription } from './packets.js';
import { quote } from './strings.js';

/** MQTT 3.1 limits the client identifier to 23 bytes (3.1 §3.1, Client Identifier). */
export const MQTT31_MAX_CLIENT_ID_BYTES = 23;

/** The protocol name a CONNECT of `level` carries: 'MQIsdp' for 3.1, 'MQTT' for 3.1.1 and 5. */
export function protocolNameOf(level: number): string {
  return level === 3 ? 'MQIsdp' : 'MQTT';
}

/** Parser for one connection at protocol level 3 or 4. */
export class Mqtt311PacketParser extends PacketParser {
  constructor(readonly level: 3 | 4) {
    super();
  }

  override parse(first: number, buf: Buffer, start: number, end: number): Packet {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    let packet: Packet;
    const type = first >> 4;
    switch (type) {
      case PacketType.PUBLISH:
        packet = this.publish311(first);
        break;
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
        packet = { type, packetId: this.packetId(type), reasonCode: 0 } as Packet;
        break;
      case PacketType.CONNECT:
        packet = this.connect311();
        break;
      case PacketType.CONNACK:
        packet = this.connack311();
        break;
      case PacketType.SUBSCRIBE:
        packet = this.subscribe311();
        break;
      case PacketType.SUBACK:
        packet = this.suback311();
        break;
      case PacketType.UNSUBSCRIBE:
        packet = this.unsubscribe311();
        break;
      case PacketType.UNSUBACK:
        packet = { type, packetId: this.packetId(type), reasonCodes: [] };
        break;
      case PacketType.PINGREQ:
      case PacketType.PINGRESP:
        packet = { type };
        break;
      case PacketType.DISCONNECT:
        if (this.pos !== end) throw malformed('MQTT 3.1.1 DISCONNECT has no body');
        packet = { type, reasonCode: 0 };
        break;
      default:
        // AUTH (15) exists only in MQTT 5; 0 is reserved in every version.
        throw malformed(`reserved packet type ${type} in MQTT ${this.level === 4 ? '3.1.1' : '3.1'}`);
    }
    if (this.pos !== end) throw malformed(`${end - this.pos} trailing bytes after ${PACKET_NAMES[type]}`);
    this.buf = Buffer.alloc(0);
    return packet;
  }

  private publish311(first: number): PublishPacket {
    const qos = ((first >> 1) & 3) as QoS;
    const topic = this.utf8('topic name');
    if (topic.length === 0) throw new MqttProtocolError(0x90, 'PUBLISH with an empty topic name (MQTT-4.7.3-1)');
    if (topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) {
      throw new MqttProtocolError(0x90, `PUBLISH topic name ${quote(topic)} contains a wildcard`);
    }
    const packetId = qos === 0 ? 0 : this.packetId(PacketType.PUBLISH);
    const payload = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    const packet: PublishPacket = { type: PacketType.PUBLISH, topic, payload, qos, retain: (first & 0x01) !== 0, dup: (first & 0x08) !== 0 };
    if (qos !== 0) packet.packetId = packetId;
    return packet;
  }

  private connect311(): ConnectPacket {
    const nameLen = this.u16('protocol name');
    const p = this.pos;
    if (p + nameLen > this.end) throw this.overrun('protocol name');
    const name = this.buf.toString('latin1', p, p + Math.min(nameLen, 16));
    this.pos = p + nameLen;
    const level = this.u8('protocol level');
    if (level !== this.level || nameLen > 16 || name !== protocolNameOf(level)) throw new UnsupportedProtocolError(name, level);
    const flags = this.u8('connect flags');
    // 3.1 calls bit 0 unused; 3.1.1 reserves it (MQTT-3.1.2-3).
    if (this.level === 4 && (flags & 0x01) !== 0) throw malformed('CONNECT reserved flag is set (MQTT-3.1.2-3)');
    const hasWill = (flags & 0x04) !== 0;
    const willQoS = (flags >> 3) & 3;
    const willRetain = (flags & 0x20) !== 0;
    if (!hasWill && (willQoS !== 0 || willRetain)) throw malformed('CONNECT will QoS or retain set without a will (MQTT-3.1.2-11)');
    if (willQoS === 3) throw malformed('CONNECT will QoS 3');
    const hasUser = (flags & 0x80) !== 0;
    const hasPassword = (flags & 0x40) !== 0;
    if (hasPassword && !hasUser) throw malformed('CONNECT password flag without user name flag (MQTT-3.1.2-22)');
    const keepAlive = this.u16('keep alive');
    const clientId = this.utf8('client identifier');
    const cleanStart = (flags & 0x02) !== 0;
    const packet: ConnectPacket = { type: PacketType.CONNECT, protocolName: name, protocolVersion: level, clientId, keepAlive, cleanStart };
    if (hasWill) {
      const topic = this.utf8('will topic');
      if (topic.length === 0 || topic.indexOf('+') !== -1 || topic.indexOf('#') !== -1) {
        throw new MqttProtocolError(0x90, `invalid will topic ${quote(topic)}`);
      }
      packet.will = { topic, payload: this.binary('will payload'), qos: willQoS as QoS, retain: willRetain };
    }
    if (hasUser) packet.username = this.utf8('user name');
    if (hasPassword) packet.password = this.binary('password');
    // Checked last, once the packet is known to be well formed, so that the broker answers CONNACK 0x02.
    checkClientId(level, clientId, cleanStart);
    return packet;
  }

  private connack311(): Packet {
    const flags = this.u8('connect acknowledge flags');
    if ((flags & 0xfe) !== 0) throw malformed('CONNACK reserved flag bits are set (MQTT-3.2.2-1)');
    const reasonCode = this.u8('connect return code');
    if (reasonCode > 5) throw protocolError(`CONNACK return code 0x${reasonCode.toString(16)} is reserved`);
    const sessionPresent = flags === 1;
    if (sessionPresent && reasonCode !== 0) throw protocolError('CONNACK with session present and a refusal (MQTT-3.2.2-4)');
    return { type: PacketType.CONNACK, sessionPresent, reasonCode };
  }

  private subscribe311(): Packet {
    const packetId = this.packetId(PacketType.SUBSCRIBE);
    const subscriptions: Subscription[] = [];
    while (this.pos < this.end) {
      const topicFilter = this.topicFilter();
      const options = this.u8('requested QoS');
      if ((options & 0xfc) !== 0) throw malformed('SUBSCRIBE requested QoS reserved bits are set (MQTT-3.8.3-4)');
      if (options === 3) throw malformed('subscription with QoS 3');
      // The v5 defaults are exactly 3.1.1's behaviour: own messages delivered, retain flag cleared on
      // forwarding (MQTT-3.3.1-9), retained messages sent on every subscribe.
      subscriptions.push({ topicFilter, qos: options as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    }
    if (subscriptions.length === 0) throw protocolError('SUBSCRIBE without subscriptions (MQTT-3.8.3-3)');
    return { type: PacketType.SUBSCRIBE, packetId, subscriptions };
  }

  private suback311(): Packet {
    const packetId = this.packetId(PacketType.SUBACK);
    if (this.pos === this.end) throw protocolError('SUBACK without return codes');
    const reasonCodes: number[] = [];
    while (this.pos < this.end) {
      const code = this.u8('return code');
      if (!isSubackReturnCode(code)) throw protocolError(`SUBACK return code 0x${code.toString(16)} is reserved (MQTT-3.9.3-2)`);
      reasonCodes.push(code);
    }
    return { type: PacketType.SUBACK, packetId, reasonCodes };
  }

  private unsubscribe311(): Packet {
    const packetId = this.packetId(PacketType.UNSUBSCRIBE);
    const topicFilters: string[] = [];
    while (this.pos < this.end) topicFilters.push(this.topicFilter());
    if (topicFilters.length === 0) throw protocolError('UNSUBSCRIBE without topic filters (MQTT-3.10.3-2)');
    return { type: PacketType.UNSUBSCRIBE, packetId, topicFilters };
  }
}

/**
 * Throws MqttProtocolError 0x85 (CONNACK return code 0x02, Identifier rejected) for a client id level
 * `level` does not accept: empty with Clean Session 0 at 3.1.1 (MQTT-3.1.3-8), empty or over 23 bytes at 3.1.
 */
export function checkClientId(level: number, clientId: string, cleanSession: boolean): void {
  if (level === 3) {
    const bytes = Buffer.byteLength(clientId);
    if (bytes === 0 || bytes > MQTT31_MAX_CLIENT_ID_BYTES) {
      throw new MqttProtocolError(0x85, `MQTT 3.1 client identifier must be 1..${MQTT31_MAX_CLIENT_ID_BYTES} bytes, not ${bytes}`);
    }
  } else if (level === 4 && clientId.length === 0 && !cleanSession) {
    throw new MqttProtocolError(0x85, 'empty client identifier with Clean Session 0 (MQTT-3.1.3-8)');
  }
}
