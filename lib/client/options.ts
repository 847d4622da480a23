/** Option and result types of {@link MqttClient} (kept apart so that client.ts holds behaviour only). */
import type {
  ConnackPacket,
  Properties,
  QoS,
  Subscription,
  UserProperty,
} from '../codec/index.js';
import type { Authenticator } from './auth.js';
import type { MqttClientError } from './errors.js';
import type { MqttMessage } from './receiver.js';
import type { SessionStore } from './session.js';

/** Options of the client itself (the CONNECT fields are given to `connect()`). */
export interface MqttClientOptions {
  /** Delay before the first reconnect attempt, ms; default 1000. */
  initialReconnectDelay?: number;
  /** Longest delay between reconnect attempts, ms; default 32000. */
  maxReconnectDelay?: number;
  /** 0–1: random spread of each reconnect delay (±fraction); default 0.5. */
  reconnectJitter?: number;
  /**
   * Reconnect after losing an established connection; default true. A function decides after the
   * loss and after every failed attempt (e.g. not after a server DISCONNECT 0x8E Session taken over,
   * nor after CONNACK 0x86 Bad user name or password). When it returns false, the client closes,
   * settling everything pending with that error.
   */
  reconnect?: boolean | ((error: MqttClientError) => boolean);
  /** Time allowed for opening the network connection plus the CONNECT/CONNACK exchange, ms; default 30000. */
  connectTimeout?: number;
  /** Time to wait for PINGRESP after a PINGREQ, ms; default: the keepalive interval (at most 30000). */
  pingTimeout?: number;
  /**
   * Most publishes waiting to be sent — while disconnected, beyond the in-flight limit, or while the
   * socket is backpressured; default 10000. Beyond it `publish()` rejects with QueueFullError.
   */
  maxPendingPublishes?: number;
  /**
   * Most QoS 1/2 publishes in flight (sent, not yet completed); default 65535. The server's Receive
   * Maximum (CONNACK) lowers it further. The rest wait in order.
   */
  maxInflight?: number;
  /**
   * QoS 0 publishes made while reconnecting: `true` (default) queues them with the rest, to be sent
   * after the reconnect; `false` rejects them at once with NotConnectedError (at-most-once, no backlog).
   */
  queueQoS0?: boolean;
  /**
   * Assign outgoing topic aliases automatically (least recently used replaced) when the server
   * allows aliases (Topic Alias Maximum in CONNACK); default false.
   */
  autoTopicAlias?: boolean;
  /** Where session state lives; default a new MemorySessionStore. */
  sessionStore?: SessionStore;
  /** How long `disconnect()` waits for the server to close the connection, ms; default 5000. */
  disconnectTimeout?: number;
  /**
   * Acknowledge received QoS 1/2 messages only when the application calls `client.ack(message)`;
   * default false (acknowledged as soon as handed to the receivers/callbacks). Use it to acknowledge
   * after processing, so that a message whose processing never finished (crash, lost connection) is
   * redelivered by the server. QoS 2 defers the PUBREC, not only the PUBCOMP.
   *
   * Every QoS 1/2 message the application receives must then be acked — with an error reason code
   * if processing failed — including those of an 'unhandledMessage' listener and those left in a
   * receiver that was closed. Acks go out in receive order (spec 4.6), so one message never acked
   * holds back the acks of all later ones until the connection ends. Unacked messages count against
   * our Receive Maximum (CONNECT `properties.receiveMaximum`): a conforming server then sends no more
   * until some are acked. (Some brokers overshoot it — see `enforceReceiveMaximum` — so
   * bound concurrent work in the application too if it must be exact.)
   * Messages no receiver or callback takes (and no 'unhandledMessage' listener) are acked by the client.
   */
  manualAck?: boolean;
  /**
   * Treat a server that sends more unacknowledged QoS 1/2 messages than our Receive Maximum as a
   * protocol error: DISCONNECT 0x93, then reconnect (spec 3.3.4). Default true. Set it to false for
   * brokers known to overshoot (Mosquitto 2.0.11 keeps the limit only for its first window; see
   * inbound.ts): the client then accepts the extra messages, keeping one packet id of state each.
   */
  enforceReceiveMaximum?: boolean;
  /** Random source in [0, 1) for the reconnect jitter; default Math.random (tests inject one). */
  random?: () => number;
}

/** Will message of CONNECT. */
export interface WillOptions {
  topic: string;
  payload?: Buffer | Uint8Array | string;
  qos?: QoS;
  retain?: boolean;
  /** Will properties: willDelayInterval, messageExpiryInterval, contentType, responseTopic, correlationData, payloadFormatIndicator, userProperties. */
  properties?: WillProperties;
}

/** The PUBLISH properties a will message may carry, plus its Will Delay Interval (spec 3.1.3.2). */
export type WillProperties = Pick<
  Properties,
  | 'willDelayInterval'
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'contentType'
  | 'responseTopic'
  | 'correlationData'
  | 'userProperties'
>;

/** The CONNECT properties an application may set (the client manages the authentication ones). */
export type ConnectProperties = Pick<
  Properties,
  | 'sessionExpiryInterval'
  | 'receiveMaximum'
  | 'maximumPacketSize'
  | 'topicAliasMaximum'
  | 'requestResponseInformation'
  | 'requestProblemInformation'
  | 'userProperties'
  | 'authenticationMethod'
  | 'authenticationData'
