/**
 * Transport options end to end, on the embedded broker and on Mosquitto: custom serializer and
 * deserializer on both sides (and on the wire), server-wide subscription defaults (a default
 * shared group that splits work between two instances, `share: false` opting a handler out, a
 * default QoS), No Local on a handler, and `on()` listeners given to ClientMqtt5 before it connects.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Inject } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import type { Properties, PublishPacket } from '../../../lib/codec/index.js';
import type { MqttClient } from '../../../lib/client/index.js';
import {
  ClientMqtt5,
  Mqtt5Context,
  Mqtt5EventPattern,
  Mqtt5MessagePattern,
  Mqtt5RecordBuilder,
  type Mqtt5Deserializer,
  type Mqtt5SerializedPayload,
  type Mqtt5Serializer,
} from '../../../lib/nest/index.js';
import { counter, deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { BROKERS, closeAll, rawClient, startCaller, startMicroservice, type TestBroker, type TestCaller } from './helpers.js';

/** A non-JSON wire format: `key=value;key=value`, tagged with its own content type. */
const KV = 'text/x-kv';

class KvSerializer implements Mqtt5Serializer {
  serialize(data: unknown): Mqtt5SerializedPayload {
    const entries = Object.entries(data as Record<string, string | number>);
    return { payload: Buffer.from(entries.map(([k, v]) => `${k}=${v}`).join(';')), contentType: KV, payloadFormatIndicator: true };
  }
}

class KvDeserializer implements Mqtt5Deserializer {
  readonly contentTypes: (string | undefined)[] = [];
  deserialize(payload: Buffer, properties: Properties | undefined): unknown {
    this.contentTypes.push(properties?.contentType);
    const text = payload.toString('utf8');
    return Object.fromEntries(text === '' ? [] : text.split(';').map((pair) => pair.split('=') as [string, string]));
  }
}

@Controller()
class KvController {
  @Mqtt5MessagePattern('kv/greet')
  greet(@Payload() data: { name: string }, @Ctx() ctx: Mqtt5Context): Record<string, string> {
    return { greeting: `hello ${data.name}`, contentType: ctx.getContentType() ?? 'none' };
  }
}

const INSTANCE = 'INSTANCE';
const seen = new Map<string, string[]>();
let expected: ReturnType<typeof counter> | undefined;

function note(key: string): void {
  const list = seen.get(key) ?? [];
  list.push(key);
  seen.set(key, list);
  expected?.hit();
}

@Controller()
class DefaultGroupController {
  constructor(@Inject(INSTANCE) private readonly instance: string) {}

  /** In the server's default group: each message to one instance. */
  @Mqtt5EventPattern('grouped/+')
  grouped(): void {
    note(`grouped:${this.instance}`);
  }

  /** Opted out of the default group: every instance gets every message. */
  @Mqtt5EventPattern('broadcast/+', { share: false })
  broadcast(): void {
    note(`broadcast:${this.instance}`);
  }
}

const local: { got: { data: unknown; qos: number }[]; next?: Deferred<void> } = { got: [] };

@Controller()
class NoLocalController {
  @Mqtt5EventPattern('nolocal/+', { noLocal: true })
  onMessage(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    local.got.push({ data, qos: ctx.getQoS() });
    local.next?.resolve();
  }
}

