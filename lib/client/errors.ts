/**
 * Typed errors of the MQTT client. Every error carries a stable string `code` (see `ErrorCode` in
 * the codec), `reasonCode`: the MQTT v5 reason code that best describes the failure — the one the
 * server sent when the server refused something, or the one the client applied locally (e.g. 0x95
 * for a publish larger than the server accepts) — and its `reasonName`.
 */
import {
  ErrorCode,
  reasonCodeKey,
  reasonCodeName,
  type MqttErrorDetails,
  type AckPacket,
  type ConnackPacket,
  type DisconnectPacket,
  type PacketType,
} from '../codec/index.js';

/** Base class of every error the client reports. */
export class MqttClientError extends Error implements MqttErrorDetails {
  override name = 'MqttClientError';
  /**
   * Stable machine-readable code. Refusals (PublishError, SubscribeError, …) use the reason code's
   * key (`NOT_AUTHORIZED`, `PACKET_TOO_LARGE`, `QUOTA_EXCEEDED`, …); the connection-level classes
   * have a fixed one (`CONNECTION_REFUSED`, `CONNECT_FAILED`, `CONNECTION_LOST`, …).
   */
  readonly code: string;
  /** The spec name of `reasonCode`, e.g. `Not authorized`. */
  readonly reasonName: string;
  constructor(
    /** MQTT v5 reason code describing the failure (0x80 Unspecified error when nothing more precise applies). */
    readonly reasonCode: number,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? reasonCodeName(reasonCode), options);
    this.code = reasonCodeKey(reasonCode);
    this.reasonName = reasonCodeName(reasonCode);
  }
}

/** The server refused the connection: its CONNACK carried a reason code of 0x80 or above. */
export class ConnackError extends MqttClientError {
  override name = 'ConnackError';
  override readonly code: string = ErrorCode.CONNECTION_REFUSED;
  constructor(
    /** The refusing CONNACK (its properties may hold a reasonString or a serverReference). */
    readonly connack: ConnackPacket,
  ) {
    super(
      connack.reasonCode,
      `Connection refused: ${reasonCodeName(connack.reasonCode)}` +
        (connack.properties?.reasonString ? ` (${connack.properties.reasonString})` : ''),
    );
  }
}

/** A publish failed: the server answered with an error PUBACK/PUBREC, or the client refused it locally. */
export class PublishError extends MqttClientError {
  override name = 'PublishError';
  constructor(
    reasonCode: number,
    message?: string,
    /** The error PUBACK or PUBREC when the server refused the message; absent for a local refusal. */
    readonly ack?: AckPacket<typeof PacketType.PUBACK | typeof PacketType.PUBREC>,
    options?: { cause?: unknown },
  ) {
    super(reasonCode, message, options);
  }
}

/** A subscribe was refused locally (invalid filter, or a feature the server said it does not support). */
export class SubscribeError extends MqttClientError {
  override name = 'SubscribeError';
}

/** An unsubscribe was refused locally (invalid topic filter). */
export class UnsubscribeError extends MqttClientError {
  override name = 'UnsubscribeError';
}

/** The server closed the connection with a DISCONNECT packet; `reasonCode` is the one it sent. */
export class DisconnectedError extends MqttClientError {
  override name = 'DisconnectedError';
  override readonly code: string = ErrorCode.DISCONNECTED;
  constructor(
    /** The server's DISCONNECT (properties may hold a reasonString or a serverReference). */
    readonly packet: DisconnectPacket,
  ) {
    const code = packet.reasonCode ?? 0;
    super(
      code,
      `Server sent DISCONNECT: ${reasonCodeName(code)}` +
        (packet.properties?.reasonString ? ` (${packet.properties.reasonString})` : ''),
    );
  }
}

/**
 * The network connection was lost without a server DISCONNECT: the socket closed or failed, no
 * PINGRESP arrived in time (0x8D), or the server broke the protocol — then `reasonCode` is the one
 * the client sent in its own DISCONNECT (0x81 malformed, 0x82 protocol error, 0x93, 0x94, 0x95 …).
 */
export class ConnectionLostError extends MqttClientError {
  override name = 'ConnectionLostError';
  override readonly code: string = ErrorCode.CONNECTION_LOST;
}

/**
 * No connection could be made: the network connection could not be opened (refused, unreachable,
 * DNS, TLS failure) or it closed before a CONNACK arrived. Distinct from {@link ConnectionLostError},
 * which means an established connection ended. `cause` holds the underlying error.
 */
export class ConnectFailedError extends MqttClientError {
  override name = 'ConnectFailedError';
  override readonly code: string = ErrorCode.CONNECT_FAILED;
}

/** Opening the network connection or waiting for CONNACK took longer than `connectTimeout` (a kind of {@link ConnectFailedError}). */
export class ConnectTimeoutError extends ConnectFailedError {
  override name = 'ConnectTimeoutError';
  override readonly code: string = ErrorCode.CONNECT_TIMEOUT;
  constructor(timeoutMs: number) {
    super(0x80, `No CONNACK within ${timeoutMs} ms`);
  }
}

/** Enhanced authentication failed on the client side (the authenticator threw, or the server switched method). */
export class AuthenticationError extends MqttClientError {
  override name = 'AuthenticationError';
  override readonly code: string = ErrorCode.AUTHENTICATION_FAILED;
}

/**
 * The user closed the client with `disconnect()`: every operation still pending settles with this
 * error. `reasonCode` is the reason code of the DISCONNECT the client sent.
 */
export class ClientClosedError extends MqttClientError {
  override name = 'ClientClosedError';
  override readonly code: string = ErrorCode.CLOSED;
  constructor(reasonCode = 0) {
    super(reasonCode, 'The client was closed by disconnect()');
  }
}

/** The operation needs a connection and the client is not connected nor reconnecting. */
export class NotConnectedError extends MqttClientError {
  override name = 'NotConnectedError';
  override readonly code: string = ErrorCode.NOT_CONNECTED;
  constructor(message = 'The client is not connected') {
    super(0x80, message);
  }
}

/** The bounded queue of publishes waiting to be sent is full (`maxPendingPublishes`); reason code 0x97 Quota exceeded. */
export class QueueFullError extends MqttClientError {
  override name = 'QueueFullError';
  override readonly code: string = ErrorCode.QUEUE_FULL;
  constructor(limit: number) {
    super(0x97, `${limit} publishes are already waiting to be sent (maxPendingPublishes)`);
  }
}

/** A method was called in a state that does not allow it (e.g. `connect()` while already connected). */
export class ClientStateError extends MqttClientError {
  override name = 'ClientStateError';
  override readonly code: string = ErrorCode.INVALID_STATE;
  constructor(message: string) {
    super(0x80, message);
  }
}

/** `recv()` on a {@link MessageReceiver} that was closed and has no buffered message left. */
export class ReceiverClosedError extends MqttClientError {
  override name = 'ReceiverClosedError';
  override readonly code: string = ErrorCode.RECEIVER_CLOSED;
  constructor(message = 'The message receiver is closed') {
    super(0x80, message);
  }
}
