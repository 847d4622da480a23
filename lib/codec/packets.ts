/**
 * MQTT v5 control packets as a discriminated union on `type` — plain objects, no classes.
 * The numeric `type` is the packet type of the fixed header (spec 2.1.2).
 */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
/** A packet type number (1 CONNECT … 15 AUTH). */
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** Names of packet types, indexed by type number (for messages and logs). */
export const PACKET_NAMES: readonly string[] = [
  'RESERVED', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

/**
 * A protocol level on the wire: 5 (MQTT 5), 4 (MQTT 3.1.1, protocol name `MQTT`) or 3 (MQTT 3.1, protocol
 * name `MQIsdp`). Packets have one shape for all three; at levels 3 and 4 nothing travels in `properties`,
 * acks carry no reason code, and a CONNACK's `reasonCode` is a 3.1.1 return code (0x00–0x05).
 */
export type ProtocolVersion = 3 | 4 | 5;

/** Quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type QoS = 0 | 1 | 2;

/** A User Property: name and value. Order is preserved and a name may repeat (spec 3.3.2.3.7). */
export type UserProperty = [name: string, value: string];

/**
 * Every MQTT v5 property (spec 2.2.2.2), by name. Which ones a packet may carry is in the
 * property table (`properties.ts`). Byte-valued flags the spec restricts to 0/1 are booleans.
 */
export interface Properties {
  payloadFormatIndicator?: boolean; // 0x01
  messageExpiryInterval?: number; // 0x02
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Buffer; // 0x09
  /** 0x0B. One number in SUBSCRIBE; in PUBLISH (server → client) a number, or an array when several matched. */
  subscriptionIdentifier?: number | number[];
  sessionExpiryInterval?: number; // 0x11
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13
  authenticationMethod?: string; // 0x15
  authenticationData?: Buffer; // 0x16
  requestProblemInformation?: boolean; // 0x17
  willDelayInterval?: number; // 0x18
  requestResponseInformation?: boolean; // 0x19
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21
  topicAliasMaximum?: number; // 0x22
  topicAlias?: number; // 0x23
  maximumQoS?: 0 | 1; // 0x24
  retainAvailable?: boolean; // 0x25
  userProperties?: UserProperty[]; // 0x26, repeatable
  maximumPacketSize?: number; // 0x27
  wildcardSubscriptionAvailable?: boolean; // 0x28
  subscriptionIdentifiersAvailable?: boolean; // 0x29
  sharedSubscriptionAvailable?: boolean; // 0x2A
}

/** The will message carried by CONNECT. `properties` holds the will properties (willDelayInterval, …). */
export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

/** CONNECT (spec 3.1): opens a session. */
export interface ConnectPacket {
  type: typeof PacketType.CONNECT;
  /** 'MQTT' for levels 4 and 5, 'MQIsdp' for level 3; set by the decoder, implied by the level when encoding. */
  protocolName?: string;
  /**
   * The protocol level: set by the decoder. A decoder for one level refuses a CONNECT of another with an
   * UnsupportedProtocolError (0x84); one made with `protocolVersion: 'detect'` takes the level from the CONNECT.
   */
  protocolVersion?: number;
  clientId: string;
  keepAlive: number;
  /**
   * Clean Start (v5), or at levels 3/4 the Clean Session flag — the same bit, with 3.1.1's meaning: the
   * session also ends when the connection does.
   */
  cleanStart: boolean;
  username?: string;
  password?: Buffer;
  will?: Will;
  properties?: Properties;
}

/** CONNACK (spec 3.2): the server's answer to CONNECT. */
export interface ConnackPacket {
  type: typeof PacketType.CONNACK;
  sessionPresent: boolean;
  /**
   * A v5 reason code; at levels 3/4 the 3.1.1 return code 0x00–0x05 (decoded as is; when encoding, a v5
   * refusal code is translated by `connackReturnCodeFor`).
   */
  reasonCode: number;
  properties?: Properties;
}

/** PUBLISH (spec 3.3): an application message. Decoded payloads are views into the received bytes. */
export interface PublishPacket {
  type: typeof PacketType.PUBLISH;
  /** May be '' when a topic alias is set. */
  topic: string;
  /** A view into the received bytes when decoded (not a copy). */
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Required for QoS 1 and 2 (1–65535); absent for QoS 0. */
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP share one shape. A reason code of 0 with no properties is sent in short form. */
export interface AckPacket<T extends number> {
  type: T;
  packetId: number;
  /** Defaults to 0 (Success) when encoding; always set by the decoder. */
  reasonCode?: number;
  properties?: Properties;
}
/** PUBACK (spec 3.4): acknowledges a QoS 1 PUBLISH. */
export type PubackPacket = AckPacket<typeof PacketType.PUBACK>;
/** PUBREC (spec 3.5): first acknowledgement of a QoS 2 PUBLISH. */
export type PubrecPacket = AckPacket<typeof PacketType.PUBREC>;
/** PUBREL (spec 3.6): releases a QoS 2 message after PUBREC. */
export type PubrelPacket = AckPacket<typeof PacketType.PUBREL>;
/** PUBCOMP (spec 3.7): completes a QoS 2 exchange. */
export type PubcompPacket = AckPacket<typeof PacketType.PUBCOMP>;

/** One topic filter of SUBSCRIBE with its subscription options (spec 3.8.3.1). */
export interface Subscription {
  topicFilter: string;
  qos: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

/** SUBSCRIBE (spec 3.8): one or more topic filters with their options. */
export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

/** SUBACK (spec 3.9): one reason code per filter of the SUBSCRIBE, in order. */
export interface SubackPacket {
  type: typeof PacketType.SUBACK;
  packetId: number;
  reasonCodes: number[];
  properties?: Properties;
}

/** UNSUBSCRIBE (spec 3.10): topic filters to remove. */
export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE;
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

/** UNSUBACK (spec 3.11): one reason code per filter of the UNSUBSCRIBE, in order. */
export interface UnsubackPacket {
  type: typeof PacketType.UNSUBACK;
  packetId: number;
  /** One per filter (v5). A 3.1.1 UNSUBACK has none: decoded as [], and ignored when encoding. */
  reasonCodes: number[];
  properties?: Properties;
}

/** PINGREQ (spec 3.12): keep alive probe from the client. */
export interface PingreqPacket {
  type: typeof PacketType.PINGREQ;
}

/** PINGRESP (spec 3.13): the server's answer to PINGREQ. */
export interface PingrespPacket {
  type: typeof PacketType.PINGRESP;
}

/** DISCONNECT. A reason code of 0 with no properties is sent as the 2-byte short form. */
export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT;
  /** Defaults to 0 (Normal disconnection); always set by the decoder. */
  reasonCode?: number;
  properties?: Properties;
}

/** AUTH. A reason code of 0 with no properties is sent as the 2-byte short form. */
export interface AuthPacket {
  type: typeof PacketType.AUTH;
  reasonCode?: number;
  properties?: Properties;
}

/** Any MQTT v5 control packet, discriminated by `type`. */
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;
