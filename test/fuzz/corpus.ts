/**
 * Valid MQTT v5 packets to fuzz with: the seeds that mutations start from, the benign traffic a fuzz
 * connection sends before its mutated input, and out-of-order sequences whose verdict is known by
 * construction. Everything is drawn from a seeded {@link Random}, so a seed replays a run.
 */
import {
  PacketType,
  encodePacket,
  type ConnectPacket,
  type Packet,
  type Properties,
  type PublishPacket,
  type QoS,
  type Subscription,
  type UserProperty,
} from '../../lib/codec/index.js';
import type { Random } from '../helpers/prng.js';

/** Topic levels the fuzzer publishes and subscribes to: few, so that routing actually matches. */
const LEVELS = ['fz', 'a', 'b', 'sensor', 'x', 'é', '0', ''];

/** Broker settings a generator needs to know to stay within (or step just past) its limits. */
export interface BrokerShape {
  topicAliasMaximum: number;
  receiveMaximum: number;
  maximumPacketSize: number;
}

function topicName(rnd: Random): string {
  const n = rnd.range(1, 4);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(rnd.pick(LEVELS));
  const t = parts.join('/');
  return t.length === 0 ? 'fz' : t;
}

function topicFilter(rnd: Random): string {
  const n = rnd.range(1, 4);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(rnd.chance(0.2) ? '+' : rnd.pick(LEVELS));
  if (rnd.chance(0.25)) parts.push('#');
  const f = parts.join('/');
  return f.length === 0 ? 'fz' : f;
}

function userProperties(rnd: Random): UserProperty[] | undefined {
  if (!rnd.chance(0.2)) return undefined;
  const out: UserProperty[] = [];
  const n = rnd.range(1, 3);
  for (let i = 0; i < n; i++) out.push([rnd.pick(['k', 'trace', 'ü']), rnd.pick(['v', '', '1'])]);
  return out;
}

function qos(rnd: Random): QoS {
  return rnd.int(3) as QoS;
}

/** A valid v5 CONNECT with varied fields (never enhanced authentication, which the fuzz broker refuses). */
export function connectPacket(rnd: Random, clientId: string): ConnectPacket {
  const props: Properties = {};
  if (rnd.chance(0.3)) props.receiveMaximum = rnd.range(1, 100);
  if (rnd.chance(0.3)) props.maximumPacketSize = rnd.pick([128, 1024, 65_536, 268_435_455]);
  if (rnd.chance(0.3)) props.topicAliasMaximum = rnd.range(0, 10);
  if (rnd.chance(0.2)) props.sessionExpiryInterval = rnd.pick([0, 1, 60]);
  if (rnd.chance(0.2)) props.requestProblemInformation = rnd.chance(0.5);
  if (rnd.chance(0.2)) props.requestResponseInformation = rnd.chance(0.5);
  const up = userProperties(rnd);
  if (up !== undefined) props.userProperties = up;
  const p: ConnectPacket = {
    type: PacketType.CONNECT,
    clientId,
    keepAlive: rnd.pick([0, 5, 60, 65_535]),
    cleanStart: rnd.chance(0.8),
    properties: Object.keys(props).length === 0 ? undefined : props,
  };
  if (rnd.chance(0.3)) p.username = rnd.pick(['user', '', 'ünï']);
  if (rnd.chance(0.2)) p.password = rnd.bytes(rnd.range(0, 12));
  if (rnd.chance(0.25)) {
    p.will = {
      topic: topicName(rnd),
      payload: rnd.bytes(rnd.range(0, 16)),
      qos: qos(rnd),
      retain: rnd.chance(0.2),
      properties: rnd.chance(0.5) ? { willDelayInterval: rnd.pick([0, 1]), messageExpiryInterval: 10, contentType: 'x' } : undefined,
    };
  }
  return p;
}

