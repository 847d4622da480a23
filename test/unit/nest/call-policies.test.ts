/**
 * The small policies ClientMqtt5/ServerMqtt5 wire in: per-call timeouts in PendingRequests, the
 * no-responders decision (grace window, backoff, deadline) and the in-flight counter close() waits on.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { InFlight } from '../../../lib/nest/in-flight.js';
import { NoRespondersPolicy } from '../../../lib/nest/no-responders.js';
import { PendingRequests, type PendingRequest } from '../../../lib/nest/pending.js';

function request(topic: string, timeout?: number): PendingRequest {
  return { topic, callback: () => undefined, deadline: Infinity, epoch: -1, ...(timeout !== undefined ? { timeout } : {}) };
}

beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(() => {
  jest.useRealTimers();
});

describe('PendingRequests with per-call timeouts', () => {
  it('a shorter or longer own timeout expires on its own timer; the shared ones keep their order', () => {
    const expired: string[] = [];
    const pending = new PendingRequests<number>(100, (r) => expired.push(r.topic));
    pending.add(1, request('shared-a'));
    pending.add(2, request('short', 30));
    pending.add(3, request('long', 250));
    pending.add(4, request('shared-b', 100)); // same as the shared timeout: no own timer
    jest.advanceTimersByTime(30);
    expect(expired).toEqual(['short']);
    jest.advanceTimersByTime(70);
    expect(expired).toEqual(['short', 'shared-a', 'shared-b']);
    jest.advanceTimersByTime(150);
    expect(expired).toEqual(['short', 'shared-a', 'shared-b', 'long']);
    expect(pending.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('delete(), clear() and touch() handle own timers; 0 = no timeout', () => {
    const expired: string[] = [];
    const pending = new PendingRequests<number>(100, (r) => expired.push(r.topic));
    const a = request('a', 50);
    pending.add(1, a);
    pending.add(2, request('never', 0));
    jest.advanceTimersByTime(40);
    pending.touch(1, a); // a stream value: 50 ms again from now
    jest.advanceTimersByTime(40);
    expect(expired).toEqual([]);
    expect(pending.delete(1, a)).toBe(true);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual([]);
    pending.add(3, request('b', 20));
    expect(pending.clear().map((r) => r.topic).sort()).toEqual(['b', 'never']);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('NoRespondersPolicy', () => {
  it("'fail': re-publish within the grace window after a (re)connect, with backoff; fail outside it", () => {
    const policy = new NoRespondersPolicy('fail', 1000);
    expect(policy.retryDelay(1, Infinity)).toBe('fail'); // never connected: no grace
    policy.connected();
    expect(policy.retryDelay(1, Infinity)).toBe(50);
    expect(policy.retryDelay(2, Infinity)).toBe(100);
    expect(policy.retryDelay(6, Infinity)).toBe(1000);
    expect(policy.retryDelay(60, Infinity)).toBe(1000);
    expect(policy.retryDelay(1, performance.now() + 10)).toBe('expire'); // its timeout comes first
    jest.advanceTimersByTime(1000);
    expect(policy.retryDelay(1, Infinity)).toBe('fail');
    policy.connected(); // a reconnect opens a new window
    expect(policy.retryDelay(1, Infinity)).toBe(50);
  });

  it("'wait' always re-publishes until the deadline; clear() cancels scheduled re-publishes", () => {
    const policy = new NoRespondersPolicy('wait', 0);
    expect(policy.retryDelay(3, Infinity)).toBe(200);
    let ran = 0;
    policy.schedule(() => ran++, 50);
    policy.schedule(() => ran++, 500);
    jest.advanceTimersByTime(100);
    policy.clear();
    jest.advanceTimersByTime(1000);
    expect(ran).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('InFlight', () => {
  it('whenIdle resolves true when the count reaches 0, false at the timeout', async () => {
    const inflight = new InFlight();
    await expect(inflight.whenIdle(100)).resolves.toBe(true);
    inflight.start();
    inflight.start();
    const idle = inflight.whenIdle(1000);
    inflight.end();
    inflight.end();
    await expect(idle).resolves.toBe(true);
    inflight.start();
    const late = inflight.whenIdle(100);
    jest.advanceTimersByTime(100);
    await expect(late).resolves.toBe(false);
    expect(inflight.size).toBe(1);
    await expect(inflight.whenIdle(0)).resolves.toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });
});
