/**
 * Typed errors of the Nest transport. Each carries a stable `code` (the package-wide vocabulary of
 * `ErrorCode`, or a reason code's key) and, when an MQTT v5 reason code describes the failure,
 * that `reasonCode` and its `reasonName` — so callers can branch without parsing messages. Every
 * error `send()`, `emit()`, `listen()` and `connect()` can reject with is one of these (errors of
 * the client layer are wrapped by `toTransportError`, the original kept as `cause`).
 */
import { ErrorCode, reasonCodeKey, reasonCodeName, type MqttErrorDetails } from '../codec/index.js';

/** Base class of every error of the transport. */
export class Mqtt5TransportError extends Error implements MqttErrorDetails {
  override name = 'Mqtt5TransportError';
  /** The spec name of `reasonCode` (e.g. `Not authorized`); undefined when there is no reason code. */
  readonly reasonName: string | undefined;
  constructor(
    /** Stable machine-readable code, e.g. 'REQUEST_TIMEOUT'. */
    readonly code: string,
    message: string,
    /** The MQTT v5 reason code behind the failure, when there is one. */
    readonly reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.reasonName = reasonCode === undefined ? undefined : reasonCodeName(reasonCode);
  }
}

/** `send()` got no (complete) response within the request timeout. Nothing is left pending. */
export class Mqtt5RequestTimeoutError extends Mqtt5TransportError {
  override name = 'Mqtt5RequestTimeoutError';
  constructor(
    readonly topic: string,
    readonly timeoutMs: number,
  ) {
    super(ErrorCode.REQUEST_TIMEOUT, `No response on "${topic}" within ${timeoutMs} ms`);
  }
}

/**
 * The broker acknowledged a request with reason code 0x10 "No matching subscribers": nobody
 * listens on the topic, so waiting for the timeout would be pointless.
 */
export class Mqtt5NoRespondersError extends Mqtt5TransportError {
  override name = 'Mqtt5NoRespondersError';
  constructor(readonly topic: string) {
    super(ErrorCode.NO_RESPONDERS, `No subscriber for "${topic}" (reason code 0x10 No matching subscribers)`, 0x10);
  }
}

/**
 * The connection dropped while a request was outstanding and the session did not survive, so a
 * response may have been lost. The request may or may not have been handled by the responder.
 */
export class Mqtt5ConnectionLostError extends Mqtt5TransportError {
  override name = 'Mqtt5ConnectionLostError';
  constructor(
    /** The request's topic; undefined when the loss is not tied to one request. */
    readonly topic: string | undefined,
    reason: string,
    reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(
      ErrorCode.CONNECTION_LOST,
      topic === undefined ? `Connection lost: ${reason}` : `Connection lost while waiting for the response on "${topic}": ${reason}`,
      reasonCode,
      options,
    );
  }
}

/** The client or server was closed while the operation was pending. */
export class Mqtt5ClosedError extends Mqtt5TransportError {
  override name = 'Mqtt5ClosedError';
  constructor(what: string, options?: { cause?: unknown }) {
    super(ErrorCode.CLOSED, `${what} was closed`, undefined, options);
  }
}

/** An operation that needs a connection found none: before `connect()`/`listen()`, or after it failed or was closed. */
export class Mqtt5NotConnectedError extends Mqtt5TransportError {
  override name = 'Mqtt5NotConnectedError';
  constructor(hint: string, options?: { cause?: unknown }) {
    super(ErrorCode.NOT_CONNECTED, `Not connected: ${hint}`, undefined, options);
  }
}

/**
 * No connection could be made to the broker: `listen()`/`connect()` gave up after
 * `connectAttempts` attempts or `connectTimeout` ms, or one attempt failed for a reason retrying
 * cannot fix. Distinct from {@link Mqtt5ConnectionLostError} (an established connection ended).
 * `cause` is the last attempt's error.
 */
export class Mqtt5ConnectFailedError extends Mqtt5TransportError {
  override name = 'Mqtt5ConnectFailedError';
  constructor(
    /** The broker URL, credentials removed. */
    readonly url: string,
    /** Attempts made. */
    readonly attempts: number,
    reason: string,
    options?: { cause?: unknown; reasonCode?: number },
  ) {
    super(
      ErrorCode.CONNECT_FAILED,
      `Could not connect to ${url} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`,
      options?.reasonCode,
      options,
    );
  }
}

