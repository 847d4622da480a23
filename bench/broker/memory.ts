/**
 * Memory per idle connection: nest-mqtt5 beside Mosquitto 2.0, measured the same way in the same run.
 *
 *   npm run build && node dist/bench/broker/memory.js [--connections 10000] [--settle 10] [--only nest-mqtt5,mosquitto]
 *
 * Method, per broker:
 *  1. Start the broker in a fresh process (ours: dist/bench/broker/our-server.js under `--expose-gc`;
 *     Mosquitto: /usr/sbin/mosquitto with `max_connections -1`, a listener on a free loopback port,
 *     no persistence, no logging), through `bash -c 'ulimit -n <hard limit>; exec …'` so that it may
 *     hold N sockets.
 *  2. Quiesce, then read VmRSS from /proc/<pid>/status: `before`. Quiescing = a full GC in ours, then
 *     `--settle` seconds (default 10) without traffic, then another full GC (Mosquitto: just the wait).
 *     The idle wait matters for a Node process: V8 keeps the young generation it grew while objects
 *     were being created (up to 2 × 16 MiB) until it sees allocation stop for a while (its memory
 *     reducer runs ~8 s after a full GC); only then does RSS show what idle connections really hold.
 *     `--settle 2` shows the figure right after the connections opened (about twice as high for ours).
 *  3. A separate generator process (idle-clients.js, same ulimit) opens N MQTT v5 connections
 *     (CONNECT, clean start, keep alive 60 s, unique client ids) and waits for every CONNACK 0x00.
 *  4. Quiesce the same way; read VmRSS: `after`.
 *  5. KiB per connection = (after − before) / N / 1024. The generator then closes everything.
 * The broker's fixed costs (code, V8 heap reservations, the young generation growing on first use)
 * that appear while connections open are charged to the connections, as a fresh process would see them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rssBytes } from './servers.js';
import { freePort } from '../common/free-port.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

if (process.argv.includes('--help')) {
  console.log('node dist/bench/broker/memory.js [--connections 10000] [--settle 10] [--only nest-mqtt5,mosquitto]');
  process.exit(0);
}

const connections = Number(arg('connections', '10000'));
const settleMs = Number(arg('settle', '10')) * 1000;
const only = arg('only', 'nest-mqtt5,mosquitto').split(',');
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The hard limit of open files: the children raise their soft limit to it. */
const hardLimit = Number(spawnSync('bash', ['-c', 'ulimit -Hn']).stdout.toString().trim());
const fdLimit = Number.isFinite(hardLimit) ? Math.min(hardLimit, 1_048_576) : connections + 1024;
if (fdLimit < connections + 256) {
  console.error(`ulimit -Hn is ${hardLimit}: too low for ${connections} connections (raise it, or pass a smaller --connections)`);
  process.exit(1);
}
/** Runs `argv` with the raised open-files limit (exec keeps the pid, and the IPC channel of fork). */
const withUlimit = (argv: string[]): [string, string[]] => ['bash', ['-c', `ulimit -n ${fdLimit}; exec "$0" "$@"`, ...argv]];

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function nextMessage<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${type}' from child ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { type: string; message?: string }): void => {
      if (m.type === 'failed') {
        clearTimeout(t);
        child.off('message', onMessage);
        reject(new Error(m.message));
      } else if (m.type === type) {
        clearTimeout(t);
        child.off('message', onMessage);
        resolve(m as T);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`child ${child.pid} exited with ${code}`)));
  });
}

interface Broker {
  pid: number;
  port: number;
  /** Full GC in ours; resolves with its memory usage (Mosquitto: undefined). */
  gc(): Promise<NodeJS.MemoryUsage | undefined>;
  stop(): Promise<void>;
}

async function startOurs(): Promise<Broker> {
  const [cmd, args] = withUlimit([process.execPath, '--expose-gc', here('./our-server.js')]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await nextMessage<{ port: number }>(child, 'ready', 10_000);
  return {
    pid: child.pid!,
    port,
    gc: async () => {
      child.send({ type: 'gc' });
      return (await nextMessage<{ memory: NodeJS.MemoryUsage }>(child, 'gc-done', 10_000)).memory;
    },
    stop: async () => {
      child.send({ type: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(t);
    },
  };
}

async function startMosquitto(): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-mem-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nmax_connections -1\nallow_anonymous true\npersistence false\nlog_dest none\n`);
  const [cmd, args] = withUlimit(['/usr/sbin/mosquitto', '-c', conf]);
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const { connect } = await import('node:net');
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`mosquitto does not listen on ${port}`);
    await sleep(50);
  }
  return {
    pid: child.pid!,
    port,
    gc: () => Promise.resolve(undefined),
    stop: async () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Result {
  before: number;
  after: number;
  perConnection: number;
  /** V8 heap used per connection (ours), from process.memoryUsage() after the GCs. */
  heapPerConnection: number | undefined;
}

/** GC, an idle wait, GC again (see the method above); resolves with ours' memory usage after it. */
async function quiesce(b: Broker): Promise<NodeJS.MemoryUsage | undefined> {
  await b.gc();
  await sleep(settleMs);
  const m = await b.gc();
  await sleep(200);
  return m;
}

async function measure(start: () => Promise<Broker>): Promise<Result> {
  const b = await start();
  let gen: ChildProcess | null = null;
  try {
    const m0 = await quiesce(b);
    const before = rssBytes(b.pid);
    const [cmd, args] = withUlimit([process.execPath, here('./idle-clients.js'), String(b.port), String(connections)]);
    gen = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await nextMessage(gen, 'open', 120_000 + connections * 20);
    const m1 = await quiesce(b);
    const after = rssBytes(b.pid);
    const heapPerConnection = m0 === undefined || m1 === undefined ? undefined : (m1.heapUsed - m0.heapUsed) / connections;
    return { before, after, perConnection: (after - before) / connections, heapPerConnection };
  } finally {
    if (gen !== null) {
      gen.send({ type: 'close' });
      const t = setTimeout(() => gen!.kill('SIGKILL'), 5000);
      await exited(gen);
      clearTimeout(t);
    }
    await b.stop();
  }
}

const starters: [string, () => Promise<Broker>][] = [
  ['nest-mqtt5', startOurs],
  ['mosquitto', startMosquitto],
];
const results = new Map<string, Result>();
for (const [name, start] of starters) {
  if (!only.includes(name)) continue;
  process.stderr.write(`idle memory: ${name}, ${connections} connections…\n`);
  results.set(name, await measure(start));
}
const kib = (v: number): string => `${(v / 1024).toFixed(2)} KiB`;
const mib = (v: number): string => `${(v / 1048576).toFixed(1)} MiB`;
console.log(`| idle v5 connections: ${connections} (fresh process, ${settleMs / 1000} s settle) | RSS before | RSS after | RSS per connection | V8 heap per connection |`);
console.log('|---|---|---|---|---|');
for (const [name, r] of results) {
  console.log(`| ${name} | ${mib(r.before)} | ${mib(r.after)} | ${kib(r.perConnection)} | ${r.heapPerConnection === undefined ? '–' : kib(r.heapPerConnection)} |`);
}
const ours = results.get('nest-mqtt5');
const mosq = results.get('mosquitto');
if (ours !== undefined && mosq !== undefined) {
  console.log(`ours/mosquitto: ${(ours.perConnection / mosq.perConnection).toFixed(2)}× the memory per idle connection (< 1 is better)`);
}