describe.each(BROKERS)('transport options on the %s', (_name, start) => {
  let broker: TestBroker;
  let caller: TestCaller;

  beforeAll(async () => {
    broker = await start();
    caller = await startCaller({ url: broker.url });
  });

  afterAll(async () => {
    await closeAll(caller, broker && (() => broker.stop()));
  });

  it('custom serializer and deserializer are used on both sides and on the wire', async () => {
    const serverDeserializer = new KvDeserializer();
    const clientDeserializer = new KvDeserializer();
    const service = await startMicroservice([KvController], {
      url: broker.url,
      serializer: new KvSerializer(),
      deserializer: serverDeserializer,
    });
    const kvCaller = await startCaller({
      url: broker.url,
      serializer: new KvSerializer(),
      deserializer: clientDeserializer,
    });
    const raw = await rawClient(broker.url, `kv-inspector-${broker.kind}`);
    try {
      const onWire = deferred<PublishPacket>();
      await raw.subscribe({ subscriptions: [{ topicFilter: 'kv/greet', qos: 1 }] }, (m) => onWire.resolve(m));
      const reply = await lastValueFrom(kvCaller.client.send('kv/greet', { name: 'kv' }));
      expect(reply).toEqual({ greeting: 'hello kv', contentType: KV });
      // The request went out in the custom format, with the serializer's content properties.
      const request = await withTimeout(onWire.promise, 5000, 'the request on the wire');
      expect(request.payload.toString()).toBe('name=kv');
      expect(request.properties?.contentType).toBe(KV);
      expect(request.properties?.payloadFormatIndicator).toBe(true);
      // Both deserializers ran, each on a payload tagged by the other side's serializer.
      expect(serverDeserializer.contentTypes).toEqual([KV]);
      expect(clientDeserializer.contentTypes).toEqual([KV]);
    } finally {
      await closeAll(() => raw.disconnect(), kvCaller, service);
    }
  });

  it('a default shared group (subscribeOptions.share) splits work between instances; share: false opts a handler out', async () => {
    seen.clear();
    const options = { url: broker.url, subscribeOptions: { share: `defaults-${broker.kind}`, qos: 1 as const } };
    const a = await startMicroservice([DefaultGroupController], options, { providers: [{ provide: INSTANCE, useValue: 'A' }] });
    const b = await startMicroservice([DefaultGroupController], options, { providers: [{ provide: INSTANCE, useValue: 'B' }] });
    try {
      const total = 40;
      // Every grouped message once, every broadcast message twice (once per instance).
      expected = counter(total + 2 * total, 10_000, 'handled messages');
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          Promise.all([
            firstValueFrom(caller.client.emit(`grouped/${i}`, new Mqtt5RecordBuilder(i).setQoS(1).build()), { defaultValue: undefined }),
            firstValueFrom(caller.client.emit(`broadcast/${i}`, new Mqtt5RecordBuilder(i).setQoS(1).build()), { defaultValue: undefined }),
          ]),
        ),
      );
      await expected.done;
      const count = (key: string) => seen.get(key)?.length ?? 0;
      expect(count('grouped:A')).toBeGreaterThan(0);
      expect(count('grouped:B')).toBeGreaterThan(0);
      expect(count('grouped:A') + count('grouped:B')).toBe(total);
      expect(count('broadcast:A')).toBe(total);
      expect(count('broadcast:B')).toBe(total);
    } finally {
      expected = undefined;
      await closeAll(a, b);
    }
  });

  it('noLocal keeps the service’s own messages away from the handler; subscribeOptions.qos caps the delivery QoS', async () => {
    local.got.length = 0;
    const service = await startMicroservice([NoLocalController], { url: broker.url, subscribeOptions: { qos: 0 } });
    try {
      // The service's own connection publishes first: with No Local the broker does not send it back.
      await service.server.unwrap<MqttClient>().publish({ topic: 'nolocal/self', payload: '"own"', qos: 1 });
      local.next = deferred();
      await firstValueFrom(caller.client.emit('nolocal/other', new Mqtt5RecordBuilder('theirs').setQoS(1).build()), {
        defaultValue: undefined,
      });
      await withTimeout(local.next.promise, 5000, 'the other client’s message');
      // Same broker, publishes in this order: had the own message been delivered, it would be here.
      expect(local.got).toEqual([{ data: 'theirs', qos: 0 }]);
    } finally {
      await service.close();
    }
  });

  it('ClientMqtt5 attaches on() listeners given before it connected, and forwards the MqttClient’s events', async () => {
    const client = new ClientMqtt5({ url: broker.url });
    const connected = deferred<void>();
    client.on('connected', () => connected.resolve());
    let closing = false;
    const disconnected = deferred<Error>();
    try {
      await client.connect();
      await withTimeout(connected.promise, 5000, 'the connected event');
      // A listener added once connected goes straight to the MqttClient.
      client.on('disconnected', (reason) => (closing ? disconnected.resolve(reason) : disconnected.reject(reason)));
    } finally {
      closing = true;
      await client.close();
    }
    const reason = await withTimeout(disconnected.promise, 5000, 'the disconnected event');
    expect(reason.name).toBe('ClientClosedError');
  });
});
