/**
 * Compatibility mode against Nest's real built-in MQTT transport (`Transport.MQTT` over MQTT.js),
 * on the embedded broker and on Mosquitto: a ClientMqtt5 with `compat: true` calls a built-in
 * service, and a built-in ClientMqtt calls a ServerMqtt5 with `compat: true` — which keeps
 * answering native MQTT v5 callers at the same time.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientsModule, EventPattern, MessagePattern, Payload, RpcException, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom, lastValueFrom, of, toArray } from 'rxjs';
import { ClientMqtt5 } from '../../lib/nest/index.js';
import { deferred, withTimeout, type Deferred } from '../helpers/wait.js';
import { BROKERS, closeAll, startCaller, startMicroservice, type TestBroker, type TestCaller, type TestMicroservice } from '../integration/nest/helpers.js';

const events: { nextEvent?: Deferred<unknown> } = {};

@Controller()
class LegacyController {
  @MessagePattern('legacy/sum')
  sum(@Payload() numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }

  @MessagePattern('legacy/count')
  count(@Payload() n: number) {
    return of(...Array.from({ length: n }, (_, i) => i + 1));
  }

  @MessagePattern('legacy/fail')
  fail(): never {
    throw new RpcException('legacy boom');
  }

  @EventPattern('legacy/event')
  event(@Payload() data: unknown): void {
    events.nextEvent?.resolve(data);
  }
}

const quiet = process.env.NEST_LOG === '1' ? undefined : (false as const);

/** MQTT.js options of the built-in transport: its defaults (MQTT 3.1.1) on every broker, ours included. */
function builtinOptions(broker: TestBroker) {
  return { url: broker.url };
}

describe.each(BROKERS)('compatibility with the built-in Transport.MQTT on the %s', (_name, start) => {
  let broker: TestBroker;

  beforeAll(async () => {
    broker = await start();
  });

  afterAll(async () => {
    await closeAll(broker && (() => broker.stop()));
  });

  describe('ClientMqtt5 { compat: true } → built-in service', () => {
    let legacy: INestMicroservice;
    let caller: TestCaller;

    beforeAll(async () => {
      @Module({ controllers: [LegacyController] })
      class LegacyModule {}
      legacy = await NestFactory.createMicroservice(LegacyModule, {
        transport: Transport.MQTT,
        options: builtinOptions(broker),
        logger: quiet,
      });
      await legacy.listen();
      caller = await startCaller({ url: broker.url, compat: true, requestTimeout: 5000 });
    });

    afterAll(async () => {
      await closeAll(caller, legacy);
    });

    it('send() gets the built-in service’s answer', async () => {
      await expect(lastValueFrom(caller.client.send('legacy/sum', [2, 3, 4]))).resolves.toBe(9);
      await expect(lastValueFrom(caller.client.send('legacy/sum', [10]))).resolves.toBe(10);
    });

    it('send() gets every value of a built-in observable result', async () => {
      await expect(lastValueFrom(caller.client.send('legacy/count', 3).pipe(toArray()))).resolves.toEqual([1, 2, 3]);
    });

    it('an RpcException of the built-in service arrives as an error', async () => {
      await expect(lastValueFrom(caller.client.send('legacy/fail', {}))).rejects.toEqual({ status: 'error', message: 'legacy boom' });
      expect(caller.client.pendingRequests).toBe(0);
    });

    it('emit() reaches the built-in event handler', async () => {
      events.nextEvent = deferred();
      await firstValueFrom(caller.client.emit('legacy/event', { n: 1 }), { defaultValue: undefined });
      await expect(withTimeout(events.nextEvent.promise, 5000, 'the event')).resolves.toEqual({ n: 1 });
    });
  });

  describe('built-in ClientMqtt → ServerMqtt5 { compat: true }', () => {
    let service: TestMicroservice;
    let module: TestingModule;
    let builtin: ClientProxy;
    let native: TestCaller;

    beforeAll(async () => {
      service = await startMicroservice([LegacyController], { url: broker.url, compat: true });
      const builder = Test.createTestingModule({
        imports: [ClientsModule.register([{ name: 'LEGACY', transport: Transport.MQTT, options: builtinOptions(broker) }])],
      });
      if (quiet === false) builder.setLogger({ log() {}, error() {}, warn() {}, debug() {}, verbose() {}, fatal() {} });
      module = await builder.compile();
      await module.init();
      builtin = module.get<ClientProxy>('LEGACY');
      await builtin.connect();
      native = await startCaller({ url: broker.url });
    });

    afterAll(async () => {
      await closeAll(native, () => module.close(), service);
    });

    it('answers the built-in client on <topic>/reply', async () => {
      await expect(lastValueFrom(builtin.send('legacy/sum', [1, 1]))).resolves.toBe(2);
      await expect(lastValueFrom(builtin.send('legacy/count', 2).pipe(toArray()))).resolves.toEqual([1, 2]);
    });

    it('sends the built-in client its errors', async () => {
      await expect(lastValueFrom(builtin.send('legacy/fail', {}))).rejects.toEqual({ status: 'error', message: 'legacy boom' });
    });

    it('unwraps the built-in client’s event envelope', async () => {
      events.nextEvent = deferred();
      await lastValueFrom(builtin.emit('legacy/event', { from: 'builtin' }), { defaultValue: undefined });
      await expect(withTimeout(events.nextEvent.promise, 5000, 'the event')).resolves.toEqual({ from: 'builtin' });
    });

    it('keeps answering native MQTT v5 callers at the same time', async () => {
      const [viaBuiltin, viaNative] = await Promise.all([
        lastValueFrom(builtin.send('legacy/sum', [5, 5])),
        lastValueFrom(native.client.send('legacy/sum', [7, 7])),
      ]);
      expect(viaBuiltin).toBe(10);
      expect(viaNative).toBe(14);
      expect(native.client).toBeInstanceOf(ClientMqtt5);
    });
  });
});
