/**
 * Event-driven waiting for tests: every wait is bounded by a timeout, and nothing polls or sleeps.
 */
import type { EventEmitter } from 'node:events';

/** Rejects with a descriptive error unless `promise` settles within `ms`; the timer is always cleared. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with the arguments of the next `event` on `emitter` for which `filter` (if given) returns
 * true; rejects after `ms`. The listener is removed either way.
 */
export function waitForEvent<A extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  ms = 5000,
  filter?: (...args: A) => boolean,
): Promise<A> {
  let listener: ((...args: unknown[]) => void) | undefined;
  const p = new Promise<A>((resolve) => {
    listener = (...args: unknown[]) => {
      if (filter !== undefined && !filter(...(args as A))) return;
      emitter.removeListener(event, listener!);
      resolve(args as A);
    };
    emitter.on(event, listener);
  });
  return withTimeout(p, ms, `event '${event}'`).finally(() => emitter.removeListener(event, listener!));
}

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Counts up to `target` and resolves `done` when reached: for "wait until N messages arrived".
 * `done` rejects after `ms` with the count reached so far.
 */
export function counter(target: number, ms = 10000, what = 'messages'): { hit(): void; readonly count: number; done: Promise<void> } {
  const d = deferred<void>();
  let count = 0;
  if (target <= 0) d.resolve();
  const c = {
    hit(): void {
      count++;
      if (count === target) d.resolve();
    },
    get count(): number {
      return count;
    },
    done: undefined as unknown as Promise<void>,
  };
  c.done = withTimeout(d.promise, ms, `${target} ${what}`).catch((e: Error) => {
    throw new Error(`${e.message} (got ${count})`);
  });
  return c;
}
