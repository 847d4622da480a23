/** Bounding a probe by a deadline: the health check answers within its timeout, whatever the broker does. */
import { Mqtt5TransportError } from '../nest/index.js';

/** A health probe did not finish within its timeout (code `HEALTH_TIMEOUT`). */
export class Mqtt5HealthTimeoutError extends Mqtt5TransportError {
  override name = 'Mqtt5HealthTimeoutError';
  constructor(
    readonly timeoutMs: number,
    what: string,
  ) {
    super('HEALTH_TIMEOUT', `${what} did not complete within ${timeoutMs} ms`);
  }
}

/**
 * Settles like `work`, or rejects with {@link Mqtt5HealthTimeoutError} after `ms` (then `onTimeout`
 * runs, to cancel what can be cancelled). The timer is always cleared; a late rejection of `work`
 * is absorbed.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(new Mqtt5HealthTimeoutError(ms, what));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
