/**
 * What ClientMqtt5 does with a request the broker acknowledged with 0x10 No matching subscribers.
 *
 * A broker that answers 0x10 has dropped the request: nobody subscribed its topic, so nobody will
 * ever answer it. Waiting for a response would only end in a timeout; the request has to be
 * PUBLISHED AGAIN once a responder may be there. So "waiting" here means re-publishing the same
 * request (same correlation data: whichever copy is answered first completes it, later answers are
 * ignored) after a short backoff (50 ms doubling to 1 s), until it is taken (PUBACK 0x00), answered
 * or timed out. At QoS 0 there is no PUBACK, so nothing can be detected: the request waits for its
 * timeout as before.
 *
 * - `noResponders: 'wait'`: always re-publish.
 * - `noResponders: 'fail'` (default): re-publish only within `noRespondersGrace` ms of this client's
 *   last (re)connect, otherwise fail with Mqtt5NoRespondersError. This covers the restart race: after
 *   a broker restart the caller often reconnects before the services have reconnected and
 *   resubscribed (their backoff, their SUBSCRIBE round trip); a request published in that window is
 *   re-published until a responder's subscription is in place. The responder side needs nothing
 *   else: its resubscription after a reconnect is exactly what the caller's grace window waits for,
 *   as long as the services are back within the grace (default 5 s) — beyond it, 0x10 is final again.
 */
import type { Mqtt5NoRespondersPolicy } from './options.js';

const FIRST_DELAY = 50;
const MAX_DELAY = 1000;

/** The no-responders policy of one client, with the re-publish timers it has armed. */
export class NoRespondersPolicy {
  /** `performance.now()` of the last (re)connect; -Infinity before the first. */
  private connectedAt = -Infinity;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly policy: Mqtt5NoRespondersPolicy,
    /** ms after a (re)connect in which 0x10 is not final under `fail`. */
    readonly grace: number,
  ) {}

  /** The client (re)connected: the grace window starts now. */
  connected(): void {
    this.connectedAt = performance.now();
  }

  /**
   * The delay before re-publishing a request acknowledged with 0x10 for the `attempt`-th time
   * (1-based); `fail` when it must fail now (`fail` outside the grace window); `expire` when its
   * timeout comes before the next attempt would (it is left to time out).
   */
  retryDelay(attempt: number, deadline: number): number | 'fail' | 'expire' {
    const now = performance.now();
    if (this.policy === 'fail' && now - this.connectedAt >= this.grace) return 'fail';
    const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** Math.min(attempt - 1, 10));
    if (now + delay >= deadline) return 'expire';
    return delay;
  }

  /** Runs `fn` after `delay` ms unless `clear()` is called first. */
  schedule(fn: () => void, delay: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delay);
    this.timers.add(timer);
  }

  /** Cancels every scheduled re-publish (close()). */
  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
