/**
 * Metrics of an embedded {@link MqttBroker} through `@opentelemetry/api`: observable instruments read
 * `broker.metrics()` once per collection (nothing runs per message), and counters fed by the broker's
 * public `connect` / `disconnect` / `drop` events. The broker itself knows nothing of OpenTelemetry.
 */
import type { Attributes, BatchObservableCallback, Meter, Observable } from '@opentelemetry/api';
import type { BrokerMetrics, DisconnectInfo, DropInfo, MqttBroker } from '../../broker/index.js';
import { otelApi } from './otel-api.js';
import * as sc from './semconv.js';
import { INSTRUMENTATION_NAME } from './tracing.js';

/** Metric names of {@link instrumentBroker}: gauges (current values), then monotonic counters. */
export const BROKER_METRICS = {
  connections: 'mqtt5.broker.connections',
  clients: 'mqtt5.broker.clients',
  sessions: 'mqtt5.broker.sessions',
  subscriptions: 'mqtt5.broker.subscriptions',
  retained: 'mqtt5.broker.retained.messages',
  pendingWills: 'mqtt5.broker.wills.pending',
  /** Only reported when the broker's metrics carry `queuedMessages`. */
  queued: 'mqtt5.broker.queued.messages',
  messagesIn: 'mqtt5.broker.messages.received',
  messagesOut: 'mqtt5.broker.messages.routed',
  dropped: 'mqtt5.broker.messages.dropped',
  deniedPublishes: 'mqtt5.broker.publishes.denied',
  deniedSubscriptions: 'mqtt5.broker.subscriptions.denied',
  bytesIn: 'mqtt5.broker.bytes.received',
  bytesOut: 'mqtt5.broker.bytes.sent',
  connects: 'mqtt5.broker.connects',
  disconnects: 'mqtt5.broker.disconnects',
} as const;

/** Attribute of the dropped counter: the broker's `DropReason` (`queueFull`, `packetTooLarge`, `noSubscriberAvailable`, `notAuthorized`). */
export const ATTR_DROP_REASON = 'mqtt5.drop.reason';
/** Attribute of the disconnects counter: who ended the connection (`client`, `server`, `network`). */
export const ATTR_DISCONNECT_INITIATOR = 'mqtt5.disconnect.initiator';

/** What {@link instrumentBroker} returns. */
export interface BrokerInstrumentation {
  /** Stops observing the broker (listeners and callbacks removed). Idempotent. */
  close(): void;
}

/**
 * Reports a broker's metrics through OpenTelemetry. With no `meter`, the global meter provider's
 * meter is taken now: register the SDK first (the metrics API has no late binding). Without
 * `@opentelemetry/api` installed it does nothing and returns a no-op handle.
 *
 * ```ts
 * const telemetry = instrumentBroker(broker);
 * // … on shutdown
 * telemetry.close();
 * ```
 */
export function instrumentBroker(broker: MqttBroker, meter?: Meter): BrokerInstrumentation {
  if (meter === undefined) {
    const api = otelApi();
    if (api === undefined) return { close() {} };
    meter = api.metrics.getMeter(INSTRUMENTATION_NAME);
  }
  const base: Attributes = { [sc.ATTR_MESSAGING_SYSTEM_NAME]: sc.MESSAGING_SYSTEM_MQTT };
  const gauge = (name: string, description: string) => meter.createObservableGauge(name, { unit: '{item}', description });
  const counter = (name: string, description: string) => meter.createObservableCounter(name, { unit: '{message}', description });
  const gauges: [Observable, (m: BrokerMetrics) => number | undefined][] = [
    [gauge(BROKER_METRICS.connections, 'Open network connections.'), (m) => m.connections],
    [gauge(BROKER_METRICS.clients, 'Connected clients.'), (m) => m.clients],
    [gauge(BROKER_METRICS.sessions, 'Sessions, connected or not.'), (m) => m.sessions],
    [gauge(BROKER_METRICS.subscriptions, 'Subscriptions, shared members included.'), (m) => m.subscriptions],
    [gauge(BROKER_METRICS.retained, 'Retained messages.'), (m) => m.retainedMessages],
    [gauge(BROKER_METRICS.pendingWills, 'Wills waiting for their delay.'), (m) => m.pendingWills],
    [gauge(BROKER_METRICS.queued, 'Messages queued for sessions.'), (m) => (m as { queuedMessages?: number }).queuedMessages],
    [counter(BROKER_METRICS.messagesIn, 'PUBLISH packets accepted (wills and broker messages included).'), (m) => m.messagesReceived],
    [counter(BROKER_METRICS.messagesOut, 'Deliveries to sessions, sent or queued.'), (m) => m.messagesRouted],
    [counter(BROKER_METRICS.deniedPublishes, 'PUBLISH packets refused by authorizePublish (or sent to $SYS).'), (m) => m.deniedPublishes],
    [counter(BROKER_METRICS.deniedSubscriptions, 'Subscriptions refused by authorizeSubscribe.'), (m) => m.deniedSubscriptions],
    [meter.createObservableCounter(BROKER_METRICS.bytesIn, { unit: 'By', description: 'Bytes read from client sockets.' }), (m) => m.bytesReceived],
    [meter.createObservableCounter(BROKER_METRICS.bytesOut, { unit: 'By', description: 'Bytes written to client sockets.' }), (m) => m.bytesSent],
  ];
  const observe: BatchObservableCallback = (result) => {
    const m = broker.metrics();
    for (const [instrument, read] of gauges) {
      const value = read(m);
      if (value !== undefined) result.observe(instrument, value, base);
    }
  };
  const observables = gauges.map(([instrument]) => instrument);
  meter.addBatchObservableCallback(observe, observables);

  const dropped = meter.createCounter(BROKER_METRICS.dropped, { unit: '{message}', description: 'Messages a client should have received but did not, by reason.' });
  const connects = meter.createCounter(BROKER_METRICS.connects, { unit: '{connection}', description: 'Clients that completed CONNECT.' });
  const disconnects = meter.createCounter(BROKER_METRICS.disconnects, { unit: '{connection}', description: 'Connections of connected clients that ended, by initiator.' });
  // Event attributes come from small closed sets: one object each, built on first use.
  const byReason = new Map<string, Attributes>();
  const byInitiator = new Map<string, Attributes>();
  const onDrop = (info: DropInfo): void => {
    let a = byReason.get(info.reason);
    if (a === undefined) byReason.set(info.reason, (a = { ...base, [ATTR_DROP_REASON]: info.reason }));
    dropped.add(1, a);
  };
  const onConnect = (): void => connects.add(1, base);
  const onDisconnect = (_client: unknown, info: DisconnectInfo): void => {
    let a = byInitiator.get(info.initiator);
    if (a === undefined) byInitiator.set(info.initiator, (a = { ...base, [ATTR_DISCONNECT_INITIATOR]: info.initiator }));
    disconnects.add(1, a);
  };
  broker.on('drop', onDrop);
  broker.on('connect', onConnect);
  broker.on('disconnect', onDisconnect);

  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      meter.removeBatchObservableCallback(observe, observables);
      broker.off('drop', onDrop);
      broker.off('connect', onConnect);
      broker.off('disconnect', onDisconnect);
    },
  };
}
