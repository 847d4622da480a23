/**
 * The PUBLISH arguments of a caller's requests and events: payload serialized (or taken from a
 * record), the record's QoS/retain/properties, the client's default user properties and Nest's
 * packet metadata merged in. Shared by both wire protocols.
 */
import type { ReadPacket } from '@nestjs/microservices';
import type { Properties, QoS, UserProperty } from '../codec/index.js';
import type { PublishArgs } from './framing.js';
import { metadataToUserProperties } from './protocol.js';
import { isRecord, unwrapRecord, type Mqtt5RecordOptions } from './record.js';
import type { Mqtt5Serializer } from './serializers.js';

/** Builds a caller's PUBLISH arguments with its defaults. */
export class RequestPublisher {
  constructor(
    private readonly serializer: Mqtt5Serializer,
    private readonly qos: QoS,
    private readonly defaultUserProperties: UserProperty[] | undefined,
  ) {}

  /**
   * Serializes the packet's data (or record) into publish arguments; `correlationData` makes it a
   * request answered on `responseTopic`.
   */
  build(topic: string, packet: ReadPacket, responseTopic: string, correlationData: Buffer | undefined): PublishArgs {
    let data = packet.data as unknown;
    let options: Mqtt5RecordOptions | undefined;
    if (isRecord(data)) ({ data, options } = unwrapRecord(data));
    const serialized = this.serializer.serialize(data);
    if (Buffer.isBuffer(serialized)) {
      return this.args(topic, serialized, options, responseTopic, correlationData, packet.metadata);
    }
    const args = this.args(topic, serialized.payload, options, responseTopic, correlationData, packet.metadata);
    const properties: Properties = (args.properties ??= {});
    if (serialized.contentType !== undefined) properties.contentType = serialized.contentType;
    if (serialized.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = serialized.payloadFormatIndicator;
    return args;
  }

  /** Publish arguments for an already encoded payload. */
  args(
    topic: string,
    payload: Buffer,
    options: Mqtt5RecordOptions | undefined,
    responseTopic: string,
    correlationData: Buffer | undefined,
    metadata: Record<string, string> | undefined,
  ): PublishArgs {
    let properties: Properties | undefined;
    if (options?.properties) {
      properties = { ...options.properties };
      if (correlationData !== undefined) {
        properties.responseTopic = responseTopic;
        properties.correlationData = correlationData;
      }
    } else if (correlationData !== undefined) {
      properties = { responseTopic, correlationData };
    }
    if (this.defaultUserProperties !== undefined || metadata !== undefined) {
      properties ??= {};
      const user: UserProperty[] = [];
      if (this.defaultUserProperties) user.push(...this.defaultUserProperties);
      if (properties.userProperties) user.push(...properties.userProperties);
      if (metadata) user.push(...metadataToUserProperties(metadata));
      properties.userProperties = user;
    }
    return { topic, payload, qos: options?.qos ?? this.qos, retain: options?.retain === true, properties };
  }
}
