/**
 * Smoke test of test/helpers/replicas.ts (the phase-2 replica test builds on it): three service
 * processes in one `$share` group on our broker answer requests and handle events between them,
 * one ends on SIGTERM through Nest's shutdown hooks, one is killed with SIGKILL, the last one keeps
 * serving.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { firstValueFrom } from 'rxjs';
import { Mqtt5RecordBuilder } from '../../../lib/nest/index.js';
import { startReplicas, type Replicas } from '../../helpers/replicas.js';
import { closeAll, startCaller, startEmbeddedBroker, type TestBroker, type TestCaller } from './helpers.js';

describe('replica helper', () => {
  let broker: TestBroker;
  let caller: TestCaller;
  let replicas: Replicas | undefined;

  beforeAll(async () => {
    broker = await startEmbeddedBroker();
    caller = await startCaller({ url: broker.url, requestTimeout: 10_000 });
  });

  afterAll(async () => {
    await replicas?.stopAll();
    await closeAll(caller, broker && (() => broker.stop()));
  });

  it('three replicas share requests and events; SIGTERM and kill -9 end one each', async () => {
    replicas = await startReplicas({ url: broker.url, count: 3 });
    const send = (i: number) =>
      firstValueFrom(caller.client.send<{ replica: number; data: number }>(`${replicas!.prefix}/req/${i}`, i));
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => send(i)));
    answers.forEach((a, i) => expect(a.data).toBe(i));
    expect(new Set(answers.map((a) => a.replica)).size).toBeGreaterThan(1); // spread across replicas
    expect(replicas.handled.filter((h) => h.kind === 'request')).toHaveLength(30);

    await firstValueFrom(caller.client.emit(`${replicas.prefix}/evt/1`, new Mqtt5RecordBuilder('e1').setQoS(1).build()), { defaultValue: undefined });
    const event = await replicas.waitForHandled((h) => h.kind === 'event' && h.data === 'e1');
    expect(event.topic).toBe(`${replicas.prefix}/evt/1`);

    const first = replicas.pick();
    const ended = await replicas.sigterm(first);
    expect(ended.signal ?? ended.code).toBeTruthy();
    expect(replicas.replicas[first]!.closing).toBe(true);
    const second = replicas.pick();
    expect(second).not.toBe(first);
    await replicas.kill(second);
    expect(replicas.replicas.filter((r) => r.running)).toHaveLength(1);

    const last = await send(99);
    expect(last.replica).not.toBe(first);
    expect(last.replica).not.toBe(second);
  }, 240_000);
});
