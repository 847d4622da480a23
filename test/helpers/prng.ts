/**
 * A small seeded pseudo-random generator (mulberry32) for fuzzing and fault injection: every run prints
 * its seed, and the same seed replays the same choices.
 */

/** Seeded random numbers. Not cryptographic; fast and reproducible. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A fresh 32-bit seed (for runs that were not given one). */
  static newSeed(): number {
    return (Math.random() * 0x1_0000_0000) >>> 0;
  }

  /** A seed from an environment variable (decimal or 0x-hex), else a fresh one. */
  static seedFromEnv(name: string): number {
    const v = process.env[name];
    if (v === undefined || v === '') return Random.newSeed();
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`${name} must be a 32-bit unsigned integer, got ${v}`);
    return n;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (this.next() * 256) | 0;
    return b;
  }

  /** A child generator with its own stream (so that one consumer's draws do not shift another's). */
  fork(): Random {
    return new Random((this.next() * 0x1_0000_0000) >>> 0);
  }
}
