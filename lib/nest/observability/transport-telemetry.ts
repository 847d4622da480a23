/**
 * Tracing and metrics at the transport's call sites: ClientMqtt5 and ServerMqtt5 each hold one
 * telemetry object and call it at a few points (an event published, a request started / published /
 * answered / cancelled, a handler started / ended). Everything that decides what to record lives
 * here, so the transport classes stay about their message flow.
 *
 * Cost when nothing records (no `@opentelemetry/api`, no SDK registered, or turned off): every entry
 * point first asks whether a tracer or meter is active — a property read or two — and then returns
 * its input or `undefined` without allocating. Per-request and per-handler state exists only when
 * something records, and lives in the transport's per-request state (the pending request, the
 * handler run), never on user objects.
 */
import type { WritePacket } from '@nestjs/microservices';
import { ErrorCode, type QoS } from '../../codec/index.js';
import type { MqttClient, MqttMessage, PublishResult } from '../../client/index.js';
import type { PublishArgs, ReplyKind, ReplyTo } from '../framing.js';
import type { Mqtt5TelemetryOptions } from '../options.js';
import { Mqtt5Metrics, type Mqtt5RequestOutcome } from './metrics.js';
import { Mqtt5Tracing, type Mqtt5FailureKind, type Mqtt5Span, type Mqtt5TracingEndpoint } from './tracing.js';
import { ATTR_MESSAGING_MESSAGE_BODY_SIZE, ATTR_MESSAGING_MESSAGE_CONVERSATION_ID } from './semconv.js';
import type { Mqtt5Logger } from '../lifecycle-log.js';

/** The `telemetry` option resolved: compat mode never carries trace context (the built-in envelope has no place for it). */
export function resolveTelemetry(option: boolean | Mqtt5TelemetryOptions | undefined, compat: boolean): Required<Mqtt5TelemetryOptions> {
  const all = option === undefined || option === true;
  const some = typeof option === 'object' ? option : undefined;
  return {
    tracing: !compat && (all || some?.tracing !== false) && option !== false,
    metrics: (all || some?.metrics !== false) && option !== false,
  };
}

/** How a request's failure counts, by the stable code of the transport's errors. */
function outcomeOf(error: unknown): Mqtt5RequestOutcome {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === ErrorCode.REQUEST_TIMEOUT) return 'timeout';
  if (code === ErrorCode.NO_RESPONDERS) return 'no_responders';
  return 'error';
}

function failureKindOf(error: unknown): Mqtt5FailureKind | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === ErrorCode.REQUEST_TIMEOUT) return 'timeout';
  if (code === ErrorCode.NO_RESPONDERS) return 'no_responders';
  return undefined;
}