/** A valid PUBLISH from a client (never an alias beyond `shape.topicAliasMaximum`). */
export function publishPacket(rnd: Random, shape: BrokerShape, packetId: number): PublishPacket {
  const q = qos(rnd);
  const props: Properties = {};
  if (rnd.chance(0.2)) props.messageExpiryInterval = rnd.range(0, 100);
  if (rnd.chance(0.1)) props.contentType = 'application/octet-stream';
  if (rnd.chance(0.1)) props.responseTopic = topicName(rnd);
  if (rnd.chance(0.1)) props.correlationData = rnd.bytes(4);
  if (rnd.chance(0.1)) props.payloadFormatIndicator = false;
  if (shape.topicAliasMaximum > 0 && rnd.chance(0.15)) props.topicAlias = rnd.range(1, shape.topicAliasMaximum);
  const up = userProperties(rnd);
  if (up !== undefined) props.userProperties = up;
  return {
    type: PacketType.PUBLISH,
    topic: topicName(rnd),
    payload: rnd.bytes(rnd.pick([0, 1, 8, 64, 300])),
    qos: q,
    // Retained messages are kept by the broker: a fraction only (the run clears them at the end).
    retain: rnd.chance(0.05),
    dup: q !== 0 && rnd.chance(0.1),
    packetId: q === 0 ? undefined : packetId,
    properties: Object.keys(props).length === 0 ? undefined : props,
  };
}

function subscription(rnd: Random): Subscription {
  const shared = rnd.chance(0.1);
  const s: Subscription = { topicFilter: topicFilter(rnd), qos: qos(rnd) };
  if (shared) s.topicFilter = `$share/g${rnd.int(3)}/${s.topicFilter}`;
  else if (rnd.chance(0.2)) s.noLocal = true;
  if (rnd.chance(0.2)) s.retainAsPublished = true;
  if (rnd.chance(0.3)) s.retainHandling = rnd.int(3) as 0 | 1 | 2;
  return s;
}

/**
 * A packet a connected client may send at any time without breaking the protocol: the broker must
 * keep the connection open. Acks name random packet identifiers (the broker ignores or answers 0x92).
 */
export function benignPacket(rnd: Random, shape: BrokerShape, packetId: number): Packet {
  switch (rnd.int(9)) {
    case 0:
      return { type: PacketType.PINGREQ };
    case 1:
    case 2:
    case 3:
      return publishPacket(rnd, shape, packetId);
    case 4: {
      const n = rnd.range(1, 3);
      const subscriptions: Subscription[] = [];
      for (let i = 0; i < n; i++) subscriptions.push(subscription(rnd));
      const props: Properties | undefined = rnd.chance(0.3) ? { subscriptionIdentifier: rnd.range(1, 1000) } : undefined;
      return { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties: props };
    }
    case 5:
      return { type: PacketType.UNSUBSCRIBE, packetId, topicFilters: [topicFilter(rnd)] };
    case 6:
      return { type: PacketType.PUBACK, packetId, reasonCode: rnd.pick([0, 0x10, 0x80]) };
    case 7:
      return { type: PacketType.PUBREL, packetId, reasonCode: rnd.pick([0, 0x92]) };
    default:
      return rnd.chance(0.5)
        ? { type: PacketType.PUBREC, packetId, reasonCode: rnd.pick([0, 0x80]) }
        : { type: PacketType.PUBCOMP, packetId, reasonCode: 0 };
  }
}

/**
 * A valid encoding of any packet type, client or server packets alike: the seeds of mutation.
 * Server-only types sent by a client are protocol errors, which is the point.
 */
export function anyPacket(rnd: Random, shape: BrokerShape, clientId: string): Packet {
  const id = rnd.range(1, 0xffff);
  switch (rnd.int(12)) {
    case 0:
      return connectPacket(rnd, clientId);
    case 1:
      return {
        type: PacketType.CONNACK,
        sessionPresent: false,
        reasonCode: rnd.pick([0, 0x80, 0x87]),
        properties: rnd.chance(0.5) ? { receiveMaximum: 10, topicAliasMaximum: 5, assignedClientIdentifier: 'id' } : undefined,
      };
    case 2:
      return { type: PacketType.SUBACK, packetId: id, reasonCodes: [0, 1, 0x80] };
    case 3:
      return { type: PacketType.UNSUBACK, packetId: id, reasonCodes: [0, 0x11] };
    case 4:
      return { type: PacketType.PINGRESP };
    case 5:
      return {
        type: PacketType.DISCONNECT,
        reasonCode: rnd.pick([0, 4, 0x80]),
        properties: rnd.chance(0.3) ? { reasonString: 'bye', userProperties: [['a', 'b']] } : undefined,
      };
    case 6:
      return { type: PacketType.AUTH, reasonCode: rnd.pick([0, 0x18, 0x19]), properties: { authenticationMethod: 'M', authenticationData: rnd.bytes(3) } };
    default:
      return benignPacket(rnd, shape, id);
  }
}

