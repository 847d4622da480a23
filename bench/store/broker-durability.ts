/**
 * Broker persistence (issue 14), ours against Mosquitto in the same run, each broker a child process:
 *
 * 1. QoS 1 throughput, 64 B payloads, 20 in flight per publisher, one persistent subscriber online:
 *    ours durable (`--sync always`, an fsync per group commit), ours `periodic`, ours in memory,
 *    Mosquitto with its default config (acks from memory) — with 1 and with 10 publishers. Also the
 *    bytes the broker process wrote to storage per message (/proc/<pid>/io write_bytes), and 1
 *    publisher with the subscriber offline (every message queued, so written when durable: an online
 *    subscriber's PUBACK that beats the group commit takes its record back before it is written).
 * 2. Restart: time from spawn to the first CONNACK with N persistent sessions (one subscription each)
 *    and M retained 64 B messages stored (Mosquitto: after its SIGTERM save).
 *
 *   npm run build && node dist/bench/store/broker-durability.js [--messages 20000] [--scale 0.1]
 *   (--scale 1 = 100,000 sessions and 1,000,000 retained messages; --only throughput|restart runs one
 *   part; --keep leaves the restart data dirs in place and prints them, for profiling a restart)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PacketType, encodePacket, type Packet } from '../../lib/codec/index.js';
import { MqttClient, TcpConnection } from '../../lib/client/index.js';
import { freePort } from '../common/free-port.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}
const MESSAGES = Number(arg('messages', '20000'));
const SCALE = Number(arg('scale', '0.1'));
const ONLY = arg('only', 'all');
/** With --only throughput: the targets to run, by row name prefix (e.g. --targets 'ours durable'). */
const TARGETS = arg('targets', '');
const KEEP = process.argv.includes('--keep');
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'cli', 'main.js');
const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';
const payload = Buffer.alloc(64, 0x61);

interface Broker {
  proc: ChildProcess;
  port: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function waitOutput(proc: ChildProcess, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const on = (chunk: Buffer): void => {
      text += chunk.toString();
      if (re.test(text)) resolve();
    };
    proc.stdout?.on('data', on);
    proc.stderr?.on('data', on);
    proc.once('exit', (code) => reject(new Error(`broker exited (${code}): ${text}`)));
  });
}

async function startOurs(port: number, dir: string | undefined, sync: string): Promise<Broker> {
  const args = [CLI, 'broker', '--port', String(port), '--max-queued-messages', '10000000', '--max-session-expiry', '4294967295'];
  if (dir !== undefined) args.push('--data-dir', dir, '--sync', sync);
  // BENCH_BROKER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles our broker.
  const nodeArgs = (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const proc = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitOutput(proc, /broker ready/);
  return broker(proc, port);
}

async function startMosquitto(port: number, dir: string, persistence: boolean): Promise<Broker> {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'allow_anonymous true',
      `persistence ${persistence}`,
      `persistence_location ${dir}/`,
      'user root',
      'max_queued_messages 0',
      'log_dest stderr',
      'log_type information',
      `listener ${port} 127.0.0.1`,
      '',
    ].join('\n'),
  );
  const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitOutput(proc, / running/);
  return broker(proc, port);
}

function broker(proc: ChildProcess, port: number): Broker {
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    port,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      proc.kill(signal);
      await exited;
    },
  };
}

function writeBytes(pid: number): number {
  const m = /write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

/**
 * QoS 1 throughput: `publishers` × 20 in flight, one persistent subscriber — online, or (`offline`)
 * gone after subscribing, so that every message must be queued (and, durable, written) for it.
 * Returns messages/s and bytes written per message.
 */
async function throughput(b: Broker, publishers: number, offline = false): Promise<{ rate: number; bytesPerMessage: number }> {
  const conn = (): TcpConnection => new TcpConnection({ host: '127.0.0.1', port: b.port });
  const sub = new MqttClient(conn());
  await sub.connect({ clientId: `bench-sub-${publishers}`, cleanStart: false, properties: { sessionExpiryInterval: 3600 } });
  const total = MESSAGES;
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  // A topic per run: the persistent session of the previous run's subscriber (offline now, kept for an
  // hour) must not collect this run's messages — the scenario has one subscriber, online.
  const topic = `bench/t/${publishers}${offline ? '/offline' : ''}`;
  await sub.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, () => {
    if (++received === total) done();
  });
  if (offline) {
    await sub.disconnect();
    done();
  }
  const pubs: MqttClient[] = [];
  for (let i = 0; i < publishers; i++) {
    const p = new MqttClient(conn(), { maxInflight: 20 });
    await p.connect({ clientId: `bench-pub-${publishers}-${i}` });
    pubs.push(p);
  }
  const before = writeBytes(b.proc.pid!);
  const t0 = performance.now();
  await Promise.all(
    pubs.map(async (p, i) => {
      const mine = Math.floor(total / publishers) + (i < total % publishers ? 1 : 0);
      const inflight = new Set<Promise<unknown>>();
      for (let k = 0; k < mine; k++) {
        if (inflight.size >= 20) await Promise.race(inflight);
        const pr: Promise<unknown> = p.publish({ topic, payload, qos: 1 }).then((): boolean => inflight.delete(pr));
        inflight.add(pr);
      }
      await Promise.all(inflight);
    }),
  );
  await all;
  const ms = performance.now() - t0;
  const written = writeBytes(b.proc.pid!) - before;
  for (const p of pubs) await p.disconnect();
  if (!offline) await sub.disconnect();
  return { rate: (total / ms) * 1000, bytesPerMessage: written / total };
}

