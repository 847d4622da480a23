/**
 * Transport metrics (Mqtt5Metrics) and broker metrics (instrumentBroker) read back through the SDK's
 * in-memory exporter: counts match what was recorded / sent, attributes follow the conventions, and
 * nothing is recorded without an SDK.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { MqttBroker } from '../../../../lib/broker/index.js';
import { MqttClient, MessageReceiver, connectionFromUrl } from '../../../../lib/client/index.js';
import { BROKER_METRICS, instrumentBroker, Mqtt5Metrics } from '../../../../lib/nest/observability/index.js';
import { setOtelApiForTesting } from '../../../../lib/nest/observability/otel-api.js';
import { waitForEvent, withTimeout } from '../../../helpers/wait.js';

interface Sdk {
  provider: MeterProvider;
  collect(): Promise<MetricData[]>;
}

function sdk(): Sdk {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval never elapses in a test: forceFlush() collects on demand.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      return exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics));
    },
  };
}

function metric(all: MetricData[], name: string): MetricData {
  const m = all.find((x) => x.descriptor.name === name);
  if (m === undefined) throw new Error(`no metric ${name} among ${all.map((x) => x.descriptor.name).join(', ')}`);
  return m;
}

/** The value of the point whose attributes include `match`. */
function value(m: MetricData, match: Record<string, unknown> = {}): number {
  const points = m.dataPoints.filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  if (points.length !== 1) throw new Error(`${points.length} points of ${m.descriptor.name} match ${JSON.stringify(match)}`);
  const p = points[0]!;
  return m.dataPointType === DataPointType.HISTOGRAM ? (p.value as { count: number }).count : (p.value as number);
}

const providers: MeterProvider[] = [];
afterEach(async () => {
  metrics.disable();
  setOtelApiForTesting(undefined);
  for (const p of providers.splice(0)) await p.shutdown();
});

describe('Mqtt5Metrics', () => {
  it('counts sent, consumed, handled, requests by outcome and reconnects; picks up an SDK registered after it was built', async () => {
    const m = new Mqtt5Metrics({ clientId: 'svc', url: 'mqtt://127.0.0.1:1883' });
    m.recordSent('early'); // no SDK yet: dropped, no error
    const s = sdk();
    providers.push(s.provider);
    metrics.setGlobalMeterProvider(s.provider);

    for (let i = 0; i < 5; i++) m.recordSent('orders/+/created');
    for (let i = 0; i < 3; i++) m.recordSent('greet', 'request');
    for (let i = 0; i < 4; i++) m.recordConsumed('orders/+/created');
    m.recordHandled('orders/+/created', 12, 'ok');
    m.recordHandled('orders/+/created', 30, 'ok');
    m.recordHandled('orders/+/created', 5, 'error');
    for (let i = 0; i < 4; i++) m.recordRequestStarted('greet');
    m.recordRequestSettled('greet', 3, 'ok');
    m.recordRequestSettled('greet', 1000, 'timeout');
    m.recordRequestSettled('greet', 2, 'no_responders');
    m.recordReconnect();
    m.recordReconnect();

    const all = await s.collect();
    const sent = metric(all, 'messaging.client.sent.messages');
    expect(sent.descriptor.unit).toBe('{message}');
    expect(value(sent, { 'messaging.destination.template': 'orders/+/created', 'messaging.operation.name': 'publish' })).toBe(5);
    expect(value(sent, { 'messaging.destination.template': 'greet', 'messaging.operation.name': 'request' })).toBe(3);
    expect(sent.dataPoints.some((p) => p.attributes['messaging.destination.template'] === 'early')).toBe(false);
    const point = sent.dataPoints[0]!.attributes;
    expect(point['messaging.system.name']).toBe('mqtt');
    expect(point['messaging.client.id']).toBe('svc');
    expect(point['server.address']).toBe('127.0.0.1');
    expect(point['server.port']).toBe(1883);
    expect(point['messaging.destination.name']).toBeUndefined(); // topics are unbounded: only the template

    expect(value(metric(all, 'messaging.client.consumed.messages'), { 'messaging.destination.template': 'orders/+/created' })).toBe(4);
    const duration = metric(all, 'messaging.process.duration');
    expect(duration.descriptor.unit).toBe('s');
    expect(duration.dataPointType).toBe(DataPointType.HISTOGRAM);
    const ok = duration.dataPoints.find((p) => p.attributes['error.type'] === undefined)!.value as { count: number; sum: number };
    expect(ok.count).toBe(2);
    expect(ok.sum).toBeCloseTo(0.042, 6);
    expect(value(duration, { 'error.type': 'error' })).toBe(1);

    expect(value(metric(all, 'mqtt5.client.requests.active'), { 'messaging.destination.template': 'greet' })).toBe(1);
    const outcomes = metric(all, 'mqtt5.client.requests');
    expect(value(outcomes, { 'mqtt5.request.outcome': 'ok' })).toBe(1);
    expect(value(outcomes, { 'mqtt5.request.outcome': 'timeout', 'error.type': 'timeout' })).toBe(1);
    expect(value(outcomes, { 'mqtt5.request.outcome': 'no_responders' })).toBe(1);
    expect(outcomes.dataPoints.some((p) => p.attributes['mqtt5.request.outcome'] === 'error')).toBe(false);
    expect(value(metric(all, 'messaging.client.operation.duration'), { 'mqtt5.request.outcome': 'timeout' })).toBe(1);
    expect(value(metric(all, 'mqtt5.client.reconnects'))).toBe(2);
  });

  it('counts the reconnects of a real client through watchReconnects', async () => {
    const s = sdk();
    providers.push(s.provider);
    const m = new Mqtt5Metrics({ meter: s.provider.getMeter('test') });
    const broker = new MqttBroker();
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const client = new MqttClient(connectionFromUrl(`mqtt://127.0.0.1:${tcp!.port}`), { initialReconnectDelay: 10, maxReconnectDelay: 50 });
    try {
      m.watchReconnects(client);
      await client.connect({ clientId: 'flappy' });
      for (let i = 0; i < 2; i++) {
        const back = waitForEvent(client, 'reconnected', 5000);
        expect(broker.disconnectClient('flappy')).toBe(true);
        await back;
      }
      expect(value(metric(await s.collect(), 'mqtt5.client.reconnects'))).toBe(2);
    } finally {
      await client.disconnect();
      await broker.close();
    }
  });

  it('records nothing, and throws nothing, without the API or with a disabled instance', async () => {
    const s = sdk();
    providers.push(s.provider);
    metrics.setGlobalMeterProvider(s.provider);
    setOtelApiForTesting(null);
    const absent = new Mqtt5Metrics();
    absent.recordSent('a');
    absent.recordRequestStarted('a');
    absent.recordRequestSettled('a', 1, 'error');
    setOtelApiForTesting(undefined);
    const disabled = new Mqtt5Metrics({ enabled: false });
    disabled.recordSent('a');
    disabled.recordHandled('a', 1, 'ok');
    expect(await s.collect()).toEqual([]);
  });
});

