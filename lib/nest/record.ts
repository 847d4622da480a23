import { MqttRecord } from '@nestjs/microservices';
import type { Properties, QoS, UserProperty } from '../codec/index.js';
import { validateTimeout } from './options-validation.js';

/** The MQTT v5 PUBLISH properties a message may carry per record. */
export type Mqtt5PublishProperties = Pick<
  Properties,
  'payloadFormatIndicator' | 'messageExpiryInterval' | 'contentType' | 'responseTopic' | 'correlationData' | 'userProperties'
>;

/** Per-message PUBLISH options of a {@link Mqtt5Record}. Unset fields fall back to the client/server defaults. */
export interface Mqtt5RecordOptions {
  qos?: QoS;
  retain?: boolean;
  /**
   * v5 publish properties. For `send()` the transport owns `responseTopic` and `correlationData`
   * (they route the response back), so values set here for those two are ignored.
   */
  properties?: Mqtt5PublishProperties;
  /**
   * This call's timeout (ms), instead of the client's `requestTimeout`: for `send()`, the time to
   * a complete response; for `emit()`, the time to wait for a connection and the broker's
   * acknowledgement. 0 = none. Ignored in a handler's reply.
   */
  timeout?: number;
}

/**
 * A payload plus per-message PUBLISH options (QoS, retain, v5 properties). Pass it as the data of
 * `emit()`/`send()`, or return it from a `@MessagePattern` handler to shape the reply.
 */
export class Mqtt5Record<TData = unknown> {
  constructor(
    readonly data: TData,
    readonly options: Readonly<Mqtt5RecordOptions> = {},
  ) {}
}

/** Fluent builder of {@link Mqtt5Record}s. */
export class Mqtt5RecordBuilder<TData = unknown> {
  private qos?: QoS;
  private retain?: boolean;
  private properties: Mqtt5PublishProperties = {};
  private timeout?: number;

  constructor(private data?: TData) {}

  setData(data: TData): this {
    this.data = data;
    return this;
  }

  setQoS(qos: QoS): this {
    this.qos = qos;
    return this;
  }

  setRetain(retain: boolean): this {
    this.retain = retain;
    return this;
  }

  /** Merges the given properties into those set so far. */
  setProperties(properties: Mqtt5PublishProperties): this {
    this.properties = { ...this.properties, ...properties };
    return this;
  }

  /**
   * Replaces the user properties. Accepts ordered `[name, value]` pairs (names may repeat) or an
   * object whose array values become repeated properties.
   */
  setUserProperties(userProperties: UserProperty[] | Record<string, string | string[]>): this {
    this.properties.userProperties = toUserProperties(userProperties);
    return this;
  }

  /** Appends one user property (names may repeat, order is kept). */
  addUserProperty(name: string, value: string): this {
    (this.properties.userProperties ??= []).push([name, value]);
    return this;
  }

  setContentType(contentType: string): this {
    this.properties.contentType = contentType;
    return this;
  }

  /** Seconds after which the broker discards the message if it has not been delivered. */
  setMessageExpiryInterval(seconds: number): this {
    this.properties.messageExpiryInterval = seconds;
    return this;
  }

  /** true: the payload is UTF-8 text (the broker and receivers may validate it). */
  setPayloadFormatIndicator(utf8: boolean): this {
    this.properties.payloadFormatIndicator = utf8;
    return this;
  }

  /** For `emit()` only: where a plain-MQTT receiver should answer. */
  setResponseTopic(topic: string): this {
    this.properties.responseTopic = topic;
    return this;
  }

  /** For `emit()` only: correlation data for a plain-MQTT receiver. */
  setCorrelationData(data: Buffer): this {
    this.properties.correlationData = data;
    return this;
  }

  /**
   * Per-call timeout (ms; 0 = none) replacing the client's `requestTimeout` for this message:
   * `send()` fails with `Mqtt5RequestTimeoutError` (`emit()` with `Mqtt5TimeoutError`) when it
   * has not completed in time — time spent waiting for a connection included — and the request
   * is removed from the transport at once. (rxjs `timeout()` on the returned observable also ends
   * the wait for the caller, but only by unsubscribing; this one is the transport's own and gives a
   * typed error.) Throws `Mqtt5OptionsError` for a negative or non-integer value.
   */
  setTimeout(ms: number): this {
    this.timeout = validateTimeout('timeout', ms);
    return this;
  }

  build(): Mqtt5Record<TData> {
    const options: Mqtt5RecordOptions = {};
    if (this.qos !== undefined) options.qos = this.qos;
    if (this.timeout !== undefined) options.timeout = this.timeout;
    if (this.retain !== undefined) options.retain = this.retain;
    if (Object.keys(this.properties).length > 0) {
      const properties = { ...this.properties };
      if (properties.userProperties) properties.userProperties = properties.userProperties.slice();
      options.properties = properties;
    }
    return new Mqtt5Record(this.data as TData, options);
  }
}

/** Normalises user properties given as pairs or as an object (array values repeat the name). */
export function toUserProperties(input: UserProperty[] | Record<string, string | string[]>): UserProperty[] {
  if (Array.isArray(input)) return input.map(([name, value]) => [name, value] as UserProperty);
  const out: UserProperty[] = [];
  for (const name of Object.keys(input)) {
    const value = input[name]!;
    if (Array.isArray(value)) for (const v of value) out.push([name, v]);
    else out.push([name, value]);
  }
  return out;
}

/** Whether a value is a record (ours or Nest's `MqttRecord`) rather than plain data. */
export function isRecord(value: unknown): value is Mqtt5Record | MqttRecord {
  return value instanceof Mqtt5Record || value instanceof MqttRecord;
}

/** The data to serialize and the per-message options found on a value (none for plain data). */
export interface UnwrappedRecord {
  data: unknown;
  options: Mqtt5RecordOptions | undefined;
}

/**
 * Splits a value into data and record options. Understands our {@link Mqtt5Record} and, to ease
 * migration, Nest's own `MqttRecord` (its object-shaped user properties are converted to pairs).
 */
export function unwrapRecord(value: unknown): UnwrappedRecord {
  if (value instanceof Mqtt5Record) return { data: value.data, options: value.options };
  if (value instanceof MqttRecord) {
    const nestOptions = value.options;
    if (!nestOptions) return { data: value.data, options: undefined };
    const options: Mqtt5RecordOptions = {};
    if (nestOptions.qos !== undefined) options.qos = nestOptions.qos;
    if (nestOptions.retain !== undefined) options.retain = nestOptions.retain;
    const p = nestOptions.properties;
    if (p) {
      const properties: Mqtt5PublishProperties = {};
      if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
      if (p.messageExpiryInterval !== undefined) properties.messageExpiryInterval = p.messageExpiryInterval;
      if (p.contentType !== undefined) properties.contentType = p.contentType;
      if (p.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
      if (p.correlationData !== undefined) properties.correlationData = p.correlationData;
      if (p.userProperties !== undefined) properties.userProperties = toUserProperties(p.userProperties);
      options.properties = properties;
    }
    return { data: value.data, options };
  }
  return { data: value, options: undefined };
}
