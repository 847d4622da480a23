/**
 * The wire protocol of Nest's built-in `Transport.MQTT` (envelopes in compat.ts), so that services
 * can migrate one at a time. As a responder it still answers v5 requests (with a response topic)
 * natively; as a caller it frames everything in the built-in envelope and subscribes
 * `<pattern>/reply`, one subscription per pattern, kept for the life of the client.
 */
import { randomUUID } from 'node:crypto';
import type { ReadPacket, WritePacket } from '@nestjs/microservices';
import type { QoS } from '../codec/index.js';
import type { MqttClient, MqttMessage } from '../client/index.js';
import {
  compatReplyTopic,
  decodeCompatIncoming,
  decodeCompatResponse,
  encodeCompatRequest,
  encodeCompatResponse,
  type CompatResponse,
} from './compat.js';
import type { InboundRequest, PublishArgs, ReplyKind, ReplyTo, WireProtocol } from './framing.js';
import { NativeProtocol, subscribeReplyTopic, type ProtocolSettings } from './native-protocol.js';
import { unwrapRecord } from './record.js';

/** A built-in client's request: answered on `<topic>/reply` with its id. */
export class CompatReply implements ReplyTo {
  /** Success even for a failed handler: the built-in client would see an error code as a failed publish. */
  readonly failureAck = 0x00;

  constructor(
    readonly topic: string,
    private readonly id: string,
  ) {}

  frame(kind: ReplyKind, value: unknown, qos: QoS): PublishArgs {
    let response: CompatResponse;
    let options;
    if (kind === 'error') {
      // The built-in server ends the exchange with the error.
      response = { id: this.id, err: value, isDisposed: true };
    } else if (kind === 'end') {
      response = { id: this.id, isDisposed: true };
    } else {
      const unwrapped = unwrapRecord(value);
      options = unwrapped.options;
      response = kind === 'value' ? { id: this.id, response: unwrapped.data, isDisposed: true } : { id: this.id, response: unwrapped.data };
    }
    const args: PublishArgs = { topic: this.topic, payload: encodeCompatResponse(response), qos: options?.qos ?? qos };
    if (options?.properties) args.properties = options.properties;
    return args;
  }
}

/** Nest's built-in MQTT envelope on both ends. */
export class CompatProtocol implements WireProtocol<string> {
  private readonly native: NativeProtocol;
  /** Reply subscriptions by reply topic (a failed one is dropped, so the next request retries it). */
  private readonly subscriptions = new Map<string, Promise<void>>();
  /** The reply decoded by the last replyId(), read by the readReply() that follows it. */
  private lastMessage: MqttMessage | undefined;
  private lastResponse: CompatResponse | undefined;

  constructor(private readonly settings: ProtocolSettings) {
    this.native = new NativeProtocol(settings);
  }

  open(): Promise<void> {
    // Replies are subscribed per pattern, by subscribeReplies().
    return Promise.resolve();
  }

  reset(): void {
    this.subscriptions.clear();
  }

  nextId(): string {
    // Reply topics are shared by every built-in caller of a pattern: ids must be unique across them.
    return randomUUID();
  }

  frameRequest(topic: string, packet: ReadPacket, id: string): PublishArgs {
    const { data, options } = unwrapRecord(packet.data);
    return this.settings.publisher.args(topic, encodeCompatRequest(packet.pattern, data, id), options, '', undefined, packet.metadata);
  }

  frameEvent(topic: string, packet: ReadPacket): PublishArgs {
    const { data, options } = unwrapRecord(packet.data);
    return this.settings.publisher.args(topic, encodeCompatRequest(packet.pattern, data), options, '', undefined, packet.metadata);
  }

  subscribeReplies(client: MqttClient, topic: string): Promise<void> {
    const replyTopic = compatReplyTopic(topic);
    let subscribed = this.subscriptions.get(replyTopic);
    if (!subscribed) {
      subscribed = subscribeReplyTopic(client, replyTopic, this.settings.responseQos, this.settings.onReply);
      subscribed.catch(() => this.subscriptions.delete(replyTopic));
      this.subscriptions.set(replyTopic, subscribed);
    }
    return subscribed;
  }

  replyId(message: MqttMessage): string | undefined {
    const response = decodeCompatResponse(message.payload);
    this.lastMessage = response === undefined ? undefined : message;
    this.lastResponse = response;
    return response?.id;
  }

  readReply(message: MqttMessage): WritePacket {
    const response = this.lastMessage === message ? this.lastResponse! : decodeCompatResponse(message.payload)!;
    this.lastMessage = undefined;
    this.lastResponse = undefined;
    if (response.err !== undefined) return { err: response.err };
    if (response.isDisposed) return 'response' in response ? { response: response.response, isDisposed: true } : { isDisposed: true };
    return { response: response.response };
  }

  readRequest(message: MqttMessage): InboundRequest {
    // A v5 request (it has a response topic) is answered natively, whoever sent it.
    if (message.properties?.responseTopic !== undefined) return this.native.readRequest(message);
    const envelope = decodeCompatIncoming(message.payload);
    // Not an envelope: plain data, as the built-in server would take it.
    if (envelope === undefined) return { data: this.settings.deserializer.deserialize(message.payload, message.properties), reply: undefined };
    return {
      data: envelope.data,
      reply: envelope.id === undefined ? undefined : new CompatReply(compatReplyTopic(message.topic), envelope.id),
    };
  }
}
