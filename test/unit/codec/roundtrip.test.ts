import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import {
  PACKET_NAMES,
  PROPERTIES,
  PacketDecoder,
  PacketType,
  WILL_PROPERTIES,
  decodePacket,
  encodePacket,
  encodedLength,
  type Packet,
  type Properties,
} from '../../../lib/codec/index.js';
import { packetsByType } from './arbitraries.js';

const hex = (b: Buffer): string => b.toString('hex');
const roundTrip = (p: Packet): Packet => decodePacket(encodePacket(p));

describe('round trip of every packet type', () => {
  for (const [type, arbitrary] of Object.entries(packetsByType)) {
    it(`${PACKET_NAMES[Number(type)]}: decode(encode(p)) equals p, and encodedLength is exact`, () => {
      fc.assert(
        fc.property(arbitrary, (p) => {
          const bytes = encodePacket(p);
          expect(encodedLength(p)).toBe(bytes.length);
          expect(decodePacket(bytes)).toStrictEqual(p);
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('known encodings', () => {
  it('CONNECT without and with properties, will, credentials', () => {
    const bare: Packet = { type: 1, protocolName: 'MQTT', protocolVersion: 5, clientId: 'c1', keepAlive: 60, cleanStart: true };
    expect(hex(encodePacket(bare))).toBe('100f00044d5154540502003c000002' + '6331');
    expect(roundTrip(bare)).toStrictEqual(bare);

    const full: Packet = {
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clientId: 'c1',
      keepAlive: 10,
      cleanStart: false,
      username: 'u',
      password: Buffer.from('pw'),
      properties: { sessionExpiryInterval: 3600, receiveMaximum: 20, userProperties: [['a', '1'], ['a', '2']] },
      will: { topic: 'w', payload: Buffer.from('bye'), qos: 2, retain: true, properties: { willDelayInterval: 5, contentType: 't' } },
    };
    const bytes = encodePacket(full);
    // Flags: user name, password, will retain, will QoS 2, will, no clean start.
    expect(bytes[9]).toBe(0x80 | 0x40 | 0x20 | 0x10 | 0x04);
    expect(roundTrip(full)).toStrictEqual(full);
  });

  it('a CONNECT without protocol name/version still encodes MQTT 5', () => {
    const p: Packet = { type: 1, clientId: '', keepAlive: 0, cleanStart: true };
    expect(roundTrip(p)).toStrictEqual({ ...p, protocolName: 'MQTT', protocolVersion: 5 });
  });

  it('CONNACK', () => {
    const p: Packet = { type: 2, sessionPresent: true, reasonCode: 0 };
    expect(hex(encodePacket(p))).toBe('2003010000');
    expect(roundTrip(p)).toStrictEqual(p);
    const q: Packet = {
      type: 2,
      sessionPresent: false,
      reasonCode: 0x9c,
      properties: { serverReference: 'other:1883', maximumQoS: 1, retainAvailable: false, topicAliasMaximum: 10 },
    };
    expect(roundTrip(q)).toStrictEqual(q);
  });

  it('PUBLISH QoS 0, QoS 1 with properties, empty payload, empty topic with alias', () => {
    const q0: Packet = { type: 3, topic: 'a/b', payload: Buffer.from('hi'), qos: 0, retain: true, dup: false };
    expect(hex(encodePacket(q0))).toBe('3108' + '0003612f62' + '00' + '6869');
    expect(roundTrip(q0)).toStrictEqual(q0);

    const q1: Packet = {
      type: 3,
      topic: 'a',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: false,
      dup: true,
      packetId: 0x1234,
      properties: { messageExpiryInterval: 60, subscriptionIdentifier: [1, 16384], correlationData: Buffer.from([0, 1]) },
    };
    const bytes = encodePacket(q1);
    expect(bytes[0]).toBe(0x3a);
    expect(roundTrip(q1)).toStrictEqual(q1);

    const aliased: Packet = { type: 3, topic: '', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 1, properties: { topicAlias: 3 } };
    expect(roundTrip(aliased)).toStrictEqual(aliased);
  });

  it('PUBACK/PUBREC/PUBREL/PUBCOMP: short form, reason only, reason and properties', () => {
    for (const type of [4, 5, 6, 7] as const) {
      const flags = type === 6 ? 2 : 0;
      const short = encodePacket({ type, packetId: 7 });
      expect(hex(short)).toBe(`${((type << 4) | flags).toString(16)}020007`);
      expect(decodePacket(short)).toStrictEqual({ type, packetId: 7, reasonCode: 0 });

      const code = type === 6 || type === 7 ? 0x92 : 0x10;
      const reasonOnly = encodePacket({ type, packetId: 7, reasonCode: code });
      expect(reasonOnly.length).toBe(5);
      expect(decodePacket(reasonOnly)).toStrictEqual({ type, packetId: 7, reasonCode: code });

      const withProps: Packet = { type, packetId: 7, reasonCode: 0, properties: { reasonString: 'ok' } };
      expect(roundTrip(withProps)).toStrictEqual(withProps);
    }
    // The 4-byte form with an empty property section is decoded too.
    expect(decodePacket(Buffer.from('4004000a1000', 'hex'))).toStrictEqual({ type: 4, packetId: 10, reasonCode: 0x10 });
  });

  it('SUBSCRIBE with every subscription option', () => {
    const p: Packet = {
      type: 8,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'a/+/c', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topicFilter: '$share/g/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
      ],
      properties: { subscriptionIdentifier: 268435455, userProperties: [['k', 'v']] },
    };
    const bytes = encodePacket(p);
    expect(bytes[0]).toBe(0x82);
    expect(roundTrip(p)).toStrictEqual(p);
    // Options default to false / 0.
    const d = roundTrip({ type: 8, packetId: 2, subscriptions: [{ topicFilter: 'x', qos: 1 }] });
    expect(d).toStrictEqual({
      type: 8,
      packetId: 2,
      subscriptions: [{ topicFilter: 'x', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
  });

  it('SUBACK, UNSUBSCRIBE, UNSUBACK', () => {
    const suback: Packet = { type: 9, packetId: 3, reasonCodes: [0, 1, 2, 0x80, 0xa2], properties: { reasonString: 'r' } };
    expect(roundTrip(suback)).toStrictEqual(suback);
    const unsub: Packet = { type: 10, packetId: 4, topicFilters: ['a/#', '+'] };
    expect(hex(encodePacket(unsub))).toBe('a20b000400' + '0003612f23' + '00012b');
    expect(roundTrip(unsub)).toStrictEqual(unsub);
    const unsuback: Packet = { type: 11, packetId: 4, reasonCodes: [0, 0x11] };
    expect(roundTrip(unsuback)).toStrictEqual(unsuback);
  });

  it('PINGREQ and PINGRESP', () => {
    expect(hex(encodePacket({ type: 12 }))).toBe('c000');
    expect(hex(encodePacket({ type: 13 }))).toBe('d000');
    expect(roundTrip({ type: 12 })).toStrictEqual({ type: 12 });
    expect(roundTrip({ type: 13 })).toStrictEqual({ type: 13 });
  });

  it('DISCONNECT and AUTH: empty short form, reason only, reason and properties', () => {
    for (const type of [14, 15] as const) {
      const short = encodePacket({ type });
      expect(hex(short)).toBe(`${(type << 4).toString(16)}00`);
      expect(decodePacket(short)).toStrictEqual({ type, reasonCode: 0 });
      const code = type === 14 ? 0x04 : 0x18;
      expect(hex(encodePacket({ type, reasonCode: code }))).toBe(`${(type << 4).toString(16)}01${code.toString(16).padStart(2, '0')}`);
      expect(roundTrip({ type, reasonCode: code })).toStrictEqual({ type, reasonCode: code });
    }
    const d: Packet = { type: 14, reasonCode: 0x8e, properties: { sessionExpiryInterval: 0, serverReference: 's', reasonString: 'bye' } };
    expect(roundTrip(d)).toStrictEqual(d);
    const a: Packet = { type: 15, reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from([9]) } };
    expect(roundTrip(a)).toStrictEqual(a);
  });

  it('repeated user properties keep order and duplicates', () => {
    const userProperties: [string, string][] = [['b', '1'], ['a', '2'], ['b', '3'], ['b', '3'], ['', '']];
    const p: Packet = { type: 3, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: { userProperties } };
    expect(roundTrip(p)).toStrictEqual(p);
  });

  it('non-ASCII strings survive', () => {
    const p: Packet = {
      type: 3,
      topic: 'häuser/🏠/東京',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { contentType: 'text/plain; charset=ü', userProperties: [['ключ', 'значение']] },
    };
    expect(roundTrip(p)).toStrictEqual(p);
  });

  it('skips properties whose value is undefined', () => {
    const p: Packet = { type: 14, reasonCode: 0, properties: { reasonString: undefined, sessionExpiryInterval: 1 } };
    expect(roundTrip(p)).toStrictEqual({ type: 14, reasonCode: 0, properties: { sessionExpiryInterval: 1 } });
  });

  it('every property of the table travels in some packet', () => {
    const seen = new Set<string>();
    for (const def of PROPERTIES) {
      const context = def.contexts[0]!;
      const sample = fc.sample(packetsByType[context === WILL_PROPERTIES ? PacketType.CONNECT : context]!, 500);
      for (const p of sample) {
        const props: Properties | undefined =
          context === WILL_PROPERTIES ? (p as { will?: { properties?: Properties } }).will?.properties : (p as { properties?: Properties }).properties;
        if (props?.[def.name] !== undefined) {
          expect(roundTrip(p)).toStrictEqual(p);
          seen.add(def.name);
          break;
        }
      }
    }
    expect([...seen].sort()).toEqual(PROPERTIES.map((d) => d.name).sort());
  });
});

describe('PUBLISH payload', () => {
  it('is a view into the received chunk, not a copy', () => {
    const bytes = encodePacket({ type: 3, topic: 't', payload: Buffer.from('payload'), qos: 1, packetId: 1, retain: false, dup: false });
    const [p] = new PacketDecoder().push(bytes);
    expect(p?.type).toBe(3);
    const payload = (p as { payload: Buffer }).payload;
    expect(payload.buffer).toBe(bytes.buffer);
    expect(payload.byteOffset).toBe(bytes.byteOffset + bytes.length - 7);
  });
});
