/**
 * Heap measurement for leak checks: a forced, repeated garbage collection before reading `heapUsed`,
 * so that "memory back near the start" compares live objects, not garbage. Works without
 * `--expose-gc` (Jest workers, plain `node`): the flag is set at run time and `gc` fetched from a new
 * V8 context, which is the documented effect of `--expose-gc`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined;

/** The `gc()` function, exposed on demand. */
export function getGc(): () => void {
  if (gcFn !== undefined) return gcFn;
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') {
    gcFn = g;
    return g;
  }
  setFlagsFromString('--expose-gc');
  gcFn = runInNewContext('gc') as () => void;
  return gcFn;
}

/**
 * `heapUsed` after letting pending callbacks run and collecting garbage a few times (weak callbacks and
 * finalizers of sockets free more on the second pass).
 */
export async function settledHeapUsed(): Promise<number> {
  const gc = getGc();
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Bytes as a short human string (KiB/MiB). */
export function formatBytes(n: number): string {
  const a = Math.abs(n);
  if (a >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (a >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
