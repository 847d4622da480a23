/**
 * Transport metrics through `@opentelemetry/api` (an optional peer): messages sent and consumed by
 * pattern, handler duration, requests in flight and their outcomes, reconnects. Names follow the
 * OpenTelemetry messaging metric conventions where one exists (see ./semconv.ts); the others are
 * prefixed `mqtt5.`.
 *
 * The metrics API has no proxy provider: a meter taken before the SDK registers stays a no-op. So
 * instruments are (re)created whenever the global meter provider changes, and every `record*` call
 * first compares the provider with the one seen last: without the API or with no SDK, a call costs a
 * property read or two and allocates nothing. Attribute objects are cached per pattern.
 */
import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';
import { otelApi, registeredGlobal, type OtelApiModule } from './otel-api.js';
import * as sc from './semconv.js';
import { endpointAttributes, INSTRUMENTATION_NAME, type Mqtt5TracingEndpoint } from './tracing.js';

/** How a request made with `send()` ended (`cancelled`: the caller unsubscribed first). */
export type Mqtt5RequestOutcome = 'ok' | 'error' | 'timeout' | 'no_responders' | 'cancelled';

/** How a handler ended. */
export type Mqtt5HandlerOutcome = 'ok' | 'error';

/** Names of the non-convention metrics. */
export const METRIC_REQUESTS_ACTIVE = 'mqtt5.client.requests.active';
export const METRIC_REQUESTS = 'mqtt5.client.requests';
export const METRIC_RECONNECTS = 'mqtt5.client.reconnects';
/** Attribute of {@link METRIC_REQUESTS}: the {@link Mqtt5RequestOutcome}. */
export const ATTR_REQUEST_OUTCOME = 'mqtt5.request.outcome';

/** Options of {@link Mqtt5Metrics}. */
export interface Mqtt5MetricsOptions extends Mqtt5TracingEndpoint {
  /** A meter to use instead of the global provider's (its instruments are created once). */
  meter?: Meter;
  /** False: record nothing. Default true. */
  enabled?: boolean;
}

interface Instruments {
  sent: Counter;
  consumed: Counter;
  processDuration: Histogram;
  requestDuration: Histogram;
  requestsActive: UpDownCounter;
  requests: Counter;
  reconnects: Counter;
}

/** Attribute sets of one pattern, built once. */
interface PatternAttributes {
  publish: Attributes;
  request: Attributes;
  process: Attributes;
  processError: Attributes;
  outcomes: Record<Mqtt5RequestOutcome, Attributes>;
}

const SECOND = 1000;

/**
 * Patterns with attributes of their own; beyond, `_OTHER` (a caller may `send()` to concrete topics:
 * metric attributes must stay low-cardinality and the cache bounded).
 */
export const MAX_METRIC_PATTERNS = 1000;
const OTHER_PATTERN = '_OTHER';

/**
 * The metrics of one transport connection (one per ServerMqtt5 / ClientMqtt5). Durations are given
 * in milliseconds and recorded in seconds, as the conventions require.
 */
export class Mqtt5Metrics {
  private readonly base: Attributes;
  private readonly enabled: boolean;
  private readonly fixedMeter: Meter | undefined;
  private providerSeen: unknown;
  private apiSeen: OtelApiModule | undefined;
  private registeredSeen: unknown;
  private instruments: Instruments | undefined;
  private readonly byPattern = new Map<string, PatternAttributes>();

  constructor(options: Mqtt5MetricsOptions = {}) {
    this.base = endpointAttributes(options);
    this.enabled = options.enabled ?? true;
    this.fixedMeter = options.meter;
  }

  /** A message published by `emit()` (`operation` `publish`) or a request by `send()` (`request`): `messaging.client.sent.messages`. */
  recordSent(pattern: string, operation: 'publish' | 'request' = 'publish'): void {
    const i = this.current();
    if (i === undefined) return;
    const p = this.pattern(pattern);
    i.sent.add(1, operation === 'publish' ? p.publish : p.request);
  }

  /** A message delivered to a handler: `messaging.client.consumed.messages`. */
  recordConsumed(pattern: string): void {
    const i = this.current();
    if (i === undefined) return;
    i.consumed.add(1, this.pattern(pattern).process);
  }

  /** A handler finished after `ms` milliseconds: `messaging.process.duration` (with `error.type` on failure). */
  recordHandled(pattern: string, ms: number, outcome: Mqtt5HandlerOutcome): void {
    const i = this.current();
    if (i === undefined) return;
    const p = this.pattern(pattern);
    i.processDuration.record(ms / SECOND, outcome === 'ok' ? p.process : p.processError);
  }

  /** A `send()` went out: one more request in flight. Pair with {@link recordRequestSettled}. */
  recordRequestStarted(pattern: string): void {
    const i = this.current();
    if (i === undefined) return;
    i.requestsActive.add(1, this.pattern(pattern).request);
  }

