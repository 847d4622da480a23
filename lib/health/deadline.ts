/** Bounding a probe by a deadline: the health check answers within its timeout, whatever the broker does. */

/** The probe did not finish within its timeout. */
export class Mqtt5HealthTimeoutError extends Error {
  override name = 'Mqtt5HealthTimeoutError';
  /** Stable code, as in the transport's errors. */
  readonly code = 'HEALTH_TIMEOUT';
  constructor(readonly timeoutMs: number, what: string) {
    super(`${what} did not complete within ${timeoutMs} ms`);
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
