/**
 * Long-mode fuzzer: `npm run fuzz -- --count 1000000 [--seed N] [--target broker|client|all]
 * [--transport tcp|ws|both] [--concurrency 32]`, and replay of single cases:
 * `npm run fuzz -- --seed N --target broker --transport tcp --case 1234`.
 *
 * Prints its seed first; exits 1 on any violation, uncaught exception or unhandled rejection.
 */
import { Random } from '../helpers/prng.js';
import { formatBytes } from '../helpers/memory.js';
import { runBrokerFuzz } from './broker-run.js';
import { runClientFuzz } from './client-fuzz.js';

/** Heap growth (warm-up excluded) beyond which a run fails: memory must come back near the start. */
const HEAP_SLACK = 8 * 1024 * 1024;

interface Args {
  count: number;
  seed: number;
  target: 'broker' | 'client' | 'all';
  transport: 'tcp' | 'ws' | 'both';
  concurrency: number;
  caseIndex: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { count: 100_000, seed: Random.newSeed(), target: 'all', transport: 'both', concurrency: 32, caseIndex: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const num = (): number => {
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
      i++;
      return n;
    };
    switch (flag) {
      case '--count':
        a.count = num();
        break;
      case '--seed':
        a.seed = num() >>> 0;
        break;
      case '--concurrency':
        a.concurrency = Math.max(1, num());
        break;
      case '--case':
        a.caseIndex = num();
        break;
      case '--target':
        if (value !== 'broker' && value !== 'client' && value !== 'all') throw new Error('--target is broker, client or all');
        a.target = value;
        i++;
        break;
      case '--transport':
        if (value !== 'tcp' && value !== 'ws' && value !== 'both') throw new Error('--transport is tcp, ws or both');
        a.transport = value;
        i++;
        break;
      case '--help':
      case '-h':
        console.log('usage: node dist/test/fuzz/run.js [--count N] [--seed S] [--target broker|client|all] [--transport tcp|ws|both] [--concurrency C] [--case I]');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  return a;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  // A crash of the code under fuzz is the worst finding: report it with the seed and stop (the state
  // after an exception thrown from a socket callback is not worth fuzzing further).
  const crash = (what: string) => (err: unknown): void => {
    console.log(`CRASH (${what}) with seed ${args.seed}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
  console.log(`fuzz seed=${args.seed} count=${args.count} target=${args.target} transport=${args.transport}`);
  console.log(`  replay: npm run fuzz -- --seed ${args.seed} --count ${args.count} --target ${args.target} --transport ${args.transport}`);
  const log = (line: string): void => console.log(line);
  const violations: string[] = [];
  // Broker inputs: 80 % TCP, 20 % WebSocket (a WebSocket connection costs an HTTP upgrade); the client gets a tenth.
  const brokerShare = args.target === 'all' ? 0.9 : args.target === 'broker' ? 1 : 0;
  const brokerInputs = Math.round(args.count * brokerShare);
  const clientInputs = args.count - brokerInputs;

  if (brokerInputs > 0 || (args.caseIndex !== undefined && args.target !== 'client')) {
    const tcpShare = args.transport === 'both' ? 0.8 : args.transport === 'tcp' ? 1 : 0;
    const replay =
      args.caseIndex === undefined ? undefined : { transport: (args.transport === 'ws' ? 'ws' : 'tcp') as 'tcp' | 'ws', first: args.caseIndex, last: args.caseIndex };
    console.log('broker:');
    const r = await runBrokerFuzz({
      seed: args.seed,
      tcpInputs: Math.round(brokerInputs * tcpShare),
      wsInputs: brokerInputs - Math.round(brokerInputs * tcpShare),
      concurrency: args.concurrency,
      replay,
      log,
    });
    for (const rep of r.reports) {
      console.log(
        `  ${rep.transport}: ${rep.inputs} inputs on ${rep.cases} connections in ${(rep.elapsedMs / 1000).toFixed(1)} s; ` +
          `${rep.exactChecked} exact verdicts, ${rep.openChecked} kept open, ${rep.preempted} taken over`,
      );
      console.log(`    answers: ${Object.entries(rep.answers).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}×${v}`).join(', ')}`);
    }
    console.log(`  canary: ${r.canary.roundTrips} round trips, max ${r.canary.maxRoundTripMs} ms, ${r.canary.failures.length} failures`);
    console.log(`  heap: ${formatBytes(r.heapBefore)} before, ${formatBytes(r.heapAfter)} after (${formatBytes(r.heapAfter - r.heapBefore)})`);
    console.log(`  left over: ${JSON.stringify(r.leftover)}`);
    violations.push(...r.violations);
    if (r.heapAfter - r.heapBefore > HEAP_SLACK) violations.push(`broker heap grew by ${formatBytes(r.heapAfter - r.heapBefore)} over the run`);
    if (Object.values(r.leftover).some((v) => v !== 0)) violations.push(`broker state left over: ${JSON.stringify(r.leftover)}`);
  }
  if (clientInputs > 0 || (args.caseIndex !== undefined && args.target === 'client')) {
    console.log('client:');
    const transports: ('tcp' | 'ws')[] = args.transport === 'both' ? ['tcp', 'ws'] : [args.transport];
    for (const transport of transports) {
      const share = transports.length === 1 ? 1 : transport === 'tcp' ? 0.8 : 0.2;
      const r = await runClientFuzz({ seed: args.seed, inputs: Math.round(clientInputs * share), caseIndex: args.caseIndex, transport, log });
      console.log(
        `  ${transport}: ${r.inputs} inputs over ${r.connections} connections in ${(r.elapsedMs / 1000).toFixed(1)} s; ` +
          `${r.reconnects} reconnects; errors surfaced: ${Object.entries(r.errorTypes).map(([k, v]) => `${k}×${v}`).join(', ')}`,
      );
      console.log(`    heap: ${formatBytes(r.heapBefore)} before, ${formatBytes(r.heapAfter)} after (${formatBytes(r.heapAfter - r.heapBefore)})`);
      violations.push(...r.violations);
      if (r.heapAfter - r.heapBefore > HEAP_SLACK) violations.push(`client (${transport}) heap grew by ${formatBytes(r.heapAfter - r.heapBefore)} over the run`);
    }
  }
  if (violations.length === 0) {
    console.log('OK: no violation');
    return 0;
  }
  console.log(`${violations.length} violation(s):`);
  for (const v of violations) console.log(`- ${v}`);
  return 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  },
);
