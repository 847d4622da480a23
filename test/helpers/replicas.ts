/**
 * N replicas of a Nest service as separate processes (fixtures/replica-worker.ts), sharing their
 * handlers through `$share/<group>/…`, for the replica tests: requests spread across replicas,
 * SIGTERM one during load (graceful shutdown), kill -9 one (redelivery to the others).
 * Randomness (handler delays, which replica to stop) comes from one seed, printed at start;
 * `REPLICA_SEED=<n>` replays a run.
 *
 * Usage:
 *   const replicas = await startReplicas({ url: broker.url, count: 3 });  // prints the seed
 *   // requests: client.send(`${replicas.prefix}/req/1`, data) → { replica, data }
 *   // events:   client.emit(`${replicas.prefix}/evt/1`, data)  (QoS 1)
 *   await replicas.waitForHandled((h) => h.kind === 'event' && h.data === 42);
 *   const victim = replicas.pick();          // seeded choice among the running replicas
 *   await replicas.sigterm(victim);          // graceful: resolves once the process ended
 *   await replicas.kill(victim);             // kill -9
 *   replicas.handled                          // every { replica, kind, topic, data, dup } reported
 *   await replicas.stopAll();                 // in afterAll/finally: kills what still runs
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ReplicaConfig } from './fixtures/replica-worker.js';
import { Random } from './prng.js';
import { deferred, withTimeout, type Deferred } from './wait.js';

/** One message a replica handled, as it reported it. */
export interface Handled {
  replica: number;
  kind: 'request' | 'event';
  topic: string;
  data: unknown;
  dup: boolean;
}

/** Options of {@link startReplicas}. */
export interface ReplicaOptions {
  /** Broker URL. */
  url: string;
  /** Number of replicas; default 3. */
  count?: number;
  /** Shared-subscription group; default `replicas`. */
  group?: string;
  /** Topic prefix of the handlers (`<prefix>/req/+`, `<prefix>/evt/+`); default a unique one. */
  prefix?: string;
  /** Seed; default `REPLICA_SEED` or a fresh one (printed either way). */
  seed?: number;
  /** Handler delay range in ms; default [0, 5]. */
  delayMs?: [number, number];
  /** Session expiry of each replica (s); default 0 (the session ends with the process). */
  sessionExpiryInterval?: number;
  /** Time allowed for a replica to start; default 60 s (a TypeScript child process on a loaded machine). */
  startTimeoutMs?: number;
}

/** A running replica process. */
export interface Replica {
  readonly index: number;
  readonly child: ChildProcess;
  /** Resolves when the process has ended (with its exit code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True until the process ended. */
  readonly running: boolean;
  /** True once the replica reported it got SIGTERM. */
  readonly closing: boolean;
}

