/**
 * Startup with a broker that is not up yet: `connectWithRetry` keeps calling `client.connect()`
 * with the client's own reconnect backoff and jitter (as Nest's built-in MQTT transport keeps
 * retrying), logs one warning per failed attempt (URL without credentials, the cause), and
 * resolves with the CONNACK once connected. Bounded by `connectAttempts` and the `connectTimeout`
 * deadline, then it rejects with Mqtt5ConnectFailedError (the last error as `cause`); a refusal
 * retrying cannot fix (bad credentials, not authorized, banned …) rejects at once with
 * Mqtt5ConnectionRefusedError. Abortable (close() during startup): rejects with Mqtt5ClosedError.
 */
import {
  ClientClosedError,
  ConnackError,
  ConnectFailedError,
  ConnectionLostError,
  DisconnectedError,
  withoutCredentials,
  type ConnectOptions,
  type MqttClient,
  type MqttClientOptions,
} from '../client/index.js';
import { reconnectBackoff } from '../client/internal.js';
import type { ConnackPacket } from '../codec/index.js';
import { Mqtt5ClosedError, Mqtt5ConnectFailedError } from './errors.js';
import type { Mqtt5Logger } from './lifecycle-log.js';
import { toTransportError } from './transport-errors.js';

/** What `connectWithRetry` needs besides the client. */
export interface ConnectRetryOptions {
  /** The CONNECT of every attempt. */
  connectOptions: ConnectOptions;
  /** Attempts before giving up; Infinity = no bound. */
  connectAttempts: number;
  /** Total time (ms) before giving up; 0 = no deadline. */
  connectTimeout: number;
  /** The client's options: the backoff between attempts is the client's reconnect backoff. */
  clientOptions?: Partial<MqttClientOptions>;
  /** Aborting it (close() during startup) stops the attempts. */
  signal?: AbortSignal;
  /** Shown in logs and errors (credentials removed); default the connection's `brokerUrl`. */
  url?: string;
  /** Who is starting, for the closed error; default `The transport`. */
  what?: string;
}

/**
 * CONNACK reason codes after which another attempt cannot succeed without a configuration change:
 * protocol version, client id, credentials, authorization, ban, authentication method.
 * (0x88 Server unavailable, 0x89 Server busy, 0x9F Connection rate exceeded … are retried.)
 */
const FINAL_REFUSALS = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]);

/**
 * Whether another attempt may succeed: no connection could be made (network, TLS, timeout, closed
 * before CONNACK), a refusal that is not final (server busy / unavailable …), or the server ended
 * the handshake with a DISCONNECT. Anything else (a final refusal, a failed authenticator, a
 * client already connected) is reported at once.
 */
function retryable(error: unknown): boolean {
  if (error instanceof ConnackError) return !FINAL_REFUSALS.has(error.reasonCode);
  return error instanceof ConnectFailedError || error instanceof ConnectionLostError || error instanceof DisconnectedError;
}

/** Connects `client`, retrying an unreachable broker; see the file comment. */
export async function connectWithRetry(client: MqttClient, options: ConnectRetryOptions, logger: Mqtt5Logger): Promise<ConnackPacket> {
  const url = withoutCredentials(options.url ?? client.connection.brokerUrl);
  const { connectAttempts, connectTimeout, signal } = options;
  const backoff = reconnectBackoff(options.clientOptions ?? {});
  const closed = (cause?: unknown) => new Mqtt5ClosedError(`${options.what ?? 'The transport'} (while connecting to ${url})`, { cause });
  const deadline = connectTimeout > 0 ? performance.now() + connectTimeout : Infinity;
  let expired = false;
  // At the deadline, a running attempt is cut short: disconnect() makes connect() reject.
  const deadlineTimer =
    deadline === Infinity
      ? undefined
      : setTimeout(() => {
          expired = true;
          void client.disconnect().catch(() => undefined);
          wake?.();
        }, connectTimeout);
  let wake: (() => void) | undefined;
  const onAbort = (): void => {
    void client.disconnect().catch(() => undefined);
    wake?.();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw closed(signal.reason);
      let error: unknown;
      try {
        return await client.connect(options.connectOptions);
      } catch (e) {
        error = e;
      }
      if (signal?.aborted) throw closed(error);
      if (error instanceof ClientClosedError && !expired) throw closed(error);
      if (!(error instanceof ClientClosedError) && !retryable(error)) throw toTransportError(error, { url });
      const message = error instanceof Error ? error.message : String(error);
      if (expired || attempt >= connectAttempts || performance.now() >= deadline) {
        const why = expired || performance.now() >= deadline ? `gave up after ${connectTimeout} ms (connectTimeout): ${message}` : message;
        throw new Mqtt5ConnectFailedError(url, attempt, why, { cause: error });
      }
      const delay = Math.min(backoff.next(), Math.max(0, deadline - performance.now()));
      const of = connectAttempts === Infinity ? '' : ` of ${connectAttempts}`;
      logger.warn(`Cannot connect to ${url} (attempt ${attempt}${of}): ${message}; retrying in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
      if (signal?.aborted) throw closed(signal.reason);
      if (expired) throw new Mqtt5ConnectFailedError(url, attempt, `gave up after ${connectTimeout} ms (connectTimeout): ${message}`, { cause: error });
    }
  } finally {
    if (deadlineTimer !== undefined) clearTimeout(deadlineTimer);
    signal?.removeEventListener('abort', onAbort);
  }
}
