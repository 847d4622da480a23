/**
 * fast-check arbitraries of valid MQTT v5 packets, in exactly the shape our decoder produces (so that
 * `decode(encode(p))` can be compared with `toStrictEqual`). Properties come from the property table, so
 * every property of the spec gets exercised in every packet type that may carry it.
 */
import fc from 'fast-check';
import {
  PROPERTIES,
  PacketType,
  REASON_CODES,
  WILL_PROPERTIES,
  type ConnectPacket,
  type Packet,
  type PublishPacket,
  type Properties,
  type PropertyDefinition,
  type QoS,
  type UserProperty,
} from '../../../lib/codec/index.js';

const str = (maxLength = 12): fc.Arbitrary<string> =>
  fc
    .oneof(fc.string({ unit: 'binary-ascii', maxLength }), fc.string({ unit: 'binary', maxLength }))
    .map((s) => s.replace(/\0/g, '_'));

const buffer = (maxLength = 24): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/** A topic level: no '/', '+', '#' or U+0000. */
const level = str(6).map((s) => s.replace(/[/+#]/g, '-'));

/** A topic name: 1–4 levels (possibly empty ones), never empty as a whole. */
export const topicName: fc.Arbitrary<string> = fc
  .array(level, { minLength: 1, maxLength: 4 })
  .map((levels) => levels.join('/'))
  .map((t) => (t.length === 0 ? 'x' : t));

/** A topic filter: levels or '+', optionally ending in '#', optionally shared. */
export const topicFilter: fc.Arbitrary<string> = fc
  .tuple(
    fc.option(level.map((g) => (g.length === 0 ? 'g' : g)), { nil: undefined }),
    fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 4 }),
    fc.boolean(),
  )
  .map(([group, levels, hash]) => {
    const parts = hash ? [...levels, '#'] : levels;
    let f = parts.join('/');
    if (f.length === 0) f = 'x';
    return group === undefined ? f : `$share/${group}/${f}`;
  });

/**
 * User properties grouped by name (all pairs of one name together, names in first-appearance order,
 * names not integer-like): the one order that survives mqtt-packet's object representation.
 */
export const userProperties: fc.Arbitrary<UserProperty[]> = fc
  .uniqueArray(fc.tuple(str(6).map((s) => `u${s}`), fc.array(str(8), { minLength: 1, maxLength: 3 })), {
    selector: ([name]) => name,
    minLength: 1,
    maxLength: 3,
  })
  .map((groups) => groups.flatMap(([name, values]) => values.map((v): UserProperty => [name, v])));

function valueOf(def: PropertyDefinition, context: number): fc.Arbitrary<unknown> {
  const min = def.nonZero ? 1 : 0;
  switch (def.type) {
    case 'bool':
      return fc.boolean();
    case 'byte':
      return fc.constantFrom(0, 1);
    case 'u16':
      return fc.integer({ min, max: 0xffff });
    case 'u32':
      return fc.integer({ min, max: 0xffff_ffff });
    case 'varint': {
      const one = fc.oneof(fc.integer({ min: Math.max(min, 1), max: 200 }), fc.integer({ min: 1, max: 268_435_455 }));
      // Several Subscription Identifiers only in PUBLISH; the decoder returns an array only then.
      return (def.repeatMask & (1 << context)) !== 0 ? fc.oneof(one, fc.array(one, { minLength: 2, maxLength: 3 })) : one;
    }
    case 'utf8':
      return str();
    case 'binary':
      return buffer(16);
    case 'pair':
      return userProperties;
  }
}

/** Properties for packet type `context` (or WILL_PROPERTIES): any subset of those allowed, or undefined. */
export function propertiesFor(context: number): fc.Arbitrary<Properties | undefined> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const def of PROPERTIES) if ((def.contextMask & (1 << context)) !== 0) model[def.name] = valueOf(def, context);
  return fc
    .record(model, { requiredKeys: [], noNullPrototype: true })
    .map((p) => {
      const props = p as Properties;
      // Authentication Data without Method is a protocol error.
      if (props.authenticationData !== undefined && props.authenticationMethod === undefined) delete props.authenticationData;
      return Object.keys(props).length === 0 ? undefined : props;
    });
}

/** Adds `properties` to a packet only when defined (the decoder omits the key otherwise). */
function withProps<T extends object>(packet: T, properties: Properties | undefined): T {
  return properties === undefined ? packet : { ...packet, properties };
}

const qos = fc.constantFrom<QoS>(0, 1, 2);
const packetId = fc.integer({ min: 1, max: 0xffff });
const codesFor = (type: number): number[] => REASON_CODES.filter((r) => r.packets.includes(type)).map((r) => r.code);

const connect: fc.Arbitrary<Packet> = fc
  .record({
    clientId: str(),
    keepAlive: fc.integer({ min: 0, max: 0xffff }),
    cleanStart: fc.boolean(),
    credentials: fc.option(fc.tuple(str(), fc.option(buffer(), { nil: undefined })), { nil: undefined }),
    will: fc.option(
      fc.record(
        { topic: topicName, payload: buffer(), qos, retain: fc.boolean(), properties: propertiesFor(WILL_PROPERTIES) },
        { noNullPrototype: true },
      ),
      { nil: undefined },
    ),
    properties: propertiesFor(PacketType.CONNECT),
  }, { noNullPrototype: true })
  .map(({ clientId, keepAlive, cleanStart, credentials, will, properties }) => {
    const p: ConnectPacket = withProps<ConnectPacket>(
      { type: PacketType.CONNECT, protocolName: 'MQTT', protocolVersion: 5, clientId, keepAlive, cleanStart },
      properties,
    );
    if (will !== undefined) {
      const { properties: wp, ...rest } = will;
      p.will = wp === undefined ? rest : { ...rest, properties: wp };
    }
    // A password only with a user name: mqtt-packet cannot generate one alone.
    if (credentials !== undefined) {
      p.username = credentials[0];
      if (credentials[1] !== undefined) p.password = credentials[1];
    }
    // mqtt-packet refuses an empty client id without clean start (the server would assign one anyway).
    if (clientId === '' && !cleanStart) p.clientId = 'c';
    return p;
  });

