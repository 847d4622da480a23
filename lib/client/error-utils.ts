/** Conversions of thrown values into the client's typed errors. @internal */
import { MqttProtocolError } from '../codec/index.js';
import {
  ConnectFailedError,
  ConnectionLostError,
  MqttClientError,
  PublishError,
  SubscribeError,
  UnsubscribeError,
} from './errors.js';

/** The reason code a thrown value carries, else 0x80 Unspecified error. */
export function reasonOf(error: unknown): number {
  return error instanceof MqttProtocolError || error instanceof MqttClientError ? error.reasonCode : 0x80;
}

/** The message of a thrown value (an Error's message, else its string form). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A failed publish as a PublishError (an MqttClientError passes through). */
export function asPublishError(error: unknown): MqttClientError {
  if (error instanceof MqttClientError) return error;
  return new PublishError(reasonOf(error), errorMessage(error), undefined, { cause: error });
}

/** A failed SUBSCRIBE / UNSUBSCRIBE as a SubscribeError / UnsubscribeError. */
export function asRequestError(error: unknown, subscribe: boolean): MqttClientError {
  if (error instanceof MqttClientError) return error;
  const Type = subscribe ? SubscribeError : UnsubscribeError;
  return new Type(reasonOf(error), errorMessage(error), { cause: error });
}

/** Any thrown value as an MqttClientError (an MqttClientError passes through). */
export function asClientError(error: unknown): MqttClientError {
  if (error instanceof MqttClientError) return error;
  return new MqttClientError(reasonOf(error), errorMessage(error), { cause: error });
}

/** A failure to open the network connection: ConnectFailedError ("could not connect", not "lost"). */
export function asConnectionError(error: unknown, url: string): MqttClientError {
  if (error instanceof MqttClientError) return error;
  return new ConnectFailedError(reasonOf(error), `Cannot connect to ${url}: ${errorMessage(error)}`, { cause: error });
}

/**
 * The error a connection attempt fails with. A connection that closed before its CONNACK was never
 * established, so the link's ConnectionLostError becomes a ConnectFailedError (same reason code and
 * message, the original as `cause`); the attempt's other typed errors (ConnackError,
 * ConnectTimeoutError, ClientClosedError, …) pass through.
 */
export function asConnectFailure(error: unknown, url: string): MqttClientError {
  if (error instanceof ConnectionLostError) {
    return new ConnectFailedError(error.reasonCode, `Cannot connect to ${url}: ${error.message}`, { cause: error });
  }
  return asConnectionError(error, url);
}
