/**
 * Tracing across MQTT: W3C trace context in user properties (inject/extract round trip, also over a
 * spans per the messaging conventions, parent/child links,
 * error marking, and the no-op paths (no API, API without SDK).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import * as semconvStable from '@opentelemetry/semantic-conventions';
import * as semconv from '@opentelemetry/semantic-conventions/incubating';
import type { UserProperty } from '../../../../lib/codec/index.js';
import { Mqtt5Tracing, serverOf } from '../../../../lib/nest/observability/index.js';
import { setOtelApiForTesting } from '../../../../lib/nest/observability/otel-api.js';
import * as sc from '../../../../lib/nest/observability/semconv.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();

function register(): void {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

function unregister(): void {
  trace.disable();
  context.disable();
  propagation.disable();
}

function spanNamed(name: string): ReadableSpan {
  const span = exporter.getFinishedSpans().find((s) => s.name === name);
  if (span === undefined) throw new Error(`no span '${name}' among ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
  return span;
}

const userProperty = (props: readonly UserProperty[] | undefined, name: string): string | undefined => props?.find(([k]) => k === name)?.[1];

afterEach(() => {
  exporter.reset();
  setOtelApiForTesting(undefined);
});
afterAll(async () => {
  unregister();
  await provider.shutdown();
});

describe('semantic convention names', () => {
  it('equal the constants of the pinned @opentelemetry/semantic-conventions', () => {
    expect(sc.ATTR_MESSAGING_SYSTEM_NAME).toBe(semconv.ATTR_MESSAGING_SYSTEM_NAME);
    expect(sc.ATTR_MESSAGING_SYSTEM).toBe(semconv.ATTR_MESSAGING_SYSTEM);
    expect(sc.ATTR_MESSAGING_DESTINATION_NAME).toBe(semconv.ATTR_MESSAGING_DESTINATION_NAME);
    expect(sc.ATTR_MESSAGING_DESTINATION_TEMPLATE).toBe(semconv.ATTR_MESSAGING_DESTINATION_TEMPLATE);
    expect(sc.ATTR_MESSAGING_OPERATION_TYPE).toBe(semconv.ATTR_MESSAGING_OPERATION_TYPE);
    expect(sc.ATTR_MESSAGING_OPERATION_NAME).toBe(semconv.ATTR_MESSAGING_OPERATION_NAME);
    expect(sc.ATTR_MESSAGING_MESSAGE_CONVERSATION_ID).toBe(semconv.ATTR_MESSAGING_MESSAGE_CONVERSATION_ID);
    expect(sc.ATTR_MESSAGING_MESSAGE_BODY_SIZE).toBe(semconv.ATTR_MESSAGING_MESSAGE_BODY_SIZE);
    expect(sc.ATTR_MESSAGING_CLIENT_ID).toBe(semconv.ATTR_MESSAGING_CLIENT_ID);
    expect(sc.ATTR_MESSAGING_CONSUMER_GROUP_NAME).toBe(semconv.ATTR_MESSAGING_CONSUMER_GROUP_NAME);
    expect(sc.ATTR_SERVER_ADDRESS).toBe(semconvStable.ATTR_SERVER_ADDRESS);
    expect(sc.ATTR_SERVER_PORT).toBe(semconvStable.ATTR_SERVER_PORT);
    expect(sc.ATTR_ERROR_TYPE).toBe(semconvStable.ATTR_ERROR_TYPE);
    expect(sc.OPERATION_TYPE_SEND).toBe(semconv.MESSAGING_OPERATION_TYPE_VALUE_SEND);
    expect(sc.OPERATION_TYPE_PROCESS).toBe(semconv.MESSAGING_OPERATION_TYPE_VALUE_PROCESS);
    expect(sc.OPERATION_TYPE_RECEIVE).toBe(semconv.MESSAGING_OPERATION_TYPE_VALUE_RECEIVE);
    expect(sc.METRIC_MESSAGING_CLIENT_SENT_MESSAGES).toBe(semconv.METRIC_MESSAGING_CLIENT_SENT_MESSAGES);
    expect(sc.METRIC_MESSAGING_CLIENT_CONSUMED_MESSAGES).toBe(semconv.METRIC_MESSAGING_CLIENT_CONSUMED_MESSAGES);
    expect(sc.METRIC_MESSAGING_PROCESS_DURATION).toBe(semconv.METRIC_MESSAGING_PROCESS_DURATION);
    expect(sc.METRIC_MESSAGING_CLIENT_OPERATION_DURATION).toBe(semconv.METRIC_MESSAGING_CLIENT_OPERATION_DURATION);
    // No official messaging.system value exists for MQTT.
    expect((Object.values(semconv) as unknown[]).includes('mqtt')).toBe(false);
  });
});

describe('no-op paths', () => {
  it('without @opentelemetry/api installed: inactive, no spans, properties untouched', () => {
    register();
    setOtelApiForTesting(null); // as if the package were not installed
    const tracing = new Mqtt5Tracing({ clientId: 'c' });
    expect(tracing.active).toBe(false);
    expect(tracing.startSend('event', { topic: 'a' })).toBeUndefined();
    expect(tracing.startProcess('event', { topic: 'a' }, [['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']])).toBeUndefined();
    const props: UserProperty[] = [['k', 'v']];
    expect(tracing.injectActive(props)).toBe(props);
    unregister();
  });

  it('with the API but no SDK registered: inactive; becomes active once an SDK registers, and inactive again after', () => {
    unregister();
    const tracing = new Mqtt5Tracing();
    expect(tracing.active).toBe(false);
    expect(tracing.startSend('request', { topic: 'a', pattern: 'a' })).toBeUndefined();
    register();
    expect(tracing.active).toBe(true);
    tracing.startSend('request', { topic: 'a', pattern: 'a' })!.end();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    unregister();
    expect(tracing.active).toBe(false);
  });

  it('disabled by option: inactive even with an SDK', () => {
    register();
    expect(new Mqtt5Tracing({}, false).active).toBe(false);
    unregister();
  });
});

describe('with an SDK', () => {
  beforeAll(register);
  afterAll(unregister);

  it('request: caller → CLIENT span → traceparent → SERVER span → reply carries the server context: one trace', () => {
    const client = new Mqtt5Tracing({ clientId: 'caller', url: 'mqtt://user:secret@broker.local:2883' });
    const server = new Mqtt5Tracing({ clientId: 'service', url: 'mqtts://broker.local' });
    const caller = trace.getTracer('test').startSpan('caller');
    const sendSpan = context.with(trace.setSpan(context.active(), caller), () =>
      client.startSend('request', { topic: 'greet', pattern: 'greet', correlationId: '7', bodySize: 5 }),
    )!;
    const wire = sendSpan.inject([['x-app', '1'], ['traceparent', 'stale']]);
    expect(wire.filter(([k]) => k === 'traceparent')).toHaveLength(1);
    expect(userProperty(wire, 'x-app')).toBe('1');
    expect(userProperty(wire, 'traceparent')).toMatch(new RegExp(`^00-${caller.spanContext().traceId}-${sendSpan.span.spanContext().spanId}-01$`));

    const processSpan = server.startProcess('request', { topic: 'greet', pattern: 'greet', correlationId: '7', bodySize: 5 }, wire)!;
    // The handler's own spans become children of the SERVER span.
    processSpan.run(() => trace.getTracer('test').startSpan('inside handler').end());
    const reply = processSpan.inject(undefined);
    processSpan.end();
    processSpan.end(); // idempotent
    const back = propagation.extract(context.active(), Object.fromEntries(reply));
    expect(trace.getSpanContext(back)?.spanId).toBe(processSpan.span.spanContext().spanId);
    sendSpan.linkFrom(reply);
    sendSpan.end();
    caller.end();

    const send = spanNamed('request greet');
    const process = spanNamed('process greet');
    const inside = spanNamed('inside handler');
    const root = spanNamed('caller');
    expect(new Set([send, process, inside, root].map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(send.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(inside.parentSpanContext?.spanId).toBe(process.spanContext().spanId);
    // The reply's context links the CLIENT span to the SERVER span that answered.
    expect(send.links.map((l) => l.context.spanId)).toEqual([process.spanContext().spanId]);
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(process.kind).toBe(SpanKind.SERVER);
    expect(send.attributes).toEqual({
      'messaging.system.name': 'mqtt',
      'messaging.system': 'mqtt',
      'messaging.client.id': 'caller',
      'server.address': 'broker.local',
      'server.port': 2883,
      'messaging.operation.name': 'request',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'greet',
      'messaging.destination.template': 'greet',
      'messaging.message.conversation_id': '7',
      'messaging.message.body.size': 5,
    });
    expect(JSON.stringify(send.attributes)).not.toContain('secret');
    expect(process.attributes['messaging.operation.type']).toBe('process');
    expect(process.attributes['server.port']).toBe(8883);
    expect(process.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('event: PRODUCER span → CONSUMER span with the shared-subscription group, template in the name', () => {
    const producer = new Mqtt5Tracing({ clientId: 'p' });
    const consumer = new Mqtt5Tracing({ clientId: 'c' });
    const emit = producer.startSend('event', { topic: 'orders/42/created', pattern: 'orders/+/created' })!;
    const wire = emit.inject(undefined);
    emit.end();
    const group = Mqtt5Tracing.consumerGroupOf('$share/workers/orders/+/created');
    expect(group).toBe('workers');
    expect(Mqtt5Tracing.consumerGroupOf('orders/+/created')).toBeUndefined();
    consumer.startProcess('event', { topic: 'orders/42/created', pattern: 'orders/+/created', consumerGroup: group }, wire)!.end();
    const p = spanNamed('publish orders/+/created');
    const c = spanNamed('process orders/+/created');
    expect(p.kind).toBe(SpanKind.PRODUCER);
    expect(c.kind).toBe(SpanKind.CONSUMER);
    expect(c.parentSpanContext?.spanId).toBe(p.spanContext().spanId);
    expect(c.attributes['messaging.consumer.group.name']).toBe('workers');
    expect(c.attributes['messaging.destination.name']).toBe('orders/42/created');
  });

  it('without a pattern the span name is the operation alone (the topic would be high-cardinality)', () => {
    new Mqtt5Tracing().startSend('event', { topic: 'devices/123/telemetry' })!.end();
    expect(exporter.getFinishedSpans()[0]!.name).toBe('publish');
  });

  it('a message without trace context starts a new trace under the active context; receive spans are CONSUMER', () => {
    const s = new Mqtt5Tracing().startProcess('receive', { topic: 't', pattern: 't' }, [['other', 'x']])!;
    s.end();
    const span = spanNamed('receive t');
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.attributes['messaging.operation.type']).toBe('receive');
  });

  it('a failing handler marks its span: status ERROR, error.type from the error code, an exception event', () => {
    const tracing = new Mqtt5Tracing();
    const err = Object.assign(new Error('boom'), { code: 'ERR_BOOM' });
    const span = tracing.startProcess('event', { topic: 't', pattern: 't' }, undefined)!;
    span.fail(err);
    span.end(); // no effect after fail
    const plain = tracing.startProcess('request', { topic: 'u', pattern: 'u' }, undefined)!;
    plain.fail(new TypeError('bad'));
    const rpc = tracing.startProcess('request', { topic: 'v', pattern: 'v' }, undefined)!;
    rpc.fail({ status: 'error', message: 'not allowed' });

    const failed = spanNamed('process t');
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(failed.attributes['error.type']).toBe('ERR_BOOM');
    expect(failed.events.map((e) => e.name)).toEqual(['exception']);
    expect(failed.events[0]!.attributes?.['exception.message']).toBe('boom');
    expect(spanNamed('process u').attributes['error.type']).toBe('TypeError');
    const rpcSpan = spanNamed('process v');
    expect(rpcSpan.attributes['error.type']).toBe('_OTHER');
    expect(rpcSpan.status.message).toBe('not allowed');
  });

  it('a request that times out ends its CLIENT span in error with error.type "timeout"', () => {
    const span = new Mqtt5Tracing().startSend('request', { topic: 'slow', pattern: 'slow' })!;
    span.fail(new Error('no reply in time'), 'timeout');
    const s = spanNamed('request slow');
    expect(s.attributes['error.type']).toBe('timeout');
    expect(s.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('injectActive copies the active context into user properties without a span of its own', () => {
    const tracing = new Mqtt5Tracing();
    const outer = trace.getTracer('test').startSpan('outer');
    const props = context.with(trace.setSpan(context.active(), outer), () => tracing.injectActive([['a', 'b']]));
    outer.end();
    expect(userProperty(props, 'traceparent')).toContain(outer.spanContext().spanId);
    expect(userProperty(props, 'a')).toBe('b');
  });
});

describe('serverOf', () => {
  it.each([
    ['mqtt://h:1', { address: 'h', port: 1 }],
    ['mqtt://u:p@h', { address: 'h', port: 1883 }],
    ['wss://[::1]/mqtt', { address: '::1', port: 443 }],
    ['not a url', undefined],
  ])('%s', (url, expected) => {
    expect(serverOf(url)).toEqual(expected);
  });
});

describe('activity check (cached on the API global registry)', () => {
  it('follows a provider registered after construction, disabled, then registered again', () => {
    unregister();
    const tracing = new Mqtt5Tracing({ clientId: 'cache' });
    expect(tracing.active).toBe(false);
    expect(tracing.active).toBe(false); // the cached answer
    register();
    expect(tracing.active).toBe(true);
    const span = tracing.startSend('event', { topic: 't', pattern: 't' });
    expect(span).toBeDefined();
    span!.end();
    unregister();
    expect(tracing.active).toBe(false);
    expect(tracing.startSend('event', { topic: 't', pattern: 't' })).toBeUndefined();
    register();
    expect(tracing.active).toBe(true);
    setOtelApiForTesting(null);
    expect(tracing.active).toBe(false);
    setOtelApiForTesting(undefined);
    expect(tracing.active).toBe(true);
  });
});