/** The replicas of one test. */
export interface Replicas {
  readonly seed: number;
  readonly prefix: string;
  readonly group: string;
  readonly replicas: readonly Replica[];
  /** Every message handled so far, in report order. */
  readonly handled: readonly Handled[];
  /** Resolves with the first handled message (past or future) matching `predicate`. */
  waitForHandled(predicate: (h: Handled) => boolean, ms?: number): Promise<Handled>;
  /** A running replica chosen with the seeded generator. */
  pick(): number;
  /** The seeded generator (for the test's own choices, so one seed replays everything). */
  readonly random: Random;
  /** Sends SIGTERM and resolves once the process ended. */
  sigterm(index: number, ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** kill -9, resolves once the process ended. */
  kill(index: number): Promise<void>;
  /** Starts one more replica (e.g. to replace a killed one); resolves once it listens. */
  add(): Promise<number>;
  /** Kills every replica still running. */
  stopAll(): Promise<void>;
}

const WORKER = fileURLToPath(new URL('./fixtures/replica-worker.ts', import.meta.url));
const TS_REGISTER = fileURLToPath(new URL('../integration/nest/fixtures/ts-register.mjs', import.meta.url));

/** Starts `count` replicas and resolves once every one listens. */
export async function startReplicas(options: ReplicaOptions): Promise<Replicas> {
  const seed = options.seed ?? Random.seedFromEnv('REPLICA_SEED');
  console.log(`replicas: seed ${seed} (REPLICA_SEED=${seed} replays it)`);
  const random = new Random(seed);
  const group = options.group ?? 'replicas';
  const prefix = options.prefix ?? `replicas-${process.pid}-${seed.toString(16)}`;
  const handled: Handled[] = [];
  let waiters: { predicate: (h: Handled) => boolean; done: Deferred<Handled> }[] = [];
  const replicas: (Replica & { running: boolean; closing: boolean })[] = [];

  const start = async (): Promise<number> => {
    const index = replicas.length;
    const config: ReplicaConfig = {
      url: options.url,
      replica: index,
      group,
      prefix,
      seed: (random.next() * 0x1_0000_0000) >>> 0,
      delayMs: options.delayMs ?? [0, 5],
      clientId: `${prefix}-r${index}`,
      sessionExpiryInterval: options.sessionExpiryInterval ?? 0,
    };
    const child = fork(WORKER, [JSON.stringify(config)], {
      execArgv: ['--import', TS_REGISTER],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const ready = deferred<void>();
    const replica = {
      index,
      child,
      running: true,
      closing: false,
      exited: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => {
          replica.running = false;
          ready.reject(new Error(`replica ${index} exited (${code ?? signal}) before it was ready`));
          resolve({ code, signal });
        }),
      ),
    };
    replicas.push(replica);
    child.on('message', (m: { type: string } & Partial<Handled>) => {
      if (m.type === 'ready') ready.resolve();
      else if (m.type === 'closing') replica.closing = true;
      else if (m.type === 'handled') {
        const h: Handled = { replica: m.replica!, kind: m.kind!, topic: m.topic!, data: m.data, dup: m.dup === true };
        handled.push(h);
        waiters = waiters.filter((w) => {
          if (!w.predicate(h)) return true;
          w.done.resolve(h);
          return false;
        });
      }
    });
    try {
      await withTimeout(ready.promise, options.startTimeoutMs ?? 60_000, `replica ${index} to start`);
    } catch (error) {
      if (replica.running) child.kill('SIGKILL');
      await replica.exited;
      throw error;
    }
    return index;
  };

  const kill = async (index: number): Promise<void> => {
    const r = replicas[index]!;
    if (r.running) r.child.kill('SIGKILL');
    await r.exited;
  };
  const stopAll = async (): Promise<void> => {
    await Promise.all(replicas.map((r) => kill(r.index)));
  };

  try {
    const count = options.count ?? 3;
    // One at a time: the machine is shared, and start order stays deterministic for a seed.
    for (let i = 0; i < count; i++) await start();
  } catch (error) {
    await stopAll();
    throw error;
  }

  return {
    seed,
    prefix,
    group,
    replicas,
    handled,
    random,
    waitForHandled(predicate, ms = 10_000) {
      const seen = handled.find(predicate);
      if (seen) return Promise.resolve(seen);
      const done = deferred<Handled>();
      waiters.push({ predicate, done });
      return withTimeout(done.promise, ms, 'a handled message');
    },
    pick() {
      const running = replicas.filter((r) => r.running && !r.closing);
      if (running.length === 0) throw new Error('no replica is running');
      return running[Math.floor(random.next() * running.length)]!.index;
    },
    async sigterm(index, ms = 30_000) {
      const r = replicas[index]!;
      if (r.running) r.child.kill('SIGTERM');
      try {
        return await withTimeout(r.exited, ms, `replica ${index} to shut down after SIGTERM`);
      } catch (error) {
        await kill(index);
        throw error;
      }
    },
    kill,
    add: start,
    stopAll,
  };
}
