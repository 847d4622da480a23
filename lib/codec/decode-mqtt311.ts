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
import { PacketType, type ConnectPacket, type Packet, type PublishPacket, type QoS, type Subscription } from './packets.js';
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

  // The v5 parser's parse() dispatches; the packets whose 3.1.1 form differs are overridden here.

  /** 3.1.1 has no property sections (UNSUBSCRIBE, for one, is then parsed by the v5 code as is). */
  protected override properties(): undefined {
    return undefined;
  }

  protected override reservedType(type: number): MqttProtocolError {
    // AUTH (15) exists only in MQTT 5; 0 is reserved in every version.
    return malformed(`reserved packet type ${type} in MQTT ${this.level === 4 ? '3.1.1' : '3.1'}`);
  }

  protected override ack(type: 4 | 5 | 6 | 7): Packet {
    return { type, packetId: this.packetId(type), reasonCode: 0 } as Packet;
  }

  protected override reasonCodeList(type: 9 | 11): Packet {
    if (type === PacketType.SUBACK) return this.suback();
    return { type, packetId: this.packetId(type), reasonCodes: [] };
  }

  protected override reasonOnly(type: 14 | 15): Packet {
    if (type === PacketType.AUTH) throw this.reservedType(type);
    if (this.pos !== this.end) throw malformed('MQTT 3.1.1 DISCONNECT has no body');
    return { type, reasonCode: 0 };
  }

  protected override publish(first: number): PublishPacket {
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

  protected override connect(): ConnectPacket {
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

  protected override connack(): Packet {
    const flags = this.u8('connect acknowledge flags');
    if ((flags & 0xfe) !== 0) throw malformed('CONNACK reserved flag bits are set (MQTT-3.2.2-1)');
    const reasonCode = this.u8('connect return code');
    if (reasonCode > 5) throw protocolError(`CONNACK return code 0x${reasonCode.toString(16)} is reserved`);
    const sessionPresent = flags === 1;
    if (sessionPresent && reasonCode !== 0) throw protocolError('CONNACK with session present and a refusal (MQTT-3.2.2-4)');
    return { type: PacketType.CONNACK, sessionPresent, reasonCode };
  }

  protected override subscribe(): Packet {
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

  private suback(): Packet {
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
