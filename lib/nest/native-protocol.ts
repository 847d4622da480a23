/**
 * The native v5 wire protocol (the convention is described in protocol.ts): a request carries the
 * caller's response topic and a 6-byte correlation counter; replies echo the correlation data and
 * mark stream values, completion and errors with a user property.
 */
import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import type { QoS, UserProperty } from '../codec/index.js';
import type { MqttClient, MqttMessage } from '../client/index.js';
import { Mqtt5SubscribeError } from './errors.js';
import type { InboundRequest, PublishArgs, ReplyKind, ReplyTo, WireProtocol } from './framing.js';
import {
  CORRELATION_LENGTH,
  END_PROPERTY,
  ERROR_PROPERTY,
  NEXT_PROPERTY,
  REPLY_END,
  REPLY_ERROR,
  REPLY_NEXT,
  replyKind,
} from './protocol.js';
import { buildReply } from './reply.js';
import type { RequestPublisher } from './request-publish.js';
import type { Mqtt5Deserializer, Mqtt5Serializer } from './serializers.js';

/** Correlation counters wrap below 2^48 (six bytes of correlation data). */
const MAX_CORRELATION = 2 ** 48;
const RC_UNSPECIFIED_ERROR = 0x80;

/** What a wire protocol is built from: the end's serializers, its publish defaults, and where replies go. */
export interface ProtocolSettings {
  readonly serializer: Mqtt5Serializer;
  readonly deserializer: Mqtt5Deserializer;
  readonly publisher: RequestPublisher;
  /** QoS of the caller's reply subscriptions. */
  readonly responseQos: QoS;
  /** The caller's handler of messages on its reply subscriptions (the responder side never subscribes any). */
  readonly onReply: (message: MqttMessage) => void;
}

/** Subscribes one reply topic; rejects with Mqtt5SubscribeError when the broker refuses it. */
export async function subscribeReplyTopic(
  client: MqttClient,
  topicFilter: string,
  qos: QoS,
  onReply: (message: MqttMessage) => void,
): Promise<void> {
  const suback = await client.subscribe({ subscriptions: [{ topicFilter, qos }] }, onReply);
  const code = suback.reasonCodes[0] ?? RC_UNSPECIFIED_ERROR;
  if (code >= 0x80) throw new Mqtt5SubscribeError(topicFilter, code, suback.properties?.reasonString);
}

/** The reply properties of each kind (`value`: none — a plain responder's answer is a final value). */
const KIND_PROPERTIES: Record<ReplyKind, readonly UserProperty[] | undefined> = {
  value: undefined,
  next: NEXT_PROPERTY,
  end: END_PROPERTY,
  error: ERROR_PROPERTY,
};

/** A v5 request's reply address: its response topic and correlation data. */
export class NativeReply implements ReplyTo {
  readonly failureAck = RC_UNSPECIFIED_ERROR;

  constructor(
    private readonly serializer: Mqtt5Serializer,
    readonly topic: string,
    private readonly correlationData: Buffer | undefined,
  ) {}

  frame(kind: ReplyKind, value: unknown, qos: QoS): PublishArgs {
    return buildReply(this.serializer, this.topic, this.correlationData, qos, KIND_PROPERTIES[kind], value);
  }
}

/** Requests answered on one response topic per caller, matched by correlation data. */
export class NativeProtocol implements WireProtocol<number> {
  private responseTopic = '';
  private seq = 0;

  constructor(private readonly settings: ProtocolSettings) {}

  open(client: MqttClient, responseTopic: string): Promise<void> {
    this.responseTopic = responseTopic;
    return subscribeReplyTopic(client, responseTopic, this.settings.responseQos, this.settings.onReply);
  }

  reset(): void {
    // The response subscription belongs to the client and goes with it.
  }

  nextId(): number {
    this.seq = this.seq + 1 === MAX_CORRELATION ? 1 : this.seq + 1;
    return this.seq;
  }

  frameRequest(topic: string, packet: ReadPacket, id: number): PublishArgs {
    const correlationData = Buffer.allocUnsafe(CORRELATION_LENGTH);
    correlationData.writeUIntBE(id, 0, CORRELATION_LENGTH);
    return this.settings.publisher.build(topic, packet, this.responseTopic, correlationData);
  }

  frameEvent(topic: string, packet: ReadPacket): PublishArgs {
    return this.settings.publisher.build(topic, packet, this.responseTopic, undefined);
  }

  subscribeReplies(): undefined {
    // Every reply comes to the response topic subscribed in open().
    return undefined;
  }

  replyId(message: MqttMessage): number | undefined {
    const correlation = message.properties?.correlationData;
    // Anything else on our response topic is not ours to answer for.
    if (correlation === undefined || correlation.length !== CORRELATION_LENGTH) return undefined;
    return correlation.readUIntBE(0, CORRELATION_LENGTH);
  }

  readReply(message: MqttMessage): WritePacket {
    const properties = message.properties;
    const value = this.settings.deserializer.deserialize(message.payload, properties);
    switch (replyKind(properties?.userProperties)) {
      case REPLY_NEXT:
        return { response: value };
      case REPLY_END:
        return { isDisposed: true };
      case REPLY_ERROR:
        return { err: value };
      default:
        return { response: value, isDisposed: true };
    }
  }

  readRequest(message: MqttMessage): InboundRequest {
    const properties = message.properties;
    const data = this.settings.deserializer.deserialize(message.payload, properties);
    const responseTopic = properties?.responseTopic;
    return {
      data,
      reply: responseTopic === undefined ? undefined : new NativeReply(this.settings.serializer, responseTopic, properties!.correlationData),
    };
  }
}
