/**
 * Acknowledgement after handling, with a real crash: a service process is SIGKILLed while a QoS 1
 * message is in its handler. The message was never acknowledged, so the broker delivers it again
 * — to the same service restarted on its session (embedded broker and Mosquitto), or to another
 * member of its shared group (embedded broker; Mosquitto 2.0 keeps it for the dead session).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { Mqtt5Context, Mqtt5EventPattern, Mqtt5RecordBuilder } from '../../../lib/nest/index.js';
import { deferred, withTimeout, type Deferred } from '../../helpers/wait.js';
import { BROKERS, closeAll, startCaller, startMicroservice, type TestBroker, type TestCaller } from './helpers.js';

const fixtures = new URL('./fixtures/', import.meta.url);

interface Worker {
  child: ChildProcess;
  /** The next message the worker's handler received. */
  nextTask(): Promise<{ data: unknown; dup: boolean }>;
  kill(): Promise<void>;
}

/** Starts the worker process (a Nest microservice on ServerMqtt5, see fixtures/task-worker.ts). */
async function startWorker(url: string, clientId: string, sessionExpiry: number, share: string | undefined): Promise<Worker> {
  const child = fork(fileURLToPath(new URL('task-worker.ts', fixtures)), [url, clientId, String(sessionExpiry), share ?? '-'], {
    execArgv: ['--import', fileURLToPath(new URL('ts-register.mjs', fixtures))],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tasks: Deferred<{ data: unknown; dup: boolean }>[] = [deferred()];
  const ready = deferred<void>();
  child.on('message', (m: { type: string; data?: unknown; dup?: boolean }) => {
    if (m.type === 'ready') ready.resolve();
    if (m.type === 'task') {
      tasks[tasks.length - 1]!.resolve({ data: m.data, dup: m.dup === true });
      tasks.push(deferred());
    }
  });
  void exited.then(() => ready.reject(new Error('the worker exited before it was ready')));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await withTimeout(ready.promise, 45_000, 'the worker process to start');
  } catch (err) {
    await kill();
    throw err;
  }
  let taken = 0;
  return { child, nextTask: () => withTimeout(tasks[taken++]!.promise, 10_000, 'a task in the worker'), kill };
}

const survivor = { next: deferred<{ data: unknown; dup: boolean }>() };

@Controller()
class SurvivorController {
  @Mqtt5EventPattern('killed-tasks/+', { qos: 1, share: 'killers' })
  task(@Payload() data: unknown, @Ctx() ctx: Mqtt5Context): void {
    survivor.next.resolve({ data, dup: ctx.isDuplicate() });
  }
}

describe.each(BROKERS)('a service process killed mid-handler, on the %s', (name, start) => {
  let broker: TestBroker;
  let publisher: TestCaller;

  beforeAll(async () => {
    broker = await start();
    publisher = await startCaller({ url: broker.url });
  });

  afterAll(async () => {
    await closeAll(publisher, broker && (() => broker.stop()));
  });

  const emit = (data: unknown) =>
    firstValueFrom(publisher.client.emit('killed-tasks/1', new Mqtt5RecordBuilder(data).setQoS(1).build()), {
      defaultValue: undefined,
    });

  it('gets the message again when restarted on its session', async () => {
    const clientId = `killed-worker-${broker.kind}`;
    const first = await startWorker(broker.url, clientId, 60, undefined);
    let second: Worker | undefined;
    try {
      await emit('job-session');
      await expect(first.nextTask()).resolves.toEqual({ data: 'job-session', dup: false });
      await first.kill();
      second = await startWorker(broker.url, clientId, 60, undefined);
      await expect(second.nextTask()).resolves.toEqual({ data: 'job-session', dup: true });
    } finally {
      await first.kill();
      await second?.kill();
    }
  }, 150_000);

  // Not registered for Mosquitto: 2.0 does not re-send a dead shared-group member's messages to another member.
  if (name !== 'Mosquitto') it('in a shared group, another instance gets the message', async () => {
    survivor.next = deferred();
    const worker = await startWorker(broker.url, `killed-member-${Date.now()}`, 0, 'killers');
    let other: Awaited<ReturnType<typeof startMicroservice>> | undefined;
    try {
      await emit('job-shared');
      await expect(worker.nextTask()).resolves.toEqual({ data: 'job-shared', dup: false });
      other = await startMicroservice([SurvivorController], { url: broker.url });
      await worker.kill();
      const redelivered = await withTimeout(survivor.next.promise, 10_000, 'the job at the other instance');
      expect(redelivered.data).toBe('job-shared');
    } finally {
      await worker.kill();
      await closeAll(other);
    }
  }, 150_000);
});
