/**
 * Timers longer than setTimeout allows. Session expiry and will delay intervals are up to 2^32-1 seconds
 * (136 years), while setTimeout fires at once for anything above 2^31-1 ms (24.8 days).
 */

const MAX_DELAY = 2_147_483_647;

/** A cancellable timer of any length. */
export interface LongTimer {
  cancel(): void;
}

/** Calls `fn` after `ms` milliseconds, however long, through a chain of shorter timeouts. */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout;
  let left = ms;
  const step = (): void => {
    if (left <= MAX_DELAY) {
      timer = setTimeout(fn, Math.max(0, left));
      return;
    }
    left -= MAX_DELAY;
    timer = setTimeout(step, MAX_DELAY);
  };
  step();
  return { cancel: () => clearTimeout(timer) };
}
