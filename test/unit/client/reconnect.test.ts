import { describe, it, expect } from '@jest/globals';
import { ExponentialBackoff } from '../../../lib/client/reconnect.js';

/** A random source replaying `values` in a loop. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('ExponentialBackoff', () => {
  it('doubles from initialDelay up to maxDelay when jitter is 0', () => {
    const b = new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000, jitter: 0 });
    const delays = Array.from({ length: 8 }, () => b.next());
    expect(delays).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
    expect(b.attempt).toBe(8);
  });

  it('spreads each delay by ±jitter of itself, driven by the random source', () => {
    // random 0 → factor 1 − j, 0.5 → 1, just under 1 → 1 + j.
    const b = new ExponentialBackoff({ initialDelay: 100, maxDelay: 100_000, jitter: 0.5, random: sequence(0, 0.5, 0.999999) });
    expect(b.next()).toBe(50); // 100 × 0.5
    expect(b.next()).toBe(200); // 200 × 1
    expect(b.next()).toBe(600); // 400 × ~1.5
  });

  it('never exceeds maxDelay, even with jitter upwards', () => {
    const b = new ExponentialBackoff({ initialDelay: 100, maxDelay: 300, jitter: 1, random: () => 0.99 });
    for (let i = 0; i < 20; i++) expect(b.next()).toBeLessThanOrEqual(300);
  });

  it('stays within [base·(1−j), base·(1+j)] for random inputs', () => {
    const b = new ExponentialBackoff({ initialDelay: 10, maxDelay: 1_000_000, jitter: 0.3 });
    for (let n = 0; n < 15; n++) {
      const base = 10 * 2 ** n;
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.7));
      expect(d).toBeLessThanOrEqual(Math.ceil(base * 1.3));
    }
  });

  it('starts over after reset()', () => {
    const b = new ExponentialBackoff({ initialDelay: 20, maxDelay: 1000, jitter: 0 });
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(20);
  });

  it('does not overflow after very many attempts', () => {
    const b = new ExponentialBackoff({ initialDelay: 1, maxDelay: 5000, jitter: 0 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.next();
    expect(last).toBe(5000);
  });

  it('rejects invalid options', () => {
    expect(() => new ExponentialBackoff({ initialDelay: -1, maxDelay: 10, jitter: 0 })).toThrow(RangeError);
    expect(() => new ExponentialBackoff({ initialDelay: 1, maxDelay: 10, jitter: 1.5 })).toThrow(RangeError);
  });
});
