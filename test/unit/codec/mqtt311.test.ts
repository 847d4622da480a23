/**
 * MQTT 3.1.1 (level 4) and 3.1 (level 3) wire forms: round trips for every packet type, translation of
 * v5-built packets, the decoder's level detection from CONNECT, and chunking at the older levels.
 */
import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import {
  ConnackReturnCode,
  MqttProtocolError,
  PacketDecoder,
  PacketType,
  UnsupportedProtocolError,
  connackReturnCodeFor,
  connackReturnCodeName,
  decodePacket,
  encodePacket,
  encodedLength,
  subackReturnCodeFor,
  type Packet,
} from '../../../lib/codec/index.js';
import { anyPacket } from './arbitraries.js';
import { anyPacket311, at311, type Level } from './arbitraries311.js';

const LEVELS: Level[] = [3, 4];
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe.each(LEVELS)('MQTT level %i', (level) => {
  it('round-trips every packet type', () => {
    const seen = new Set<number>();
    fc.assert(
      fc.property(anyPacket311(level), (p) => {
        seen.add(p.type);
        const bytes = encodePacket(p, { protocolVersion: level });
        expect(bytes.length).toBe(encodedLength(p, { protocolVersion: level }));
        expect(decodePacket(bytes, { protocolVersion: level })).toStrictEqual(p);
      }),
      { numRuns: 3000 },
    );
    // Every type but AUTH came up.
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('encodes a v5-built packet in its 3.1.1 form (properties left out, codes translated)', () => {
    fc.assert(
      fc.property(anyPacket, (p) => {
        const expected = at311(p, level);
        // Inputs the level cannot express are refused, not silently changed: checked in the tests below.
        fc.pre(expected !== undefined && p.type !== PacketType.CONNECT && p.type !== PacketType.SUBSCRIBE && p.type !== PacketType.DISCONNECT);
        fc.pre(!('reasonCode' in p) || p.type === PacketType.CONNACK || (p.reasonCode ?? 0) < 0x80);
        fc.pre(p.type !== PacketType.PUBLISH || p.topic !== '');
        expect(decodePacket(encodePacket(p, { protocolVersion: level }), { protocolVersion: level })).toStrictEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the protocol name and level of the version', () => {
    const bytes = encodePacket({ type: 1, clientId: 'c', keepAlive: 60, cleanStart: true }, { protocolVersion: level });
    const name = level === 3 ? '00064d514973647003' : '00044d51545404';
    expect(bytes.subarray(2, 2 + name.length / 2).toString('hex')).toBe(name);
  });

  it('refuses what the level cannot express, with a typed error', () => {
    const refuse = (p: Packet, code: number): void => {
      let err: unknown;
      try {
        encodePacket(p, { protocolVersion: level });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MqttProtocolError);
      expect((err as MqttProtocolError).reasonCode).toBe(code);
    };
    refuse({ type: PacketType.AUTH, reasonCode: 0x18 }, 0x82);
    refuse({ type: PacketType.PUBACK, packetId: 1, reasonCode: 0x87 }, 0x82);
    refuse({ type: PacketType.PUBREC, packetId: 1, reasonCode: 0x80 }, 0x82);
    refuse({ type: PacketType.DISCONNECT, reasonCode: 0x8e }, 0x82);
    refuse({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0, noLocal: true }] }, 0x82);
    refuse({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0, retainHandling: 2 }] }, 0x82);
    refuse({ type: PacketType.PUBLISH, topic: '', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } }, 0x90);
    refuse({ type: PacketType.CONNECT, clientId: 'c', keepAlive: 0, cleanStart: true, password: Buffer.from('p') }, 0x81);
    refuse({ type: PacketType.CONNECT, clientId: 'c', keepAlive: 0, cleanStart: true, protocolVersion: 5 }, 0x84);
    if (level === 3) {
      refuse({ type: PacketType.CONNECT, clientId: 'x'.repeat(24), keepAlive: 0, cleanStart: true }, 0x85);
      refuse({ type: PacketType.CONNECT, clientId: '', keepAlive: 0, cleanStart: true }, 0x85);
    } else {
      refuse({ type: PacketType.CONNECT, clientId: '', keepAlive: 0, cleanStart: false }, 0x85);
    }
  });

  it('a success code other than 0 in an ack is written as the plain ack (e.g. 0x10 No matching subscribers)', () => {
    expect(encodePacket({ type: PacketType.PUBACK, packetId: 7, reasonCode: 0x10 }, { protocolVersion: level })).toEqual(hex('40 02 00 07'));
  });

  it('decodes a stream cut anywhere', () => {
    fc.assert(
      fc.property(fc.array(anyPacket311(level), { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 12 }), (packets, cuts) => {
        const stream = Buffer.concat(packets.map((p) => encodePacket(p, { protocolVersion: level })));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const decoder = new PacketDecoder({ protocolVersion: level });
        const out: Packet[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          out.push(...decoder.push(stream.subarray(prev, p)));
          prev = p;
        }
        expect(decoder.hasPartialPacket).toBe(false);
        expect(out).toStrictEqual(packets);
      }),
      { numRuns: 300 },
    );
  });
});

