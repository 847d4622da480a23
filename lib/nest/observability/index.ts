/**
 * nest-mqtt5/observability — OpenTelemetry tracing and metrics for the transport and the embedded
 * broker. `@opentelemetry/api` is an optional peer dependency: without it (or without a registered
 * SDK) everything here is a no-op.
 */
export {
  Mqtt5Tracing,
  Mqtt5Span,
  INSTRUMENTATION_NAME,
  serverOf,
  type Mqtt5SpanRole,
  type Mqtt5SendRole,
  type Mqtt5MessageInfo,
  type Mqtt5TracingEndpoint,
  type Mqtt5FailureKind,
} from './tracing.js';
export {
  Mqtt5Metrics,
  METRIC_REQUESTS_ACTIVE,
  METRIC_REQUESTS,
  METRIC_RECONNECTS,
  ATTR_REQUEST_OUTCOME,
  type Mqtt5MetricsOptions,
  type Mqtt5RequestOutcome,
  type Mqtt5HandlerOutcome,
} from './metrics.js';
export { instrumentBroker, BROKER_METRICS, ATTR_DROP_REASON, ATTR_DISCONNECT_INITIATOR, type BrokerInstrumentation } from './broker-metrics.js';
export { userPropertiesGetter, userPropertiesSetter } from './carrier.js';
export * as semconv from './semconv.js';
