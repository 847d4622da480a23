/**
 * Long-mode load test: `npm run build && node dist/bench/load/main.js --connections 10000 --soak 300
 * [--rate 5000] [--keepalive 60]`.
 *
 * 1. Starts our broker in its own process (`--expose-gc`, memory read after a full GC over IPC).
 * 2. Opens `--connections` raw MQTT v5 connections, each subscribed (QoS 1) to its own topic, and
 *    reports the broker's memory per connection (heap + external, and RSS).
 * 3. Soaks for `--soak` seconds at `--rate` QoS 1 messages per second (random publisher → random
 *    subscriber, 64-byte payloads, every delivery acknowledged), reading the broker's memory every
 *    `--sample` seconds, and reports delivery latency p50/p99/max, losses, and the memory trend.
 *    Flatness compares two readings after a full GC: at the first sample (warm) and at the end; the
 *    readings in between take no GC (a forced full GC pauses the broker and would show in the p99).
 *
 * File descriptors: this process holds one per connection, the broker another. When the soft limit is
 * too low and the hard limit allows, the script re-executes itself under `ulimit -n <hard>`.
 */
import { fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LoadClients } from './generator.js';

interface Args {
  connections: number;
  soak: number;
  rate: number;
  keepalive: number;
  sample: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { connections: 10_000, soak: 300, rate: 5000, keepalive: 60, sample: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '') as keyof Args;
    const value = Number(argv[i + 1]);
    if (!(key in a) || !Number.isFinite(value) || value < 0) {
      console.error(`usage: node dist/bench/load/main.js [--connections N] [--soak SECONDS] [--rate MSGS_PER_S] [--keepalive S] [--sample S]`);
      process.exit(2);
    }
    a[key] = value;
  }
  return a;
}

/** Soft and hard "Max open files" of this process. */
function fileLimits(): { soft: number; hard: number } {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/** Re-executes this script with a raised soft file limit when needed; returns false if it did (the child ran). */
function ensureFileLimit(needed: number): boolean {
  const { soft, hard } = fileLimits();
  if (soft >= needed) return true;
  if (hard < needed || process.env.LOAD_ULIMIT_RAISED === '1') {
    console.error(`need ${needed} open files, the limit is ${soft} (hard ${hard}): run \`ulimit -n ${needed}\` (as root if the hard limit is lower) and retry`);
    process.exit(1);
  }
  const target = Math.min(hard, Math.max(needed, 65_536));
  console.log(`raising the open-file limit from ${soft} to ${target} (ulimit -n) and re-running`);
  const r = spawnSync('sh', ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, LOAD_ULIMIT_RAISED: '1' },
  });
  process.exitCode = r.status ?? 1;
  return false;
}

interface Mem {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  connections: number;
  sessions: number;
  dropped: number;
}

const MiB = 1024 * 1024;
const fmt = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!ensureFileLimit(args.connections + 1000)) return;

  const child = fork(fileURLToPath(new URL('./broker-process.js', import.meta.url)), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, LOAD_MAX_CONNECTIONS: String(args.connections + 100) },
  });
  const ready = await new Promise<{ port: number; gc: boolean }>((resolve, reject) => {
    child.once('message', (m: { type: string; port: number; gc: boolean }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  const ask = <T>(cmd: string, type: string): Promise<T> =>
    new Promise<T>((resolve) => {
      const on = (m: { type: string }): void => {
        if (m.type !== type) return;
        child.off('message', on);
        resolve(m as T);
      };
      child.on('message', on);
      child.send({ cmd });
    });
  const mem = (): Promise<Mem> => ask<Mem>('mem', 'mem');
  const peek = (): Promise<Mem> => ask<Mem>('peek', 'mem');

  console.log(`load: ${args.connections} connections, soak ${args.soak} s at ${args.rate} msg/s (QoS 1, 64 B), broker pid ${child.pid}, gc ${ready.gc}`);
  const idle = await mem();
  let t = Date.now();
  const clients = await LoadClients.open({ port: ready.port, connections: args.connections, keepAlive: args.keepalive });
  const connectMs = Date.now() - t;
  const held = await mem();
  const perConnHeap = (held.heapUsed + held.external - idle.heapUsed - idle.external) / args.connections;
  const perConnRss = (held.rss - idle.rss) / args.connections;
  console.log(
    `connections: ${clients.connections.length} held (broker counts ${held.connections}, ${held.sessions} sessions) in ${(connectMs / 1000).toFixed(1)} s; ` +
      `memory per connection: ${(perConnHeap / 1024).toFixed(2)} KiB heap+external, ${(perConnRss / 1024).toFixed(2)} KiB RSS ` +
      `(broker heap ${fmt(idle.heapUsed)} → ${fmt(held.heapUsed)}, RSS ${fmt(idle.rss)} → ${fmt(held.rss)})`,
  );

  const samples: { at: number; mem: Mem }[] = [];
  let sampling = false;
  t = Date.now();
  const soak = await clients.soak(args.rate, args.soak * 1000, async (elapsed, sent, received) => {
    if (sampling || elapsed < (samples.length + 1) * args.sample * 1000) return;
    sampling = true;
    const first = samples.length === 0;
    const m = first ? await mem() : await peek();
    samples.push({ at: elapsed, mem: m });
    sampling = false;
    console.log(
      `  ${(elapsed / 1000).toFixed(0).padStart(4)} s: sent ${sent}, received ${received}, broker heap ${fmt(m.heapUsed)}${first ? ' (after GC)' : ''}, ` +
        `external ${fmt(m.external)}, RSS ${fmt(m.rss)}`,
    );
  });
  const after = await mem();
  // Flatness: the heap after GC at the first sample (warm) against the end (after GC); the largest
  // reading in between (no GC: live data plus garbage) bounds it from above.
  const warm = samples[0]?.mem ?? held;
  const heaps = samples.map((s) => s.mem.heapUsed);
  const drift = after.heapUsed - warm.heapUsed;
  console.log(
    `soak: ${soak.sent} sent, ${soak.received} delivered (${soak.sent - soak.received} missing, broker dropped ${after.dropped}) in ${(soak.durationMs / 1000).toFixed(0)} s; ` +
      `latency p50 ${soak.p50.toFixed(2)} ms, p99 ${soak.p99.toFixed(2)} ms, max ${soak.max.toFixed(1)} ms`,
  );
  console.log(
    `memory during the soak: heap ${fmt(warm.heapUsed)} at ${(samples[0]?.at ?? 0) / 1000 | 0} s → ${fmt(after.heapUsed)} at the end ` +
      `(drift ${(drift / MiB).toFixed(2)} MiB; largest reading without GC ${fmt(Math.max(after.heapUsed, ...heaps))}); RSS ${fmt(warm.rss)} → ${fmt(after.rss)}`,
  );
  if (clients.errors.length !== 0) console.log(`errors: ${clients.errors.length}, first: ${clients.errors.slice(0, 5).join('; ')}`);
  console.log(
    JSON.stringify({
      connections: clients.connections.length,
      connectSeconds: connectMs / 1000,
      memoryPerConnectionKiB: +(perConnHeap / 1024).toFixed(2),
      rssPerConnectionKiB: +(perConnRss / 1024).toFixed(2),
      soakSeconds: args.soak,
      rate: args.rate,
      sent: soak.sent,
      delivered: soak.received,
      p50ms: +soak.p50.toFixed(2),
      p99ms: +soak.p99.toFixed(2),
      maxMs: +soak.max.toFixed(1),
      heapDriftMiB: +(drift / MiB).toFixed(2),
    }),
  );

  await clients.close();
  await ask('stop', 'stopped');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
