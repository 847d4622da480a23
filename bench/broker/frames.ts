/**
 * Pre-encoded MQTT frames for the load generator (v5 with our codec, v3.1.1 with mqtt-packet for
 * Aedes), and a frame scanner that finds packet boundaries without decoding packets.
 */
import mqttPacket from 'mqtt-packet';
import { PacketType, encodePacket, type QoS } from '../../lib/codec/index.js';

/** Which protocol a broker under test speaks. */
export type Dialect = 'v5' | 'v311';

export function connectFrame(d: Dialect, clientId: string, keepAlive = 0): Buffer {
  if (d === 'v5') return encodePacket({ type: PacketType.CONNECT, clientId, keepAlive, cleanStart: true });
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, keepalive: keepAlive, clean: true } as mqttPacket.IConnectPacket);
}

export function subscribeFrame(d: Dialect, packetId: number, topic: string, qos: QoS): Buffer {
  if (d === 'v5') return encodePacket({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ topicFilter: topic, qos }] });
  return mqttPacket.generate({ cmd: 'subscribe', messageId: packetId, subscriptions: [{ topic, qos }] } as mqttPacket.ISubscribePacket, { protocolVersion: 4 });
}

/** A PUBLISH frame; for QoS > 0 its packet id sits at {@link packetIdOffset} for patching. */
export function publishFrame(d: Dialect, topic: string, payload: Buffer, qos: QoS, packetId = 1): Buffer {
  if (d === 'v5') return encodePacket({ type: PacketType.PUBLISH, topic, payload, qos, retain: false, dup: false, packetId: qos === 0 ? undefined : packetId });
  return mqttPacket.generate(
    { cmd: 'publish', topic, payload, qos, retain: false, dup: false, messageId: qos === 0 ? undefined : packetId } as mqttPacket.IPublishPacket,
    { protocolVersion: 4 },
  );
}

/** PUBACK with only a packet id: the same 4 bytes in v3.1.1 and v5. */
export function writePuback(buf: Buffer, off: number, packetId: number): number {
  buf[off] = 0x40;
  buf[off + 1] = 2;
  buf[off + 2] = packetId >> 8;
  buf[off + 3] = packetId & 0xff;
  return off + 4;
}

/** Offset of the first byte after the fixed header. */
export function bodyOffset(frame: Buffer, start = 0): number {
  let i = start + 1;
  while ((frame[i]! & 0x80) !== 0) i++;
  return i + 1;
}

/** Offset of the packet id in a QoS > 0 PUBLISH frame. */
export function packetIdOffset(frame: Buffer, start = 0): number {
  const body = bodyOffset(frame, start);
  return body + 2 + frame.readUInt16BE(body);
}

/** Offset of the payload in a PUBLISH frame (v5: after the property length, assumed one byte of 0). */
export function payloadOffset(d: Dialect, frame: Buffer, start = 0): number {
  const body = bodyOffset(frame, start);
  const qos = (frame[start]! >> 1) & 3;
  let off = body + 2 + frame.readUInt16BE(body) + (qos === 0 ? 0 : 2);
  if (d === 'v5') {
    // Property Length (a variable byte integer) and the properties.
    let len = 0;
    let mul = 1;
    let b: number;
    do {
      b = frame[off++]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
    } while ((b & 0x80) !== 0);
    off += len;
  }
  return off;
}

/** Called per frame: the buffer, the frame's start and end, and its first byte. */
export type FrameHandler = (buf: Buffer, start: number, end: number, first: number) => void;

/** Splits a byte stream into MQTT frames by their fixed headers; keeps a partial frame for the next chunk. */
export class FrameScanner {
  private rest: Buffer | null = null;

  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      if (pos + 2 > len) break;
      let i = pos + 1;
      let remaining = 0;
      let mul = 1;
      let complete = false;
      while (i < len && i < pos + 5) {
        const b = buf[i++]!;
        remaining += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || i + remaining > len) break;
      const end = i + remaining;
      this.onFrame(buf, pos, end, buf[pos]!);
      pos = end;
    }
    if (pos < len) this.rest = buf.subarray(pos);
  }
}
