import { describe, expect, it } from '@jest/globals';
import {
  MqttProtocolError,
  PacketType,
  REASON_CODES,
  encodePacket,
  propertylessAckLength,
  writePropertylessAck,
} from '../../../lib/codec/index.js';

const ACKS = [PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP] as const;

describe('writePropertylessAck', () => {
  it('writes exactly what encodePacket makes, for every ack type and every reason code it may carry', () => {
    for (const type of ACKS) {
      for (const { code, packets } of REASON_CODES) {
        if (!packets.includes(type)) continue;
        for (const packetId of [1, 0x1234, 0xffff]) {
          const buf = Buffer.alloc(8, 0xee);
          const end = writePropertylessAck(buf, 2, type, packetId, code);
          const expected = encodePacket({ type, packetId, reasonCode: code });
          expect(end - 2).toBe(propertylessAckLength(code));
          expect(buf.subarray(2, end)).toEqual(expected);
          expect(buf[1]).toBe(0xee); // nothing written outside its bytes
        }
      }
    }
  });

  it('refuses what encodePacket refuses: packet id 0 or above 65535, a reason code the type may not carry, a non-ack type', () => {
    const buf = Buffer.alloc(8);
    const code = (f: () => unknown): number | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(MqttProtocolError);
        return (e as MqttProtocolError).reasonCode;
      }
      return undefined;
    };
    expect(code(() => writePropertylessAck(buf, 0, PacketType.PUBACK, 0, 0))).toBe(0x82);
    expect(code(() => writePropertylessAck(buf, 0, PacketType.PUBACK, 0x10000, 0))).toBe(0x82);
    expect(code(() => writePropertylessAck(buf, 0, PacketType.PUBACK, 1, 0x92))).toBe(0x82);
    expect(code(() => writePropertylessAck(buf, 0, PacketType.PUBLISH, 1, 0))).toBe(0x82);
  });
});