/** The broker refused the connection: its CONNACK carried `reasonCode` (≥ 0x80), e.g. 0x86 Bad User Name or Password. */
export class Mqtt5ConnectionRefusedError extends Mqtt5TransportError {
  override name = 'Mqtt5ConnectionRefusedError';
  constructor(reasonCode: number, reasonString?: string, options?: { cause?: unknown }) {
    super(
      ErrorCode.CONNECTION_REFUSED,
      `Connection refused by the broker: ${reasonCodeName(reasonCode)}` + (reasonString ? ` (${reasonString})` : ''),
      reasonCode,
      options,
    );
  }
}

/**
 * A message was refused, by the broker (error PUBACK/PUBREC) or locally before sending (too large
 * for the broker, queue quota). `code` is the reason code's key: `NOT_AUTHORIZED`,
 * `PACKET_TOO_LARGE`, `QUOTA_EXCEEDED`, `TOPIC_NAME_INVALID`, `PAYLOAD_FORMAT_INVALID`, …
 */
export class Mqtt5PublishError extends Mqtt5TransportError {
  override name = 'Mqtt5PublishError';
  constructor(reasonCode: number, message: string, options?: { cause?: unknown }) {
    super(reasonCodeKey(reasonCode), message, reasonCode, options);
  }
}

/** The peer broke the MQTT protocol; `code` is the reason code's key (`PROTOCOL_ERROR`, `MALFORMED_PACKET`, …). */
export class Mqtt5ProtocolError extends Mqtt5TransportError {
  override name = 'Mqtt5ProtocolError';
  constructor(reasonCode: number, message: string, options?: { cause?: unknown }) {
    super(reasonCodeKey(reasonCode), message, reasonCode, options);
  }
}

/**
 * A `send()`/`emit()` made while disconnected found the offline queue full (`offlineQueueLimit`).
 * Nothing was sent; no call is ever dropped silently.
 */
export class Mqtt5OfflineQueueFullError extends Mqtt5TransportError {
  override name = 'Mqtt5OfflineQueueFullError';
  constructor(readonly limit: number) {
    super(ErrorCode.OFFLINE_QUEUE_FULL, `${limit} calls are already waiting for the connection (offlineQueueLimit)`);
  }
}

/** An operation (e.g. an `emit()` waiting for the connection) did not complete within its timeout. */
export class Mqtt5TimeoutError extends Mqtt5TransportError {
  override name = 'Mqtt5TimeoutError';
  constructor(
    /** What timed out, e.g. `emit() on "a/b"`. */
    readonly what: string,
    readonly timeoutMs: number,
    detail?: string,
  ) {
    super(ErrorCode.TIMEOUT, `${what} did not complete within ${timeoutMs} ms` + (detail ? `: ${detail}` : ''));
  }
}

/**
 * An option of ServerMqtt5, ClientMqtt5 or a record has a wrong value. Thrown by the constructor.
 * The message names the option and shows the value — never a password (URLs lose their
 * credentials; `password` is never shown).
 */
export class Mqtt5OptionsError extends Mqtt5TransportError {
  override name = 'Mqtt5OptionsError';
  constructor(
    /** The option at fault, dotted for nested ones, e.g. `clientOptions.reconnectJitter`. */
    readonly option: string,
    /** What the option must be, e.g. `an integer in 0..65535`. */
    expected: string,
    /** The value as shown (already redacted), or undefined to show none. */
    shown: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      ErrorCode.INVALID_OPTION,
      `Invalid option ${option}: must be ${expected}` + (shown === undefined ? '' : `, got ${shown}`),
      undefined,
      options,
    );
  }
}

/** The broker refused a subscription (SUBACK reason code ≥ 0x80). */
export class Mqtt5SubscribeError extends Mqtt5TransportError {
  override name = 'Mqtt5SubscribeError';
  constructor(
    readonly topicFilter: string,
    reasonCode: number,
    reasonString?: string,
  ) {
    super(
      ErrorCode.SUBSCRIBE_FAILED,
      `Subscription to "${topicFilter}" refused with reason code 0x${reasonCode.toString(16).padStart(2, '0')}` +
        (reasonString ? ` (${reasonString})` : ''),
      reasonCode,
    );
  }
}

/** A handler pattern or an outgoing topic is not a valid MQTT topic filter / topic name. */
export class Mqtt5InvalidTopicError extends Mqtt5TransportError {
  override name = 'Mqtt5InvalidTopicError';
  constructor(
    readonly topic: string,
    reasonCode: 0x8f | 0x90,
    detail: string,
  ) {
    super(ErrorCode.INVALID_TOPIC, `Invalid topic ${reasonCode === 0x8f ? 'filter' : 'name'} "${topic}": ${detail}`, reasonCode);
  }
}
