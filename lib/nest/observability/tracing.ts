/**
 * Distributed tracing across MQTT for the transport: W3C Trace Context in MQTT v5 user properties
 * (the W3C "Trace Context: MQTT format" draft) and spans following the OpenTelemetry messaging
 * semantic conventions (see ./semconv.ts for the version).
 *
 * `@opentelemetry/api` is an optional peer. Every entry point first asks {@link Mqtt5Tracing.active}:
 * without the API, or with the API but no SDK registered, it answers false after a property read or
 * two and nothing is allocated, so the transport's hot path is unchanged.
 */
import type { Attributes, Context, Span, SpanContext, SpanKind, Tracer } from '@opentelemetry/api';
import { parseSharedSubscription, type UserProperty } from '../../codec/index.js';
import { otelApi, registeredGlobal, type OtelApiModule } from './otel-api.js';
import { hasTraceContext, userPropertiesGetter, userPropertiesSetter } from './carrier.js';
import * as sc from './semconv.js';

/** Instrumentation scope name of the transport's spans and metrics. */
export const INSTRUMENTATION_NAME = 'nest-mqtt5';

/**
 * What a span is for:
 * - `event`: `emit()` (PRODUCER, `send`/`publish`) and its event handler (CONSUMER, `process`);
 * - `request`: `send()` (CLIENT, `send`/`request`) and its message handler (SERVER, `process`);
 * - `receive`: a message pulled by the application (CONSUMER, `receive`).
 */
export type Mqtt5SpanRole = 'event' | 'request' | 'receive';

/** The roles of a producer span: `emit()` or `send()`. */
export type Mqtt5SendRole = Exclude<Mqtt5SpanRole, 'receive'>;

/** Per-message facts of a span (constant ones come from {@link Mqtt5TracingEndpoint}). */
export interface Mqtt5MessageInfo {
  /** The topic name: `messaging.destination.name`. */
  topic: string;
  /** The pattern (low cardinality): `messaging.destination.template` and the span name. */
  pattern?: string;
  /** The correlation id of a request: `messaging.message.conversation_id`. */
  correlationId?: string;
  /** Payload bytes: `messaging.message.body.size`. */
  bodySize?: number;
  /** The shared subscription group the message came through: `messaging.consumer.group.name`. */
  consumerGroup?: string;
}

/** The connection a tracer speaks for; its attributes go on every span. */
export interface Mqtt5TracingEndpoint {
  /** MQTT client identifier: `messaging.client.id`. */
  clientId?: string;
  /** Broker URL (credentials are never read from it): `server.address` and `server.port`. */
  url?: string;
}

/** Why a span ended in error when there is no exception object (request outcomes). */
export type Mqtt5FailureKind = 'timeout' | 'no_responders' | 'connection_lost' | 'closed';

/** Operation name, operation type and span kind (as SpanKind's numeric value) per role and side. */
const PRODUCE: Record<Mqtt5SendRole, readonly [name: string, type: string, kind: SpanKind]> = {
  event: ['publish', sc.OPERATION_TYPE_SEND, 3 /* PRODUCER */],
  request: ['request', sc.OPERATION_TYPE_SEND, 2 /* CLIENT */],
};
const CONSUME: Record<Mqtt5SpanRole, readonly [name: string, type: string, kind: SpanKind]> = {
  event: ['process', sc.OPERATION_TYPE_PROCESS, 4 /* CONSUMER */],
  request: ['process', sc.OPERATION_TYPE_PROCESS, 1 /* SERVER */],
  receive: ['receive', sc.OPERATION_TYPE_RECEIVE, 4 /* CONSUMER */],
};

/**
 * Tracing of one transport connection (one per ServerMqtt5 / ClientMqtt5).
 *
 * Producer side: `const span = tracing.startSend('request', info)`; when defined,
 * `properties.userProperties = span.inject(properties.userProperties)` before publishing and
 * `span.end()` / `span.fail(err)` when the publish (event) or the reply (request) settles.
 * Consumer side: `const span = tracing.startProcess('event', info, message.properties?.userProperties)`;
 * run the handler in `span ? span.run(fn) : fn()`; `span.inject(...)` the reply's user properties;
 * `span.end()` or `span.fail(err)`.
 */
export class Mqtt5Tracing {
  private readonly endpoint: Attributes;
  private apiSeen: OtelApiModule | undefined;
  private registeredSeen: unknown;
  private providerActive = false;

  constructor(endpoint: Mqtt5TracingEndpoint = {}, private readonly enabled = true) {
    this.endpoint = endpointAttributes(endpoint);
  }

