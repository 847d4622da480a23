/** What encodePacket refuses to write, with the reason code of each refusal. */
import { describe, it, expect } from '@jest/globals';
import {
  MAX_VARINT,
  MqttProtocolError,
  decodePacket,
  encodePacket,
  encodedLength,
  type Packet,
  type PublishPacket,
} from '../../../lib/codec/index.js';

function reasonOf(fn: () => unknown): number | string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return e instanceof MqttProtocolError ? e.reasonCode : `not an MqttProtocolError: ${String(e)}`;
  }
}

const pub = (over: Partial<PublishPacket> & Record<string, unknown> = {}): Packet =>
  ({ type: 3, topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1, ...over }) as Packet;
/** A QoS 0 PUBLISH, without a packetId key. */
const pub0 = (over: Partial<PublishPacket> = {}): Packet => {
  const { packetId: _unused, ...rest } = pub({ qos: 0, ...over }) as PublishPacket;
  return rest;
};

/** Rows: description, packet, reason code expected from encodePacket (and encodedLength). */
const refused: [string, Packet, number][] = [
  ['topic name with +', pub({ topic: 'a/+' }), 0x90],
  ['topic name with #', pub({ topic: 'a/#' }), 0x90],
  ['topic name with U+0000', pub({ topic: 'a\0' }), 0x90],
  ['topic name with a lone surrogate', pub({ topic: 'a\ud800' }), 0x90],
  ['topic name over 65535 bytes', pub({ topic: 'é'.repeat(40000) }), 0x90],
  ['empty topic name without Topic Alias', pub({ topic: '' }), 0x82],
  ['QoS 3', pub({ qos: 3 as 0 }), 0x81],
  ['QoS "1" (not a number)', pub({ qos: '1' as unknown as 1 }), 0x81],
  ['DUP on QoS 0', pub({ qos: 0, dup: true }), 0x81],
  ['QoS 1 without packet identifier', pub({ packetId: undefined }), 0x82],
  ['packet identifier 0', pub({ packetId: 0 }), 0x82],
  ['packet identifier 65536', pub({ packetId: 65536 }), 0x82],
  ['packet identifier 1.5', pub({ packetId: 1.5 }), 0x82],
  ['payload that is not binary', pub({ payload: 'text' as unknown as Buffer }), 0x81],
  ['unknown property', pub({ properties: { bogus: 1 } as never }), 0x81],
  ['property not allowed in the packet (Session Expiry Interval in PUBLISH)', pub({ properties: { sessionExpiryInterval: 1 } }), 0x81],
  ['will-only property in PUBLISH', pub({ properties: { willDelayInterval: 1 } }), 0x81],
  ['string property with U+0000', pub({ properties: { contentType: 'a\0' } }), 0x81],
  ['string property with a lone surrogate', pub({ properties: { contentType: '\udc00' } }), 0x81],
  ['string property over 65535 bytes', pub({ properties: { responseTopic: 'x'.repeat(65536) } }), 0x81],
  ['string property that is not a string', pub({ properties: { contentType: 5 as unknown as string } }), 0x81],
  ['binary property over 65535 bytes', pub({ properties: { correlationData: Buffer.alloc(65536) } }), 0x81],
  ['binary property that is not binary', pub({ properties: { correlationData: 'x' as unknown as Buffer } }), 0x81],
  ['user property that is not a pair', pub({ properties: { userProperties: [['a']] as never } }), 0x81],
  ['user property name that is not a string', pub({ properties: { userProperties: [[1, 'a']] as never } }), 0x81],
  ['user properties that are not an array', pub({ properties: { userProperties: { a: 'b' } as never } }), 0x81],
  ['variable byte integer over 268435455', pub({ properties: { subscriptionIdentifier: MAX_VARINT + 1 } }), 0x81],
  ['Subscription Identifier 0', pub({ properties: { subscriptionIdentifier: [1, 0] } }), 0x82],
  ['Topic Alias 0', pub({ properties: { topicAlias: 0 } }), 0x94],
  ['Topic Alias 65536', pub({ properties: { topicAlias: 65536 } }), 0x81],
  ['Message Expiry Interval over 32 bits', pub({ properties: { messageExpiryInterval: 2 ** 32 } }), 0x81],
  ['Message Expiry Interval negative', pub({ properties: { messageExpiryInterval: -1 } }), 0x81],
  ['bool property that is not a boolean', pub({ properties: { payloadFormatIndicator: 1 as unknown as boolean } }), 0x82],
  ['Maximum QoS 2', { type: 2, sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 as 1 } }, 0x82],
  ['several Subscription Identifiers in SUBSCRIBE', { type: 8, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0 }], properties: { subscriptionIdentifier: [1, 2] } }, 0x82],
  ['empty SUBSCRIBE', { type: 8, packetId: 1, subscriptions: [] }, 0x82],
  ['invalid topic filter', { type: 8, packetId: 1, subscriptions: [{ topicFilter: 'a/#/b', qos: 0 }] }, 0x8f],
  ['malformed shared subscription', { type: 8, packetId: 1, subscriptions: [{ topicFilter: '$share/g', qos: 0 }] }, 0x8f],
  ['subscription QoS 3', { type: 8, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 3 as 0 }] }, 0x82],
  ['Retain Handling 3', { type: 8, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0, retainHandling: 3 as 0 }] }, 0x82],
  ['No Local on a shared subscription', { type: 8, packetId: 1, subscriptions: [{ topicFilter: '$share/g/a', qos: 0, noLocal: true }] }, 0x82],
  ['SUBSCRIBE without packet identifier', { type: 8, subscriptions: [{ topicFilter: 'a', qos: 0 }] } as unknown as Packet, 0x82],
  ['empty UNSUBSCRIBE', { type: 10, packetId: 1, topicFilters: [] }, 0x82],
  ['invalid filter in UNSUBSCRIBE', { type: 10, packetId: 1, topicFilters: ['a+'] }, 0x8f],
  ['empty SUBACK', { type: 9, packetId: 1, reasonCodes: [] }, 0x82],
  ['SUBACK reason code it may not carry', { type: 9, packetId: 1, reasonCodes: [0x11] }, 0x82],
  ['UNSUBACK reason code it may not carry', { type: 11, packetId: 1, reasonCodes: [0x02] }, 0x82],
  ['PUBACK reason code it may not carry', { type: 4, packetId: 1, reasonCode: 0x92 }, 0x82],
  ['PUBREL reason code it may not carry', { type: 6, packetId: 1, reasonCode: 0x80 }, 0x82],
  ['PUBACK without packet identifier', { type: 4 } as unknown as Packet, 0x82],
  ['DISCONNECT reason code it may not carry', { type: 14, reasonCode: 0x18 }, 0x82],
  ['AUTH reason code it may not carry', { type: 15, reasonCode: 0x04 }, 0x82],
  ['reason code out of byte range', { type: 14, reasonCode: 256 }, 0x82],
  ['CONNACK reason code it may not carry', { type: 2, sessionPresent: false, reasonCode: 0x8e }, 0x82],
  ['CONNACK session present with a failure', { type: 2, sessionPresent: true, reasonCode: 0x80 }, 0x82],
  ['CONNECT of protocol version 4', { type: 1, protocolVersion: 4, clientId: 'c', keepAlive: 0, cleanStart: true }, 0x84],
  ['CONNECT of protocol MQIsdp', { type: 1, protocolName: 'MQIsdp', clientId: 'c', keepAlive: 0, cleanStart: true }, 0x84],
  ['CONNECT keep alive 65536', { type: 1, clientId: 'c', keepAlive: 65536, cleanStart: true }, 0x81],
  ['CONNECT client id with U+0000', { type: 1, clientId: 'c\0', keepAlive: 0, cleanStart: true }, 0x81],
  ['CONNECT will topic with a wildcard', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, will: { topic: 'a/+', payload: Buffer.alloc(0), qos: 0, retain: false } }, 0x90],
  ['CONNECT will QoS 3', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, will: { topic: 'a', payload: Buffer.alloc(0), qos: 3 as 0, retain: false } }, 0x81],
  ['CONNECT will payload over 65535 bytes', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, will: { topic: 'a', payload: Buffer.alloc(65536), qos: 0, retain: false } }, 0x81],
  ['CONNECT will property not allowed in a will', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, will: { topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false, properties: { sessionExpiryInterval: 1 } } }, 0x81],
  ['CONNECT property only allowed in a will', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, properties: { willDelayInterval: 1 } }, 0x81],
  ['CONNECT Authentication Data without Method', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, properties: { authenticationData: Buffer.from('x') } }, 0x82],
  ['CONNECT Receive Maximum 0', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, properties: { receiveMaximum: 0 } }, 0x82],
  ['CONNECT password that is not binary', { type: 1, clientId: 'c', keepAlive: 0, cleanStart: true, password: 'pw' as unknown as Buffer }, 0x81],
  ['unknown packet type', { type: 0 } as unknown as Packet, 0x81],
  ['not an object', null as unknown as Packet, 0x81],
];