/** Encodes a packet the generators built (they only build valid ones). */
export function encode(p: Packet): Buffer {
  return encodePacket(p);
}

/**
 * Encodes a generated packet at MQTT 3.1.1/3.1 (`level` 4 or 3): properties left out by the encoder.
 * Packets with no form there (AUTH, reason codes ≥ 0x80 in acks or DISCONNECT, v5 subscription options)
 * are regenerated by `again`, or become PINGREQ after a few tries.
 */
export function encode311(p: Packet, level: 3 | 4, again: () => Packet): Buffer {
  let packet = p;
  for (let i = 0; i < 8; i++) {
    try {
      return encodePacket(packet, { protocolVersion: level });
    } catch {
      packet = again();
    }
  }
  return encodePacket({ type: PacketType.PINGREQ }, { protocolVersion: level });
}

/** A CONNECT of level 3 or 4 (no properties; a password always with a user name, as 3.1.1 requires). */
export function connectPacket311(rnd: Random, clientId: string, level: 3 | 4): ConnectPacket {
  const p = connectPacket(rnd, clientId);
  const c: ConnectPacket = { ...p, protocolVersion: level, properties: undefined };
  if (c.password !== undefined && c.username === undefined) c.username = 'user';
  if (c.will !== undefined) c.will = { ...c.will, properties: undefined };
  return c;
}

/** One step of an out-of-order sequence and what the broker must make of it. */
export interface SequenceStep {
  bytes: Buffer;
  /** undefined: the connection stays open; a number: the reason code the broker must answer with (CONNACK before acceptance, else DISCONNECT). */
  verdict: number | undefined;
  /** Short label for reports. */
  label: string;
}

/**
 * Valid packets in an order or a state the protocol forbids, with the verdict the spec dictates:
 * anything before CONNECT, a second CONNECT, server-only packets from a client, AUTH without
 * enhanced authentication, topic aliases out of range or unknown, DISCONNECT raising a zero session
 * expiry, a PUBLISH carrying a subscription identifier. Benign packets are mixed in.
 */
