import { PacketType, type Properties } from './packets.js';

/**
 * How a property value travels on the wire (spec 1.5):
 * - `byte`: one byte, a small number (Maximum QoS: 0 or 1);
 * - `bool`: one byte that must be 0 or 1, exposed as a boolean;
 * - `u16`, `u32`: two- and four-byte big-endian integers;
 * - `varint`: variable byte integer (≤ 268,435,455);
 * - `utf8`: UTF-8 encoded string with a two-byte length;
 * - `binary`: binary data with a two-byte length;
 * - `pair`: UTF-8 string pair (User Property).
 */
export type PropertyWireType = 'byte' | 'bool' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';

/**
 * Pseudo packet type for the Will Properties in the CONNECT payload (spec 3.1.3.2), which admit a
 * different set of properties than the CONNECT variable header. Packet types use 1–15.
 */
export const WILL_PROPERTIES = 16;

/** Name of a property: a key of {@link Properties}. */
export type PropertyName = keyof Properties;

/** One row of the property table. */
export interface PropertyDefinition {
  /** Property identifier on the wire. */
  readonly id: number;
  /** Key in {@link Properties}. */
  readonly name: PropertyName;
  readonly type: PropertyWireType;
  /** Packet types (and {@link WILL_PROPERTIES}) in which the property may appear. */
  readonly contexts: readonly number[];
  /** Contexts in which the property may appear more than once. */
  readonly repeatableIn: readonly number[];
  /** The value 0 is a Protocol Error (Receive Maximum, Topic Alias, Maximum Packet Size, Subscription Identifier). */
  readonly nonZero: boolean;
  /** Reason code when a nonZero property is 0: 0x82, but 0x94 (Topic Alias invalid) for Topic Alias (3.3.2.3.4). */
  readonly zeroReasonCode: number;
  /** Bit mask over contexts (bit `1 << context`) derived from `contexts`: the hot paths test this. */
  readonly contextMask: number;
  /** Bit mask over contexts derived from `repeatableIn`. */
  readonly repeatMask: number;
  /** A bit of its own (`1 << index in the table`), to track which properties a packet already carried. */
  readonly bit: number;
}

const {
  CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
  SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH,
} = PacketType;
const WILL = WILL_PROPERTIES;
const ALL_WITH_PROPERTIES = [
  CONNECT, CONNACK, PUBLISH, WILL, PUBACK, PUBREC, PUBREL, PUBCOMP,
  SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH,
];

type Row = [id: number, name: PropertyName, type: PropertyWireType, contexts: number[], extra?: { repeatableIn?: number[]; nonZero?: boolean; zeroReasonCode?: number }];

// Spec 2.2.2.2, table 2-4. The only place that says which property may go where.
const ROWS: Row[] = [
  [0x01, 'payloadFormatIndicator', 'bool', [PUBLISH, WILL]],
  [0x02, 'messageExpiryInterval', 'u32', [PUBLISH, WILL]],
  [0x03, 'contentType', 'utf8', [PUBLISH, WILL]],
  [0x08, 'responseTopic', 'utf8', [PUBLISH, WILL]],
  [0x09, 'correlationData', 'binary', [PUBLISH, WILL]],
  // Several subscriptions may match one message, so a PUBLISH to a client may carry several (3.3.2.3.8);
  // SUBSCRIBE carries at most one (3.8.2.1.2).
  [0x0b, 'subscriptionIdentifier', 'varint', [PUBLISH, SUBSCRIBE], { repeatableIn: [PUBLISH], nonZero: true }],
  [0x11, 'sessionExpiryInterval', 'u32', [CONNECT, CONNACK, DISCONNECT]],
  [0x12, 'assignedClientIdentifier', 'utf8', [CONNACK]],
  [0x13, 'serverKeepAlive', 'u16', [CONNACK]],
  [0x15, 'authenticationMethod', 'utf8', [CONNECT, CONNACK, AUTH]],
  [0x16, 'authenticationData', 'binary', [CONNECT, CONNACK, AUTH]],
  [0x17, 'requestProblemInformation', 'bool', [CONNECT]],
  [0x18, 'willDelayInterval', 'u32', [WILL]],
  [0x19, 'requestResponseInformation', 'bool', [CONNECT]],
  [0x1a, 'responseInformation', 'utf8', [CONNACK]],
  [0x1c, 'serverReference', 'utf8', [CONNACK, DISCONNECT]],
  [0x1f, 'reasonString', 'utf8', [CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH]],
  [0x21, 'receiveMaximum', 'u16', [CONNECT, CONNACK], { nonZero: true }],
  [0x22, 'topicAliasMaximum', 'u16', [CONNECT, CONNACK]],
  [0x23, 'topicAlias', 'u16', [PUBLISH], { nonZero: true, zeroReasonCode: 0x94 }],
  [0x24, 'maximumQoS', 'byte', [CONNACK]],
  [0x25, 'retainAvailable', 'bool', [CONNACK]],
  [0x26, 'userProperties', 'pair', ALL_WITH_PROPERTIES, { repeatableIn: ALL_WITH_PROPERTIES }],
  [0x27, 'maximumPacketSize', 'u32', [CONNECT, CONNACK], { nonZero: true }],
  [0x28, 'wildcardSubscriptionAvailable', 'bool', [CONNACK]],
  [0x29, 'subscriptionIdentifiersAvailable', 'bool', [CONNACK]],
  [0x2a, 'sharedSubscriptionAvailable', 'bool', [CONNACK]],
];

const mask = (contexts: readonly number[]): number => contexts.reduce((m, c) => m | (1 << c), 0);

/** The property table (spec 2.2.2.2), in identifier order. */
export const PROPERTIES: readonly PropertyDefinition[] = ROWS.map(([id, name, type, contexts, extra], index) =>
  Object.freeze({
    id,
    name,
    type,
    contexts,
    repeatableIn: extra?.repeatableIn ?? [],
    nonZero: extra?.nonZero ?? false,
    zeroReasonCode: extra?.zeroReasonCode ?? 0x82,
    contextMask: mask(contexts),
    repeatMask: mask(extra?.repeatableIn ?? []),
    bit: 1 << index,
  }),
);

/** Property definitions indexed by identifier (holes for unassigned identifiers); read by the decoder. */
export const PROPERTY_BY_ID: readonly (PropertyDefinition | undefined)[] = (() => {
  const byId: (PropertyDefinition | undefined)[] = new Array<PropertyDefinition | undefined>(0x2b).fill(undefined);
  for (const p of PROPERTIES) byId[p.id] = p;
  return byId;
})();

/** Property definitions by name (a null-prototype object, so `'toString'` is not a property); read by the encoder. */
export const PROPERTY_BY_NAME: Readonly<Record<string, PropertyDefinition | undefined>> = (() => {
  const byName: Record<string, PropertyDefinition | undefined> = Object.create(null) as Record<string, PropertyDefinition>;
  for (const p of PROPERTIES) byName[p.name] = p;
  return byName;
})();

/** Whether property `name` may appear in packet type `context` (or {@link WILL_PROPERTIES}). */
export function isPropertyAllowed(context: number, name: PropertyName): boolean {
  const def = PROPERTY_BY_NAME[name];
  return def !== undefined && (def.contextMask & (1 << context)) !== 0;
}
