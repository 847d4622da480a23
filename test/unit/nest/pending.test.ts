import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { PendingRequests, type PendingRequest } from '../../../lib/nest/pending.js';

function request(topic: string): PendingRequest {
  return { topic, callback: () => undefined, deadline: Infinity, epoch: -1 };
}

describe('PendingRequests', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('times requests out in order with a single timer', () => {
    const expired: string[] = [];
    const pending = new PendingRequests<number>(100, (r) => expired.push(r.topic));
    pending.add(1, request('a'));
    jest.advanceTimersByTime(40);
    pending.add(2, request('b'));
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(60);
    expect(expired).toEqual(['a']);
    expect(pending.size).toBe(1);
    jest.advanceTimersByTime(40);
    expect(expired).toEqual(['a', 'b']);
    expect(pending.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('touch() pushes a deadline back', () => {
    const expired: string[] = [];
    const pending = new PendingRequests<number>(100, (r) => expired.push(r.topic));
    const a = request('a');
    pending.add(1, a);
    pending.add(2, request('b'));
    jest.advanceTimersByTime(90);
    pending.touch(1, a);
    jest.advanceTimersByTime(10);
    expect(expired).toEqual(['b']);
    jest.advanceTimersByTime(90);
    expect(expired).toEqual(['b', 'a']);
  });

  it('leaves no timer behind once every request settled', () => {
    const pending = new PendingRequests<string>(100, () => undefined);
    const a = request('a');
    pending.add('x', a);
    expect(pending.delete('y', a)).toBe(false);
    expect(pending.delete('x', a)).toBe(true);
    expect(pending.delete('x', a)).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
    pending.add('z', request('z'));
    expect(pending.clear().map((r) => r.topic)).toEqual(['z']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('never times out with timeout 0', () => {
    const pending = new PendingRequests<number>(0, () => {
      throw new Error('no timeout expected');
    });
    pending.add(1, request('a'));
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(1e9);
    expect(pending.size).toBe(1);
  });

  it('a timeout callback that sends a new request arms exactly one timer for it', () => {
    const expired: string[] = [];
    let pending: PendingRequests<number>;
    pending = new PendingRequests<number>(100, (r) => {
      expired.push(r.topic);
      if (r.topic === 'a') pending.add(3, request('retry'));
    });
    pending.add(1, request('a'));
    jest.advanceTimersByTime(100);
    expect(expired).toEqual(['a']);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(100);
    expect(expired).toEqual(['a', 'retry']);
    expect(jest.getTimerCount()).toBe(0);
  });
});