export function outOfOrderSequence(rnd: Random, shape: BrokerShape, clientId: string): { steps: SequenceStep[]; connects: boolean } {
  const steps: SequenceStep[] = [];
  let id = rnd.range(1, 60_000);
  const aliasesSet = new Set<number>();
  const benign = (): void => {
    const p = benignPacket(rnd, shape, id++);
    if (p.type === PacketType.PUBLISH && p.properties?.topicAlias !== undefined) aliasesSet.add(p.properties.topicAlias);
    steps.push({ bytes: encode(p), verdict: undefined, label: `benign ${p.type}` });
  };
  if (rnd.chance(0.15)) {
    // Nothing but CONNECT may come first (MQTT-3.1.0-1): refused with CONNACK 0x82.
    const p = anyPacket(rnd, shape, clientId);
    if (p.type !== PacketType.CONNECT) {
      steps.push({ bytes: encode(p), verdict: 0x82, label: `type ${p.type} before CONNECT` });
      return { steps, connects: false };
    }
  }
  const connect = connectPacket(rnd, clientId);
  // Our DISCONNECT-with-expiry step needs to know what CONNECT asked for.
  const connectExpiry = connect.properties?.sessionExpiryInterval ?? 0;
  steps.push({ bytes: encode(connect), verdict: undefined, label: 'CONNECT' });
  const before = rnd.int(4);
  for (let i = 0; i < before; i++) benign();
  switch (rnd.int(10)) {
    case 0:
      steps.push({ bytes: encode(connectPacket(rnd, clientId)), verdict: 0x82, label: 'second CONNECT' });
      break;
    case 1: {
      const p = rnd.pick<Packet>([
        { type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 },
        { type: PacketType.SUBACK, packetId: id, reasonCodes: [0] },
        { type: PacketType.UNSUBACK, packetId: id, reasonCodes: [0] },
        { type: PacketType.PINGRESP },
      ]);
      steps.push({ bytes: encode(p), verdict: 0x82, label: `server packet ${p.type} from a client` });
      break;
    }
    case 2:
      steps.push({
        bytes: encode({ type: PacketType.AUTH, reasonCode: rnd.pick([0x18, 0x19]), properties: { authenticationMethod: 'SCRAM' } }),
        verdict: 0x82,
        label: 'AUTH without enhanced authentication',
      });
      break;
    case 3: {
      const over = shape.topicAliasMaximum + rnd.range(1, 100);
      steps.push({
        bytes: encode({ type: PacketType.PUBLISH, topic: 'fz/alias', payload: Buffer.alloc(1), qos: 0, retain: false, dup: false, properties: { topicAlias: over } }),
        verdict: 0x94,
        label: `topic alias ${over} > maximum`,
      });
      break;
    }
    case 4: {
      // An alias never set on this connection: Topic Alias invalid (0x94; the project's choice for both
      // client and broker over the generic 0x82, spec 3.3.2.3.4).
      let unset = 1;
      while (aliasesSet.has(unset)) unset++;
      steps.push({
        bytes: encode({ type: PacketType.PUBLISH, topic: '', payload: Buffer.alloc(1), qos: 0, retain: false, dup: false, properties: { topicAlias: unset } }),
        verdict: 0x94,
        label: 'unknown topic alias',
      });
      break;
    }
    case 5:
      if (connectExpiry === 0) {
        steps.push({
          bytes: encode({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 30 } }),
          verdict: 0x82,
          label: 'DISCONNECT raises session expiry from 0',
        });
      } else {
        benign();
      }
      break;
    case 6:
      steps.push({
        bytes: encode({ type: PacketType.PUBLISH, topic: 'fz/sid', payload: Buffer.alloc(1), qos: 1, retain: false, dup: false, packetId: id++, properties: { subscriptionIdentifier: 7 } }),
        verdict: 0x82,
        label: 'PUBLISH with a subscription identifier',
      });
      break;
    case 7: {
      // Alias set then used with an empty topic: fine.
      if (shape.topicAliasMaximum === 0) {
        benign();
        break;
      }
      const a = rnd.range(1, shape.topicAliasMaximum);
      steps.push({ bytes: encode({ type: PacketType.PUBLISH, topic: 'fz/aliased', payload: Buffer.alloc(2), qos: 0, retain: false, dup: false, properties: { topicAlias: a } }), verdict: undefined, label: 'alias set' });
      steps.push({ bytes: encode({ type: PacketType.PUBLISH, topic: '', payload: Buffer.alloc(2), qos: 1, retain: false, dup: false, packetId: id++, properties: { topicAlias: a } }), verdict: undefined, label: 'alias used' });
      break;
    }
    case 8: {
      // The same QoS 2 PUBLISH twice, then its PUBREL: exactly once, no error.
      const p: PublishPacket = { type: PacketType.PUBLISH, topic: 'fz/q2', payload: Buffer.alloc(3), qos: 2, retain: false, dup: false, packetId: id };
      steps.push({ bytes: encode(p), verdict: undefined, label: 'QoS 2' });
      steps.push({ bytes: encode({ ...p, dup: true }), verdict: undefined, label: 'QoS 2 again' });
      steps.push({ bytes: encode({ type: PacketType.PUBREL, packetId: id++ }), verdict: undefined, label: 'PUBREL' });
      break;
    }
    default:
      benign();
  }
  const after = rnd.int(3);
  for (let i = 0; i < after; i++) benign();
  return { steps, connects: true };
}
