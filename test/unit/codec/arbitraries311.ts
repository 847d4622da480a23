/**
 * MQTT 3.1.1 / 3.1 packets for property tests: the v5 corpus (arbitraries.ts) folded onto what a level
 * 3/4 packet can say — no properties, no ack/DISCONNECT reason codes, 3.1.1 CONNACK/SUBACK return codes,
 * default subscription options, client ids the level accepts, no AUTH. Each result is both a valid input
 * of the encoder at that level and exactly what the decoder returns for it.
 */
import fc from 'fast-check';
import { PacketType, connackReturnCodeFor, subackReturnCodeFor, type Packet } from '../../../lib/codec/index.js';
import { anyPacket } from './arbitraries.js';

export type Level = 3 | 4;

/** `p` as the decoder at `level` returns it, or undefined for a packet the level has no form of (AUTH). */
export function at311(p: Packet, level: Level): Packet | undefined {
  switch (p.type) {
    case PacketType.CONNECT: {
      let clientId = p.clientId;
      if (level === 3 && (Buffer.byteLength(clientId) === 0 || Buffer.byteLength(clientId) > 23)) clientId = `c${clientId.length}`;
      const q: Packet = {
        type: p.type,
        protocolName: level === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: level,
        clientId,
        keepAlive: p.keepAlive,
        cleanStart: p.cleanStart || (level === 4 && clientId === ''),
      };
      if (p.will !== undefined) q.will = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
      if (p.username !== undefined || p.password !== undefined) q.username = p.username ?? 'user';
      if (p.password !== undefined) q.password = p.password;
      return q;
    }
    case PacketType.CONNACK: {
      const reasonCode = connackReturnCodeFor(p.reasonCode);
      return { type: p.type, sessionPresent: p.sessionPresent && reasonCode === 0, reasonCode };
    }
    case PacketType.PUBLISH: {
      const q: Packet = { type: p.type, topic: p.topic === '' ? 'aliased' : p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
      if (p.qos !== 0) q.packetId = p.packetId;
      return q;
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return { type: p.type, packetId: p.packetId, reasonCode: 0 } as Packet;
    case PacketType.SUBSCRIBE:
      return {
        type: p.type,
        packetId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({ topicFilter: s.topicFilter, qos: s.qos, noLocal: false, retainAsPublished: false, retainHandling: 0 as const })),
      };
    case PacketType.SUBACK:
      return { type: p.type, packetId: p.packetId, reasonCodes: p.reasonCodes.map(subackReturnCodeFor) };
    case PacketType.UNSUBSCRIBE:
      return { type: p.type, packetId: p.packetId, topicFilters: p.topicFilters };
    case PacketType.UNSUBACK:
      return { type: p.type, packetId: p.packetId, reasonCodes: [] };
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return { type: p.type };
    case PacketType.DISCONNECT:
      return { type: p.type, reasonCode: 0 };
    case PacketType.AUTH:
      return undefined;
  }
}

/** Any packet a level 3/4 connection can carry, in its decoded form. */
export function anyPacket311(level: Level): fc.Arbitrary<Packet> {
  return anyPacket.map((p) => at311(p, level)).filter((p): p is Packet => p !== undefined);
}