>;

/** The CONNECT fields. Reconnects send the same CONNECT with cleanStart false and the (assigned) client id. */
export interface ConnectOptions {
  /** Client identifier; default '' (the server assigns one, which the client then keeps for reconnects). */
  clientId?: string;
  /** Keepalive, seconds; default 60; 0 disables. The server's Server Keep Alive overrides it. */
  keepAlive?: number;
  /** Start a new session; default true. */
  cleanStart?: boolean;
  username?: string;
  password?: Buffer | string;
  will?: WillOptions;
  /**
   * CONNECT properties. `receiveMaximum` bounds the QoS 1/2 messages the server may have unacknowledged
   * with us, `maximumPacketSize` the packets we accept, `topicAliasMaximum` the aliases we accept;
   * `sessionExpiryInterval` is a request: the server's value in CONNACK wins.
   */
  properties?: ConnectProperties;
  /** Enhanced authentication; sets `properties.authenticationMethod` / `authenticationData`. */
  authenticator?: Authenticator;
}

/** The PUBLISH properties an application may set (subscription identifiers are the server's). */
export type PublishProperties = Pick<
  Properties,
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'contentType'
  | 'responseTopic'
  | 'correlationData'
  | 'topicAlias'
  | 'userProperties'
>;

/** An application message to publish. */
export interface PublishOptions {
  /** Topic name; '' only together with `properties.topicAlias` already set on this connection. */
  topic: string;
  /** Default: empty. A string is sent as UTF-8. */
  payload?: Buffer | Uint8Array | string;
  /** Default 0. */
  qos?: QoS;
  /** Default false. */
  retain?: boolean;
  properties?: PublishProperties;
}

/** A SUBSCRIBE: its filters with their options, and its properties. */
export interface SubscribeOptions {
  subscriptions: Subscription[];
  properties?: {
    /** 1–268,435,455; messages carrying it are routed to this subscription's receiver or callback. */
    subscriptionIdentifier?: number;
    userProperties?: UserProperty[];
  };
}

/** An UNSUBSCRIBE. */
export interface UnsubscribeOptions {
  topicFilters: string[];
  properties?: { userProperties?: UserProperty[] };
}

/** The DISCONNECT the client sends in `disconnect()`. */
export interface DisconnectOptions {
  /** Default 0x00 Normal disconnection; 0x04 asks the server to publish the will. */
  reasonCode?: number;
  properties?: Pick<Properties, 'sessionExpiryInterval' | 'reasonString' | 'userProperties'>;
}

/** Outcome of re-subscribing one filter after a reconnect without session (event 'resubscribed'). */
export interface ResubscribeResult {
  topicFilter: string;
  subscription: Subscription;
  /** The SUBACK reason code (≥ 0x80: refused, the subscription is dropped), or the local error's code. */
  reasonCode: number;
  /** Set when the subscription failed. */
  error?: MqttClientError;
}

/** Payload of the 'reconnecting' event. */
export interface ReconnectingInfo {
  /** 1 for the first attempt after a loss. */
  attempt: number;
  /** Milliseconds until this attempt. */
  delay: number;
  /** Why the client is reconnecting: the connection loss, or the failure of the previous attempt. */
  error: MqttClientError;
}

/** Payload of the 'reconnected' event. */
export interface ReconnectedInfo {
  /** Whether the server kept the session (no resubscribe; in-flight messages resumed). */
  sessionPresent: boolean;
  connack: ConnackPacket;
}

/** Events of {@link MqttClient}. */
export interface MqttClientEvents {
  /** Every successful CONNACK, reconnects included. */
  connected: [connack: ConnackPacket];
  /** An established connection ended: DisconnectedError (server DISCONNECT), ConnectionLostError, or ClientClosedError (`disconnect()`). */
  disconnected: [reason: MqttClientError];
  /**
   * The client stopped for good: `disconnect()` (ClientClosedError), or the `reconnect` policy gave
   * up (the error it gave up on). Every pending operation has settled when this fires.
   */
  closed: [reason: MqttClientError];
  /** A reconnect attempt is scheduled. */
  reconnecting: [info: ReconnectingInfo];
  /** A reconnect succeeded. */
  reconnected: [info: ReconnectedInfo];
  /** One filter re-subscribed after a reconnect without session (failures included). */
  resubscribed: [result: ResubscribeResult];
  /**
   * A message matched none of the client's subscriptions (e.g. of a resumed session), or only closed
   * receivers. With `manualAck`, the listener receives the duty to `ack()` it; without a listener
   * the client acknowledges such a message itself.
   */
  unhandledMessage: [message: MqttMessage];
  /**
   * A push-model callback threw or rejected. Emitted only when a listener is attached; without one
   * the error is rethrown asynchronously (an uncaught exception, as for any event listener).
   */
  error: [error: Error];
}

/** Lifecycle states of the client. */
export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closing' | 'closed';

/** What the server allows, from its CONNACK (defaults per spec when absent). */
export interface ServerLimits {
  receiveMaximum: number;
  maximumPacketSize: number | undefined;
  topicAliasMaximum: number;
  maximumQoS: QoS;
  retainAvailable: boolean;
  wildcardSubscriptionAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  subscriptionIdentifiersAvailable: boolean;
}
