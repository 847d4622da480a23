/** The events of {@link MqttBroker}, for logs and metrics. */
import type { QoS, Subscription } from '../codec/index.js';
import type { ClientInfo, PublishedMessage } from './auth.js';
import type { DropReason } from './session.js';

/** Who ended a connection. */
export type DisconnectInitiator = 'client' | 'server' | 'network';

/** Details of a `disconnect` event. */
export interface DisconnectInfo {
  /** `client`: the client sent DISCONNECT; `server`: the broker sent one (or refused); `network`: the connection was lost. */
  readonly initiator: DisconnectInitiator;
  /** The reason code of the DISCONNECT sent or received; undefined for a lost connection. */
  readonly reasonCode: number | undefined;
  /** Whether the client's will message was (or is scheduled to be) published. */
  readonly willPublished: boolean;
}

/** Details of a `drop` event: a message a client should have received but did not. */
export interface DropInfo {
  readonly clientId: string;
  readonly message: PublishedMessage;
  /** The QoS it would have been delivered with. */
  readonly qos: QoS;
  /**
   * `queueFull`: the session queue was at `maxQueuedMessages`/`maxQueuedBytes` (for a QoS 1/2 message
   * from a v5 client, that client also got PUBACK/PUBREC 0x97); `memoryLimit`: all queues together were
   * at `maxTotalQueuedBytes`; `packetTooLarge`: above the client's Maximum Packet Size;
   * `noSubscriberAvailable`: a shared group had no member left; `notAuthorized`: authorizePublish
   * refused a message from an MQTT 3.1.1/3.1 client, which has no way to be told (`clientId` is then
   * the publisher's).
   */
  readonly reason: DropReason;
}

/** What an authorisation hook refused. */
export type DeniedAction = 'publish' | 'subscribe';

/** Details of a `denied` event. */
export interface DeniedInfo {
  readonly action: DeniedAction;
  /** The topic of the PUBLISH, or the topic filter of the subscription. */
  readonly topic: string;
  /** The reason code sent (PUBACK/PUBREC or SUBACK; a QoS 0 publish has none on the wire and is dropped). */
  readonly reasonCode: number;
}

/** Event names and listener arguments of {@link MqttBroker}. */
export interface BrokerEventMap {
  /** A client completed CONNECT and got CONNACK 0x00. */
  connect: [client: ClientInfo, sessionPresent: boolean];
  /** A connected client's connection ended. */
  disconnect: [client: ClientInfo, info: DisconnectInfo];
  /** SUBSCRIBE answered: one reason code per subscription (granted QoS or failure). */
  subscribe: [client: ClientInfo, subscriptions: Subscription[], reasonCodes: number[]];
  /** UNSUBSCRIBE answered. */
  unsubscribe: [client: ClientInfo, topicFilters: string[], reasonCodes: number[]];
  /** A message was accepted for routing; `client` is null for wills and {@link MqttBroker.publish}. */
  publish: [message: PublishedMessage, client: ClientInfo | null];
  /** A message was not delivered to a client (see {@link DropInfo}). Counted in `metrics().droppedMessages`. */
  drop: [info: DropInfo];
  /**
   * `authorizePublish` or `authorizeSubscribe` refused a client's PUBLISH or subscription (or a client
   * published to `$SYS`). Counted in `metrics().deniedPublishes` / `deniedSubscriptions`.
   */
  denied: [client: ClientInfo, info: DeniedInfo];
  /** A client violated the protocol, its socket failed, or a hook threw; the error carries the reason code sent. */
  clientError: [client: ClientInfo | null, error: Error];
  /** A listener failed after it started. As with any EventEmitter, unhandled `error` events throw. */
  error: [error: Error];
}
