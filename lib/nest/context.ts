import { BaseRpcContext } from '@nestjs/microservices';
import type { Properties, PublishPacket, QoS, UserProperty } from '../codec/index.js';
import { wildcardValues } from './topic-pattern.js';
import { traceIdOfTraceparent } from './observability/carrier.js';

/** The arguments behind {@link Mqtt5Context}: topic, PUBLISH packet, matched pattern, subscribed filter. */
export type Mqtt5ContextArgs = [topic: string, packet: PublishPacket, pattern: string, subscription: string];

/**
 * The per-message context handed to handlers via `@Ctx()`: the topic the message was published
 * on, the PUBLISH packet, its v5 properties and user properties, and the handler pattern that
 * matched (with the values its wildcards took).
 *
 * @example
 * ```ts
 * @EventPattern('devices/+/telemetry')
 * onTelemetry(@Payload() reading: Reading, @Ctx() ctx: Mqtt5Context) {
 *   const [deviceId] = ctx.getWildcards();
 * }
 * ```
 */
export class Mqtt5Context extends BaseRpcContext<Mqtt5ContextArgs> {
  private wildcards?: string[];

  /**
   * @param traceId the trace id of the handler's span, when tracing records (the transport sets it;
   *   per message, never shared).
   */
  constructor(
    args: Mqtt5ContextArgs,
    private readonly traceId?: string,
  ) {
    super(args);
  }

  /**
   * The trace id of this message's handler run, for log lines: its span's when OpenTelemetry tracing
   * records, else the one in the message's W3C `traceparent` user property, else undefined.
   */
  getTraceId(): string | undefined {
    return this.traceId ?? traceIdOfTraceparent(this.args[1].properties?.userProperties);
  }

  /** The topic the message was published on (topic aliases already resolved). */
  getTopic(): string {
    return this.args[0];
  }

  /** The PUBLISH packet as received (its payload is a view into the received bytes). */
  getPacket(): PublishPacket {
    return this.args[1];
  }

  /** The handler pattern that matched, e.g. `devices/+/telemetry` (without any `$share/<group>/`). */
  getPattern(): string {
    return this.args[2];
  }

  /** The topic filter actually subscribed, e.g. `$share/workers/jobs/#`. */
  getSubscription(): string {
    return this.args[3];
  }

  /** The values the pattern's wildcards took, in order: one per `+`, then the rest of the topic for `#`. */
  getWildcards(): string[] {
    return (this.wildcards ??= wildcardValues(this.args[2], this.args[0]));
  }

  /** The PUBLISH properties (empty object when the message carried none). */
  getProperties(): Properties {
    return this.args[1].properties ?? {};
  }

  /** The user properties, in order, as `[name, value]` pairs (names may repeat). */
  getUserProperties(): UserProperty[] {
    return this.args[1].properties?.userProperties ?? [];
  }

  /** The value of the first user property with this name. */
  getUserProperty(name: string): string | undefined {
    const list = this.args[1].properties?.userProperties;
    if (!list) return undefined;
    for (const [key, value] of list) if (key === name) return value;
    return undefined;
  }

  /**
   * The user properties as a name → value record (first value wins). This is where the Nest
   * packet metadata a caller attached with `ClientProxy#setOnDispatchHook` arrives.
   */
  getMetadata(): Record<string, string> {
    // Null prototype: names like `__proto__` or `constructor` come from the network.
    const out: Record<string, string> = Object.create(null);
    const list = this.args[1].properties?.userProperties;
    if (list) for (const [key, value] of list) if (!Object.hasOwn(out, key)) out[key] = value;
    return out;
  }

  getQoS(): QoS {
    return this.args[1].qos;
  }

  isRetained(): boolean {
    return this.args[1].retain;
  }

  isDuplicate(): boolean {
    return this.args[1].dup;
  }

  /** The v5 response topic of a request (undefined for events). */
  getResponseTopic(): string | undefined {
    return this.args[1].properties?.responseTopic;
  }

  /** The v5 correlation data of a request (undefined for events). */
  getCorrelationData(): Buffer | undefined {
    return this.args[1].properties?.correlationData;
  }

  getContentType(): string | undefined {
    return this.args[1].properties?.contentType;
  }
}
