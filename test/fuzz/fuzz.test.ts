/**
 * The bounded CI run of the fuzzers (the long mode is `npm run fuzz -- --count 1000000`):
 * 40,000 inputs over TCP and 10,000 over WebSocket against the broker, with a canary client served
 * throughout and the heap compared before and after; then 5,000 inputs from a fuzzing fake server
 * (4,000 over TCP, 1,000 over WebSocket) against MqttClient. The seed is random unless FUZZ_SEED is set, and is in the test names: replay a
 * failure with `FUZZ_SEED=<seed>` here, or `npm run fuzz -- --seed <seed> --case <n>` for one case.
 */
import { describe, expect, it } from '@jest/globals';
import { Random } from '../helpers/prng.js';
import { formatBytes } from '../helpers/memory.js';
import { runBrokerFuzz } from './broker-run.js';
import { runClientFuzz } from './client-fuzz.js';

const SEED = Random.seedFromEnv('FUZZ_SEED');
/** Heap growth allowed after the run (warm-up excluded): what is left must be near the start. */
const HEAP_SLACK = 4 * 1024 * 1024;

describe(`fuzz (seed ${SEED}, replay with FUZZ_SEED=${SEED})`, () => {
  it(`broker: 40k TCP + 10k WebSocket inputs, exact verdicts, canary served, memory back (seed ${SEED})`, async () => {
    const r = await runBrokerFuzz({ seed: SEED, tcpInputs: 40_000, wsInputs: 10_000 });
    const summary = r.reports.map((x) => `${x.transport}: ${x.inputs} inputs / ${x.cases} connections, ${x.exactChecked} exact, ${x.openChecked} open`).join('; ');
    // The violations carry seed and case index: the message is the replay recipe.
    expect(r.violations).toEqual([]);
    expect(r.reports.reduce((n, x) => n + x.inputs, 0)).toBeGreaterThanOrEqual(50_000);
    // Most verdicts are known in advance and were checked exactly.
    for (const x of r.reports) expect(x.exactChecked).toBeGreaterThan(x.cases / 4);
    expect(r.canary.roundTrips).toBeGreaterThan(10);
    expect(r.canary.failures).toEqual([]);
    expect(r.leftover).toEqual({ connections: 0, sessions: 0, subscriptions: 0, retained: 0, pendingWills: 0 });
    expect({ summary, heapGrowth: formatBytes(r.heapAfter - r.heapBefore), ok: r.heapAfter - r.heapBefore < HEAP_SLACK }).toMatchObject({ ok: true });
  }, 180_000);

  it.each([
    ['tcp', 4000],
    ['ws', 1000],
  ] as const)(`client over %s: %i server inputs, typed errors only, keeps reconnecting, nothing pending (seed ${SEED})`, async (transport, inputs) => {
    const r = await runClientFuzz({ seed: SEED, inputs, transport });
    expect(r.violations).toEqual([]);
    expect(r.inputs).toBeGreaterThanOrEqual(inputs);
    // It reconnected after (nearly) every fuzz episode.
    expect(r.reconnects).toBeGreaterThan(r.connections / 2);
    expect({ heapGrowth: formatBytes(r.heapAfter - r.heapBefore), ok: r.heapAfter - r.heapBefore < HEAP_SLACK }).toMatchObject({ ok: true });
  }, 120_000);
});