const connack: fc.Arbitrary<Packet> = fc
  .tuple(fc.boolean(), fc.constantFrom(...codesFor(PacketType.CONNACK)), propertiesFor(PacketType.CONNACK))
  .map(([sp, reasonCode, properties]) =>
    withProps({ type: PacketType.CONNACK, sessionPresent: sp && reasonCode === 0, reasonCode }, properties),
  );

const publish: fc.Arbitrary<Packet> = fc
  .record({
    topic: fc.oneof({ weight: 5, arbitrary: topicName }, { weight: 1, arbitrary: fc.constant('') }),
    payload: fc.oneof(buffer(64), buffer(0)),
    qos,
    retain: fc.boolean(),
    dup: fc.boolean(),
    packetId,
    properties: propertiesFor(PacketType.PUBLISH),
    alias: fc.integer({ min: 1, max: 0xffff }),
  }, { noNullPrototype: true })
  .map(({ topic, payload, qos: q, retain, dup, packetId: id, properties, alias }) => {
    // An empty topic name needs a Topic Alias.
    if (topic === '' && properties?.topicAlias === undefined) properties = { ...properties, topicAlias: alias };
    const p: PublishPacket = { type: PacketType.PUBLISH, topic, payload, qos: q, retain, dup: q !== 0 && dup };
    if (q !== 0) p.packetId = id;
    return withProps(p, properties);
  });

const ack = (type: 4 | 5 | 6 | 7): fc.Arbitrary<Packet> =>
  fc
    .tuple(packetId, fc.constantFrom(...codesFor(type)), propertiesFor(type))
    .map(([id, reasonCode, properties]) => withProps({ type, packetId: id, reasonCode }, properties) as Packet);

const subscribe: fc.Arbitrary<Packet> = fc
  .tuple(
    packetId,
    fc.array(
      fc.record({
        topicFilter,
        qos,
        noLocal: fc.boolean(),
        retainAsPublished: fc.boolean(),
        retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      }, { noNullPrototype: true }),
      { minLength: 1, maxLength: 4 },
    ),
    propertiesFor(PacketType.SUBSCRIBE),
  )
  .map(([id, subs, properties]) =>
    withProps(
      {
        type: PacketType.SUBSCRIBE,
        packetId: id,
        // No Local on a shared subscription is a protocol error.
        subscriptions: subs.map((s) => (s.topicFilter.startsWith('$share/') ? { ...s, noLocal: false } : s)),
      },
      properties,
    ),
  );

const codeList = (type: 9 | 11): fc.Arbitrary<Packet> =>
  fc
    .tuple(packetId, fc.array(fc.constantFrom(...codesFor(type)), { minLength: 1, maxLength: 5 }), propertiesFor(type))
    .map(([id, reasonCodes, properties]) => withProps({ type, packetId: id, reasonCodes }, properties) as Packet);

const unsubscribe: fc.Arbitrary<Packet> = fc
  .tuple(packetId, fc.array(topicFilter, { minLength: 1, maxLength: 4 }), propertiesFor(PacketType.UNSUBSCRIBE))
  .map(([id, topicFilters, properties]) => withProps({ type: PacketType.UNSUBSCRIBE, packetId: id, topicFilters }, properties));

const reasonOnly = (type: 14 | 15): fc.Arbitrary<Packet> =>
  fc
    .tuple(fc.constantFrom(...codesFor(type)), propertiesFor(type))
    .map(([reasonCode, properties]) => withProps({ type, reasonCode }, properties) as Packet);

/** Any valid packet, per packet type. */
export const packetsByType: Record<number, fc.Arbitrary<Packet>> = {
  [PacketType.CONNECT]: connect,
  [PacketType.CONNACK]: connack,
  [PacketType.PUBLISH]: publish,
  [PacketType.PUBACK]: ack(PacketType.PUBACK),
  [PacketType.PUBREC]: ack(PacketType.PUBREC),
  [PacketType.PUBREL]: ack(PacketType.PUBREL),
  [PacketType.PUBCOMP]: ack(PacketType.PUBCOMP),
  [PacketType.SUBSCRIBE]: subscribe,
  [PacketType.SUBACK]: codeList(PacketType.SUBACK),
  [PacketType.UNSUBSCRIBE]: unsubscribe,
  [PacketType.UNSUBACK]: codeList(PacketType.UNSUBACK),
  [PacketType.PINGREQ]: fc.constant<Packet>({ type: PacketType.PINGREQ }),
  [PacketType.PINGRESP]: fc.constant<Packet>({ type: PacketType.PINGRESP }),
  [PacketType.DISCONNECT]: reasonOnly(PacketType.DISCONNECT),
  [PacketType.AUTH]: reasonOnly(PacketType.AUTH),
};

/** Any valid packet of any type (PUBLISH weighted up, being the common case). */
export const anyPacket: fc.Arbitrary<Packet> = fc.oneof(
  ...Object.entries(packetsByType).map(([type, arbitrary]) => ({
    arbitrary,
    weight: Number(type) === PacketType.PUBLISH ? 4 : 1,
  })),
);
