/**
 * ServerMqtt5 + ClientMqtt5 end to end, on the embedded broker and on Mosquitto: send/emit,
 * streams of values, RpcException errors, timeouts, no-responder detection, records, the
 * context, and 1,000 overlapping requests.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { EMPTY, firstValueFrom, lastValueFrom, of, toArray, type Observable } from 'rxjs';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import type { MqttClient } from '../../../lib/client/index.js';
import {
  Mqtt5Context,
  Mqtt5NoRespondersError,
  Mqtt5RecordBuilder,
  Mqtt5RequestTimeoutError,
  REPLY_KIND,
} from '../../../lib/nest/index.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { BROKERS, closeAll, rawClient, startCaller, startMicroservice, type TestBroker, type TestCaller, type TestMicroservice } from './helpers.js';

/** What the event handlers saw, per test. */
const seen = {
  events: [] as { data: unknown; topic: string }[],
  nextEvent: undefined as Deferred<{ data: unknown; ctx: Mqtt5Context }> | undefined,
};

@Controller()
class MathController {
  @MessagePattern('math/sum')
  sum(@Payload() numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('math/slow-double')
  async slowDouble(@Payload() n: number): Promise<number> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return n * 2;
  }

  @MessagePattern('math/count')
  count(@Payload() n: number): Observable<number> {
    return of(...Array.from({ length: n }, (_, i) => i + 1));
  }

  @MessagePattern('math/nothing')
  nothing(): Observable<never> {
    return EMPTY;
  }

  @MessagePattern('math/void')
  voidResult(): void {}

  @MessagePattern('math/fail')
  fail(@Payload() kind: string): never {
    if (kind === 'object') throw new RpcException({ code: 42, reason: 'bad input' });
    if (kind === 'plain') throw new Error('internal detail');
    throw new RpcException('boom');
  }

  @MessagePattern('math/echo-context')
  echoContext(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context) {
    return {
      data,
      topic: ctx.getTopic(),
      pattern: ctx.getPattern(),
      qos: ctx.getQoS(),
      contentType: ctx.getContentType(),
      user: ctx.getUserProperties().filter(([k]) => k !== REPLY_KIND),
      metadata: ctx.getMetadata(),
      expiry: ctx.getProperties().messageExpiryInterval,
      utf8: ctx.getProperties().payloadFormatIndicator,
      hasResponseTopic: typeof ctx.getResponseTopic() === 'string',
    };
  }

  @MessagePattern('math/record-reply')
  recordReply(@Payload() n: number) {
    return new Mqtt5RecordBuilder(n + 1).addUserProperty('served-by', 'math').setContentType('application/json').build();
  }

  @EventPattern<string>('events/recorded')
  recorded(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    seen.events.push({ data, topic: ctx.getTopic() });
    seen.nextEvent?.resolve({ data, ctx });
  }
}

