/**
 * A count of operations in progress that a graceful close waits for, bounded: ClientMqtt5's
 * publishes not yet acknowledged by the broker, ServerMqtt5's handlers. A counter, not a set of
 * promises, so the hot path pays an increment and a decrement, no allocation.
 */
export class InFlight {
  private count = 0;
  private idle: (() => void) | undefined;

  /** Operations in progress. */
  get size(): number {
    return this.count;
  }

  start(): void {
    this.count++;
  }

  end(): void {
    if (--this.count === 0 && this.idle !== undefined) this.idle();
  }

  /**
   * Resolves true once nothing is in progress, or false after `timeoutMs` (0 = do not wait).
   * One waiter at a time (close() is the only one).
   */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idle = undefined;
        resolve(false);
      }, timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        this.idle = undefined;
        resolve(true);
      };
    });
  }
}