describe('instrumentBroker', () => {
  it('reports connections, messages in/out, retained, and drops by reason, matching the traffic and broker.metrics()', async () => {
    const s = sdk();
    providers.push(s.provider);
    // dropOldest: a full queue evicts (and reports) its oldest message, so every publish is still accepted
    // (with the default dropNew, a QoS 1 publish the offline session cannot keep is refused with 0x97).
    const broker = new MqttBroker({ maxQueuedMessages: 2, queueFullPolicy: 'dropOldest' });
    const telemetry = instrumentBroker(broker, s.provider.getMeter('test'));
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const url = `mqtt://127.0.0.1:${tcp!.port}`;
    const pub = new MqttClient(connectionFromUrl(url), { reconnect: false });
    const sub = new MqttClient(connectionFromUrl(url), { reconnect: false });
    const offline = new MqttClient(connectionFromUrl(url), { reconnect: false });
    try {
      await pub.connect({ clientId: 'm-pub' });
      await sub.connect({ clientId: 'm-sub' });
      await offline.connect({ clientId: 'm-offline', cleanStart: false, properties: { sessionExpiryInterval: 60 } });
      const receiver = new MessageReceiver();
      await sub.subscribe({ subscriptions: [{ topicFilter: 'm/#', qos: 1 }] }, receiver);
      await offline.subscribe({ subscriptions: [{ topicFilter: 'm/#', qos: 1 }] }, () => {});
      await offline.disconnect();
      const N = 6;
      for (let i = 0; i < N; i++) await pub.publish({ topic: `m/${i}`, payload: Buffer.from([i]), qos: 1 });
      await pub.publish({ topic: 'm/retained', payload: Buffer.from('r'), qos: 1, retain: true });
      for (let i = 0; i <= N; i++) await withTimeout(receiver.recv(), 5000, `message ${i}`);

      const all = await s.collect();
      const m = broker.metrics();
      expect(value(metric(all, BROKER_METRICS.messagesIn))).toBe(N + 1);
      expect(value(metric(all, BROKER_METRICS.messagesIn))).toBe(m.messagesReceived);
      // Each message went to the live subscriber and to the offline session (queued, or dropped when full).
      expect(value(metric(all, BROKER_METRICS.messagesOut))).toBe(m.messagesRouted);
      expect(value(metric(all, BROKER_METRICS.clients))).toBe(2);
      expect(value(metric(all, BROKER_METRICS.connections))).toBe(m.connections);
      expect(value(metric(all, BROKER_METRICS.sessions))).toBe(3);
      expect(value(metric(all, BROKER_METRICS.retained))).toBe(1);
      expect(value(metric(all, BROKER_METRICS.subscriptions))).toBe(2);
      expect(value(metric(all, BROKER_METRICS.connects))).toBe(3);
      expect(value(metric(all, BROKER_METRICS.disconnects), { 'mqtt5.disconnect.initiator': 'client' })).toBe(1);
      // maxQueuedMessages 2: of N + 1 messages for the offline session, N - 1 were evicted.
      expect(value(metric(all, BROKER_METRICS.dropped), { 'mqtt5.drop.reason': 'queueFull' })).toBe(N - 1);
      expect(m.droppedMessages).toBe(N - 1);

      telemetry.close();
      telemetry.close();
      expect(broker.listenerCount('drop')).toBe(0);
      // Closed: collections no longer read the broker.
      let reads = 0;
      const read = broker.metrics.bind(broker);
      broker.metrics = () => (reads++, read());
      await s.collect();
      expect(reads).toBe(0);
    } finally {
      await pub.disconnect();
      await sub.disconnect();
      await broker.close();
    }
  });

  it('is a no-op without @opentelemetry/api', () => {
    setOtelApiForTesting(null);
    const broker = new MqttBroker();
    const telemetry = instrumentBroker(broker);
    expect(broker.listenerCount('drop')).toBe(0);
    telemetry.close();
  });
});
