/**
 * withTopicAlias: the rewritten PUBLISH decodes to the same packet plus the Topic Alias (with or without
 * its topic), for every QoS, with and without properties, across Remaining Length and Property Length
 * size boundaries; the input bytes are not changed.
 */
import { describe, expect, it } from '@jest/globals';
import { PacketType, decodePacket, encodePacket, withTopicAlias, type Properties, type PublishPacket, type QoS } from '../../../lib/codec/index.js';

function publish(qos: QoS, payloadSize: number, properties?: Properties): PublishPacket {
  return {
    type: PacketType.PUBLISH,
    topic: 'a/rather/long/topic/name/for/aliasing',
    payload: Buffer.alloc(payloadSize, 0x5a),
    qos,
    retain: qos === 1,
    dup: false,
    packetId: qos === 0 ? undefined : 4242,
    properties,
  };
}

describe('withTopicAlias', () => {
  const cases: [string, Properties | undefined][] = [
    ['no properties', undefined],
    ['a few properties', { contentType: 'text/plain', messageExpiryInterval: 30, subscriptionIdentifier: [3, 7] }],
    // 125 bytes of properties: adding the 3-byte alias makes the Property Length a 2-byte varint.
    ['a Property Length at the varint boundary', { correlationData: Buffer.alloc(122, 1) }],
  ];
  for (const [name, props] of cases) {
    for (const qos of [0, 1, 2] as const) {
      // 127 − header: Remaining Length crosses 127 when the alias is added.
      for (const payloadSize of [0, 10, 80, 20_000]) {
        it(`${name}, QoS ${qos}, ${payloadSize}-byte payload`, () => {
          const p = publish(qos, payloadSize, props);
          const enc = encodePacket(p);
          const before = Buffer.from(enc);
          const set = decodePacket(withTopicAlias(enc, 7, true)) as PublishPacket;
          expect(set).toEqual(decodePacket(encodePacket({ ...p, properties: { ...props, topicAlias: 7 } })));
          const use = decodePacket(withTopicAlias(enc, 65_535, false)) as PublishPacket;
          expect(use).toEqual(decodePacket(encodePacket({ ...p, topic: '', properties: { ...props, topicAlias: 65_535 } })));
          expect(enc).toEqual(before);
        });
      }
    }
  }
});
