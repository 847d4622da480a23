import { protocolError } from './errors.js';
import { PACKET_NAMES, PacketType } from './packets.js';
import { isReasonCodeAllowed } from './reason-codes.js';

/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP without properties — the acks sent for almost every QoS 1/2
 * message — written straight into a caller's buffer, byte for byte what {@link encodePacket} makes of
 * them (the 2-byte short form when the reason code is 0, spec 3.4.2.1), without a packet object or an
 * allocation per ack. Both the client and the broker write their acks through this one place.
 */

/** Encoded size of a property-less ack: 4 bytes (reason code 0, short form) or 5. */
export function propertylessAckLength(reasonCode: number): 4 | 5 {
  return reasonCode === 0 ? 4 : 5;
}

/**
 * Writes a property-less PUBACK/PUBREC/PUBREL/PUBCOMP into `buf` at `offset` and returns the offset
 * after it. Throws MqttProtocolError 0x82 for a packet id outside 1–65535 or a reason code the packet
 * type may not carry, as encodePacket does.
 */
export function writePropertylessAck(buf: Buffer, offset: number, type: number, packetId: number, reasonCode: number): number {
  if (type < PacketType.PUBACK || type > PacketType.PUBCOMP) throw protocolError(`${PACKET_NAMES[type] ?? type} is not an ack`);
  if (!(packetId >= 1 && packetId <= 0xffff && packetId === (packetId | 0))) throw protocolError(`packet identifier ${packetId} is not 1..65535`);
  if (reasonCode !== 0 && !isReasonCodeAllowed(type, reasonCode)) {
    throw protocolError(`reason code 0x${reasonCode.toString(16)} is not allowed in ${PACKET_NAMES[type]}`);
  }
  // PUBREL's fixed header flags are 0b0010 (spec 3.6.1); the others' are 0.
  buf[offset] = type === PacketType.PUBREL ? 0x62 : type << 4;
  buf[offset + 2] = packetId >>> 8;
  buf[offset + 3] = packetId & 0xff;
  if (reasonCode === 0) {
    buf[offset + 1] = 2;
    return offset + 4;
  }
  buf[offset + 1] = 3;
  buf[offset + 4] = reasonCode;
  return offset + 5;
}
