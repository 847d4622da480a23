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
export type Mqtt5Status = (typeof Mqtt5Status)[keyof typeof Mqtt5Status];

/** Broker URL used when neither `url` nor `connection` is given. */
export const DEFAULT_URL = 'mqtt://127.0.0.1:1883';
export const DEFAULT_QOS = 1;
export const DEFAULT_CONCURRENCY = 128;
export const DEFAULT_RECEIVE_MAXIMUM = 1024;
export const DEFAULT_MAX_QUEUED = 10_000;
export const DEFAULT_CLOSE_TIMEOUT = 10_000;
export const DEFAULT_REQUEST_TIMEOUT = 30_000;
export const DEFAULT_RESPONSE_PREFIX = 'nest-mqtt5/responses';
export const DEFAULT_KEEP_ALIVE = 60;
