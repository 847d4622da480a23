import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Will } from '../../../lib/codec/index.js';
import type { ClientInfo } from '../../../lib/broker/auth.js';
import { Supervisor } from '../../../lib/broker/supervisor.js';
import { setLongTimeout } from '../../../lib/broker/timers.js';
import { WillScheduler, willPublishProperties } from '../../../lib/broker/will.js';
import type { Session } from '../../../lib/broker/session.js';

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('setLongTimeout', () => {
  it('fires after delays beyond the 2^31 ms of setTimeout, and can be cancelled', () => {
    const fn = jest.fn();
    const days40 = 40 * 24 * 3600 * 1000;
    setLongTimeout(fn, days40);
    jest.advanceTimersByTime(days40 - 1);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    const g = jest.fn();
    setLongTimeout(g, days40).cancel();
    jest.advanceTimersByTime(days40);
    expect(g).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('Supervisor', () => {
  it('ticks while started and never reports more time elapsed than has passed', () => {
    const check = jest.fn();
    const s = new Supervisor(100, check);
    s.start();
    s.start();
    const since = s.tick;
    jest.advanceTimersByTime(350);
    expect(check).toHaveBeenCalledTimes(3);
    expect(s.elapsedSince(since)).toBe(200);
    s.stop();
    jest.advanceTimersByTime(1000);
    expect(check).toHaveBeenCalledTimes(3);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('picks a tick of at most 250 ms and at most a quarter of the connect timeout', () => {
    expect(Supervisor.intervalFor(10_000)).toBe(250);
    expect(Supervisor.intervalFor(200)).toBe(50);
    expect(Supervisor.intervalFor(1)).toBe(10);
  });
});

describe('WillScheduler', () => {
  const client = { clientId: 'c' } as ClientInfo;
  const session = (expiryInterval: number): Session => ({ expiryInterval }) as Session;
  const will = (delay?: number): Will => ({ topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false, properties: delay === undefined ? undefined : { willDelayInterval: delay } });

  it('publishes at once without a delay, after min(delay, session expiry) otherwise', () => {
    const published: string[] = [];
    const w = new WillScheduler((_w, _c, s) => published.push(String(s.expiryInterval)));
    w.schedule(session(0), will(), client);
    expect(published).toEqual(['0']);
    w.schedule(session(60), will(5), client);
    w.schedule(session(2), will(5), client);
    expect(w.size).toBe(2);
    jest.advanceTimersByTime(2000);
    expect(published).toEqual(['0', '2']);
    jest.advanceTimersByTime(3000);
    expect(published).toEqual(['0', '2', '60']);
    expect(w.size).toBe(0);
  });

  it('cancels (reconnect in time), fires early (session end) and clears (shutdown)', () => {
    const published: number[] = [];
    const w = new WillScheduler((_w, _c, s) => published.push(s.expiryInterval));
    const a = session(100);
    const b = session(101);
    const c = session(102);
    for (const s of [a, b, c]) w.schedule(s, will(50), client);
    expect(w.cancel(a)).toBe(true);
    expect(w.cancel(a)).toBe(false);
    w.fire(b);
    expect(published).toEqual([101]);
    w.clear();
    jest.advanceTimersByTime(60_000);
    expect(published).toEqual([101]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not forward the will delay interval as a PUBLISH property', () => {
    expect(willPublishProperties({ willDelayInterval: 5, contentType: 'x' })).toEqual({ contentType: 'x' });
    expect(willPublishProperties({ willDelayInterval: 5 })).toBeUndefined();
    expect(willPublishProperties(undefined)).toBeUndefined();
  });
});
