import { PacketType } from './packets.js';

/** Every MQTT v5 reason code, by name (spec 2.4). Several names share a value. */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

const { CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH } = PacketType;

/** One row of {@link REASON_CODES}. */
export interface ReasonCodeInfo {
  /** The reason code's value. */
  readonly code: number;
  /**
   * Stable machine-readable key, e.g. `NOT_AUTHORIZED` for 0x87. It is the `code` of every error
   * of this package whose kind is "the peer (or we) refused with this reason code" — derived
   * here, so that no other layer keeps its own mapping.
   */
  readonly key: string;
  /** The spec's name, e.g. `Not authorized`. */
  readonly name: string;
  /** Packet types that may carry it. */
  readonly packets: readonly number[];
}

/**
 * The one table of reason codes: value, stable key, name, and the packet types that may carry it
 * (spec 2.4, table 2-6). Read by the encoder and the decoder to refuse a reason code in a packet
 * that may not carry it, and by every layer's errors to derive their `code` and `reasonName`.
 */
export const REASON_CODES: ReadonlyArray<ReasonCodeInfo> = [
  { code: 0x00, key: 'SUCCESS', name: 'Success', packets: [CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH] },
  { code: 0x01, key: 'GRANTED_QOS_1', name: 'Granted QoS 1', packets: [SUBACK] },
  { code: 0x02, key: 'GRANTED_QOS_2', name: 'Granted QoS 2', packets: [SUBACK] },
  { code: 0x04, key: 'DISCONNECT_WITH_WILL', name: 'Disconnect with Will Message', packets: [DISCONNECT] },
  { code: 0x10, key: 'NO_MATCHING_SUBSCRIBERS', name: 'No matching subscribers', packets: [PUBACK, PUBREC] },
  { code: 0x11, key: 'NO_SUBSCRIPTION_EXISTED', name: 'No subscription existed', packets: [UNSUBACK] },
  { code: 0x18, key: 'CONTINUE_AUTHENTICATION', name: 'Continue authentication', packets: [AUTH] },
  { code: 0x19, key: 'RE_AUTHENTICATE', name: 'Re-authenticate', packets: [AUTH] },
  { code: 0x80, key: 'UNSPECIFIED_ERROR', name: 'Unspecified error', packets: [CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT] },
  { code: 0x81, key: 'MALFORMED_PACKET', name: 'Malformed Packet', packets: [CONNACK, DISCONNECT] },
  { code: 0x82, key: 'PROTOCOL_ERROR', name: 'Protocol Error', packets: [CONNACK, DISCONNECT] },
  { code: 0x83, key: 'IMPLEMENTATION_SPECIFIC_ERROR', name: 'Implementation specific error', packets: [CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT] },
  { code: 0x84, key: 'UNSUPPORTED_PROTOCOL_VERSION', name: 'Unsupported Protocol Version', packets: [CONNACK] },
  { code: 0x85, key: 'CLIENT_ID_NOT_VALID', name: 'Client Identifier not valid', packets: [CONNACK] },
  { code: 0x86, key: 'BAD_USERNAME_OR_PASSWORD', name: 'Bad User Name or Password', packets: [CONNACK] },
  { code: 0x87, key: 'NOT_AUTHORIZED', name: 'Not authorized', packets: [CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT] },
  { code: 0x88, key: 'SERVER_UNAVAILABLE', name: 'Server unavailable', packets: [CONNACK] },
  { code: 0x89, key: 'SERVER_BUSY', name: 'Server busy', packets: [CONNACK, DISCONNECT] },
  { code: 0x8a, key: 'BANNED', name: 'Banned', packets: [CONNACK] },
  { code: 0x8b, key: 'SERVER_SHUTTING_DOWN', name: 'Server shutting down', packets: [DISCONNECT] },
  { code: 0x8c, key: 'BAD_AUTHENTICATION_METHOD', name: 'Bad authentication method', packets: [CONNACK, DISCONNECT] },
  { code: 0x8d, key: 'KEEP_ALIVE_TIMEOUT', name: 'Keep Alive timeout', packets: [DISCONNECT] },
  { code: 0x8e, key: 'SESSION_TAKEN_OVER', name: 'Session taken over', packets: [DISCONNECT] },
  { code: 0x8f, key: 'TOPIC_FILTER_INVALID', name: 'Topic Filter invalid', packets: [SUBACK, UNSUBACK, DISCONNECT] },
  { code: 0x90, key: 'TOPIC_NAME_INVALID', name: 'Topic Name invalid', packets: [CONNACK, PUBACK, PUBREC, DISCONNECT] },
  { code: 0x91, key: 'PACKET_ID_IN_USE', name: 'Packet Identifier in use', packets: [PUBACK, PUBREC, SUBACK, UNSUBACK] },
  { code: 0x92, key: 'PACKET_ID_NOT_FOUND', name: 'Packet Identifier not found', packets: [PUBREL, PUBCOMP] },
  { code: 0x93, key: 'RECEIVE_MAXIMUM_EXCEEDED', name: 'Receive Maximum exceeded', packets: [DISCONNECT] },
  { code: 0x94, key: 'TOPIC_ALIAS_INVALID', name: 'Topic Alias invalid', packets: [DISCONNECT] },
  { code: 0x95, key: 'PACKET_TOO_LARGE', name: 'Packet too large', packets: [CONNACK, DISCONNECT] },
  { code: 0x96, key: 'MESSAGE_RATE_TOO_HIGH', name: 'Message rate too high', packets: [DISCONNECT] },
  { code: 0x97, key: 'QUOTA_EXCEEDED', name: 'Quota exceeded', packets: [CONNACK, PUBACK, PUBREC, SUBACK, DISCONNECT] },
  { code: 0x98, key: 'ADMINISTRATIVE_ACTION', name: 'Administrative action', packets: [DISCONNECT] },
  { code: 0x99, key: 'PAYLOAD_FORMAT_INVALID', name: 'Payload format invalid', packets: [CONNACK, PUBACK, PUBREC, DISCONNECT] },
  { code: 0x9a, key: 'RETAIN_NOT_SUPPORTED', name: 'Retain not supported', packets: [CONNACK, DISCONNECT] },
  { code: 0x9b, key: 'QOS_NOT_SUPPORTED', name: 'QoS not supported', packets: [CONNACK, DISCONNECT] },
  { code: 0x9c, key: 'USE_ANOTHER_SERVER', name: 'Use another server', packets: [CONNACK, DISCONNECT] },
  { code: 0x9d, key: 'SERVER_MOVED', name: 'Server moved', packets: [CONNACK, DISCONNECT] },
  { code: 0x9e, key: 'SHARED_SUBSCRIPTIONS_NOT_SUPPORTED', name: 'Shared Subscriptions not supported', packets: [SUBACK, DISCONNECT] },
  { code: 0x9f, key: 'CONNECTION_RATE_EXCEEDED', name: 'Connection rate exceeded', packets: [CONNACK, DISCONNECT] },
  { code: 0xa0, key: 'MAXIMUM_CONNECT_TIME', name: 'Maximum connect time', packets: [DISCONNECT] },
  { code: 0xa1, key: 'SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED', name: 'Subscription Identifiers not supported', packets: [SUBACK, DISCONNECT] },
  { code: 0xa2, key: 'WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED', name: 'Wildcard Subscriptions not supported', packets: [SUBACK, DISCONNECT] },
];

