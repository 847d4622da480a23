/**
 * The transport when things go wrong, on the embedded broker and on Mosquitto: status events and
 * unwrap(), close() draining handlers in flight, requests outstanding across a reconnect (failed
 * clearly without a session, completed with one), and acknowledgement after handling (a service
 * whose connection dies mid-handler gets the message again; acknowledged on receipt it does not).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { filter, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { MqttClient, TcpConnection } from '../../../lib/client/index.js';
import {
  Mqtt5ConnectionLostError,
  Mqtt5Context,
  Mqtt5EventPattern,
  Mqtt5RecordBuilder,
  Mqtt5RequestTimeoutError,
  ServerMqtt5,
  type Mqtt5Status,
} from '../../../lib/nest/index.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { BROKERS, closeAll, startCaller, startMicroservice, type TestBroker, type TestCaller, type TestMicroservice } from './helpers.js';

/** Handlers block on `gate` until the test opens it; `entered` tells the test a handler started. */
const control = {
  gate: deferred<void>(),
  entered: deferred<string>(),
  calls: 0,
};

function resetControl(): void {
  control.gate.resolve();
  control.gate = deferred<void>();
  control.entered = deferred<string>();
  control.calls = 0;
}

@Controller()
class SlowController {
  @MessagePattern('slow/echo')
  async echo(@Payload() data: string): Promise<string> {
    control.calls++;
    control.entered.resolve(data);
    await control.gate.promise;
    return `echo:${data}`;
  }

  @MessagePattern('fast/echo')
  fast(@Payload() data: string): string {
    return `fast:${data}`;
  }
}

/** Deliveries seen by the task handler: the first one blocks until the gate opens. */
const deliveries: { data: unknown; dup: boolean; instance: string }[] = [];
let delivered: Deferred<void> = deferred();
let firstEntered: Deferred<void> = deferred();
let firstGate: Deferred<void> = deferred();

function onTask(instance: string, data: unknown, ctx: Mqtt5Context): Promise<void> | void {
  deliveries.push({ data, dup: ctx.isDuplicate(), instance });
  delivered.resolve();
  if (data === 'marker') return;
  if (deliveries.filter((d) => d.data !== 'marker').length === 1) {
    firstEntered.resolve();
    return firstGate.promise;
  }
}

@Controller()
class TaskController {
  @Mqtt5EventPattern('tasks/+', { qos: 1 })
  task(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): Promise<void> | void {
    return onTask('solo', data, ctx);
  }
}

@Controller()
class CrewControllerA {
  @Mqtt5EventPattern('crew-tasks/+', { qos: 1, share: 'crew' })
  task(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): Promise<void> | void {
    return onTask('A', data, ctx);
  }
}

@Controller()
class CrewControllerB {
  @Mqtt5EventPattern('crew-tasks/+', { qos: 1, share: 'crew' })
  task(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): Promise<void> | void {
    return onTask('B', data, ctx);
  }
}

function resetDeliveries(): void {
  firstGate.resolve();
  deliveries.length = 0;
  delivered = deferred();
  firstEntered = deferred();
  firstGate = deferred();
}

/** Resolves once `deliveries` holds an entry matching `predicate`. */
async function deliveryOf(predicate: (d: (typeof deliveries)[number]) => boolean, what: string): Promise<void> {
  const deadline = withTimeout(
    (async () => {
      while (!deliveries.some(predicate)) {
        delivered = deferred();
        await delivered.promise;
      }
    })(),
    5000,
    what,
  );
  await deadline;
}

/**
 * Resolves once the broker processed everything the caller's connection carried so far: a QoS 1
 * publish is acknowledged in order, so the request's PUBACK has arrived too.
 */
async function acknowledged(caller: TestCaller): Promise<void> {
  await caller.client.unwrap<MqttClient>().publish({ topic: 'sync/caller', qos: 1 });
}

