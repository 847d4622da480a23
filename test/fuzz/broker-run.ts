/**
 * One complete broker fuzz session, shared by the CI test and the long-mode CLI: start the fuzz broker
 * and the canary, warm up, take the heap baseline, fuzz over TCP and WebSocket, stop the canary, clear
 * what the fuzzer retained, wait for every connection to close, and compare the heap with the baseline.
 */
import { Canary, type CanaryReport } from './canary.js';
import { fuzzBroker, type BrokerFuzzReport } from './broker-fuzz.js';
import { startFuzzBroker } from './harness.js';
import { formatBytes, settledHeapUsed } from '../helpers/memory.js';

/** Options of {@link runBrokerFuzz}. */
export interface BrokerRunOptions {
  seed: number;
  /** Inputs over TCP and over WebSocket. */
  tcpInputs: number;
  wsInputs: number;
  concurrency?: number;
  /** Replay only these case indices (with the given transport). */
  replay?: { transport: 'tcp' | 'ws'; first: number; last: number };
  log?: (line: string) => void;
}

/** Everything a run measured. */
export interface BrokerRunReport {
  seed: number;
  reports: BrokerFuzzReport[];
  canary: CanaryReport;
  unexpectedErrors: string[];
  errorCounts: Record<string, number>;
  heapBefore: number;
  heapAfter: number;
  /** Broker gauges after the run (all connections but none left, no sessions). */
  leftover: { connections: number; sessions: number; subscriptions: number; retained: number; pendingWills: number };
  violations: string[];
}

/** Runs the broker fuzzer end to end; never throws on findings (they are in `violations`). */
export async function runBrokerFuzz(o: BrokerRunOptions): Promise<BrokerRunReport> {
  const log = o.log ?? (() => undefined);
  const fb = await startFuzzBroker();
  const canary = new Canary(fb.target.tcpPort!);
  const reports: BrokerFuzzReport[] = [];
  let canaryReport: CanaryReport | undefined;
  let heapBefore = 0;
  let heapAfter = 0;
  try {
    await canary.start();
    // Warm-up (JIT, buffer pools, the WebSocket server's state) before the baseline, with another seed.
    if (o.replay === undefined) {
      await fuzzBroker({ target: fb.target, transport: 'tcp', seed: o.seed ^ 0x5a5a5a5a, inputs: 2000, concurrency: o.concurrency });
      await fuzzBroker({ target: fb.target, transport: 'ws', seed: o.seed ^ 0x5a5a5a5a, inputs: 500, concurrency: o.concurrency });
      fb.clearRetained();
      await fb.settle(1);
    }
    heapBefore = await settledHeapUsed();
    const progress = (r: BrokerFuzzReport): void => log(`  ${r.transport}: ${r.inputs} inputs, ${r.cases} connections, ${r.violations.length} violations, ${(r.elapsedMs / 1000).toFixed(1)} s`);
    if (o.replay !== undefined) {
      reports.push(await fuzzBroker({ target: fb.target, transport: o.replay.transport, seed: o.seed, inputs: Number.MAX_SAFE_INTEGER, firstCase: o.replay.first, lastCase: o.replay.last, concurrency: 1 }));
    } else {
      if (o.tcpInputs > 0) reports.push(await fuzzBroker({ target: fb.target, transport: 'tcp', seed: o.seed, inputs: o.tcpInputs, concurrency: o.concurrency, onProgress: progress }));
      if (o.wsInputs > 0) reports.push(await fuzzBroker({ target: fb.target, transport: 'ws', seed: o.seed, inputs: o.wsInputs, concurrency: o.concurrency, onProgress: progress }));
    }
    canaryReport = await canary.stop();
    fb.clearRetained();
    await fb.settle(0);
    heapAfter = await settledHeapUsed();
  } finally {
    await fb.close();
  }
  const m = fb.broker.metrics();
  const leftover = { connections: m.connections, sessions: m.sessions, subscriptions: m.subscriptions, retained: m.retainedMessages, pendingWills: m.pendingWills };
  const violations: string[] = [];
  for (const r of reports) violations.push(...r.violations);
  for (const e of fb.unexpectedErrors) violations.push(`broker reported a non-protocol client error: ${e}`);
  for (const f of canaryReport.failures) violations.push(`canary: ${f}`);
  if (canaryReport.roundTrips === 0) violations.push('canary: no round trip completed');
  log(`  heap ${formatBytes(heapBefore)} → ${formatBytes(heapAfter)} (${formatBytes(heapAfter - heapBefore)})`);
  return { seed: o.seed, reports, canary: canaryReport, unexpectedErrors: fb.unexpectedErrors, errorCounts: fb.errorCounts, heapBefore, heapAfter, leftover, violations };
}
