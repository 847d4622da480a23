/**
 * Leak checks on the process's active handles and requests (sockets, servers, timers, immediates),
 * through `process.getActiveResourcesInfo()`: take counts before a test's work, compare after.
 */

/** Active resources by type name, e.g. `{ TCPSocketWrap: 2, Timeout: 1 }`. */
export function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/**
 * The resources present now beyond those in `before` (type → extra count), after letting the
 * closing sockets finish (their 'close' comes on a later turn): `{}` when nothing leaked. Closing
 * handles get a bounded number of turns (about 100 ms in all) to go away.
 */
export async function resourceDelta(before: Record<string, number>): Promise<Record<string, number>> {
  let delta: Record<string, number> = {};
  for (let turn = 0; turn < 20; turn++) {
    delta = {};
    const now = resourceCounts();
    for (const [k, v] of Object.entries(now)) {
      const extra = v - (before[k] ?? 0);
      if (extra > 0) delta[k] = extra;
    }
    if (Object.keys(delta).length === 0) return delta;
    await new Promise<void>((r) => setTimeout(r, 5));
  }
  return delta;
}
