/**
 * Three replicas of a service (separate processes, test/helpers/replicas.ts) sharing their handlers
 * through a `$share` group, on our broker and on Mosquitto:
 * - requests spread across the replicas;
 * - SIGTERM one during a steady load (graceful shutdown through Nest's shutdown hooks): no request
 *   lost or answered twice, no QoS 1 event handled 0 times;
 * - kill -9 one with events in flight: on our broker its unacknowledged messages are handled by the
 *   others. Mosquitto 2.0 does not hand a dead shared member's unacknowledged messages to the other
 *   members, so there only what it guarantees is asserted: the survivors serve everything after.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { firstValueFrom } from 'rxjs';
import { Mqtt5RecordBuilder } from '../../../lib/nest/index.js';
import { mosquittoTestsEnabled } from '../../helpers/mosquitto.js';
import { startReplicas, type Replicas } from '../../helpers/replicas.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { BROKERS, closeAll, startCaller, type TestBroker, type TestCaller } from './helpers.js';

const brokers = BROKERS.filter(([name]) => name !== 'Mosquitto' || mosquittoTestsEnabled());

describe.each(brokers)('3 replicas in a $share group, on the %s', (name, start) => {
  let broker: TestBroker;
  let caller: TestCaller;
  let replicas: Replicas | undefined;

  beforeAll(async () => {
    broker = await start();
    caller = await startCaller({ url: broker.url, requestTimeout: 20_000 });
  });

  afterAll(async () => {
    await replicas?.stopAll();
    await closeAll(caller, broker && (() => broker.stop()));
  });

  it('spread, SIGTERM under load (nothing lost or doubled), kill -9 (redelivery on our broker)', async () => {
    const r = (replicas = await startReplicas({ url: broker.url, count: 3, delayMs: [0, 5] }));
    const send = (i: number) => firstValueFrom(caller.client.send<{ replica: number; data: number }>(`${r.prefix}/req/${i}`, i));
    const emit = (data: string) =>
      firstValueFrom(caller.client.emit(`${r.prefix}/evt/1`, new Mqtt5RecordBuilder(data).setQoS(1).build()), { defaultValue: undefined });

    // Spread.
    const first = await Promise.all(Array.from({ length: 60 }, (_, i) => send(i)));
    first.forEach((a, i) => expect(a.data).toBe(i));
    expect(new Set(first.map((a) => a.replica)).size).toBeGreaterThan(1);

    // Steady load (4 lanes of requests, one of events) while one replica gets SIGTERM.
    let next = 1000;
    let stop = false;
    let answered = 0;
    const sent: number[] = [];
    const events: string[] = [];
    const errors: unknown[] = [];
    let waiting: { target: number; done: Deferred<void> } | undefined;
    const lane = async (): Promise<void> => {
      while (!stop) {
        const i = next++;
        sent.push(i);
        try {
          const a = await send(i);
          expect(a.data).toBe(i);
          answered++;
          if (waiting !== undefined && answered >= waiting.target) waiting.done.resolve();
        } catch (err) {
          errors.push(err);
        }
      }
    };
    const eventLane = async (): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const data = `steady-${i}`;
        events.push(data);
        await emit(data);
      }
    };
    const load = Promise.all([lane(), lane(), lane(), lane(), eventLane()]);
    const until = async (n: number): Promise<void> => {
      waiting = { target: answered + n, done: deferred<void>() };
      await withTimeout(waiting.done.promise, 60_000, `${n} more answers`);
      waiting = undefined;
    };
    await until(100);
    const victim = r.pick();
    const ended = await r.sigterm(victim);
    expect(ended.signal ?? ended.code).toBeTruthy();
    await until(100);
    stop = true;
    await load;
    expect(errors).toEqual([]);
    for (const i of sent) {
      // A replica's record comes through its stdout, which the MQTT answer can beat: wait for it.
      await r.waitForHandled((h) => h.kind === 'request' && h.data === i, 20_000);
      expect(r.handled.filter((h) => h.kind === 'request' && h.data === i)).toHaveLength(1); // answered once
    }
    for (const data of events) await r.waitForHandled((h) => h.kind === 'event' && h.data === data, 20_000);

    // kill -9 a replica with events in flight.
    const burst = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
    const emitted = Promise.all(burst.map((data) => emit(data)));
    const killed = r.pick();
    await r.kill(killed);
    await emitted;
    if (broker.kind === 'embedded') {
      // Our broker hands the dead member's unacknowledged deliveries to the survivors.
      for (const data of burst) await r.waitForHandled((h) => h.kind === 'event' && h.data === data, 20_000);
    }
    // Both brokers: the survivor serves what comes after.
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => send(5000 + i)));
    for (const a of after) expect([victim, killed]).not.toContain(a.replica);
    await emit('after-kill');
    await r.waitForHandled((h) => h.kind === 'event' && h.data === 'after-kill', 20_000);
    console.log(`${name}: ${answered} requests during SIGTERM load, ${events.length} events; burst handled ${new Set(r.handled.filter((h) => String(h.data).startsWith('burst-')).map((h) => h.data)).size}/200`);
  }, 240_000);
});
