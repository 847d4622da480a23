/**
 * Pattern → subscription on the embedded broker and on Mosquitto: wildcards routed to the right
 * handler, overlapping patterns each getting a message once, shared subscriptions spreading work
 * across two service instances, and handler concurrency bounded by `concurrency`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { Mqtt5Context, Mqtt5EventPattern, Mqtt5RecordBuilder } from '../../../lib/nest/index.js';
import { counter, deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { BROKERS, closeAll, startCaller, startMicroservice, type TestBroker, type TestCaller, type TestMicroservice } from './helpers.js';

interface Hit {
  handler: string;
  topic: string;
  wildcards: string[];
  data: unknown;
}

const hits: Hit[] = [];
/** The PUBLISH objects handlers were given (Mqtt5Context#getPacket), with their own keys at that moment. */
const packets: { packet: object; keys: (string | symbol)[] }[] = [];
let marker: Deferred<void> | undefined;

function record(handler: string, data: unknown, ctx: Mqtt5Context): void {
  if (data === 'marker') {
    marker?.resolve();
    return;
  }
  hits.push({ handler, topic: ctx.getTopic(), wildcards: ctx.getWildcards(), data });
  packets.push({ packet: ctx.getPacket(), keys: Reflect.ownKeys(ctx.getPacket()) });
}

@Controller()
class RoutingController {
  @Mqtt5EventPattern('devices/+/telemetry')
  telemetry(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    record('telemetry', data, ctx);
  }

  @EventPattern<string>('alerts/#')
  alerts(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    record('alerts', data, ctx);
  }

  @Mqtt5EventPattern('sensors/+/temp')
  temperature(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    record('temperature', data, ctx);
  }

  @Mqtt5EventPattern('sensors/#')
  sensors(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    record('sensors', data, ctx);
  }

  @MessagePattern('devices/+/commands/+')
  command(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context) {
    const [device, command] = ctx.getWildcards();
    return { device, command, data, pattern: ctx.getPattern() };
  }
}

const INSTANCE = 'INSTANCE';
const jobs = new Map<string, string[]>();
let jobCounter: ReturnType<typeof counter> | undefined;

@Controller()
class WorkerController {
  constructor(@Inject(INSTANCE) private readonly instance: string) {}

  @Mqtt5EventPattern('jobs/+', { qos: 1, share: 'workers' })
  job(@Payload() id: number): void {
    const list = jobs.get(this.instance) ?? [];
    list.push(String(id));
    jobs.set(this.instance, list);
    jobCounter?.hit();
  }
}

const load = { active: 0, max: 0, done: undefined as ReturnType<typeof counter> | undefined };

@Controller()
class LoadController {
  @Mqtt5EventPattern('load/+', { qos: 1 })
  async work(): Promise<void> {
    load.active++;
    load.max = Math.max(load.max, load.active);
    // Yield a few times so that handlers overlap if the transport lets them.
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    load.active--;
    load.done?.hit();
  }
}

const flaky = { handled: [] as number[], done: undefined as ReturnType<typeof counter> | undefined };

@Controller()
class FlakyController {
  @Mqtt5EventPattern('flaky/+', { qos: 1 })
  async work(@Payload() n: number): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (n % 2 === 0) throw new Error(`event ${n} failed`); // logged by Nest, acknowledged with 0x80
    flaky.handled.push(n);
    flaky.done?.hit();
  }
}