const names = new Map<number, string>(REASON_CODES.map((r) => [r.code, r.name]));
const keys = new Map<number, string>(REASON_CODES.map((r) => [r.code, r.key]));
// allowed[packetType] is a 256-entry bitmap of the reason codes that packet type may carry.
const allowed: Uint8Array[] = [];
for (let t = 0; t < 16; t++) allowed.push(new Uint8Array(256));
for (const r of REASON_CODES) for (const t of r.packets) allowed[t]![r.code] = 1;

/** Human-readable name of a reason code, e.g. `Packet too large` for 0x95. */
export function reasonCodeName(code: number): string {
  return names.get(code) ?? `Unknown reason code 0x${code.toString(16).padStart(2, '0')}`;
}

/**
 * Stable key of a reason code, e.g. `PACKET_TOO_LARGE` for 0x95 (`UNKNOWN_REASON_CODE` for a value
 * outside the spec). Errors derive their `code` from it.
 */
export function reasonCodeKey(code: number): string {
  return keys.get(code) ?? 'UNKNOWN_REASON_CODE';
}

/** Whether `packetType` may carry reason code `code` (spec table 2-6). */
export function isReasonCodeAllowed(packetType: number, code: number): boolean {
  return allowed[packetType]?.[code] === 1;
}

/** Reason codes of 0x80 and above signal failure. */
export function isErrorReasonCode(code: number): boolean {
  return code >= 0x80;
}
