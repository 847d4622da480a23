/**
 * How a request, its replies and an event are framed on MQTT — the one thing that differs between
 * the transport's native v5 convention (protocol.ts) and compatibility with Nest's built-in
 * `Transport.MQTT` (compat.ts). ClientMqtt5 and ServerMqtt5 choose a {@link WireProtocol} once, at
 * construction (native-protocol.ts or compat-protocol.ts), and run one request/reply flow over it.
 */
import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import type { QoS } from '../codec/index.js';
import type { MqttClient, MqttMessage, PublishOptions } from '../client/index.js';

/** The id of a request in the caller's pending map: a counter (native) or a UUID (compat). */
export type RequestId = number | string;

/** Arguments of one `MqttClient#publish`. */
export type PublishArgs = PublishOptions;

/**
 * One response of a request: `value` is the final one (the stream completes with it), `next` one
 * of several, `end` completes without a value, `error` fails the request.
 */
export type ReplyKind = 'value' | 'next' | 'end' | 'error';

/** Where and how the responder answers one request it received. */
export interface ReplyTo {
  /** The topic the replies go to. */
  readonly topic: string;
  /**
   * PUBACK/PUBREC reason code of a request whose handler failed: 0x80 natively; Success for the
   * built-in client, which treats an error code as a failed publish rather than reading the error reply.
   */
  readonly failureAck: number;
  /** The PUBLISH of one reply. Throws what the serializer throws. */
  frame(kind: ReplyKind, value: unknown, qos: QoS): PublishArgs;
}

/** A message as the responder read it: its data, and whom to answer (undefined: an event). */
export interface InboundRequest {
  data: unknown;
  reply: ReplyTo | undefined;
}

/**
 * The wire convention of requests, replies and events. The caller side (ClientMqtt5) frames
 * requests and events and reads replies; the responder side (ServerMqtt5) reads requests and
 * frames replies through {@link ReplyTo}. Implementations hold no per-request state: the caller's
 * single pending map and the responder's flow stay in the transport classes.
 */
export interface WireProtocol<K extends RequestId = RequestId> {
  // ---- caller side ----
  /** After each CONNACK of a new client: start receiving replies addressed to `responseTopic`. */
  open(client: MqttClient, responseTopic: string): Promise<void>;
  /** The client is gone (closed, or it gave up reconnecting): forget what was subscribed on it. */
  reset(): void;
  /** A fresh request id. */
  nextId(): K;
  /** The PUBLISH of a request. Throws what the serializer throws. */
  frameRequest(topic: string, packet: ReadPacket, id: K): PublishArgs;
  /** The PUBLISH of an event. Throws what the serializer throws. */
  frameEvent(topic: string, packet: ReadPacket): PublishArgs;
  /**
   * Resolves once replies to requests on `topic` reach the client; undefined when they already
   * do, so that the request goes out in the same tick (the native case).
   */
  subscribeReplies(client: MqttClient, topic: string): Promise<void> | undefined;
  /** The id of the request a message on a reply subscription answers; undefined when it is not a reply of ours. */
  replyId(message: MqttMessage): K | undefined;
  /**
   * The reply in `message` as Nest's packet (`response`, `isDisposed`, `err`); called right after
   * {@link replyId} found a pending request. Throws what the deserializer throws.
   */
  readReply(message: MqttMessage): WritePacket;

  // ---- responder side ----
  /** Reads a received message: its data and, for a request, whom to answer. Throws what the deserializer throws. */
  readRequest(message: MqttMessage): InboundRequest;
}
