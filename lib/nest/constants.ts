/**
 * Identifies this transport to Nest. Pass it as the transport argument of a decorator to bind a
 * handler to ServerMqtt5 alone in a hybrid application: `@EventPattern('a/b', MQTT5_TRANSPORT)`.
 */
export const MQTT5_TRANSPORT: unique symbol = Symbol('MQTT5_TRANSPORT');

/** Connection states reported by the `status` observable of ServerMqtt5 and ClientMqtt5. */
export const Mqtt5Status = {
  CONNECTED: 'connected',
  DISCONNECTED: 'disconnected',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
} as const;
/** One of the {@link Mqtt5Status} values. */
export type Mqtt5Status = (typeof Mqtt5Status)[keyof typeof Mqtt5Status];

/** Broker URL used when neither `url` nor `connection` is given. */
export const DEFAULT_URL = 'mqtt://127.0.0.1:1883';
/** QoS of subscriptions and of messages sent by ClientMqtt5 when not set. */
export const DEFAULT_QOS = 1;
/** Handlers ServerMqtt5 runs at once when `concurrency` is not set. */
export const DEFAULT_CONCURRENCY = 128;
/** CONNECT Receive Maximum of ServerMqtt5 when `receiveMaximum` is not set. */
export const DEFAULT_RECEIVE_MAXIMUM = 1024;
/** Messages ServerMqtt5 queues for a free handler slot; QoS 0 ones beyond it are dropped (QoS 1/2 are bounded by the receive maximum). */
export const DEFAULT_MAX_QUEUED = 10_000;
/** Milliseconds `close()` waits for running handlers. */
export const DEFAULT_CLOSE_TIMEOUT = 10_000;
/** Milliseconds ClientMqtt5 waits for a response when `requestTimeout` is not set. */
export const DEFAULT_REQUEST_TIMEOUT = 30_000;
/** Prefix of the per-client response topic of ClientMqtt5. */
export const DEFAULT_RESPONSE_PREFIX = 'nest-mqtt5/responses';
/** Keep alive, in seconds, when `keepAlive` is not set. */
export const DEFAULT_KEEP_ALIVE = 60;
/** Startup attempts of `listen()` / `connect()` when `connectAttempts` is not set: keep trying. */
export const DEFAULT_CONNECT_ATTEMPTS = Infinity;
/** Startup deadline (ms) when `connectTimeout` is not set: none. */
export const DEFAULT_CONNECT_DEADLINE = 0;
/** Calls waiting for the connection when `offlineQueueLimit` is not set. */
export const DEFAULT_OFFLINE_QUEUE_LIMIT = 1000;
/** Window (ms) after a (re)connect in which "no matching subscribers" is not final. */
export const DEFAULT_NO_RESPONDERS_GRACE = 5000;
/** Milliseconds `close()` waits for handlers / in-flight publishes when `shutdownTimeout` is not set. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;