/** The same for a service: whatever it sent (an acknowledgement, if it sent one) reached the broker. */
async function serviceFlushed(service: TestMicroservice): Promise<void> {
  await service.server.unwrap<MqttClient>().publish({ topic: 'sync/service', qos: 1 });
}

const reconnectFast = { initialReconnectDelay: 10, maxReconnectDelay: 50, reconnectJitter: 0 };

describe.each(BROKERS)('reliability on the %s', (_name, start) => {
  let broker: TestBroker;
  let proxy: TcpProxy;

  beforeAll(async () => {
    broker = await start();
  });

  afterAll(async () => {
    resetControl();
    resetDeliveries();
    await closeAll(broker && (() => broker.stop()));
  });

  beforeEach(async () => {
    proxy = await TcpProxy.start(broker.port);
  });

  afterEach(async () => {
    resetControl();
    resetDeliveries();
    await proxy.close();
  });

  function viaProxy() {
    return new TcpConnection({ host: '127.0.0.1', port: proxy.port });
  }

  describe('status, on() and unwrap()', () => {
    it('ServerMqtt5 reports connected → disconnected → reconnecting → connected, forwards client events, unwraps to the MqttClient', async () => {
      const server = new ServerMqtt5({ connection: viaProxy(), clientOptions: reconnectFast });
      const disconnected = deferred<unknown>();
      server.on('disconnected', (reason) => disconnected.resolve(reason));
      expect(() => server.unwrap()).toThrow(/listen/);
      const statuses: Mqtt5Status[] = [];
      const subscription = server.status.subscribe((s) => statuses.push(s));
      // The strategy on its own (no handlers), as Nest drives it: listen(callback).
      await new Promise<void>((resolve, reject) => server.listen((err?: unknown) => (err ? reject(err) : resolve())));
      try {
        expect(server.unwrap()).toBeInstanceOf(MqttClient);
        const reconnected = firstValueFrom(server.status.pipe(filter((s) => s === 'connected'), take(2), toArray()));
        proxy.cut();
        await withTimeout(disconnected.promise, 5000, 'disconnected');
        await withTimeout(reconnected, 5000, 'reconnected');
        expect(statuses).toEqual(['connected', 'disconnected', 'reconnecting', 'connected']);
      } finally {
        await server.close();
        subscription.unsubscribe();
      }
      expect(statuses.at(-1)).toBe('closed');
    });

    it('ClientMqtt5 reports its status and unwraps to the MqttClient', async () => {
      const caller = await startCaller({ connection: viaProxy(), clientOptions: reconnectFast });
      try {
        expect(caller.client.unwrap()).toBeInstanceOf(MqttClient);
        const seen = firstValueFrom(caller.client.status.pipe(take(4), toArray()));
        proxy.cut();
        await expect(withTimeout(seen, 5000, 'statuses')).resolves.toEqual(['connected', 'disconnected', 'reconnecting', 'connected']);
      } finally {
        await caller.close();
      }
    });
  });

  describe('close()', () => {
    it('lets a handler in flight finish and answer before disconnecting, and takes no new work', async () => {
      const service = await startMicroservice([SlowController], { url: broker.url });
      const caller = await startCaller({ url: broker.url, requestTimeout: 500 });
      try {
        const answer = lastValueFrom(caller.client.send('slow/echo', 'in-flight'));
        await withTimeout(control.entered.promise, 5000, 'the handler to start');
        const closing = service.close();
        // A request arriving while draining is not handled (it is left unacknowledged).
        const late = lastValueFrom(caller.client.send('slow/echo', 'late')).catch((e: unknown) => e);
        control.gate.resolve();
        await expect(answer).resolves.toBe('echo:in-flight');
        await withTimeout(closing, 5000, 'close()');
        expect(await late).toBeInstanceOf(Error);
        expect(control.calls).toBe(1);
      } finally {
        await closeAll(caller, service);
      }
    });
  });

  describe('requests outstanding across a reconnect', () => {
    let service: TestMicroservice;

    beforeEach(async () => {
      service = await startMicroservice([SlowController], { url: broker.url });
    });

    afterEach(async () => {
      control.gate.resolve();
      await service.close();
    });

    it('without a session they fail at once with Mqtt5ConnectionLostError', async () => {
      const caller = await startCaller({ connection: viaProxy(), clientOptions: reconnectFast, requestTimeout: 10_000 });
      try {
        const started = Date.now();
        const answer = lastValueFrom(caller.client.send('slow/echo', 'lost')).catch((e: unknown) => e);
        await withTimeout(control.entered.promise, 5000, 'the handler to start');
        await acknowledged(caller);
        proxy.cut();
        const error = await answer;
        expect(error).toBeInstanceOf(Mqtt5ConnectionLostError);
        expect((error as Mqtt5ConnectionLostError).code).toBe('CONNECTION_LOST');
        expect(Date.now() - started).toBeLessThan(5000);
        expect(caller.client.pendingRequests).toBe(0);
        // And the client works again after the reconnect.
        await expect(lastValueFrom(caller.client.send('fast/echo', 'after'))).resolves.toBe('fast:after');
      } finally {
        await caller.close();
      }
    });

    it('with a session that survives, they complete (the broker keeps the response for us)', async () => {
      const caller = await startCaller({
        connection: viaProxy(),
        clientId: `caller-session-${broker.kind}`,
        sessionExpiryInterval: 60,
        clientOptions: { ...reconnectFast, initialReconnectDelay: 100 },
        requestTimeout: 10_000,
      });
      try {
        const answer = lastValueFrom(caller.client.send('slow/echo', 'kept'));
        await withTimeout(control.entered.promise, 5000, 'the handler to start');
        await acknowledged(caller);
        const disconnected = firstValueFrom(caller.client.status.pipe(filter((s) => s === 'disconnected')));
        proxy.cut();
        await withTimeout(disconnected, 5000, 'the caller to notice');
        // Answer while the caller is (most likely) offline: the response waits in its session.
        control.gate.resolve();
        await expect(withTimeout(answer, 8000, 'the response')).resolves.toBe('echo:kept');
        expect(caller.client.pendingRequests).toBe(0);
      } finally {
        await caller.close();
      }
    });

    it('requests made while disconnected go out after the reconnect and complete', async () => {
      const caller = await startCaller({
        connection: viaProxy(),
        clientOptions: { ...reconnectFast, initialReconnectDelay: 100 },
        requestTimeout: 10_000,
      });
      try {
        const disconnected = firstValueFrom(caller.client.status.pipe(filter((s) => s === 'disconnected')));
        proxy.cut();
        await withTimeout(disconnected, 5000, 'the caller to notice');
        const answers = await withTimeout(
          Promise.all([1, 2, 3].map((i) => lastValueFrom(caller.client.send('fast/echo', `q${i}`)))),
          8000,
          'the responses',
        );
        expect(answers).toEqual(['fast:q1', 'fast:q2', 'fast:q3']);
      } finally {
        await caller.close();
      }
    });

    it('when the client gives up reconnecting, pending requests fail and the next send() starts a new connection', async () => {
      const caller = await startCaller({ connection: viaProxy(), clientOptions: { reconnect: false }, requestTimeout: 10_000 });
      try {
        const closed = firstValueFrom(caller.client.status.pipe(filter((s) => s === 'closed')));
        const answer = lastValueFrom(caller.client.send('slow/echo', 'given-up')).catch((e: unknown) => e);
        await withTimeout(control.entered.promise, 5000, 'the handler to start');
        proxy.cut();
        expect(await answer).toBeInstanceOf(Mqtt5ConnectionLostError);
        await withTimeout(closed, 5000, 'the closed status');
        expect(caller.client.pendingRequests).toBe(0);
        expect(() => caller.client.unwrap()).toThrow(/connect/);
        await expect(lastValueFrom(caller.client.send('fast/echo', 'again'))).resolves.toBe('fast:again');
      } finally {
        await caller.close();
      }
    });

    it('a timeout still bounds a request when the reconnect never comes', async () => {
      const caller = await startCaller({
        connection: viaProxy(),
        clientOptions: { ...reconnectFast, initialReconnectDelay: 60_000, maxReconnectDelay: 60_000 },
        requestTimeout: 200,
      });
      try {
        const disconnected = firstValueFrom(caller.client.status.pipe(filter((s) => s === 'disconnected')));
        proxy.cut();
        await withTimeout(disconnected, 5000, 'the caller to notice');
        const error = await lastValueFrom(caller.client.send('fast/echo', 'never')).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Mqtt5RequestTimeoutError);
        expect(caller.client.pendingRequests).toBe(0);
      } finally {
        await caller.close();
      }
    });
  });

  describe('acknowledgement after handling', () => {
    let publisher: TestCaller;

    beforeEach(async () => {
      publisher = await startCaller({ url: broker.url });
    });

    afterEach(async () => {
      await publisher.close();
    });

    const emit = (topic: string, data: unknown) =>
      firstValueFrom(publisher.client.emit(topic, new Mqtt5RecordBuilder(data).setQoS(1).build()), { defaultValue: undefined });

    async function runSessionScenario(ackMode: 'after-handling' | 'on-receipt'): Promise<void> {
      const service = await startMicroservice([TaskController], {
        connection: viaProxy(),
        clientId: `tasks-${broker.kind}-${ackMode}`,
        sessionExpiryInterval: 60,
        clientOptions: reconnectFast,
        ackMode,
      });
      try {
        await emit('tasks/1', 'job-1');
        await withTimeout(firstEntered.promise, 5000, 'the handler to start');
        await serviceFlushed(service);
        // The service "dies" mid-handler: its connection is cut before the handler settles.
        const back = firstValueFrom(service.server.status.pipe(filter((s) => s === 'connected'), take(2), toArray()));
        proxy.cut();
        await withTimeout(back, 5000, 'the reconnect');
        // Everything the broker still owed the session comes before this marker.
        await emit('tasks/2', 'marker');
        await deliveryOf((d) => d.data === 'marker', 'the marker');
      } finally {
        firstGate.resolve();
        await service.close();
      }
    }

    it('a message whose handler did not finish before the connection died is delivered again', async () => {
      await runSessionScenario('after-handling');
      const jobs = deliveries.filter((d) => d.data === 'job-1');
      expect(jobs).toHaveLength(2);
      expect(jobs[1]!.dup).toBe(true);
    });

    it('acknowledged on receipt (ackMode on-receipt), it is not delivered again', async () => {
      await runSessionScenario('on-receipt');
      expect(deliveries.filter((d) => d.data === 'job-1')).toHaveLength(1);
    });

    // Our broker hands the unacknowledged message of a dead shared-group member to another member;
    // Mosquitto 2.0 does not (the session scenario above covers redelivery there), so this one is
    // not registered for Mosquitto.
    if (_name !== 'Mosquitto') it('in a shared group, a message whose instance died mid-handler goes to another instance', async () => {
      const a = await startMicroservice([CrewControllerA], {
        connection: viaProxy(),
        clientOptions: { reconnect: false },
      });
      let b: TestMicroservice | undefined;
      try {
        await emit('crew-tasks/1', 'job-1');
        await withTimeout(firstEntered.promise, 5000, 'instance A to start the job');
        await serviceFlushed(a);
        b = await startMicroservice([CrewControllerB], { url: broker.url });
        proxy.cut();
        await deliveryOf((d) => d.instance === 'B' && d.data === 'job-1', 'the job to reach instance B');
        expect(deliveries.map((d) => d.instance)).toEqual(['A', 'B']);
      } finally {
        firstGate.resolve();
        await closeAll(a, b);
      }
    });
  });
});
