/** nest-mqtt5 — the Nest transport: ServerMqtt5, ClientMqtt5, Mqtt5Context, records, MqttBrokerModule. */
export { ServerMqtt5 } from './server.js';
export { ClientMqtt5 } from './client-proxy.js';
export { Mqtt5Context, type Mqtt5ContextArgs } from './context.js';
export { Mqtt5EventPattern, Mqtt5MessagePattern } from './decorators.js';
export {
  Mqtt5Record,
  Mqtt5RecordBuilder,
  type Mqtt5RecordOptions,
  type Mqtt5PublishProperties,
} from './record.js';
export {
  MqttBrokerModule,
  MqttBrokerAddress,
  MQTT_BROKER_MODULE_OPTIONS,
  type MqttBrokerModuleOptions,
  type MqttBrokerModuleAsyncOptions,
  type MqttBrokerOptionsFactory,
  type MqttBrokerListenOptions,
  type MqttBrokerListenResult,
} from './broker.module.js';
export type {
  Mqtt5ConnectionOptions,
  Mqtt5ServerOptions,
  Mqtt5ClientOptions,
  Mqtt5SubscribeDefaults,
  Mqtt5PatternExtras,
  Mqtt5AckMode,
  Mqtt5HandlerErrorPolicy,
  Mqtt5NoRespondersPolicy,
  Mqtt5TelemetryOptions,
} from './options.js';
export {
  JsonSerializer,
  JsonDeserializer,
  OCTET_STREAM,
  type Mqtt5Serializer,
  type Mqtt5Deserializer,
  type Mqtt5SerializedPayload,
} from './serializers.js';
export { MQTT5_TRANSPORT, Mqtt5Status } from './constants.js';
export type { Mqtt5Events } from './mqtt-client.js';
export { REPLY_KIND, REPLY_NEXT, REPLY_END, REPLY_ERROR } from './protocol.js';
export {
  Mqtt5TransportError,
  Mqtt5RequestTimeoutError,
  Mqtt5NoRespondersError,
  Mqtt5ConnectionLostError,
  Mqtt5ClosedError,
  Mqtt5NotConnectedError,
  Mqtt5SubscribeError,
  Mqtt5InvalidTopicError,
  Mqtt5ConnectFailedError,
  Mqtt5ConnectionRefusedError,
  Mqtt5PublishError,
  Mqtt5ProtocolError,
  Mqtt5OfflineQueueFullError,
  Mqtt5TimeoutError,
  Mqtt5OptionsError,
} from './errors.js';
export { toTransportError, type TransportErrorContext } from './transport-errors.js';
export { ErrorCode, type ErrorCodeValue, type MqttErrorDetails } from '../codec/index.js';
