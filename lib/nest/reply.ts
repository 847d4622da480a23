/**
 * Builds the PUBLISH of one response of ServerMqtt5 (native v5 convention, see protocol.ts):
 * the value (or a record returned by the handler) serialized, sent to the request's response
 * topic with its correlation data.
 */
import type { Properties, QoS, UserProperty } from '../codec/index.js';
import type { PublishOptions } from '../client/index.js';
import { isRecord, unwrapRecord, type Mqtt5PublishProperties, type Mqtt5RecordOptions } from './record.js';
import type { Mqtt5Serializer } from './serializers.js';

/**
 * The response PUBLISH for `value`. `kind` is the reply-kind user property (none = final value).
 * A record's QoS and properties apply, except `responseTopic` and `correlationData`, which belong
 * to the exchange. Throws what the serializer throws.
 */
export function buildReply(
  serializer: Mqtt5Serializer,
  topic: string,
  correlationData: Buffer | undefined,
  qos: QoS,
  kind: readonly UserProperty[] | undefined,
  value: unknown,
): PublishOptions {
  let data = value;
  let options: Mqtt5RecordOptions | undefined;
  if (isRecord(value)) ({ data, options } = unwrapRecord(value));
  const serialized = serializer.serialize(data);
  if (options?.properties === undefined && Buffer.isBuffer(serialized)) {
    // The common case, a plain value: one small properties object, no copies.
    let properties: Properties | undefined;
    if (correlationData !== undefined) {
      properties = kind === undefined ? { correlationData } : { correlationData, userProperties: kind as UserProperty[] };
    } else if (kind !== undefined) {
      properties = { userProperties: kind as UserProperty[] };
    }
    return { topic, payload: serialized, qos: options?.qos ?? qos, properties };
  }
  const properties: Properties = {};
  const fromRecord = options?.properties;
  if (fromRecord) {
    for (const key of Object.keys(fromRecord) as (keyof Mqtt5PublishProperties)[]) {
      if (key !== 'responseTopic' && key !== 'correlationData') (properties as Record<string, unknown>)[key] = fromRecord[key];
    }
  }
  let payload: Buffer;
  if (Buffer.isBuffer(serialized)) {
    payload = serialized;
  } else {
    payload = serialized.payload;
    if (serialized.contentType !== undefined) properties.contentType = serialized.contentType;
    if (serialized.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = serialized.payloadFormatIndicator;
  }
  if (correlationData !== undefined) properties.correlationData = correlationData;
  if (kind !== undefined) {
    properties.userProperties = properties.userProperties ? [...properties.userProperties, ...kind] : (kind as UserProperty[]);
  }
  return { topic, payload, qos: options?.qos ?? qos, properties };
}
