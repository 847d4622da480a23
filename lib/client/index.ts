/** nest-mqtt5/client — the reconnecting MQTT v5 client. */
export { MqttClient } from './client.js';
export type {
  ClientState,
  ConnectOptions,
  ConnectProperties,
  DisconnectOptions,
  MqttClientEvents,
  MqttClientOptions,
  PublishOptions,
  PublishProperties,
  ReconnectedInfo,
  ReconnectingInfo,
  ResubscribeResult,
  ServerLimits,
  SubscribeOptions,
  UnsubscribeOptions,
  WillOptions,
  WillProperties,
} from './options.js';
export type { Connection, MqttStream } from './connection.js';
export { TcpConnection, type TcpConnectionOptions } from './tcp.js';
export { TlsConnection, type TlsConnectionOptions } from './tls.js';
export { WebSocketConnection, type WebSocketConnectionOptions } from './websocket.js';
export { connectionFromUrl, type ConnectionFromUrlOptions } from './url.js';
export { withoutCredentials } from './redact-url.js';
export { MessageReceiver, type MessageReceiverOptions, type MqttMessage } from './receiver.js';
export type { MessageHandler, MessageSink } from './subscriptions.js';
export {
  MemorySessionStore,
  type OutgoingMessage,
  type OutgoingState,
  type PublishResult,
  type SessionStore,
} from './session.js';
export type { Authenticator } from './auth.js';
export * from './errors.js';
export { CLIENT_STORE_VERSION, DurableSessionStore, type DurableSessionStoreOptions } from './durable-store.js';
export {
  StoreClosedError,
  StoreCorruptError,
  StoreError,
  StoreFullError,
  StoreOpenError,
  StoreVersionError,
  StoreWriteError,
  type StoreErrorCode,
  type SyncMode,
} from '../store/index.js';
