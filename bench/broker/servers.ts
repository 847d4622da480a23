/**
 * The brokers under test, each in its own process: ours and Aedes as Node children (IPC for the port
 * and for GC before memory readings), Mosquitto as /usr/sbin/mosquitto with a generated config.
 * CPU and memory are read from /proc for all three alike.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dialect } from './frames.js';
import { freePort } from '../common/free-port.js';

/** A running broker process. */
export interface BrokerProcess {
  readonly name: string;
  readonly dialect: Dialect;
  readonly port: number;
  readonly pid: number;
  /** Runs a GC in Node brokers so that RSS reflects live memory; resolves with their memory usage (Mosquitto: undefined). */
  gc(): Promise<NodeJS.MemoryUsage | undefined>;
  stop(): Promise<void>;
}

const CLK_TCK = 100;

/** CPU seconds (user + system) used so far by process `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function startNode(name: string, script: string, dialect: Dialect, env?: Record<string, string>): Promise<BrokerProcess> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    // BENCH_CPU_PROF=<dir>: the broker writes a V8 CPU profile there when it stops (node --cpu-prof).
    execArgv: ['--expose-gc', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    env: env === undefined ? process.env : { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    child.once('message', (m: { type: string; port: number }) => {
      child.removeAllListeners('exit');
      resolve({
        name,
        dialect,
        port: m.port,
        pid: child.pid!,
        gc: () =>
          new Promise<NodeJS.MemoryUsage>((res) => {
            child.once('message', (r: { memory: NodeJS.MemoryUsage }) => res(r.memory));
            child.send({ type: 'gc' });
          }),
        stop: async () => {
          child.send({ type: 'stop' });
          const t = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited(child);
          clearTimeout(t);
        },
      });
    });
  });
}

/** Our broker in a child process, driven in `dialect` (it speaks both); `outgoingTopicAliases` as the broker option. */
export function startOurs(dialect: Dialect = 'v5', outgoingTopicAliases = 0): Promise<BrokerProcess> {
  return startNode('nest-mqtt5', './our-server.js', dialect, { BENCH_OUTGOING_TOPIC_ALIASES: String(outgoingTopicAliases) });
}

/** Aedes in a child process (MQTT 3.1.1). */
export function startAedes(): Promise<BrokerProcess> {
  return startNode('aedes', './aedes-server.js', 'v311');
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Mosquitto 2.0 with its defaults, on a free port of 127.0.0.1, driven in `dialect` (it speaks both). */
export async function startMosquitto(dialect: Dialect = 'v5'): Promise<BrokerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`);
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' });
  await waitForPort(port, Date.now() + 5000);
  return {
    name: 'mosquitto',
    dialect,
    port,
    pid: child.pid!,
    gc: () => Promise.resolve(undefined),
    stop: async () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited(child);
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