  /**
   * Whether spans are recorded: the API is installed and a real tracer provider is registered.
   * Re-evaluated on each call with a property read of the API's global registry, so an SDK
   * registered after start-up is picked up.
   */
  get active(): boolean {
    if (!this.enabled) return false;
    const api = otelApi();
    return api !== undefined && this.providerIsReal(api);
  }

  /**
   * Starts the producer span of an `emit()` (PRODUCER) or `send()` (CLIENT), child of the active
   * context. Undefined when tracing is not {@link active}.
   */
  startSend(role: Mqtt5SendRole, info: Mqtt5MessageInfo): Mqtt5Span | undefined {
    const api = this.enabled ? otelApi() : undefined;
    if (api === undefined || !this.providerIsReal(api)) return undefined;
    const [operation, type, kind] = PRODUCE[role];
    const parent = api.context.active();
    const span = this.tracer(api).startSpan(spanName(operation, info.pattern), { kind, attributes: this.attributes(operation, type, info) }, parent);
    return new Mqtt5Span(api, span, api.trace.setSpan(parent, span));
  }

  /**
   * Starts the consumer span of a handler (CONSUMER for events, SERVER for requests), child of the
   * trace context carried by `userProperties` (or of the active context when there is none).
   * Undefined when tracing is not {@link active}.
   */
  startProcess(role: Mqtt5SpanRole, info: Mqtt5MessageInfo, userProperties: readonly UserProperty[] | undefined): Mqtt5Span | undefined {
    const api = this.enabled ? otelApi() : undefined;
    if (api === undefined || !this.providerIsReal(api)) return undefined;
    const [operation, type, kind] = CONSUME[role];
    const active = api.context.active();
    const parent = hasTraceContext(userProperties) ? api.propagation.extract(active, userProperties, userPropertiesGetter) : active;
    const span = this.tracer(api).startSpan(spanName(operation, info.pattern), { kind, attributes: this.attributes(operation, type, info) }, parent);
    return new Mqtt5Span(api, span, api.trace.setSpan(parent, span));
  }

  /**
   * Injects the active context into user properties without a span of ours (e.g. a message published
   * through the raw client inside a traced handler). Returns `userProperties` untouched when inactive.
   */
  injectActive(userProperties: UserProperty[] | undefined): UserProperty[] | undefined {
    const api = this.enabled ? otelApi() : undefined;
    if (api === undefined || !this.providerIsReal(api)) return userProperties;
    const out = userProperties === undefined ? [] : userProperties.slice();
    api.propagation.inject(api.context.active(), out, userPropertiesSetter);
    return out.length === 0 ? userProperties : out;
  }

  /** The group of a `$share/<group>/<filter>` subscription (for `consumerGroup`), else undefined. */
  static consumerGroupOf(filter: string): string | undefined {
    try {
      return parseSharedSubscription(filter)?.group;
    } catch {
      return undefined;
    }
  }

  private tracer(api: OtelApiModule): Tracer {
    return api.trace.getTracer(INSTRUMENTATION_NAME);
  }

  /**
   * True unless the global provider is the API's no-op (nothing registered). Asked of the API only
   * when the API module or what its global registry holds for `trace` changed since the last call
   * (registering or disabling a provider replaces it; the proxy's delegate is set with it): per
   * message this is a property read and two comparisons.
   */
  private providerIsReal(api: OtelApiModule): boolean {
    const registered = registeredGlobal('trace');
    if (api === this.apiSeen && registered === this.registeredSeen) return this.providerActive;
    this.apiSeen = api;
    this.registeredSeen = registered;
    let provider: unknown = api.trace.getTracerProvider();
    const delegate = (provider as { getDelegate?: () => unknown }).getDelegate;
    if (typeof delegate === 'function') provider = delegate.call(provider);
    // Identity with the API's no-op singleton fails across two copies of the API (CJS and ESM
    // builds in one process), so the class name decides.
    this.providerActive = (provider as { constructor?: { name?: string } }).constructor?.name !== 'NoopTracerProvider';
    return this.providerActive;
  }

  private attributes(operation: string, type: string, info: Mqtt5MessageInfo): Attributes {
    const a: Attributes = { ...this.endpoint };
    a[sc.ATTR_MESSAGING_OPERATION_NAME] = operation;
    a[sc.ATTR_MESSAGING_OPERATION_TYPE] = type;
    a[sc.ATTR_MESSAGING_DESTINATION_NAME] = info.topic;
    if (info.pattern !== undefined) a[sc.ATTR_MESSAGING_DESTINATION_TEMPLATE] = info.pattern;
    if (info.correlationId !== undefined) a[sc.ATTR_MESSAGING_MESSAGE_CONVERSATION_ID] = info.correlationId;
    if (info.bodySize !== undefined) a[sc.ATTR_MESSAGING_MESSAGE_BODY_SIZE] = info.bodySize;
    if (info.consumerGroup !== undefined) a[sc.ATTR_MESSAGING_CONSUMER_GROUP_NAME] = info.consumerGroup;
    return a;
  }
}