describe('encodePacket validation', () => {
  it.each(refused.map(([name, packet, code]): [string, Packet, number] => [`${name} → 0x${code.toString(16)}`, packet, code]))(
    '%s',
    (_name, packet, code) => {
      expect(reasonOf(() => encodePacket(packet))).toBe(code);
      expect(reasonOf(() => encodedLength(packet))).toBe(code);
    },
  );

  it('an empty topic name with a Topic Alias is fine', () => {
    const p = pub({ topic: '', properties: { topicAlias: 4 } });
    expect(decodePacket(encodePacket(p))).toStrictEqual(p);
  });

  it('ignores a packet identifier on QoS 0, which has none on the wire', () => {
    expect(decodePacket(encodePacket(pub({ qos: 0, packetId: 5 })))).toStrictEqual(pub0());
  });

  it('accepts any Uint8Array as binary data', () => {
    const p = pub({ payload: new Uint8Array([1, 2]) as Buffer, properties: { correlationData: new Uint8Array([3]) as Buffer } });
    const d = decodePacket(encodePacket(p)) as PublishPacket;
    expect([...d.payload]).toEqual([1, 2]);
    expect([...d.properties!.correlationData!]).toEqual([3]);
  });

  it('strings and binary data of exactly 65535 bytes are fine', () => {
    const p = pub({ topic: 't'.repeat(65535), properties: { correlationData: Buffer.alloc(65535, 1) } });
    expect(decodePacket(encodePacket(p))).toStrictEqual(p);
  });

  it('refuses a packet over the maximum packet size with 0x95, and accepts one of exactly that size', () => {
    const p = pub({ payload: Buffer.alloc(100) });
    const size = encodedLength(p);
    expect(encodePacket(p, { maximumPacketSize: size }).length).toBe(size);
    expect(reasonOf(() => encodePacket(p, { maximumPacketSize: size - 1 }))).toBe(0x95);
  });

  it('refuses a packet over the protocol maximum of 268,435,460 bytes with 0x95 before allocating it', () => {
    // A Buffer that claims to be huge: the encoder must refuse it from its length alone.
    const huge = Object.create(Buffer.prototype, { length: { value: MAX_VARINT } }) as Buffer;
    expect(reasonOf(() => encodePacket(pub({ payload: huge })))).toBe(0x95);
    expect(reasonOf(() => encodedLength(pub({ payload: huge })))).toBe(0x95);
  });

  it('writes exactly one buffer of the measured size, for every size of Remaining Length', () => {
    for (const n of [0, 120, 121, 16000, 2_100_000]) {
      const p = pub0({ payload: Buffer.alloc(n, 2) });
      const bytes = encodePacket(p);
      expect(bytes.length).toBe(encodedLength(p));
      expect(decodePacket(bytes)).toStrictEqual(p);
    }
  });
});