function sizeOf(payload: PublishArgs['payload']): number {
  return payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

/**
 * A copy of `args` whose user properties carry the span's context. The caller's properties object
 * and user property array are not modified (a record's properties are the application's).
 */
function withTraceContext(args: PublishArgs, span: Mqtt5Span): PublishArgs {
  const properties = args.properties;
  const userProperties = span.inject(properties?.userProperties);
  return { ...args, properties: properties === undefined ? { userProperties } : { ...properties, userProperties } };
}

// ---- caller side ------------------------------------------------------------------------------

/** Telemetry of one ClientMqtt5 connection. */
export class ClientTelemetry {
  private readonly tracing: Mqtt5Tracing;
  private readonly metrics: Mqtt5Metrics;

  constructor(endpoint: Mqtt5TracingEndpoint, switches: Required<Mqtt5TelemetryOptions>) {
    this.tracing = new Mqtt5Tracing(endpoint, switches.tracing);
    this.metrics = new Mqtt5Metrics({ ...endpoint, enabled: switches.metrics });
  }

  /**
   * `emit()`: publishes `args` on `client` inside a PRODUCER span `publish {pattern}` (ended when the
   * broker took the message, failed when it refused it) whose context travels in the user
   * properties, and counts the message. Without an active tracer this is `client.publish(args)`.
   */
  publishEvent(client: MqttClient, pattern: string, args: PublishArgs): Promise<PublishResult> {
    this.metrics.recordSent(pattern, 'publish');
    // `active` first: no span info object is built while nothing records.
    const span = this.tracing.active ? this.tracing.startSend('event', { topic: args.topic, pattern, bodySize: sizeOf(args.payload) }) : undefined;
    if (span === undefined) return client.publish(args);
    const published = client.publish(withTraceContext(args, span));
    published.then(
      () => span.end(),
      (err: unknown) => span.fail(err),
    );
    return published;
  }

  /**
   * `send()`: the state of one request while something records — its CLIENT span `request {pattern}`
   * (child of the caller's active context) and its start time — else undefined. Counts it in flight.
   * Give the pending request {@link RequestTelemetry.callback} instead of the observer's callback.
   */
  startRequest(pattern: string, callback: (packet: WritePacket) => void): RequestTelemetry | undefined {
    const metered = this.metrics.active;
    const span = this.tracing.active ? this.tracing.startSend('request', { topic: pattern, pattern }) : undefined;
    if (span === undefined && !metered) return undefined;
    if (metered) this.metrics.recordRequestStarted(pattern);
    return new RequestTelemetry(this.metrics, pattern, span, metered, callback);
  }
}

/** One request's telemetry: its span, start time and outcome (settled once). */
export class RequestTelemetry {
  /** The callback of the pending request: settles this state on the final packet, then calls the observer's. */
  readonly callback: (packet: WritePacket) => void;
  private readonly started: number;
  private settled = false;
  private linked = false;

  /** @internal */
  constructor(
    private readonly metrics: Mqtt5Metrics,
    private readonly pattern: string,
    private readonly span: Mqtt5Span | undefined,
    private readonly metered: boolean,
    observer: (packet: WritePacket) => void,
  ) {
    this.started = metered ? performance.now() : 0;
    this.callback = (packet: WritePacket) => {
      if (packet.err !== undefined) this.settle(outcomeOf(packet.err), packet.err);
      else if (packet.isDisposed === true) this.settle('ok', undefined);
      observer(packet);
    };
  }

  /** The trace id of the request's span (undefined when not traced). */
  get traceId(): string | undefined {
    return this.span?.traceId;
  }

  /**
   * The request's PUBLISH as it goes out: counted as sent; when traced, a copy carrying the span's
   * context (`traceparent`/`tracestate`), with its size and correlation id on the span.
   */
  publishing(args: PublishArgs): PublishArgs {
    this.metrics.recordSent(this.pattern, 'request');
    const span = this.span;
    if (span === undefined) return args;
    span.setAttribute(ATTR_MESSAGING_MESSAGE_BODY_SIZE, sizeOf(args.payload));
    const correlation = args.properties?.correlationData;
    if (correlation !== undefined) span.setAttribute(ATTR_MESSAGING_MESSAGE_CONVERSATION_ID, correlation.toString('hex'));
    return withTraceContext(args, span);
  }

  /** A reply arrived: the first one links the CLIENT span to the SERVER span that answered (its `traceparent`). */
  replied(message: MqttMessage): void {
    if (this.linked || this.span === undefined) return;
    this.linked = true;
    this.span.linkFrom(message.properties?.userProperties);
  }

  /** The caller unsubscribed before the end: no longer in flight, outcome `cancelled`, span ended without error. */
  cancelled(): void {
    this.settle('cancelled', undefined);
  }

  private settle(outcome: Mqtt5RequestOutcome, error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    if (this.metered) this.metrics.recordRequestSettled(this.pattern, performance.now() - this.started, outcome);
    const span = this.span;
    if (span === undefined) return;
    if (outcome === 'ok' || outcome === 'cancelled') span.end();
    else span.fail(error, failureKindOf(error));
  }
}

// ---- responder side ---------------------------------------------------------------------------

/** How a handler run ends: `failed` with the error when it threw, rejected or its stream errored. Idempotent. */
export type HandlerEnd = (failed?: boolean, error?: unknown) => void;

/** Both ends of a handler run: ours (span, duration), then Nest's processing end hook. */
export function combineEnds(ours: HandlerEnd, nestEndHook: () => void): HandlerEnd {
  return (failed?: boolean, error?: unknown) => {
    ours(failed, error);
    nestEndHook();
  };
}

/** Telemetry of one ServerMqtt5. */
export class ServerTelemetry {
  private readonly tracing: Mqtt5Tracing;
  private readonly metrics: Mqtt5Metrics;
  /** `$share` group by subscribed filter (a handful of filters, parsed once). */
  private readonly groups = new Map<string, string | undefined>();

  /**
   * @param logger where a failed handler run that is traced logs one warning with its `trace_id`
   *   (Nest's exception layer has logged the error itself, without it).
   */
  constructor(
    endpoint: Mqtt5TracingEndpoint,
    switches: Required<Mqtt5TelemetryOptions>,
    private readonly logger: Mqtt5Logger,
  ) {
    this.tracing = new Mqtt5Tracing(endpoint, switches.tracing);
    this.metrics = new Mqtt5Metrics({ ...endpoint, enabled: switches.metrics });
  }

  /**
   * A handler of `pattern` starts on `message`: counts it consumed and, when traced, starts its span
   * — SERVER `process {pattern}` for a request, CONSUMER for an event — as a child of the trace
   * context the message carries. Undefined when nothing records.
   */
  startHandler(pattern: string, topicFilter: string, message: MqttMessage, request: boolean): HandlerTelemetry | undefined {
    const metered = this.metrics.active;
    if (metered) this.metrics.recordConsumed(pattern);
    if (!this.tracing.active) return metered ? new HandlerTelemetry(this.metrics, this.logger, message.topic, pattern, undefined, true) : undefined;
    const properties = message.properties;
    const correlation = request ? properties?.correlationData : undefined;
    const span = this.tracing.startProcess(
      request ? 'request' : 'event',
      {
        topic: message.topic,
        pattern,
        bodySize: message.payload.length,
        correlationId: correlation?.toString('hex'),
        consumerGroup: this.groupOf(topicFilter),
      },
      properties?.userProperties,
    );
    return new HandlerTelemetry(this.metrics, this.logger, message.topic, pattern, span, metered);
  }

  private groupOf(topicFilter: string): string | undefined {
    if (!this.groups.has(topicFilter)) this.groups.set(topicFilter, Mqtt5Tracing.consumerGroupOf(topicFilter));
    return this.groups.get(topicFilter);
  }
}

/** One handler run's telemetry: its span (the handler runs inside it) and start time. */
export class HandlerTelemetry {
  /** Ends the run (span and duration); pass it where the handler settles. */
  readonly end: HandlerEnd;
  private readonly started: number;
  private ended = false;

  /** @internal */
  constructor(
    private readonly metrics: Mqtt5Metrics,
    private readonly logger: Mqtt5Logger,
    private readonly topic: string,
    private readonly pattern: string,
    private readonly span: Mqtt5Span | undefined,
    private readonly metered: boolean,
  ) {
    this.started = metered ? performance.now() : 0;
    this.end = (failed?: boolean, error?: unknown) => {
      if (this.ended) return;
      this.ended = true;
      if (this.metered) this.metrics.recordHandled(this.pattern, performance.now() - this.started, failed === true ? 'error' : 'ok');
      const span = this.span;
      if (span === undefined) return;
      if (failed !== true) {
        span.end();
        return;
      }
      span.fail(error);
      this.logger.warn(`Handler of "${this.pattern}" failed on "${this.topic}": ${describeError(error)} trace_id=${span.traceId}`);
    };
  }

  /** The trace id of the handler's span (undefined when not traced): for log lines and `Mqtt5Context#getTraceId()`. */
  get traceId(): string | undefined {
    return this.span?.traceId;
  }

  /** Runs `fn` with the handler's span active: what the handler sends or emits continues its trace. */
  run<T>(fn: () => T): T {
    return this.span === undefined ? fn() : this.span.run(fn);
  }

  /** The request's reply address, its replies carrying the handler span's context (unchanged when not traced). */
  reply(to: ReplyTo): ReplyTo {
    return this.span === undefined ? to : new TracedReply(to, this.span);
  }
}

/** A reply address whose replies carry a span's `traceparent` (back to the caller, which links to it). */
class TracedReply implements ReplyTo {
  constructor(
    private readonly to: ReplyTo,
    private readonly span: Mqtt5Span,
  ) {}

  get topic(): string {
    return this.to.topic;
  }

  get failureAck(): number {
    return this.to.failureAck;
  }

  frame(kind: ReplyKind, value: unknown, qos: QoS): PublishArgs {
    return withTraceContext(this.to.frame(kind, value, qos), this.span);
  }
}

/** A one-line description of what a handler failed with (an Error, or the error object of an error stream). */
function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
