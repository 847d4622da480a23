/**
 * The broker of a transport benchmark run, in its own process: our embedded broker (a Node child)
 * or Mosquitto (generated config on a free loopback port).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../common/free-port.js';

export interface BenchBroker {
  readonly name: string;
  readonly url: string;
  /** Whether it speaks MQTT 3.1.1 too (Mosquitto) or MQTT v5 only (ours). */
  readonly v5Only: boolean;
  readonly pid: number;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function stopChild(child: ChildProcess, graceful: () => void): Promise<void> {
  graceful();
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited(child);
  clearTimeout(timer);
}

export function startEmbedded(): Promise<BenchBroker> {
  const child = fork(fileURLToPath(new URL('./broker-process.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`broker process exited with ${code}`)));
    child.once('message', (m: { port: number }) => {
      child.removeAllListeners('exit');
      resolve({
        name: 'embedded (nest-mqtt5 MqttBroker, own process)',
        url: `mqtt://127.0.0.1:${m.port}`,
        v5Only: true,
        pid: child.pid!,
        stop: () => stopChild(child, () => child.send({ type: 'stop' })),
      });
    });
  });
}

async function accepting(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto does not accept connections on ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startMosquitto(bin = '/usr/sbin/mosquitto'): Promise<BenchBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-transport-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'allow_anonymous true',
      'persistence false',
      `user ${userInfo().username}`,
      'max_queued_messages 1000000',
      'max_inflight_messages 0',
      'set_tcp_nodelay true',
      `listener ${port} 127.0.0.1`,
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  try {
    await accepting(port, Date.now() + 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    name: 'Mosquitto 2.0 (own process)',
    url: `mqtt://127.0.0.1:${port}`,
    v5Only: false,
    pid: child.pid!,
    stop: async () => {
      await stopChild(child, () => child.kill('SIGTERM'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user + system) used so far by process `pid` (Linux /proc). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN; // not Linux: CPU figures are left out
  }
}