/**
 * One span of the transport and the context it belongs to. Ending is idempotent: the first of
 * `end()` / `fail()` wins.
 */
export class Mqtt5Span {
  private ended = false;

  /** @internal */
  constructor(
    private readonly api: OtelApiModule,
    /** The OpenTelemetry span (for attributes or events of your own). */
    readonly span: Span,
    /** The context with this span active. */
    readonly context: Context,
  ) {}

  /** The trace id, for log lines. */
  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  /**
   * Returns a copy of `userProperties` carrying this span's context (`traceparent`, and `tracestate`
   * when there is one), any earlier such pairs replaced. The input array is not modified.
   */
  inject(userProperties: readonly UserProperty[] | undefined): UserProperty[] {
    const out = userProperties === undefined ? [] : userProperties.slice();
    this.api.propagation.inject(this.context, out, userPropertiesSetter);
    return out;
  }

  /**
   * Links this span to the context a message carries (a reply's `traceparent`: the SERVER span that
   * answered), so the caller's side shows which handler run replied. No-op without trace context or
   * on an API older than 1.9 (no `addLink`).
   */
  linkFrom(userProperties: readonly UserProperty[] | undefined): void {
    if (this.ended || !hasTraceContext(userProperties)) return;
    const remote = this.api.trace.getSpanContext(this.api.propagation.extract(this.api.context.active(), userProperties, userPropertiesGetter));
    const span = this.span as Span & { addLink?: (link: { context: SpanContext }) => unknown };
    if (remote !== undefined && typeof span.addLink === 'function') span.addLink({ context: remote });
  }

  /** Runs `fn` with this span active (handlers, and anything they publish, become its children). */
  run<T>(fn: () => T): T {
    return this.api.context.with(this.context, fn);
  }

  /** Sets an attribute learnt after the start (e.g. the correlation id once allocated). */
  setAttribute(key: string, value: string | number | boolean): void {
    if (!this.ended) this.span.setAttribute(key, value);
  }

  /** Ends the span successfully. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }

  /**
   * Ends the span in error: status ERROR, `error.type` (the error's `code`, else its class name, or
   * the given kind for outcomes without an exception such as a timeout), and an `exception` event.
   */
  fail(error: unknown, kind?: Mqtt5FailureKind): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    const errorType = kind ?? errorTypeOf(error);
    span.setAttribute(sc.ATTR_ERROR_TYPE, errorType);
    if (error instanceof Error) span.recordException(error);
    else if (error !== undefined) span.recordException({ name: errorType, message: describe(error) });
    span.setStatus({ code: 2 /* SpanStatusCode.ERROR */, message: error instanceof Error ? error.message : describe(error) });
    span.end();
  }
}

/** `{operation name} {destination template}`, or the operation name alone without a template (never the raw topic: cardinality). */
function spanName(operation: string, pattern: string | undefined): string {
  return pattern === undefined ? operation : `${operation} ${pattern}`;
}

function errorTypeOf(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (error as { constructor?: { name?: string } }).constructor?.name;
    if (name !== undefined && name !== 'Object') return name;
  }
  return '_OTHER';
}

function describe(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    try {
      return JSON.stringify(error);
    } catch {
      return String(error);
    }
  }
  return String(error);
}

/** Attributes common to every span and metric of one connection. */
export function endpointAttributes(endpoint: Mqtt5TracingEndpoint): Attributes {
  const a: Attributes = { [sc.ATTR_MESSAGING_SYSTEM_NAME]: sc.MESSAGING_SYSTEM_MQTT, [sc.ATTR_MESSAGING_SYSTEM]: sc.MESSAGING_SYSTEM_MQTT };
  if (endpoint.clientId !== undefined) a[sc.ATTR_MESSAGING_CLIENT_ID] = endpoint.clientId;
  const server = endpoint.url === undefined ? undefined : serverOf(endpoint.url);
  if (server !== undefined) {
    a[sc.ATTR_SERVER_ADDRESS] = server.address;
    if (server.port !== undefined) a[sc.ATTR_SERVER_PORT] = server.port;
  }
  return a;
}

const DEFAULT_PORTS: Record<string, number> = { 'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'ssl:': 8883, 'tls:': 8883, 'ws:': 80, 'wss:': 443 };

/** Host and port of a broker URL (user and password are ignored); undefined when it does not parse. */
export function serverOf(url: string): { address: string; port: number | undefined } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const address = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (address === '') return undefined;
  const port = u.port !== '' ? Number(u.port) : DEFAULT_PORTS[u.protocol];
  return { address, port };
}
