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
  /**
   * Keep the session's QoS 1/2 state in a `DurableSessionStore` in `dir` (one directory per client id),
   * so that a publish (`emit()` / `send()`) at QoS 1/2 survives a crash of this process once the call
   * has been made: the restarted service re-sends what the broker had not acknowledged — a
   * transactional outbox for events. Needs a fixed `clientId`; `cleanStart` then defaults to false and
   * `sessionExpiryInterval` to 3600 so that the broker keeps its side of the session too.
   * Ignored when `clientOptions.sessionStore` is given.
   */
  durableSession?: { dir: string; sync?: 'always' | 'periodic' };
  /**
   * Startup: connection attempts `listen()` / `connect()` make before failing with
   * `Mqtt5ConnectFailedError`. Between attempts they wait the client's reconnect backoff
   * (`clientOptions.initialReconnectDelay` … `maxReconnectDelay`, with `reconnectJitter`) and log
   * one warning per failed attempt — so a service may start before its broker (Kubernetes, docker
   * compose). A refusal retrying cannot fix (bad credentials, not authorized) fails at once.
   * Default `Infinity`: keep trying, as Nest's built-in MQTT transport does.
   */
  connectAttempts?: number;
  /**
   * Startup: total time (ms) `listen()` / `connect()` keep trying before failing with
   * `Mqtt5ConnectFailedError`; 0 = no deadline (default). (Each single attempt is bounded by
   * `clientOptions.connectTimeout`.)
   */
  connectTimeout?: number;
  /**
   * OpenTelemetry tracing and metrics (`@opentelemetry/api` is an optional peer; nothing is recorded
   * until an SDK is registered). Default true; false turns both off; or per signal. Compat mode never
   * carries trace context: the built-in envelope has no place for it.
   */
  telemetry?: boolean | Mqtt5TelemetryOptions;
}

/** Which OpenTelemetry signals a transport records (when an SDK is registered). */
export interface Mqtt5TelemetryOptions {
  /** Spans, and W3C trace context (`traceparent`/`tracestate`) in user properties. Default true. */
  tracing?: boolean;
  /** Metrics. Default true. */
  metrics?: boolean;
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

/** What `ServerMqtt5` does with a QoS 1/2 message whose event handler failed: see `onHandlerError`. */
export type Mqtt5HandlerErrorPolicy = 'ack' | 'redeliver';

/** What `ClientMqtt5` does when no one subscribes to a request's topic: see `noResponders`. */
export type Mqtt5NoRespondersPolicy = 'fail' | 'wait';

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
  /**
   * How long `close()` waits for handlers in flight before disconnecting anyway (ms). Default 10,000.
   * @deprecated use `shutdownTimeout` (which wins when both are set).
   */
  closeTimeout?: number;
  /**
   * Graceful shutdown (`app.close()`, SIGTERM with `enableShutdownHooks()`): new messages are no
   * longer taken, handlers in progress get this long (ms) to finish and have their acks and replies
   * sent, then the server DISCONNECTs. Messages not acknowledged by then are redelivered (to another
   * replica of a shared group). Default 10,000.
   */
  shutdownTimeout?: number;
  /**
   * What happens to a QoS 1/2 message whose event handler throws or rejects (the error is logged
   * either way): `ack` (default) acknowledges it — a failure counts as settled, so a poison message
   * is not redelivered forever; `redeliver` leaves it unacknowledged, so the broker delivers it
   * again on the next connection of this session (a reconnect, or a restart resuming a persistent
   * session) or — in a `$share` group on our broker — to another member once this member's
   * connection ends (graceful shutdown included; Mosquitto 2.0 redelivers on session resumption
   * only). Acks go out in receive order: until then the acks of later messages on this connection
   * are held back, and after `receiveMaximum` unacknowledged messages the broker sends no more.
   * For rare, transient failures with idempotent handlers (README, "Running in production").
   */
  onHandlerError?: Mqtt5HandlerErrorPolicy;
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
  /**
   * `send()` fails with `Mqtt5RequestTimeoutError` when its response is not complete in time (ms),
   * time spent waiting for a connection included. Default 30,000; 0 = never. A record can set its
   * own (`Mqtt5RecordBuilder.setTimeout()`); rxjs `timeout()` on the observable also works, but only
   * the transport's timeout removes the request from the pending map and the offline queue at once.
   */
  requestTimeout?: number;
  /**
   * Calls (`send()`/`emit()`) that wait, in order, for the connection while the client is
   * connecting or reconnecting. Beyond it a call fails at once with `Mqtt5OfflineQueueFullError`;
   * a waiting call fails with its timeout error when its timeout passes first. Default 1,000; 0 = fail
   * at once while disconnected.
   */
  offlineQueueLimit?: number;
  /**
   * A request the broker answers with 0x10 No matching subscribers (nobody subscribes its topic):
   * `fail` (default) rejects it with `Mqtt5NoRespondersError` — except within `noRespondersGrace`
   * ms after this client (re)connected, when responders may still be resubscribing: then it is
   * published again until answered or timed out, as with `wait`; `wait` always publishes again
   * (with backoff) until answered or timed out.
   */
  noResponders?: Mqtt5NoRespondersPolicy;
  /** See `noResponders`: the window (ms) after a (re)connect in which 0x10 is not final. Default 5,000. */
  noRespondersGrace?: number;
  /**
   * How long `close()` waits (ms) for publishes in flight (QoS 1/2 not yet acknowledged) before it
   * DISCONNECTs anyway; calls still waiting then fail with `Mqtt5ClosedError`. Default 10,000.
   */
  shutdownTimeout?: number;
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
