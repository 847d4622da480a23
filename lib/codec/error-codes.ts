/**
 * The one vocabulary of error codes of nest-mqtt5 (modelled on nats.js's `ErrorCode`). Every error
 * a user can meet, in any layer, carries a stable string `code`:
 * - for a refusal by (or of) the peer, the reason code's key from the reason-code table
 *   (`NOT_AUTHORIZED`, `PACKET_TOO_LARGE`, `QUOTA_EXCEEDED`, `PROTOCOL_ERROR`, … — see
 *   `reasonCodeKey()`), plus `reasonCode` and `reasonName`;
 * - otherwise one of the kinds below, plus `reasonCode`/`reasonName` when the peer gave one
 *   (a refusing CONNACK, a server DISCONNECT).
 * Codes are part of the public API: they never change once released.
 */
export const ErrorCode = {
  /** The broker refused the connection (CONNACK reason code ≥ 0x80). */
  CONNECTION_REFUSED: 'CONNECTION_REFUSED',
  /** No connection could be made (network error, TLS failure, closed before CONNACK); distinct from CONNECTION_LOST. */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** Opening the connection plus the CONNECT/CONNACK exchange took longer than the connect timeout. */
  CONNECT_TIMEOUT: 'CONNECT_TIMEOUT',
  /** An established connection ended without a server DISCONNECT (socket closed, keepalive, protocol violation). */
  CONNECTION_LOST: 'CONNECTION_LOST',
  /** The server ended the connection with a DISCONNECT packet (its reason code is attached). */
  DISCONNECTED: 'DISCONNECTED',
  /** The operation needs a connection and there is none. */
  NOT_CONNECTED: 'NOT_CONNECTED',
  /** The client, server or broker was closed while the operation was pending. */
  CLOSED: 'CLOSED',
  /** An operation did not complete in time. */
  TIMEOUT: 'TIMEOUT',
  /** A request got no (complete) response in time. */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** Nobody subscribes to the request's topic (PUBACK 0x10 No matching subscribers). */
  NO_RESPONDERS: 'NO_RESPONDERS',
  /** The client's bounded queue of publishes waiting to be sent is full. */
  QUEUE_FULL: 'QUEUE_FULL',
  /** The transport's bounded queue of calls waiting for a connection is full. */
  OFFLINE_QUEUE_FULL: 'OFFLINE_QUEUE_FULL',
  /** An option has a wrong value; the error names the option. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** A method was called in a state that does not allow it. */
  INVALID_STATE: 'INVALID_STATE',
  /** A topic name or filter is not valid MQTT. */
  INVALID_TOPIC: 'INVALID_TOPIC',
  /** Enhanced authentication failed on the client side. */
  AUTHENTICATION_FAILED: 'AUTHENTICATION_FAILED',
  /** A subscription was refused (SUBACK reason code ≥ 0x80). */
  SUBSCRIBE_FAILED: 'SUBSCRIBE_FAILED',
  /** `recv()` on a closed message receiver. */
  RECEIVER_CLOSED: 'RECEIVER_CLOSED',
  /** A broker hook (authenticate / authorize…) threw. */
  HOOK_FAILED: 'HOOK_FAILED',
  /** The MQTT client stopped reconnecting (its `reconnect` policy gave up). */
  CLIENT_STOPPED: 'CLIENT_STOPPED',
  /** A payload could not be deserialized. */
  DESERIALIZE_FAILED: 'DESERIALIZE_FAILED',
  /** A response could not be published. */
  REPLY_FAILED: 'REPLY_FAILED',
  /** Command line: wrong usage. */
  USAGE: 'USAGE',
  /** Command line: a runtime failure. */
  FAILED: 'FAILED',
  /** Anything not produced by this package (wrapped, the original as `cause`). */
  UNKNOWN: 'UNKNOWN',
} as const;

/** One of the {@link ErrorCode} kinds. (`code` fields are typed `string`: reason-code keys are codes too.) */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What every error of nest-mqtt5 carries, whatever its layer. */
export interface MqttErrorDetails {
  /** Stable machine-readable code: an {@link ErrorCode} kind or a reason-code key. */
  readonly code: string;
  /** The MQTT v5 reason code behind the failure, when there is one. */
  readonly reasonCode?: number;
  /** The spec name of `reasonCode` (e.g. `Not authorized`), set whenever `reasonCode` is. */
  readonly reasonName?: string;
}
