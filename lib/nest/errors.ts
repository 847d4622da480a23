/**
 * Typed errors of the Nest transport. Each carries a stable `code` and, when an MQTT v5 reason
 * code describes the failure, that `reasonCode` — so callers can branch without parsing messages.
 */
export class Mqtt5TransportError extends Error {
  override name = 'Mqtt5TransportError';
  constructor(
    /** Stable machine-readable code, e.g. 'REQUEST_TIMEOUT'. */
    readonly code: string,
    message: string,
    /** The MQTT v5 reason code behind the failure, when there is one. */
    readonly reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `send()` got no (complete) response within the request timeout. Nothing is left pending. */
export class Mqtt5RequestTimeoutError extends Mqtt5TransportError {
  override name = 'Mqtt5RequestTimeoutError';
  constructor(
    readonly topic: string,
    readonly timeoutMs: number,
  ) {
    super('REQUEST_TIMEOUT', `No response on "${topic}" within ${timeoutMs} ms`);
  }
}

/**
 * The broker acknowledged a request with reason code 0x10 "No matching subscribers": nobody
 * listens on the topic, so waiting for the timeout would be pointless.
 */
export class Mqtt5NoRespondersError extends Mqtt5TransportError {
  override name = 'Mqtt5NoRespondersError';
  constructor(readonly topic: string) {
    super('NO_RESPONDERS', `No subscriber for "${topic}" (reason code 0x10 No matching subscribers)`, 0x10);
  }
}

/**
 * The connection dropped while a request was outstanding and the session did not survive, so a
 * response may have been lost. The request may or may not have been handled by the responder.
 */
export class Mqtt5ConnectionLostError extends Mqtt5TransportError {
  override name = 'Mqtt5ConnectionLostError';
  constructor(
    readonly topic: string,
    reason: string,
    reasonCode?: number,
  ) {
    super('CONNECTION_LOST', `Connection lost while waiting for the response on "${topic}": ${reason}`, reasonCode);
  }
}

/** The client or server was closed while the operation was pending. */
export class Mqtt5ClosedError extends Mqtt5TransportError {
  override name = 'Mqtt5ClosedError';
  constructor(what: string) {
    super('CLOSED', `${what} was closed`);
  }
}

/** `unwrap()` or an operation that needs the MqttClient was called before `connect()`/`listen()`. */
export class Mqtt5NotConnectedError extends Mqtt5TransportError {
  override name = 'Mqtt5NotConnectedError';
  constructor(hint: string) {
    super('NOT_CONNECTED', `Not initialized: ${hint}`);
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
      'SUBSCRIBE_FAILED',
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
    super('INVALID_TOPIC', `Invalid topic ${reasonCode === 0x8f ? 'filter' : 'name'} "${topic}": ${detail}`, reasonCode);
  }
}
