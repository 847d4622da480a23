/**
 * W3C trace context on the wire (the "Trace Context: MQTT format" draft): the `traceparent` user
 * property set by the producer crosses our broker, is extracted by the consumer into a child span,
 * and is readable by a plain MQTT v5 tool (`mosquitto_sub -V 5 -F '%P'`).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MqttBroker } from '../../lib/broker/index.js';
import { MessageReceiver, MqttClient, connectionFromUrl } from '../../lib/client/index.js';
import { Mqtt5Tracing } from '../../lib/nest/observability/index.js';
import { ClientMqtt5, Mqtt5RecordBuilder } from '../../lib/nest/index.js';
import { lastValueFrom } from 'rxjs';
import path from 'node:path';
import { DIST, ensureBuilt } from '../helpers/build.js';
import { runProcess } from '../helpers/run-process.js';
import { withTimeout } from '../helpers/wait.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();

function spanNamed(name: string): ReadableSpan {
  const span = exporter.getFinishedSpans().find((s) => s.name === name);
  if (span === undefined) throw new Error(`no span '${name}'`);
  return span;
}

describe('trace context over MQTT', () => {
  beforeAll(async () => {
    await ensureBuilt(path.join(DIST, 'lib', 'cli', 'main.js'));
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }, 240_000);
  afterAll(async () => {
    trace.disable();
    context.disable();
    propagation.disable();
    await provider.shutdown();
  });

  it('over a real broker: the traceparent user property survives the wire, is extracted, and mosquitto_sub -V 5 prints it', async () => {
    const broker = new MqttBroker();
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const url = `mqtt://127.0.0.1:${tcp!.port}`;
    const pub = new MqttClient(connectionFromUrl(url), { reconnect: false });
    const sub = new MqttClient(connectionFromUrl(url), { reconnect: false });
    try {
      await pub.connect({ clientId: 'trace-pub' });
      await sub.connect({ clientId: 'trace-sub' });
      const receiver = new MessageReceiver();
      await sub.subscribe({ subscriptions: [{ topicFilter: 'traced/#', qos: 1 }] }, receiver);
      const producer = new Mqtt5Tracing({ clientId: 'trace-pub', url });
      const emit = producer.startSend('event', { topic: 'traced/a', pattern: 'traced/#' })!;
      await pub.publish({ topic: 'traced/a', payload: Buffer.from('x'), qos: 1, retain: true, properties: { userProperties: emit.inject(undefined) } });
      emit.end();
      const message = await withTimeout(receiver.recv(), 5000, 'the traced message');
      const consumer = new Mqtt5Tracing({ clientId: 'trace-sub', url });
      consumer.startProcess('event', { topic: message.topic, pattern: 'traced/#' }, message.properties?.userProperties)!.end();
      const p = spanNamed('publish traced/#');
      expect(spanNamed('process traced/#').parentSpanContext?.spanId).toBe(p.spanContext().spanId);
      expect(p.attributes['server.port']).toBe(tcp!.port);

      // A plain MQTT v5 tool reads the retained message's user properties.
      const printed = await new Promise<string>((resolve, reject) => {
        execFile(
          'mosquitto_sub',
          ['-V', '5', '-h', '127.0.0.1', '-p', String(tcp!.port), '-t', 'traced/a', '-C', '1', '-W', '5', '-F', '%P'],
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        );
      });
      expect(printed).toContain(`traceparent:00-${p.spanContext().traceId}-${p.spanContext().spanId}-01`);
    } finally {
      await pub.disconnect();
      await sub.disconnect();
      await broker.close();
    }
  });

  it('through ClientMqtt5: emit() puts the PRODUCER span\'s traceparent on the wire, printed by mosquitto_sub -F %P and by our CLI sub -v', async () => {
    const broker = new MqttBroker();
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const url = `mqtt://127.0.0.1:${tcp!.port}`;
    const client = new ClientMqtt5({ url, clientId: 'trace-transport' });
    try {
      exporter.reset();
      // Retained, so that both tools read it after the fact.
      const record = new Mqtt5RecordBuilder({ n: 1 }).setRetain(true).setUserProperties([['app', 'wire']]).build();
      await trace.getTracer('test').startActiveSpan('outer', async (outer) => {
        await lastValueFrom(client.emit('traced/transport', record), { defaultValue: undefined });
        outer.end();
      });
      const publish = spanNamed('publish traced/transport');
      expect(publish.parentSpanContext?.spanId).toBe(spanNamed('outer').spanContext().spanId);
      const traceparent = `00-${publish.spanContext().traceId}-${publish.spanContext().spanId}-01`;

      const mosquitto = await new Promise<string>((resolve, reject) => {
        execFile(
          'mosquitto_sub',
          ['-V', '5', '-h', '127.0.0.1', '-p', String(tcp!.port), '-t', 'traced/transport', '-C', '1', '-W', '5', '-F', '%P'],
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        );
      });
      expect(mosquitto).toContain(`traceparent:${traceparent}`);
      expect(mosquitto).toContain('app:wire');

      const cli = await runProcess(process.execPath, [path.join(DIST, 'lib', 'cli', 'main.js'), 'sub', '-b', url, 'traced/transport', '1', '-v', '-C', '1', '--timeout', '10'], {
        timeoutMs: 20_000,
        env: { MQTT_URL: undefined, NO_COLOR: '1' },
      });
      expect(cli.code).toBe(0);
      expect(cli.stdout).toContain(`user property: traceparent=${traceparent}`);
      expect(cli.stdout).toContain('user property: app=wire');
    } finally {
      await client.close();
      await broker.close();
    }
  }, 60_000);
});
