/**
 * Transport metrics through the real transport: a ClientMqtt5 and a ServerMqtt5 on our broker, an
 * `@opentelemetry/sdk-metrics` MeterProvider with an in-memory exporter. The counts read back match
 * the messages sent — events published and consumed, requests by outcome (ok, error, no_responders,
 * timeout), handler durations — and nothing stays in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { lastValueFrom } from 'rxjs';
import { Mqtt5EventPattern } from '../../../lib/nest/index.js';
import { deferred, withTimeout } from '../../helpers/wait.js';
import { closeAll, startCaller, startEmbeddedBroker, startMicroservice, type TestBroker, type TestCaller, type TestMicroservice } from './helpers.js';

const EVENTS = 30;
const REQUESTS = 20;
let eventsSeen = 0;
const allEvents = deferred<void>();

@Controller()
class MeteredController {
  @Mqtt5EventPattern('metered/events/+')
  onEvent(): void {
    if (++eventsSeen === EVENTS) allEvents.resolve();
  }

  @MessagePattern('metered/double')
  double(@Payload() n: number): number {
    return n * 2;
  }

  @MessagePattern('metered/fail')
  fail(): never {
    throw new Error('metered failure');
  }

  @MessagePattern('metered/silent')
  silent(): Promise<never> {
    return new Promise<never>(() => undefined); // never answers: the caller times out
  }
}

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
// The interval never elapses in a test: forceFlush() collects on demand.
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
const provider = new MeterProvider({ readers: [reader] });

async function collect(): Promise<MetricData[]> {
  exporter.reset();
  await reader.forceFlush();
  return exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics));
}

/** Sum of the data points of `name` whose attributes include `match`. */
function sum(all: MetricData[], name: string, match: Record<string, unknown>): number {
  const metric = all.find((m) => m.descriptor.name === name);
  if (metric === undefined) return 0;
  let total = 0;
  for (const point of metric.dataPoints) {
    if (!Object.entries(match).every(([k, v]) => point.attributes[k] === v)) continue;
    total += metric.dataPointType === DataPointType.HISTOGRAM ? (point.value as { count: number }).count : (point.value as number);
  }
  return total;
}

describe('transport metrics through the real transport', () => {
  let broker: TestBroker;
  let service: TestMicroservice;
  let caller: TestCaller;

  beforeAll(async () => {
    metrics.setGlobalMeterProvider(provider);
    broker = await startEmbeddedBroker();
    service = await startMicroservice([MeteredController], { url: broker.url, clientId: 'metered-service' });
    // noRespondersGrace 0: a 0x10 fails at once (no grace window after connecting).
    caller = await startCaller({ url: broker.url, clientId: 'metered-caller', requestTimeout: 300, noRespondersGrace: 0 });
  }, 30_000);

  afterAll(async () => {
    await closeAll(caller, service, broker && (() => broker.stop()));
    metrics.disable();
    await provider.shutdown();
  });

  it('counts events, requests by outcome and handler runs as sent', async () => {
    const client = caller.client;
    for (let i = 0; i < EVENTS; i++) await lastValueFrom(client.emit(`metered/events/${i % 3}`, { i }), { defaultValue: undefined });
    await withTimeout(allEvents.promise, 10_000, 'every event at the handler');
    for (let i = 0; i < REQUESTS; i++) expect(await lastValueFrom(client.send('metered/double', i))).toBe(i * 2);
    await expect(lastValueFrom(client.send('metered/fail', 1))).rejects.toMatchObject({ status: 'error' });
    await expect(lastValueFrom(client.send('metered/nobody', 1))).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    await expect(lastValueFrom(client.send('metered/silent', 1))).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });

    const all = await collect();
    const mine = { 'messaging.client.id': 'metered-caller' };
    const server = { 'messaging.client.id': 'metered-service' };
    // Published: one per emit (by the pattern given to emit(), here the topic) and one per request.
    let published = 0;
    for (let t = 0; t < 3; t++) published += sum(all, 'messaging.client.sent.messages', { ...mine, 'messaging.destination.template': `metered/events/${t}`, 'messaging.operation.name': 'publish' });
    expect(published).toBe(EVENTS);
    expect(sum(all, 'messaging.client.sent.messages', { ...mine, 'messaging.destination.template': 'metered/double', 'messaging.operation.name': 'request' })).toBe(REQUESTS);
    // Consumed at the server, by handler pattern (low cardinality: the wildcard pattern).
    expect(sum(all, 'messaging.client.consumed.messages', { ...server, 'messaging.destination.template': 'metered/events/+' })).toBe(EVENTS);
    expect(sum(all, 'messaging.client.consumed.messages', { ...server, 'messaging.destination.template': 'metered/double' })).toBe(REQUESTS);
    expect(sum(all, 'messaging.process.duration', { ...server, 'messaging.destination.template': 'metered/events/+' })).toBe(EVENTS);
    expect(sum(all, 'messaging.process.duration', { ...server, 'messaging.destination.template': 'metered/fail', 'error.type': 'error' })).toBe(1);
    // Requests by outcome; none left in flight.
    const outcome = (pattern: string, o: string) => sum(all, 'mqtt5.client.requests', { ...mine, 'messaging.destination.template': pattern, 'mqtt5.request.outcome': o });
    expect(outcome('metered/double', 'ok')).toBe(REQUESTS);
    expect(outcome('metered/fail', 'error')).toBe(1);
    expect(outcome('metered/nobody', 'no_responders')).toBe(1);
    expect(outcome('metered/silent', 'timeout')).toBe(1);
    expect(sum(all, 'messaging.client.operation.duration', { ...mine, 'messaging.destination.template': 'metered/double' })).toBe(REQUESTS);
    for (const pattern of ['metered/double', 'metered/fail', 'metered/nobody', 'metered/silent']) {
      expect(sum(all, 'mqtt5.client.requests.active', { ...mine, 'messaging.destination.template': pattern })).toBe(0);
    }
  }, 30_000);

  it('a request cancelled by unsubscribing leaves flight as `cancelled`', async () => {
    const subscription = caller.client.send('metered/silent', 2).subscribe({ error: () => undefined });
    expect(caller.client.pendingRequests).toBe(1);
    subscription.unsubscribe();
    expect(caller.client.pendingRequests).toBe(0);
    const all = await collect();
    const at = { 'messaging.client.id': 'metered-caller', 'messaging.destination.template': 'metered/silent' };
    expect(sum(all, 'mqtt5.client.requests', { ...at, 'mqtt5.request.outcome': 'cancelled' })).toBe(1);
    expect(sum(all, 'mqtt5.client.requests.active', at)).toBe(0);
  });
});
