/**
 * MQTT 3.1.1 / 3.1 cross-check against mqtt-packet 9 (protocolVersion 3 and 4), both directions, and
 * malformed 3.1.1 input: each is a typed MqttProtocolError with its reason code, and fails the decoder.
 */
import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { MqttProtocolError, PacketDecoder, PacketType, decodePacket, encodePacket, type Packet } from '../../../lib/codec/index.js';
import { anyPacket311, type Level } from './arbitraries311.js';

type Loose = Record<string, unknown>;
const CMD = ['', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'] as const;

function toTheirs(p: Packet): Loose {
  const cmd = CMD[p.type];
  switch (p.type) {
    case PacketType.CONNECT: {
      const o: Loose = { cmd, protocolId: p.protocolName, protocolVersion: p.protocolVersion, clientId: p.clientId, keepalive: p.keepAlive, clean: p.cleanStart };
      if (p.will !== undefined) o.will = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = p.password;
      return o;
    }
    case PacketType.CONNACK:
      return { cmd, sessionPresent: p.sessionPresent, returnCode: p.reasonCode };
    case PacketType.PUBLISH: {
      const o: Loose = { cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
      if (p.qos !== 0) o.messageId = p.packetId;
      return o;
    }
    case PacketType.SUBSCRIBE:
      return { cmd, messageId: p.packetId, subscriptions: p.subscriptions.map((s) => ({ topic: s.topicFilter, qos: s.qos })) };
    case PacketType.SUBACK:
      return { cmd, messageId: p.packetId, granted: p.reasonCodes };
    case PacketType.UNSUBSCRIBE:
      return { cmd, messageId: p.packetId, unsubscriptions: p.topicFilters };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      return { cmd, messageId: p.packetId };
    default:
      return { cmd };
  }
}

function toOurs(o: Loose, level: Level): Packet {
  const type = CMD.indexOf(o.cmd as (typeof CMD)[number]);
  switch (type) {
    case PacketType.CONNECT: {
      const p: Packet = {
        type,
        protocolName: o.protocolId as string,
        protocolVersion: o.protocolVersion as number,
        clientId: o.clientId as string,
        keepAlive: o.keepalive as number,
        cleanStart: o.clean as boolean,
      };
      const will = o.will as Loose | undefined;
      if (will != null) p.will = { topic: will.topic as string, payload: will.payload as Buffer, qos: will.qos as 0 | 1 | 2, retain: will.retain as boolean };
      if (o.username !== undefined) p.username = o.username as string;
      if (o.password !== undefined) p.password = o.password as Buffer;
      return p;
    }
    case PacketType.CONNACK:
      return { type, sessionPresent: o.sessionPresent as boolean, reasonCode: o.returnCode as number };
    case PacketType.PUBLISH: {
      const p: Packet = { type, topic: o.topic as string, payload: o.payload as Buffer, qos: o.qos as 0 | 1 | 2, retain: o.retain as boolean, dup: o.dup as boolean };
      if (p.qos !== 0) p.packetId = o.messageId as number;
      return p;
    }
    case PacketType.SUBSCRIBE:
      return {
        type,
        packetId: o.messageId as number,
        subscriptions: (o.subscriptions as Loose[]).map((s) => ({ topicFilter: s.topic as string, qos: s.qos as 0 | 1 | 2, noLocal: false, retainAsPublished: false, retainHandling: 0 as const })),
      };
    case PacketType.SUBACK:
      return { type, packetId: o.messageId as number, reasonCodes: o.granted as number[] };
    case PacketType.UNSUBSCRIBE:
      return { type, packetId: o.messageId as number, topicFilters: o.unsubscriptions as string[] };
    case PacketType.UNSUBACK:
      return { type, packetId: o.messageId as number, reasonCodes: [] };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return { type, packetId: o.messageId as number, reasonCode: 0 } as Packet;
    case PacketType.DISCONNECT:
      return { type, reasonCode: 0 };
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return { type } as Packet;
    default:
      throw new Error(`unexpected mqtt-packet cmd ${String(o.cmd)} at level ${level}`);
  }
}

function theirParse(bytes: Buffer, level: Level): Loose {
  const parser = mqttPacket.parser({ protocolVersion: level });
  const packets: Loose[] = [];
  let error: Error | undefined;
  parser.on('packet', (packet: unknown) => packets.push(packet as Loose));
  parser.on('error', (err: Error) => {
    error = err;
  });
  parser.parse(bytes);
  if (error !== undefined) throw error;
  expect(packets).toHaveLength(1);
  return packets[0]!;
}

describe.each([3, 4] as const)('cross-check with mqtt-packet 9 at level %i', (level) => {
  it('our decoder reads what mqtt-packet generates', () => {
    fc.assert(
      fc.property(anyPacket311(level), (p) => {
        const theirBytes = mqttPacket.generate(toTheirs(p) as unknown as mqttPacket.Packet, { protocolVersion: level });
        expect(decodePacket(theirBytes, { protocolVersion: level })).toStrictEqual(p);
        // Byte for byte the same encoding.
        expect(encodePacket(p, { protocolVersion: level }).toString('hex')).toBe(theirBytes.toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });

  it("mqtt-packet's parser reads what we encode", () => {
    fc.assert(
      fc.property(anyPacket311(level), (p) => {
        expect(toOurs(theirParse(encodePacket(p, { protocolVersion: level }), level), level)).toStrictEqual(p);
      }),
      { numRuns: 2000 },
    );
  });
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A CONNECT frame at 3.1.1 with the given flags byte and payload (hex after keep alive). */
function connect311(flags: string, payload: string): Buffer {
  const body = hex(`0004 4d515454 04 ${flags} 003c ${payload}`);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

describe('malformed MQTT 3.1.1 input', () => {
  const cases: Array<[string, Buffer, number]> = [
    ['AUTH, which 3.1.1 does not have', hex('f0 00'), 0x81],
    ['AUTH with a reason code', hex('f0 01 18'), 0x81],
    ['PUBACK with a reason code (v5 form)', hex('40 03 00 01 87'), 0x81],
    ['PUBACK with packet id 0', hex('40 02 00 00'), 0x82],
    ['UNSUBACK with reason codes (v5 form)', hex('b0 03 00 01 00'), 0x81],
    ['DISCONNECT with a reason code', hex('e0 01 00'), 0x81],
    ['CONNACK return code 6', hex('20 02 00 06'), 0x82],
    ['CONNACK with properties (v5 form)', hex('20 03 00 00 00'), 0x81],
    ['CONNACK session present with a refusal', hex('20 02 01 05'), 0x82],
    ['SUBACK return code 0x87', hex('90 03 00 01 87'), 0x82],
    ['SUBSCRIBE with v5 options bits', hex('82 06 00 01 00 01 61 04'), 0x81],
    ['SUBSCRIBE with QoS 3', hex('82 06 00 01 00 01 61 03'), 0x81],
    ['SUBSCRIBE with a property section (v5 form)', hex('82 07 00 01 00 00 01 61 00'), 0x8f],
    ['empty SUBSCRIBE', hex('82 02 00 01'), 0x82],
    ['empty UNSUBSCRIBE', hex('a2 02 00 01'), 0x82],
    ['PUBLISH with an empty topic', hex('30 03 00 00 61'), 0x90],
    ['PUBLISH with a wildcard topic', hex('30 04 00 01 23 61'), 0x90],
    ['PUBLISH QoS 1 cut in its packet id', hex('32 04 00 01 61 00'), 0x81],
    ['PUBREL with flags 0000', hex('60 02 00 01'), 0x81],
    ['CONNECT with the reserved flag', connect311('03', '0001 63'), 0x81],
    ['CONNECT with a password but no user name', connect311('42', '0001 63 0001 70'), 0x81],
    ['CONNECT with will QoS but no will', connect311('0a', '0001 63'), 0x81],
    ['CONNECT with will QoS 3', connect311('1e', '0001 63 0001 77 0000'), 0x81],
    ['CONNECT with an empty client id and Clean Session 0', connect311('00', '0000'), 0x85],
    ['CONNECT with a wildcard will topic', connect311('06', '0001 63 0001 23 0000'), 0x90],
    ['CONNECT with trailing bytes', connect311('02', '0001 63 ff'), 0x81],
    ['CONNECT with invalid UTF-8 in the client id', connect311('02', '0001 ff'), 0x81],
  ];

  it.each(cases)('%s', (_name, bytes, code) => {
    const decoder = new PacketDecoder({ protocolVersion: 4 });
    let err: unknown;
    try {
      decoder.push(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MqttProtocolError);
    expect((err as MqttProtocolError).reasonCode).toBe(code);
    // The decoder stays failed: the connection must be closed.
    expect(() => decoder.push(hex('c0 00'))).toThrow(err as Error);
  });

  it('random bytes after a 3.1.1 CONNECT never crash the decoder: packets or a typed error', () => {
    const hello = connect311('02', '0001 63');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (junk) => {
        const decoder = new PacketDecoder({ protocolVersion: 'detect' });
        try {
          decoder.push(Buffer.concat([hello, Buffer.from(junk)]));
        } catch (e) {
          expect(e).toBeInstanceOf(MqttProtocolError);
        }
        expect(decoder.protocolVersion).toBe(4);
      }),
      { numRuns: 3000 },
    );
  });
});
