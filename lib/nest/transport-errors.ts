/**
 * The one mapping from errors of the layers below (client, codec) to the transport's `Mqtt5*`
 * errors, so that everything `send()`, `emit()`, `listen()` and `connect()` reject with is an
 * `instanceof Mqtt5TransportError` with a stable `code`, the reason code when there is one, and
 * the original error as `cause`.
 */
import {
  ClientClosedError,
  ConnackError,
  ConnectFailedError,
  ConnectionLostError,
  DisconnectedError,
  MqttClientError,
  NotConnectedError,
  PublishError,
  QueueFullError,
} from '../client/index.js';
import { ErrorCode, MqttProtocolError } from '../codec/index.js';
import {
  Mqtt5ClosedError,
  Mqtt5ConnectFailedError,
  Mqtt5ConnectionLostError,
  Mqtt5ConnectionRefusedError,
  Mqtt5NotConnectedError,
  Mqtt5ProtocolError,
  Mqtt5PublishError,
  Mqtt5TransportError,
} from './errors.js';

/** Context of the mapping: the broker URL (credentials removed) for connection failures. */
export interface TransportErrorContext {
  /** Shown in Mqtt5ConnectFailedError; default `the broker`. */
  url?: string;
  /** The request's topic, when the failure is tied to one (Mqtt5ConnectionLostError names it). */
  topic?: string;
}

/**
 * Maps any error met by the transport to an `Mqtt5*` error (an Mqtt5TransportError passes
 * through unchanged):
 *
 * | from                                   | to                                   | code                         |
 * |----------------------------------------|--------------------------------------|------------------------------|
 * | ConnackError                           | Mqtt5ConnectionRefusedError          | CONNECTION_REFUSED + reason  |
 * | ConnectFailedError, ConnectTimeoutError| Mqtt5ConnectFailedError              | CONNECT_FAILED               |
 * | ConnectionLostError, DisconnectedError | Mqtt5ConnectionLostError             | CONNECTION_LOST + reason     |
 * | ClientClosedError                      | Mqtt5ClosedError                     | CLOSED                       |
 * | NotConnectedError                      | Mqtt5NotConnectedError               | NOT_CONNECTED                |
 * | PublishError, QueueFullError           | Mqtt5PublishError                    | reason key (NOT_AUTHORIZED…) |
 * | MqttProtocolError                      | Mqtt5ProtocolError                   | reason key (PROTOCOL_ERROR…) |
 * | other MqttClientError                  | Mqtt5TransportError                  | the client error's code      |
 * | anything else                          | Mqtt5TransportError                  | UNKNOWN                      |
 *
 * Not for errors a remote handler answered with (those are the application's, passed as they are).
 */
export function toTransportError(error: unknown, context: TransportErrorContext = {}): Mqtt5TransportError {
  if (error instanceof Mqtt5TransportError) return error;
  const cause = { cause: error };
  if (error instanceof ConnackError) {
    return new Mqtt5ConnectionRefusedError(error.reasonCode, error.connack.properties?.reasonString, cause);
  }
  if (error instanceof ConnectFailedError) {
    return new Mqtt5ConnectFailedError(context.url ?? 'the broker', 1, error.message, { ...cause, reasonCode: meaningful(error.reasonCode) });
  }
  if (error instanceof ConnectionLostError || error instanceof DisconnectedError) {
    return new Mqtt5ConnectionLostError(context.topic, error.message, error.reasonCode, cause);
  }
  if (error instanceof ClientClosedError) return new Mqtt5ClosedError('The MQTT client', cause);
  if (error instanceof NotConnectedError) return new Mqtt5NotConnectedError(error.message, cause);
  if (error instanceof PublishError || error instanceof QueueFullError) {
    return new Mqtt5PublishError(error.reasonCode, error.message, cause);
  }
  if (error instanceof MqttProtocolError) return new Mqtt5ProtocolError(error.reasonCode, error.message, cause);
  if (error instanceof MqttClientError) return new Mqtt5TransportError(error.code, error.message, error.reasonCode, cause);
  const message = error instanceof Error ? error.message : String(error);
  return new Mqtt5TransportError(ErrorCode.UNKNOWN, message, undefined, cause);
}

/** 0x80 (Unspecified error) accompanies plain network failures: no reason code worth showing. */
function meaningful(reasonCode: number): number | undefined {
  return reasonCode === 0x80 || reasonCode === 0 ? undefined : reasonCode;
}