describe.each(BROKERS)('subscriptions on the %s', (_name, start) => {
  let broker: TestBroker;
  let caller: TestCaller;

  beforeAll(async () => {
    broker = await start();
    caller = await startCaller({ url: broker.url });
  });

  afterAll(async () => {
    await closeAll(caller, broker && (() => broker.stop()));
  });

  describe('wildcards', () => {
    let service: TestMicroservice;

    beforeAll(async () => {
      service = await startMicroservice([RoutingController], { url: broker.url });
    });

    afterAll(async () => {
      await closeAll(service);
    });

    afterEach(() => {
      hits.length = 0;
      packets.length = 0;
    });

    async function emitAll(messages: [string, unknown][], markerTopic: string): Promise<void> {
      marker = deferred();
      for (const [topic, data] of messages) await firstValueFrom(caller.client.emit(topic, data), { defaultValue: undefined });
      // Same connection, same order: once the marker is handled, everything before it was delivered.
      await firstValueFrom(caller.client.emit(markerTopic, 'marker'), { defaultValue: undefined });
      await withTimeout(marker.promise, 5000, 'the marker');
    }

    it('routes each topic to the handler whose pattern matches, with the wildcard values', async () => {
      await emitAll(
        [
          ['devices/d1/telemetry', { t: 20 }],
          ['alerts/fire/floor-2', 'smoke'],
          ['alerts', 'bare level matches #'],
          ['devices/d1/other', 'matches nothing'],
        ],
        'alerts/marker',
      );
      expect(hits).toEqual([
        { handler: 'telemetry', topic: 'devices/d1/telemetry', wildcards: ['d1'], data: { t: 20 } },
        { handler: 'alerts', topic: 'alerts/fire/floor-2', wildcards: ['fire/floor-2'], data: 'smoke' },
        { handler: 'alerts', topic: 'alerts', wildcards: [''], data: 'bare level matches #' },
      ]);
    });

    it('overlapping patterns each get a matching message exactly once', async () => {
      await emitAll(
        [
          ['sensors/s1/temp', 21],
          ['sensors/s1/humidity', 40],
        ],
        'sensors/marker',
      );
      const byHandler = (name: string) => hits.filter((h) => h.handler === name).map((h) => h.topic);
      expect(byHandler('temperature')).toEqual(['sensors/s1/temp']);
      expect(byHandler('sensors')).toEqual(['sensors/s1/temp', 'sensors/s1/humidity']);
    });

    it('hands every handler the message as received: the transport adds nothing to it', async () => {
      // QoS 1 to two overlapping patterns: one message, two handlers, one acknowledgement to count.
      await emitAll([['sensors/s2/temp', 22]], 'sensors/marker');
      // (Our broker sends one copy for both subscriptions, Mosquitto one per subscription identifier.)
      expect(packets.map((p) => (p.packet as { topic: string; qos: number })).map(({ topic, qos }) => [topic, qos])).toEqual([
        ['sensors/s2/temp', 1],
        ['sensors/s2/temp', 1],
      ]);
      // No bookkeeping of the transport (symbols or otherwise), neither while handled nor after the ack.
      for (const { packet, keys } of packets) {
        expect(keys.filter((k) => typeof k === 'symbol')).toEqual([]);
        expect(Reflect.ownKeys(packet)).toEqual(keys);
        expect(keys).not.toContain('handlers');
      }
    });

    it('request patterns take wildcards too', async () => {
      const reply = await firstValueFrom(caller.client.send('devices/d9/commands/reboot', { force: true }));
      expect(reply).toEqual({ device: 'd9', command: 'reboot', data: { force: true }, pattern: 'devices/+/commands/+' });
    });
  });

  it('a shared group spreads work across two instances, each message to exactly one', async () => {
    jobs.clear();
    const a = await startMicroservice([WorkerController], { url: broker.url }, { providers: [{ provide: INSTANCE, useValue: 'A' }] });
    const b = await startMicroservice([WorkerController], { url: broker.url }, { providers: [{ provide: INSTANCE, useValue: 'B' }] });
    try {
      const total = 200;
      jobCounter = counter(total, 10_000, 'jobs');
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          firstValueFrom(caller.client.emit(`jobs/${i % 7}`, new Mqtt5RecordBuilder(i).setQoS(1).build()), { defaultValue: undefined }),
        ),
      );
      await jobCounter.done;
      const handledByA = jobs.get('A') ?? [];
      const handledByB = jobs.get('B') ?? [];
      expect(handledByA.length).toBeGreaterThan(0);
      expect(handledByB.length).toBeGreaterThan(0);
      expect(handledByA.length + handledByB.length).toBe(total);
      expect(new Set([...handledByA, ...handledByB]).size).toBe(total);
    } finally {
      await closeAll(a, b);
    }
  });

  it('failing handlers are acknowledged too: with a receive maximum of 2 the flow goes on', async () => {
    const service = await startMicroservice([FlakyController], { url: broker.url, concurrency: 1, receiveMaximum: 2 });
    try {
      flaky.handled.length = 0;
      flaky.done = counter(10, 10_000, 'odd events');
      for (let n = 0; n < 20; n++) {
        await firstValueFrom(caller.client.emit(`flaky/${n}`, new Mqtt5RecordBuilder(n).setQoS(1).build()), { defaultValue: undefined });
      }
      await flaky.done.done;
      expect(flaky.handled).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    } finally {
      await service.close();
    }
  });

  it('never runs more handlers at once than `concurrency`', async () => {
    const service = await startMicroservice([LoadController], { url: broker.url, concurrency: 4 });
    try {
      for (const qos of [1, 0] as const) {
        load.active = 0;
        load.max = 0;
        load.done = counter(60, 10_000, `QoS ${qos} handlers`);
        await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            firstValueFrom(caller.client.emit(`load/${i}`, new Mqtt5RecordBuilder(i).setQoS(qos).build()), { defaultValue: undefined }),
          ),
        );
        await load.done.done;
        expect(load.max).toBe(4);
      }
    } finally {
      await service.close();
    }
  });
});
