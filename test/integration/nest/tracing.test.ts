/**
 * Distributed tracing across two Nest apps in separate processes, over a real broker: this process
 * is the caller app (ClientMqtt5 + a microservice with an audit handler), the child process
 * (fixtures/traced-service.ts) the responder, each with its own tracer provider. A caller span →
 * send() → handler → reply forms one trace with the right parent/child links (and the nested emit
 * from inside the handler continues it back into this process); emit → event handler likewise; a
 * failing handler marks its span and records the exception; the failure log carries the trace id.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientsModule, Ctx, Payload } from '@nestjs/microservices';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lastValueFrom } from 'rxjs';
import { MqttBroker } from '../../../lib/broker/index.js';
import type { UserProperty } from '../../../lib/codec/index.js';
import { ClientMqtt5, Mqtt5Context, Mqtt5EventPattern, Mqtt5RecordBuilder, ServerMqtt5 } from '../../../lib/nest/index.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import type { SpanRecord } from './fixtures/traced-service.js';

const fixtures = new URL('./fixtures/', import.meta.url);
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();
const tracer = () => trace.getTracer('test-caller');

/** The child process: its messages, and requests for its finished spans. */
interface Service {
  child: ChildProcess;
  logs: { level: string; message: string; context?: string }[];
  spans(want: string[]): Promise<SpanRecord[]>;
  nextEvent(): Promise<{ data: unknown; traceId?: string }>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function startService(url: string): Promise<Service> {
  const child = fork(fileURLToPath(new URL('traced-service.ts', fixtures)), [url], {
    execArgv: ['--import', fileURLToPath(new URL('ts-register.mjs', fixtures))],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = deferred<void>();
  const logs: Service['logs'] = [];
  let spansWanted: Deferred<SpanRecord[]> | undefined;
  let resetDone: Deferred<void> | undefined;
  const events: Deferred<{ data: unknown; traceId?: string }>[] = [deferred()];
  let eventsTaken = 0;
  child.on('message', (m: any) => {
    if (m.type === 'ready') ready.resolve();
    else if (m.type === 'log') logs.push(m);
    else if (m.type === 'spans') spansWanted?.resolve(m.spans);
    else if (m.type === 'reset') resetDone?.resolve();
    else if (m.type === 'event') {
      events[events.length - 1]!.resolve({ data: m.data, traceId: m.traceId });
      events.push(deferred());
    }
  });
  void exited.then(() => ready.reject(new Error('the traced service exited before it was ready')));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await withTimeout(ready.promise, 60_000, 'the traced service process to start');
  } catch (err) {
    await kill();
    throw err;
  }
  return {
    child,
    logs,
    spans(want) {
      spansWanted = deferred();
      child.send({ type: 'spans', want });
      return withTimeout(spansWanted.promise, 10_000, `spans ${want.join(', ')} in the service`);
    },
    nextEvent: () => withTimeout(events[eventsTaken++]!.promise, 10_000, 'an event in the service'),
    async reset() {
      resetDone = deferred();
      child.send({ type: 'reset' });
      await withTimeout(resetDone.promise, 5000, 'the service to reset its spans');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Audit events the service emits from inside its request handler arrive here (this app's handler). */
const audits: Deferred<{ data: unknown; traceId?: string }>[] = [];
@Controller()
class AuditController {
  @Mqtt5EventPattern('traced/audit')
  audit(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    audits.shift()?.resolve({ data, traceId: ctx.getTraceId() });
  }
}

const CALLER = 'CALLER';
let spansOfCaller: ReadableSpan[] = [];
/** This process's finished spans once every named one has ended (the exporter is synchronous; waits on an event, bounded). */
async function callerSpans(want: string[]): Promise<ReadableSpan[]> {
  const has = () => want.every((name) => exporter.getFinishedSpans().some((s) => s.name === name));
  if (!has()) {
    const done = deferred<void>();
    const original = exporter.export.bind(exporter);
    exporter.export = (spans, cb) => {
      original(spans, cb);
      if (has()) done.resolve();
    };
    try {
      await withTimeout(done.promise, 10_000, `spans ${want.join(', ')} in the caller`);
    } finally {
      exporter.export = original;
    }
  }
  spansOfCaller = exporter.getFinishedSpans();
  return spansOfCaller;
}

function named<T extends { name: string }>(spans: T[], name: string): T {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one span '${name}', found ${found.length} among ${spans.map((s) => s.name).join(', ')}`);
  return found[0]!;
}

describe('tracing across two Nest apps in separate processes', () => {
  let broker: MqttBroker;
  let url: string;
  let service: Service;
  let app: INestMicroservice;
  let client: ClientMqtt5;

  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    broker = new MqttBroker();
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    url = `mqtt://127.0.0.1:${tcp!.port}`;
    service = await startService(url);

    @Module({
      imports: [ClientsModule.register([{ name: CALLER, customClass: ClientMqtt5, options: { url, clientId: 'traced-caller' } }])],
      controllers: [AuditController],
    })
    class CallerModule {}
    app = await NestFactory.createMicroservice(CallerModule, { strategy: new ServerMqtt5({ url, clientId: 'traced-caller-app' }), logger: false });
    await app.listen();
    client = app.get<ClientMqtt5>(CALLER);
    await client.connect();
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await service?.stop();
    await broker?.close();
    trace.disable();
    context.disable();
    propagation.disable();
    await provider.shutdown();
  });

  it('caller span → send() → handler → reply is one trace; the handler’s nested emit continues it here', async () => {
    exporter.reset();
    await service.reset();
    const audited = deferred<{ data: unknown; traceId?: string }>();
    audits.push(audited);
    const answer = await tracer().startActiveSpan('caller', async (span) => {
      try {
        return await lastValueFrom(client.send('traced/echo', { n: 1 }));
      } finally {
        span.end();
      }
    });
    const audit = await withTimeout(audited.promise, 10_000, 'the audit event');

    const mine = await callerSpans(['caller', 'request traced/echo', 'process traced/audit']);
    const theirs = await service.spans(['process traced/echo', 'publish traced/audit']);
    const caller = named(mine, 'caller');
    const request = named(mine, 'request traced/echo');
    const handled = named(theirs, 'process traced/echo');
    const nested = named(theirs, 'publish traced/audit');
    const auditSpan = named(mine, 'process traced/audit');
    const traceId = caller.spanContext().traceId;

    // One trace, across both processes and back.
    for (const s of [request.spanContext().traceId, handled.traceId, nested.traceId, auditSpan.spanContext().traceId]) expect(s).toBe(traceId);
    expect(request.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(handled.parentSpanId).toBe(request.spanContext().spanId);
    expect(nested.parentSpanId).toBe(handled.spanId);
    expect(auditSpan.parentSpanContext?.spanId).toBe(nested.spanId);
    // The reply carried the SERVER span's context back: the CLIENT span links to it.
    expect(request.links.map((l) => l.context.spanId)).toEqual([handled.spanId]);

    expect(request.kind).toBe(SpanKind.CLIENT);
    expect(handled.kind).toBe(SpanKind.SERVER);
    expect(nested.kind).toBe(SpanKind.PRODUCER);
    expect(auditSpan.kind).toBe(SpanKind.CONSUMER);
    expect(request.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.destination.name': 'traced/echo',
      'messaging.destination.template': 'traced/echo',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'request',
      'messaging.client.id': 'traced-caller',
      'server.address': '127.0.0.1',
    });
    expect(handled.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.client.id': 'traced-service',
      'messaging.message.conversation_id': request.attributes['messaging.message.conversation_id'],
    });
    expect(typeof request.attributes['messaging.message.conversation_id']).toBe('string');
    expect(handled.attributes['messaging.message.body.size']).toBe(request.attributes['messaging.message.body.size']);
    expect(handled.status.code).toBe(SpanStatusCode.UNSET);

    // The handler saw its trace id (ctx.getTraceId()), and so did the nested event's handler here.
    expect(answer).toEqual({ data: { n: 1 }, traceId });
    expect(audit.traceId).toBe(traceId);
  }, 60_000);

  it('emit → event handler ($share group) is one trace; the caller’s user property array is not modified', async () => {
    exporter.reset();
    await service.reset();
    const userProperties: UserProperty[] = [['app', 'test']];
    const record = new Mqtt5RecordBuilder({ x: 1 }).setUserProperties(userProperties).build();
    const event = service.nextEvent();
    await tracer().startActiveSpan('emitter', async (span) => {
      try {
        await lastValueFrom(client.emit('traced/event', record), { defaultValue: undefined });
      } finally {
        span.end();
      }
    });
    const seen = await event;
    expect(userProperties).toEqual([['app', 'test']]);

    const mine = await callerSpans(['emitter', 'publish traced/event']);
    const theirs = await service.spans(['process traced/event']);
    const emitter = named(mine, 'emitter');
    const publish = named(mine, 'publish traced/event');
    const processed = named(theirs, 'process traced/event');
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.parentSpanContext?.spanId).toBe(emitter.spanContext().spanId);
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(processed.traceId).toBe(emitter.spanContext().traceId);
    expect(processed.parentSpanId).toBe(publish.spanContext().spanId);
    expect(processed.attributes).toMatchObject({
      'messaging.destination.name': 'traced/event',
      'messaging.destination.template': 'traced/event',
      'messaging.consumer.group.name': 'workers',
      'messaging.operation.type': 'process',
    });
    expect(publish.attributes['messaging.operation.type']).toBe('send');
    expect(publish.attributes['messaging.operation.name']).toBe('publish');
    expect(seen).toEqual({ data: { x: 1 }, traceId: emitter.spanContext().traceId });
  }, 60_000);

  it('a failing handler marks its span (error.type, exception event); the caller span fails; the failure log carries trace_id', async () => {
    exporter.reset();
    await service.reset();
    const failure = await tracer().startActiveSpan('failing caller', async (span) => {
      try {
        await lastValueFrom(client.send('traced/fail', { n: 2 }));
        return undefined;
      } catch (err) {
        return err;
      } finally {
        span.end();
      }
    });
    expect(failure).toMatchObject({ status: 'error' });

    const mine = await callerSpans(['failing caller', 'request traced/fail']);
    const theirs = await service.spans(['process traced/fail']);
    const request = named(mine, 'request traced/fail');
    const handled = named(theirs, 'process traced/fail');
    expect(handled.parentSpanId).toBe(request.spanContext().spanId);
    expect(handled.status.code).toBe(SpanStatusCode.ERROR);
    expect(typeof handled.attributes['error.type']).toBe('string');
    expect(handled.events.map((e) => e.name)).toContain('exception');
    expect(request.status.code).toBe(SpanStatusCode.ERROR);
    expect(request.events.map((e) => e.name)).toContain('exception');

    const traceId = handled.traceId;
    const line = service.logs.find((l) => l.level === 'warn' && l.message.includes(`trace_id=${traceId}`));
    expect(line).toMatchObject({ context: 'ServerMqtt5' });
    expect(line!.message).toContain('Handler of "traced/fail" failed on "traced/fail"');

    // An event handler's failure likewise.
    await lastValueFrom(client.emit('traced/event-fail', { n: 3 }), { defaultValue: undefined });
    const [failedEvent] = await service.spans(['process traced/event-fail']).then((s) => s.filter((x) => x.name === 'process traced/event-fail'));
    expect(failedEvent!.status.code).toBe(SpanStatusCode.ERROR);
    expect(failedEvent!.events.map((e) => e.name)).toContain('exception');
  }, 60_000);
});
