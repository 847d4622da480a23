/**
 * Exponential backoff with jitter for reconnect attempts (the seed's `exponentialBackoff`).
 * Attempt n (from 0) waits `min(max, initial · 2ⁿ)` milliseconds, spread by ±`jitter` of itself
 * so that many clients cut off together do not reconnect in lockstep, then capped at `max`.
 */

/** Options of {@link ExponentialBackoff}. */
export interface BackoffOptions {
  /** Delay before the first attempt, ms. */
  initialDelay: number;
  /** Largest delay, ms: once reached, the delay stops growing. */
  maxDelay: number;
  /** 0–1: each delay is multiplied by a random factor in [1 − jitter, 1 + jitter] (then capped at maxDelay). */
  jitter: number;
  /** Source of randomness in [0, 1); default Math.random (injected by tests). */
  random?: () => number;
}

/** Computes successive reconnect delays; `reset()` after a successful connection. */
export class ExponentialBackoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private attempts = 0;

  constructor(options: BackoffOptions) {
    if (!(options.initialDelay >= 0) || !(options.maxDelay >= 0)) {
      throw new RangeError('Reconnect delays must be non-negative numbers');
    }
    if (!(options.jitter >= 0 && options.jitter <= 1)) {
      throw new RangeError('reconnectJitter must be between 0 and 1');
    }
    this.initial = options.initialDelay;
    this.max = Math.max(options.maxDelay, options.initialDelay);
    this.jitter = options.jitter;
    this.random = options.random ?? Math.random;
  }

  /** Number of delays handed out since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** The delay before the next attempt, in whole milliseconds. */
  next(): number {
    // 2^attempts overflows to Infinity eventually; Math.min keeps that harmless.
    const base = Math.min(this.max, this.initial * 2 ** this.attempts);
    this.attempts++;
    const factor = 1 + this.jitter * (2 * this.random() - 1);
    return Math.round(Math.min(this.max, Math.max(0, base * factor)));
  }

  /** Starts again from `initialDelay` (called once a connection succeeded). */
  reset(): void {
    this.attempts = 0;
  }
}

/** Reconnect delays when the client options leave them unset (ms; jitter as a fraction). */
export const DEFAULT_RECONNECT = { initialReconnectDelay: 1000, maxReconnectDelay: 32000, reconnectJitter: 0.5 } as const;

/**
 * The backoff the client options describe (`initialReconnectDelay`, `maxReconnectDelay`,
 * `reconnectJitter`, `random`), defaults applied — the one way to derive it, for the client's
 * reconnects and for a transport retrying its first connection with the same policy.
 */
export function reconnectBackoff(options: {
  initialReconnectDelay?: number;
  maxReconnectDelay?: number;
  reconnectJitter?: number;
  random?: () => number;
}): ExponentialBackoff {
  return new ExponentialBackoff({
    initialDelay: options.initialReconnectDelay ?? DEFAULT_RECONNECT.initialReconnectDelay,
    maxDelay: options.maxReconnectDelay ?? DEFAULT_RECONNECT.maxReconnectDelay,
    jitter: options.reconnectJitter ?? DEFAULT_RECONNECT.reconnectJitter,
    random: options.random,
  });
}