describe.each(BROKERS)('request/response and events on the %s', (_name, start) => {
  let broker: TestBroker;
  let service: TestMicroservice;
  let caller: TestCaller;
  let raw: MqttClient;

  beforeAll(async () => {
    broker = await start();
    service = await startMicroservice([MathController], { url: broker.url });
    caller = await startCaller({ url: broker.url, requestTimeout: 5000 });
    raw = await rawClient(broker.url, 'raw-inspector');
  });

  afterAll(async () => {
    await closeAll(caller, service, () => raw.disconnect(), broker && (() => broker.stop()));
  });

  it('send() gets the handler’s result', async () => {
    await expect(firstValueFrom(caller.client.send('math/sum', [1, 2, 3]))).resolves.toBe(6);
    expect(caller.client.pendingRequests).toBe(0);
  });

  it('send() yields every value of an observable result, in order, then completes', async () => {
    await expect(lastValueFrom(caller.client.send('math/count', 5).pipe(toArray()))).resolves.toEqual([1, 2, 3, 4, 5]);
  });

  it('an empty observable completes without values; a void handler yields undefined once', async () => {
    await expect(lastValueFrom(caller.client.send('math/nothing', {}).pipe(toArray()))).resolves.toEqual([]);
    await expect(lastValueFrom(caller.client.send('math/void', {}).pipe(toArray()))).resolves.toEqual([undefined]);
  });

  it('an RpcException reaches the caller as an error, with its string or object', async () => {
    await expect(firstValueFrom(caller.client.send('math/fail', 'string'))).rejects.toEqual({ status: 'error', message: 'boom' });
    await expect(firstValueFrom(caller.client.send('math/fail', 'object'))).rejects.toEqual({ code: 42, reason: 'bad input' });
    // A non-Rpc exception is not leaked: Nest's generic message.
    await expect(firstValueFrom(caller.client.send('math/fail', 'plain'))).rejects.toEqual({
      status: 'error',
      message: 'Internal server error',
    });
    expect(caller.client.pendingRequests).toBe(0);
  });

  it('emit() publishes an event the event handler receives', async () => {
    seen.nextEvent = deferred();
    await firstValueFrom(caller.client.emit('events/recorded', { id: 7 }), { defaultValue: undefined });
    const { data, ctx } = await withTimeout(seen.nextEvent.promise, 5000, 'the event');
    expect(data).toEqual({ id: 7 });
    expect(ctx.getTopic()).toBe('events/recorded');
    expect(ctx.getResponseTopic()).toBeUndefined();
  });

  it('emit() yields undefined, as the built-in client, never the internal acknowledgement packet', async () => {
    seen.nextEvent = deferred();
    const values = await lastValueFrom(caller.client.emit('events/recorded', { id: 8 }).pipe(toArray()));
    expect(values).toEqual([undefined]);
    await withTimeout(seen.nextEvent.promise, 5000, 'the event');
    // Also when nobody subscribes (the broker's PUBACK says 0x10) and at QoS 2 (PUBCOMP).
    await expect(lastValueFrom(caller.client.emit('events/nobody-listens', 1).pipe(toArray()))).resolves.toEqual([undefined]);
    const qos2 = new Mqtt5RecordBuilder(2).setQoS(2).build();
    await expect(lastValueFrom(caller.client.emit('events/nobody-listens', qos2).pipe(toArray()))).resolves.toEqual([undefined]);
  });

  it('emit() yields the acknowledgement’s reason code with the emitReasonCode option', async () => {
    const reporting = await startCaller({ url: broker.url, emitReasonCode: true });
    try {
      seen.nextEvent = deferred();
      await expect(firstValueFrom(reporting.client.emit('events/recorded', { id: 9 }))).resolves.toBe(0x00);
      await withTimeout(seen.nextEvent.promise, 5000, 'the event');
      await expect(firstValueFrom(reporting.client.emit('events/nobody-listens', 1))).resolves.toBe(0x10);
      const qos0 = new Mqtt5RecordBuilder(0).setQoS(0).build();
      await expect(lastValueFrom(reporting.client.emit('events/nobody-listens', qos0).pipe(toArray()))).resolves.toEqual([undefined]);
    } finally {
      await reporting.close();
    }
  });

  it('records set QoS and v5 properties; the context exposes them with the Nest metadata', async () => {
    caller.client.setOnDispatchHook((packet) => {
      packet.metadata = { trace: 'abc' };
    });
    try {
      const record = new Mqtt5RecordBuilder({ hello: 'world' })
        .setQoS(2)
        .setContentType('application/vnd.test+json')
        .setMessageExpiryInterval(120)
        .setPayloadFormatIndicator(true)
        .addUserProperty('tenant', 't1')
        .addUserProperty('tenant', 't2')
        .build();
      const seenByHandler = await firstValueFrom(caller.client.send('math/echo-context', record));
      expect(seenByHandler).toEqual({
        data: { hello: 'world' },
        topic: 'math/echo-context',
        pattern: 'math/echo-context',
        qos: 1, // the handler subscribed with the default QoS 1: the broker downgrades QoS 2
        contentType: 'application/vnd.test+json',
        user: [
          ['tenant', 't1'],
          ['tenant', 't2'],
          ['trace', 'abc'],
        ],
        metadata: { tenant: 't1', trace: 'abc' },
        expiry: expect.any(Number),
        utf8: true,
        hasResponseTopic: true,
      });
      expect((seenByHandler as { expiry: number }).expiry).toBeLessThanOrEqual(120);
    } finally {
      caller.client.setOnDispatchHook(() => undefined);
    }
  });

  it('a retained record is stored by the broker and delivered to later subscribers', async () => {
    const topic = `events/retained-${broker.kind}`;
    await firstValueFrom(caller.client.emit(topic, new Mqtt5RecordBuilder({ state: 'on' }).setRetain(true).setQoS(1).build()), {
      defaultValue: undefined,
    });
    const got = deferred<PublishPacket>();
    await raw.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, (m) => got.resolve(m));
    const message = await withTimeout(got.promise, 5000, 'the retained message');
    expect(message.retain).toBe(true);
    expect(JSON.parse(message.payload.toString())).toEqual({ state: 'on' });
    await raw.unsubscribe({ topicFilters: [topic] });
    await firstValueFrom(caller.client.emit(topic, new Mqtt5RecordBuilder(undefined).setRetain(true).build()), {
      defaultValue: undefined,
    });
  });

  it('a plain MQTT v5 requester gets the reply on its response topic, with the correlation data and the reply record’s properties', async () => {
    const responseTopic = `plain/${broker.kind}/responses`;
    const reply = deferred<PublishPacket>();
    await raw.subscribe({ subscriptions: [{ topicFilter: responseTopic, qos: 1 }] }, (m) => reply.resolve(m));
    const correlationData = Buffer.from('req-1');
    await raw.publish({ topic: 'math/record-reply', payload: '41', qos: 1, properties: { responseTopic, correlationData } });
    const response = await withTimeout(reply.promise, 5000, 'the reply');
    expect(response.type).toBe(PacketType.PUBLISH);
    expect(response.properties?.correlationData).toEqual(correlationData);
    expect(response.properties?.contentType).toBe('application/json');
    expect(response.properties?.userProperties).toEqual([['served-by', 'math']]);
    expect(JSON.parse(response.payload.toString())).toBe(42);
    await raw.unsubscribe({ topicFilters: [responseTopic] });
  });

  it('a request nobody answers times out with a clear error and leaves nothing pending', async () => {
    // A subscriber that never answers: the broker accepts the request, no response comes.
    const topic = `silent/${broker.kind}`;
    await raw.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, () => undefined);
    const quick = await startCaller({ url: broker.url, requestTimeout: 150 });
    try {
      const started = Date.now();
      const error = await firstValueFrom(quick.client.send(topic, 1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Mqtt5RequestTimeoutError);
      expect((error as Mqtt5RequestTimeoutError).code).toBe('REQUEST_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(quick.client.pendingRequests).toBe(0);
    } finally {
      await quick.close();
      await raw.unsubscribe({ topicFilters: [topic] });
    }
  });

  it('a request to a topic without subscribers fails fast with reason code 0x10', async () => {
    // Outside the grace window after a (re)connect (here: none), 0x10 is final under the default
    // `noResponders: 'fail'`; inside it the request is re-published (production.test.ts).
    const strict = await startCaller({ url: broker.url, requestTimeout: 5000, noRespondersGrace: 0 });
    try {
      const started = Date.now();
      const error = await firstValueFrom(strict.client.send('nobody/listens/here', 1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Mqtt5NoRespondersError);
      expect((error as Mqtt5NoRespondersError).reasonCode).toBe(0x10);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(strict.client.pendingRequests).toBe(0);
    } finally {
      await strict.close();
    }
  });

  it('unsubscribing from send() cancels the request: nothing stays pending', async () => {
    const topic = `silent-cancel/${broker.kind}`;
    await raw.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, () => undefined);
    const subscription = caller.client.send(topic, 1).subscribe({ error: () => undefined });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(caller.client.pendingRequests).toBe(1);
    subscription.unsubscribe();
    expect(caller.client.pendingRequests).toBe(0);
    await raw.unsubscribe({ topicFilters: [topic] });
  });

  it('1,000 overlapping requests all get their own answer', async () => {
    const requests = Array.from({ length: 1000 }, (_, i) => lastValueFrom(caller.client.send('math/slow-double', i)));
    const results = await withTimeout(Promise.all(requests), 20_000, '1,000 responses');
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i * 2));
    expect(caller.client.pendingRequests).toBe(0);
  });
});
