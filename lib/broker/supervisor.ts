/**
 * One timer for every connection's connect timeout and keep alive, instead of a Timeout object per
 * connection (which would cost ~200 bytes each). Time is counted in ticks of a fixed interval, a small
 * integer that connections store on every read without allocating.
 */

/** Drives periodic supervision while there are connections. */
export class Supervisor {
  /** The coarse clock: ticks since the broker started. */
  tick = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** Tick length in ms. */
    readonly intervalMs: number,
    private readonly check: () => void,
  ) {}

  /** The tick length for a broker whose connect timeout is `connectTimeout` ms: ≤ 250 ms, ≤ a quarter of it, ≥ 10 ms. */
  static intervalFor(connectTimeout: number): number {
    return Math.max(10, Math.min(250, Math.floor(connectTimeout / 4)));
  }

  /**
   * Milliseconds certainly elapsed since tick `since` (a lower bound, so that a deadline never fires
   * early; it fires at most two ticks late).
   */
  elapsedSince(since: number): number {
    return (this.tick - since - 1) * this.intervalMs;
  }

  /** Starts ticking (idempotent). */
  start(): void {
    this.timer ??= setInterval(() => {
      this.tick++;
      this.check();
    }, this.intervalMs);
  }

  /** Stops ticking (when no connection is left, and at shutdown). */
  stop(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