/** Sends packets on fresh sockets, `concurrency` at a time, each socket: CONNECT, extra packets, DISCONNECT. */
async function populate(port: number, sessions: number, retained: number): Promise<void> {
  const sendAll = (packets: Packet[]): Promise<void> =>
    new Promise((resolve, reject) => {
      const s: Socket = netConnect({ host: '127.0.0.1', port });
      s.on('error', reject);
      s.on('close', () => resolve());
      s.on('data', () => undefined);
      s.write(Buffer.concat(packets.map((p) => encodePacket(p))));
    });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions) {
      const i = next++;
      await sendAll([
        { type: PacketType.CONNECT, protocolVersion: 5, clientId: `s${i}`, cleanStart: false, keepAlive: 0, properties: { sessionExpiryInterval: 0xffff_ffff } },
        { type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: `sess/${i}/#`, qos: 1 }] },
        { type: PacketType.DISCONNECT, reasonCode: 0 },
      ]);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  // Retained: QoS 1 in batches on one connection, each batch acknowledged before the next.
  const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { maxInflight: 500 });
  await c.connect({ clientId: 'populate-retained' });
  for (let i = 0; i < retained; i += 5000) {
    const batch: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(retained, i + 5000); k++) batch.push(c.publish({ topic: `ret/${k % 1000}/${k}`, payload, qos: 1, retain: true }));
    await Promise.all(batch);
  }
  await c.disconnect();
}

/** Time from spawn to the first CONNACK. */
async function restartTime(start: () => Promise<Broker>): Promise<{ ms: number; b: Broker }> {
  const t0 = performance.now();
  const b = await start();
  const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port: b.port }));
  await c.connect({ clientId: 'restart-probe' });
  const ms = performance.now() - t0;
  await c.disconnect();
  return { ms, b };
}

async function main(): Promise<void> {
  const dirs: string[] = [];
  const temp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'nest-mqtt5-durability-'));
    dirs.push(d);
    return d;
  };
  try {
    if (ONLY !== 'restart') await throughputPart(temp);
    if (ONLY !== 'throughput') await restartPart(temp);
  } finally {
    if (KEEP) console.log(`kept: ${dirs.join(' ')}`);
    else for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function throughputPart(temp: () => string): Promise<void> {
  {
    console.log(`Broker persistence bench: ${MESSAGES} QoS 1 messages of 64 B, 20 in flight per publisher, persistent subscriber online`);
    console.log(
      ['broker'.padEnd(30), '1 pub msg/s'.padStart(12), '10 pub msg/s'.padStart(13), 'B written/msg'.padStart(14), 'offline msg/s'.padStart(14), 'B written/msg'.padStart(14)].join(''),
    );
    const rows: [string, number, number, number][] = [];
    const targets: [string, (port: number) => Promise<Broker>][] = [
      ['mosquitto (default, memory)', (port) => startMosquitto(port, temp(), false)],
      ['ours durable (sync always)', (port) => startOurs(port, temp(), 'always')],
      ['ours periodic', (port) => startOurs(port, temp(), 'periodic')],
      ['ours in memory', (port) => startOurs(port, undefined, 'always')],
    ];
    for (const [name, start] of targets) {
      if (TARGETS !== '' && !TARGETS.split(',').some((t) => name.startsWith(t))) continue;
      const b = await start(await freePort());
      try {
        const one = await throughput(b, 1);
        const ten = await throughput(b, 10);
        // The same publisher with the subscriber gone: every message is queued (durable: written) for it.
        const queued = await throughput(b, 1, true);
        rows.push([name, one.rate, ten.rate, one.bytesPerMessage]);
        const cells = [one.rate, ten.rate, one.bytesPerMessage, queued.rate, queued.bytesPerMessage].map((v) => Math.round(v).toLocaleString());
        console.log([name.padEnd(30), cells[0]!.padStart(12), cells[1]!.padStart(13), cells[2]!.padStart(14), cells[3]!.padStart(14), cells[4]!.padStart(14)].join(''));
      } finally {
        await b.stop();
      }
    }
    if (rows.length < 4) return;
    const [mq, durable, periodic, memory] = rows as [typeof rows[0], typeof rows[0], typeof rows[0], typeof rows[0]];
    console.log(`ratios: durable/mosquitto 1 pub ${(durable[1] / mq[1]).toFixed(2)}× (target ≥ 1.0), 10 pubs ${(durable[2] / mq[2]).toFixed(2)}× (target ≥ 1.5); ` +
      `durable/in-memory ${(durable[1] / memory[1]).toFixed(2)}× (target ≥ 0.5); periodic/mosquitto ${(periodic[1] / mq[1]).toFixed(2)}×`);

  }
}

async function restartPart(temp: () => string): Promise<void> {
  {
    const sessions = Math.round(100_000 * SCALE);
    const retained = Math.round(1_000_000 * SCALE);
    console.log(`\nRestart with ${sessions.toLocaleString()} persistent sessions (one subscription each) and ${retained.toLocaleString()} retained 64 B messages (spawn → first CONNACK)`);
    const ourDir = temp();
    const ourPort = await freePort();
    let b = await startOurs(ourPort, ourDir, 'periodic');
    await populate(ourPort, sessions, retained);
    await b.stop();
    const ours = await restartTime(() => startOurs(ourPort, ourDir, 'always'));
    await ours.b.stop();
    const mqDir = temp();
    const mqPort = await freePort();
    b = await startMosquitto(mqPort, mqDir, true);
    await populate(mqPort, sessions, retained);
    await b.stop('SIGTERM'); // Mosquitto saves its database on SIGTERM
    const theirs = await restartTime(() => startMosquitto(mqPort, mqDir, true));
    await theirs.b.stop();
    console.log(`ours ${Math.round(ours.ms)} ms, mosquitto ${Math.round(theirs.ms)} ms: ${(ours.ms / theirs.ms).toFixed(2)}× (target ≤ 1.0)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
