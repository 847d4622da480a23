/** nest-mqtt5/broker — an embeddable MQTT v5 broker. */
export { MqttBroker, type BrokerPublishOptions } from './broker.js';
export {
  BrokerOptionsError,
  type BrokerPersistenceOptions,
  type MqttBrokerOptions,
  type QueueFullPolicy,
} from './options.js';
export type {
  Authenticate,
  AuthenticateRequest,
  AuthenticateResult,
  AuthorizePublish,
  AuthorizePublishResult,
  AuthorizeSubscribe,
  AuthorizeSubscribeResult,
  ClientInfo,
  DeliveryCheck,
  DeliveryFilter,
  PeerCertificateInfo,
  PublishedMessage,
  TransportKind,
} from './auth.js';
export type { BrokerEventMap, DeniedAction, DeniedInfo, DisconnectInfo, DisconnectInitiator, DropInfo } from './events.js';
export type { BrokerMetrics } from './core.js';
export type { DropReason } from './session.js';
export type {
  BoundAddress,
  ListenAddresses,
  ListenOptions,
  TcpListenerOptions,
  TlsListenerOptions,
  WsListenerOptions,
  WssListenerOptions,
} from './listeners.js';
export { MemorySessionStore, type RetainedMessage, type RetainedStore, type SessionStore } from './store.js';
export { MemoryRetainedStore } from './retained.js';
export { BrokerClosedError, HookError } from './errors.js';
export {
  AuthFileError,
  aclFileAuthorizer,
  passwordFileAuthenticator,
  type AclFileAuthorizer,
  type AclBrokerHooks,
  type AuthFileErrorCode,
  type PasswordFileAuthenticator,
  type PasswordFileOptions,
} from './auth-files/index.js';
export type { BrokerStoreLoadStats } from './store/broker-store.js';
// Errors of the `persistence` option (start()/listen() refuse a bad data directory with these).
export {
  StoreClosedError,
  StoreCorruptError,
  StoreError,
  StoreFullError,
  StoreOpenError,
  StoreVersionError,
  StoreWriteError,
  type StoreErrorCode,
} from '../store/index.js';
