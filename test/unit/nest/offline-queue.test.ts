import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Mqtt5ClosedError, Mqtt5OfflineQueueFullError, Mqtt5TimeoutError } from '../../../lib/nest/index.js';
import { OfflineQueue, type OfflineCall } from '../../../lib/nest/offline-queue.js';
import { Random } from '../../helpers/prng.js';

/** A call that records how it settled. */
function call(log: string[], name: string): OfflineCall & { error?: Error } {
  const c: OfflineCall & { error?: Error } = {
    run: () => log.push(`run ${name}`),
    fail: (error) => {
      c.error = error;
      log.push(`fail ${name} ${(error as { code?: string }).code ?? error.message}`);
    },
  };
  return c;
}

const timeout = (ms: number) => () => new Mqtt5TimeoutError('emit()', ms, 'still not connected');

describe('OfflineQueue', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('drains in FIFO order, once', () => {
    const log: string[] = [];
    const q = new OfflineQueue(10);
    for (const n of ['a', 'b', 'c']) q.enqueue(call(log, n), 0, timeout(0));
    expect(q.size).toBe(3);
    expect(q.drain()).toBe(3);
    expect(q.drain()).toBe(0);
    expect(log).toEqual(['run a', 'run b', 'run c']);
    expect(q.size).toBe(0);
  });

  it('over the limit: the new call fails at once with Mqtt5OfflineQueueFullError, the queued ones stay', () => {
    const log: string[] = [];
    const q = new OfflineQueue(2);
    q.enqueue(call(log, 'a'), 0, timeout(0));
    q.enqueue(call(log, 'b'), 0, timeout(0));
    const c = call(log, 'c');
    expect(q.enqueue(c, 0, timeout(0))).toBeUndefined();
    expect(c.error).toBeInstanceOf(Mqtt5OfflineQueueFullError);
    expect((c.error as Mqtt5OfflineQueueFullError).limit).toBe(2);
    q.drain();
    expect(log).toEqual(['fail c OFFLINE_QUEUE_FULL', 'run a', 'run b']);
  });

  it('limit 0: every call fails at once', () => {
    const log: string[] = [];
    new OfflineQueue(0).enqueue(call(log, 'a'), 0, timeout(0));
    expect(log).toEqual(['fail a OFFLINE_QUEUE_FULL']);
  });

  it('each call has its own deadline; expired calls fail with their timeout error and free their slot', () => {
    jest.useFakeTimers();
    const log: string[] = [];
    const q = new OfflineQueue(3);
    q.enqueue(call(log, 'slow'), 300, timeout(300));
    q.enqueue(call(log, 'fast'), 100, timeout(100));
    q.enqueue(call(log, 'none'), 0, timeout(0));
    jest.advanceTimersByTime(150);
    expect(log).toEqual(['fail fast TIMEOUT']);
    expect(q.size).toBe(2);
    q.enqueue(call(log, 'late'), 1000, timeout(1000)); // the freed slot
    jest.advanceTimersByTime(200);
    expect(log).toEqual(['fail fast TIMEOUT', 'fail slow TIMEOUT']);
    q.drain();
    expect(log.slice(2)).toEqual(['run none', 'run late']);
    jest.advanceTimersByTime(5000); // drained calls' timers were cleared
    expect(log).toHaveLength(4);
  });

  it('a drain stops when the connection drops again; the rest keep their order', () => {
    const log: string[] = [];
    const q = new OfflineQueue(10);
    for (const n of ['a', 'b', 'c', 'd']) q.enqueue(call(log, n), 0, timeout(0));
    let budget = 2;
    expect(q.drain(() => budget-- > 0)).toBe(2);
    q.enqueue(call(log, 'e'), 0, timeout(0));
    q.drain();
    expect(log).toEqual(['run a', 'run b', 'run c', 'run d', 'run e']);
  });

  it('close() fails every waiting call with the given error; cancel() removes one without settling it', () => {
    jest.useFakeTimers();
    const log: string[] = [];
    const q = new OfflineQueue(10);
    q.enqueue(call(log, 'a'), 100, timeout(100));
    const b = q.enqueue(call(log, 'b'), 100, timeout(100))!;
    q.enqueue(call(log, 'c'), 0, timeout(0));
    expect(q.cancel(b)).toBe(true);
    expect(q.cancel(b)).toBe(false);
    q.close(new Mqtt5ClosedError('ClientMqtt5'));
    jest.advanceTimersByTime(1000);
    expect(log).toEqual(['fail a CLOSED', 'fail c CLOSED']);
    expect(q.size).toBe(0);
  });

  it('a run() that throws fails that call only', () => {
    const log: string[] = [];
    const q = new OfflineQueue(10);
    q.enqueue(call(log, 'a'), 0, timeout(0));
    q.enqueue({ run: () => { throw new Error('serializer broke'); }, fail: (e) => log.push(`fail b ${e.message}`) }, 0, timeout(0));
    q.enqueue(call(log, 'c'), 0, timeout(0));
    q.drain();
    expect(log).toEqual(['run a', 'fail b serializer broke', 'run c']);
  });

  it('every call settles exactly once under a seeded mix of enqueue / timeout / drain / close', () => {
    jest.useFakeTimers();
    const random = new Random(Random.seedFromEnv('OFFLINE_QUEUE_SEED'));
    console.log(`offline-queue seed ${random.seed} (OFFLINE_QUEUE_SEED=${random.seed} replays it)`);
    const rnd = () => random.next();
    const settled = new Map<number, number>();
    const q = new OfflineQueue(50);
    let n = 0;
    for (let step = 0; step < 2000; step++) {
      const r = rnd();
      if (r < 0.6) {
        const id = n++;
        const mark = () => settled.set(id, (settled.get(id) ?? 0) + 1);
        q.enqueue({ run: mark, fail: mark }, Math.floor(rnd() * 50), timeout(1));
      } else if (r < 0.8) jest.advanceTimersByTime(Math.floor(rnd() * 20));
      else if (r < 0.98) q.drain(() => rnd() < 0.9);
      else q.close(new Mqtt5ClosedError('x'));
    }
    q.close(new Mqtt5ClosedError('x'));
    expect(settled.size).toBe(n);
    for (const count of settled.values()) expect(count).toBe(1);
  });
});
