import { describe, expect, it } from '@jest/globals';
import { Queue } from '../../../lib/client/queue.js';

describe('Queue', () => {
  it('keeps order across growth and wrap-around', () => {
    const q = new Queue<number>();
    const seen: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7; i++) q.push(next++);
      for (let i = 0; i < 5; i++) seen.push(q.shift()!);
    }
    expect(q.peek()).toBe(seen.length);
    expect([...q]).toEqual(Array.from({ length: q.length }, (_, i) => seen.length + i));
    seen.push(...q.drain());
    expect(seen).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });

  it('rounds the initial capacity up to a power of two and still grows past it', () => {
    const q = new Queue<string>(20);
    for (let i = 0; i < 100; i++) q.push(String(i));
    expect(q.length).toBe(100);
    expect(q.shift()).toBe('0');
    expect(q.drain()).toHaveLength(99);
  });
});
