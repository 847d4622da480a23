import type { QoS, UserProperty } from '../codec/index.js';
import type { Connection, ConnectProperties, MqttClientOptions, WillOptions } from '../client/index.js';
import type { Mqtt5Deserializer, Mqtt5Serializer } from './serializers.js';

/** How the transport reaches the broker and what its CONNECT says. Shared by server and client. */
export interface Mqtt5ConnectionOptions {
  /**
   * Broker URL (`mqtt:`, `tcp:`, `mqtts:`, `tls:`, `ws:`, `wss:`). Default `mqtt://127.0.0.1:1883`.
   * Credentials in it (`mqtt://user:pass@host`) are used unless `username`/`password` are given.
   */
  url?: string;
  /** A ready `Connection` instead of `url` (custom transports, TLS options, tests). */
  connection?: Connection;
  /** Client identifier. Default: a random `nest-mqtt5-…` id. Fix it to resume a session after a restart. */
  clientId?: string;
  username?: string;
  password?: string | Buffer;
  /** Keep alive in seconds. Default 60. */
  keepAlive?: number;
  /** Default true. Set false together with `sessionExpiryInterval` to resume the session. */
  cleanStart?: boolean;
  /** Seconds the broker keeps the session after the connection ends. Default 0 (ends with it). */
  sessionExpiryInterval?: number;
  /** Further CONNECT properties (userProperties, maximumPacketSize, topicAliasMaximum, …). */
  connectProperties?: ConnectProperties;
  /** A will message the broker publishes if this service disappears. */
  will?: WillOptions;
  /** Options of the underlying `MqttClient` (reconnect delays and jitter, queue bounds, …). */
  clientOptions?: Partial<MqttClientOptions>;
}

/** Subscription options applied to every handler; per-handler decorator extras override them. */
export interface Mqtt5SubscribeDefaults {
  /** Maximum QoS of the subscriptions. Default 1. */
  qos?: QoS;
  /** Shared-subscription group: every handler subscribes `$share/<group>/<pattern>`. */
  share?: string;
  /** Do not receive messages this connection published itself (not allowed with `share`). */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  /** 0: send retained messages on subscribe (default), 1: only for a new subscription, 2: never. */
  retainHandling?: 0 | 1 | 2;
}

/**
 * Per-handler extras, the second argument of `@MessagePattern(topic, extras)` /
 * `@EventPattern(topic, extras)`. `share: false` opts a handler out of a default group.
 */
export interface Mqtt5PatternExtras extends Omit<Mqtt5SubscribeDefaults, 'share'> {
  share?: string | false;
}

/** When a QoS 1/2 message handled by `ServerMqtt5` is acknowledged to the broker. */
export type Mqtt5AckMode = 'after-handling' | 'on-receipt';

/** Options of {@link ServerMqtt5}. */
export interface Mqtt5ServerOptions extends Mqtt5ConnectionOptions {
  /** Defaults for every handler's subscription. */
  subscribeOptions?: Mqtt5SubscribeDefaults;
  /**
   * `after-handling` (default): PUBACK/PUBREC once the handler's promise or observable settled
   * (and a request's response was published), so a crash mid-handler means redelivery.
   * `on-receipt`: acknowledged as soon as the handler starts.
   */
  ackMode?: Mqtt5AckMode;
  /** Handlers running at once; the rest wait in order. Default 128; at most `receiveMaximum`. */
  concurrency?: number;
  /**
   * CONNECT receive maximum: QoS 1/2 messages the broker may have delivered to us and not yet had
   * acknowledged. Handlers in flight plus QoS 1/2 messages waiting for a slot never exceed it, so
   * the broker keeps the rest. Acknowledgements go out in receive order (spec 4.6), so a slow handler
   * holds back the acks of later messages: keep this above `concurrency`.
   * Default max(1024, concurrency); at most 65535.
   */
  receiveMaximum?: number;
  /** Bound of the QoS 0 messages waiting for a free handler slot; beyond it they are dropped and counted. Default 10,000. */
  maxQueuedMessages?: number;
  /** QoS of responses. Default: the request's QoS. */
  replyQos?: QoS;
  /** How long `close()` waits for handlers in flight before disconnecting anyway (ms). Default 10,000. */
  closeTimeout?: number;
  serializer?: Mqtt5Serializer;
  deserializer?: Mqtt5Deserializer;
  /**
   * Also answer clients of Nest's built-in `Transport.MQTT`: their JSON envelope
   * `{pattern,data,id}` is unwrapped and requests are answered on `<topic>/reply`. Default false.
   */
  compat?: boolean;
}

/** Options of {@link ClientMqtt5}, given to `ClientsModule.register({ name, customClass: ClientMqtt5, options })`. */
export interface Mqtt5ClientOptions extends Mqtt5ConnectionOptions {
  /** QoS of `emit()` and `send()` messages (a record can override it). Default 1. */
  qos?: QoS;
  /** QoS of the response subscription. Default 1. */
  responseQos?: QoS;
  /**
   * Prefix of this client's one response topic, `<prefix>/<clientId>`. Default
   * `nest-mqtt5/responses`. (Brokers can restrict `<prefix>/%c` to its own client in their ACL.)
   */
  responseTopicPrefix?: string;
  /** `send()` fails with `Mqtt5RequestTimeoutError` when its response is not complete in time (ms). Default 30,000; 0 = never. */
  requestTimeout?: number;
  /** User properties added to every message. */
  userProperties?: UserProperty[] | Record<string, string | string[]>;
  serializer?: Mqtt5Serializer;
  deserializer?: Mqtt5Deserializer;
  /**
   * Talk to services on Nest's built-in `Transport.MQTT`: JSON envelope `{pattern,data,id}` and
   * responses on `<pattern>/reply`. Default false.
   */
  compat?: boolean;
  /**
   * What `emit()` yields before completing. Default false: `undefined`, as Nest's built-in clients.
   * true: the reason code of the broker's acknowledgement — the PUBACK's at QoS 1 (0x00 Success,
   * 0x10 No matching subscribers, …), the PUBCOMP's at QoS 2 — and `undefined` at QoS 0. Refusals
   * (≥ 0x80) fail the observable either way.
   */
  emitReasonCode?: boolean;
}