describe('3.1.1 return codes', () => {
  it('maps v5 CONNACK reason codes as Mosquitto answers 3.1.1 clients', () => {
    expect(connackReturnCodeFor(0x00)).toBe(ConnackReturnCode.Accepted);
    expect(connackReturnCodeFor(0x84)).toBe(ConnackReturnCode.UnacceptableProtocolVersion);
    expect(connackReturnCodeFor(0x85)).toBe(ConnackReturnCode.IdentifierRejected);
    expect(connackReturnCodeFor(0x86)).toBe(ConnackReturnCode.BadUserNameOrPassword);
    expect(connackReturnCodeFor(0x8c)).toBe(ConnackReturnCode.BadUserNameOrPassword);
    expect(connackReturnCodeFor(0x87)).toBe(ConnackReturnCode.NotAuthorized);
    for (const c of [0x80, 0x83, 0x88, 0x89, 0x8a, 0x97, 0x9c, 0x9d, 0x9f]) expect(connackReturnCodeFor(c)).toBe(ConnackReturnCode.ServerUnavailable);
    for (const c of [1, 2, 3, 4, 5]) expect(connackReturnCodeFor(c)).toBe(c);
    expect(connackReturnCodeName(5)).toBe('Connection Refused, not authorized');
  });

  it('maps SUBACK reason codes: granted QoS stays, every refusal is 0x80', () => {
    expect([0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x97, 0x9e, 0xa1, 0xa2].map(subackReturnCodeFor)).toEqual([0, 1, 2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);
  });

  it('a v5 refusal in a CONNACK goes out as its return code', () => {
    expect(encodePacket({ type: 2, sessionPresent: false, reasonCode: 0x87 }, { protocolVersion: 4 })).toEqual(hex('20 02 00 05'));
    expect(encodePacket({ type: 2, sessionPresent: true, reasonCode: 0 }, { protocolVersion: 4 })).toEqual(hex('20 02 01 00'));
    expect(encodePacket({ type: 9, packetId: 1, reasonCodes: [1, 0x87, 2] }, { protocolVersion: 4 })).toEqual(hex('90 05 00 01 01 80 02'));
  });
});

describe("'detect': the level comes from the CONNECT", () => {
  const connect = (level: 3 | 4 | 5): Packet => ({ type: 1, clientId: 'dev-1', keepAlive: 30, cleanStart: true, username: 'u', password: Buffer.from('p') });
  const publish: Packet = { type: 3, topic: 'a/b', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false, packetId: 3 };

  it.each([3, 4, 5] as const)('level %i: CONNECT and the packets after it in the same chunk', (level) => {
    const decoder = new PacketDecoder({ protocolVersion: 'detect' });
    expect(decoder.protocolVersion).toBeUndefined();
    const stream = Buffer.concat([encodePacket(connect(level), { protocolVersion: level }), encodePacket(publish, { protocolVersion: level }), hex('e0 00')]);
    const out = decoder.push(stream);
    expect(decoder.protocolVersion).toBe(level);
    expect(out.map((p) => p.type)).toEqual([1, 3, 14]);
    expect(out[0]).toMatchObject({ protocolVersion: level, protocolName: level === 3 ? 'MQIsdp' : 'MQTT', clientId: 'dev-1' });
    expect(out[1]).toStrictEqual(level === 5 ? publish : { ...publish });
  });

  it('a byte at a time', () => {
    const decoder = new PacketDecoder({ protocolVersion: 'detect' });
    const stream = Buffer.concat([encodePacket(connect(4), { protocolVersion: 4 }), encodePacket(publish, { protocolVersion: 4 })]);
    const out: Packet[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(out.map((p) => p.type)).toEqual([1, 3]);
    expect(decoder.protocolVersion).toBe(4);
  });

  it('an unknown level is an UnsupportedProtocolError naming what the client asked for', () => {
    const decoder = new PacketDecoder({ protocolVersion: 'detect' });
    const bytes = encodePacket(connect(4), { protocolVersion: 4 });
    bytes[8] = 6; // protocol level
    expect(() => decoder.push(bytes)).toThrow(UnsupportedProtocolError);
    const err = decoder.error as UnsupportedProtocolError;
    expect([err.reasonCode, err.protocolName, err.protocolVersion]).toEqual([0x84, 'MQTT', 6]);
    // 'MQIsdp' with level 4, 'MQTT' with level 3: name and level must agree.
    const mixed = encodePacket(connect(3), { protocolVersion: 3 });
    mixed[10] = 4;
    expect(() => new PacketDecoder({ protocolVersion: 'detect' }).push(mixed)).toThrow(UnsupportedProtocolError);
  });

  it('the first packet must be a CONNECT', () => {
    const decoder = new PacketDecoder({ protocolVersion: 'detect' });
    expect(() => decoder.push(encodePacket(publish))).toThrow(MqttProtocolError);
    expect(decoder.error?.reasonCode).toBe(0x82);
  });

  it('a 3.1 client id over 23 bytes: the level is known, the error is 0x85 (CONNACK 0x02)', () => {
    const bytes = encodePacket({ type: 1, clientId: 'x'.repeat(24), keepAlive: 0, cleanStart: true }, { protocolVersion: 4 });
    // Re-frame as 3.1: name MQIsdp, level 3.
    const body = Buffer.concat([hex('0006'), Buffer.from('MQIsdp'), hex('03'), bytes.subarray(9)]);
    const frame = Buffer.concat([Buffer.from([0x10, body.length]), body]);
    const decoder = new PacketDecoder({ protocolVersion: 'detect' });
    expect(() => decoder.push(frame)).toThrow(MqttProtocolError);
    expect(decoder.protocolVersion).toBe(3);
    expect(decoder.error?.reasonCode).toBe(0x85);
    expect(connackReturnCodeFor(decoder.error!.reasonCode)).toBe(2);
  });

  it('setProtocolVersion switches a decoder after the CONNECT', () => {
    const decoder = new PacketDecoder();
    decoder.setProtocolVersion(4);
    expect(decoder.push(hex('40 02 00 05'))).toStrictEqual([{ type: 4, packetId: 5, reasonCode: 0 }]);
    expect(() => decoder.setProtocolVersion(6 as 5)).toThrow(RangeError);
  });

  it('a v5 decoder still refuses a 3.1.1 CONNECT with UnsupportedProtocolError, and a 3.1.1 decoder a v5 one', () => {
    expect(() => decodePacket(encodePacket(connect(4), { protocolVersion: 4 }))).toThrow(UnsupportedProtocolError);
    expect(() => decodePacket(encodePacket(connect(5)), { protocolVersion: 4 })).toThrow(UnsupportedProtocolError);
    expect(() => decodePacket(encodePacket(connect(4), { protocolVersion: 4 }), { protocolVersion: 3 })).toThrow(UnsupportedProtocolError);
  });
});