  /**
   * A request settled after `ms` milliseconds: one fewer in flight, its outcome counted, and its
   * duration recorded in `messaging.client.operation.duration`.
   */
  recordRequestSettled(pattern: string, ms: number, outcome: Mqtt5RequestOutcome): void {
    const i = this.current();
    if (i === undefined) return;
    const p = this.pattern(pattern);
    i.requestsActive.add(-1, p.request);
    i.requests.add(1, p.outcomes[outcome]);
    i.requestDuration.record(ms / SECOND, p.outcomes[outcome]);
  }

  /** Whether anything is recorded right now (the API is installed and a meter provider registered). */
  get active(): boolean {
    return this.current() !== undefined;
  }

  /** The connection was re-established. */
  recordReconnect(): void {
    this.current()?.reconnects.add(1, this.base);
  }

  /**
   * Counts reconnects of a transport or client (anything with `on('reconnected', …)`: ServerMqtt5,
   * ClientMqtt5, MqttClient).
   */
  watchReconnects(target: { on(event: 'reconnected', listener: (...args: any[]) => void): unknown }): void {
    target.on('reconnected', () => this.recordReconnect());
  }

  /** The instruments of the current provider, or undefined when nothing is recorded. */
  private current(): Instruments | undefined {
    if (!this.enabled) return undefined;
    if (this.fixedMeter !== undefined) return (this.instruments ??= createInstruments(this.fixedMeter));
    const api = otelApi();
    if (api === undefined) return undefined;
    // Per message: a property read of the API's global registry; the API is asked only when what
    // is registered there (or the API module) changed since the last call.
    const registered = registeredGlobal('metrics');
    if (api === this.apiSeen && registered === this.registeredSeen) return this.instruments;
    this.apiSeen = api;
    this.registeredSeen = registered;
    const provider = api.metrics.getMeterProvider();
    if (provider !== this.providerSeen) {
      this.providerSeen = provider;
      // Without a registered SDK the API hands out its no-op provider (compared by class name: the
      // process may hold both the CJS and the ESM build of the API).
      this.instruments =
        (provider as { constructor?: { name?: string } }).constructor?.name === 'NoopMeterProvider'
          ? undefined
          : createInstruments(provider.getMeter(INSTRUMENTATION_NAME));
    }
    return this.instruments;
  }

  private pattern(pattern: string): PatternAttributes {
    let p = this.byPattern.get(pattern);
    if (p === undefined && pattern !== OTHER_PATTERN && this.byPattern.size >= MAX_METRIC_PATTERNS) return this.pattern(OTHER_PATTERN);
    if (p === undefined) {
      const at = (operation: string, type: string, extra?: Attributes): Attributes => ({
        ...this.base,
        [sc.ATTR_MESSAGING_DESTINATION_TEMPLATE]: pattern,
        [sc.ATTR_MESSAGING_OPERATION_NAME]: operation,
        [sc.ATTR_MESSAGING_OPERATION_TYPE]: type,
        ...extra,
      });
      const outcome = (o: Mqtt5RequestOutcome): Attributes =>
        at('request', sc.OPERATION_TYPE_SEND, o === 'ok' ? { [ATTR_REQUEST_OUTCOME]: o } : { [ATTR_REQUEST_OUTCOME]: o, [sc.ATTR_ERROR_TYPE]: o });
      p = {
        publish: at('publish', sc.OPERATION_TYPE_SEND),
        request: at('request', sc.OPERATION_TYPE_SEND),
        process: at('process', sc.OPERATION_TYPE_PROCESS),
        processError: at('process', sc.OPERATION_TYPE_PROCESS, { [sc.ATTR_ERROR_TYPE]: 'error' }),
        outcomes: {
          ok: outcome('ok'),
          error: outcome('error'),
          timeout: outcome('timeout'),
          no_responders: outcome('no_responders'),
          cancelled: at('request', sc.OPERATION_TYPE_SEND, { [ATTR_REQUEST_OUTCOME]: 'cancelled' }),
        },
      };
      this.byPattern.set(pattern, p);
    }
    return p;
  }
}

function createInstruments(meter: Meter): Instruments {
  return {
    sent: meter.createCounter(sc.METRIC_MESSAGING_CLIENT_SENT_MESSAGES, { unit: '{message}', description: 'Messages the transport published (emit and send).' }),
    consumed: meter.createCounter(sc.METRIC_MESSAGING_CLIENT_CONSUMED_MESSAGES, { unit: '{message}', description: 'Messages delivered to handlers.' }),
    processDuration: meter.createHistogram(sc.METRIC_MESSAGING_PROCESS_DURATION, { unit: 's', description: 'Duration of handler runs.' }),
    requestDuration: meter.createHistogram(sc.METRIC_MESSAGING_CLIENT_OPERATION_DURATION, { unit: 's', description: 'Duration of send() requests, publish to reply.' }),
    requestsActive: meter.createUpDownCounter(METRIC_REQUESTS_ACTIVE, { unit: '{request}', description: 'send() requests awaiting their reply.' }),
    requests: meter.createCounter(METRIC_REQUESTS, { unit: '{request}', description: 'send() requests by outcome (ok, error, timeout, no_responders, cancelled).' }),
    reconnects: meter.createCounter(METRIC_RECONNECTS, { unit: '{reconnect}', description: 'Connections re-established after a loss.' }),
  };
}
