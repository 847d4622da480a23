/**
 * Broker benchmark: nest-mqtt5 vs Mosquitto 2.0 vs Aedes, each in its own process, driven by the raw
 * socket load generator of load.ts (64-byte payloads). Prints one table with ratios.
 *
 *   npm run build && node dist/bench/broker/main.js [--seconds 3] [--only nest-mqtt5,mosquitto]
 *     [--idle-connections 10000 | --skip-idle-memory]
 * Then runs memory.ts (idle memory per connection, ours vs Mosquitto, each broker in a fresh process,
 * the connections opened by a separate generator process) and slow-consumer.ts (a healthy subscriber's
 * p99 latency with and without a stuck one; skipped with --skip-slow-consumer).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { idleMemory, latencyAtRate, qos0Throughput, qos1Throughput, type IdleMemory, type Latency, type Throughput } from './load.js';
import { startAedes, startMosquitto, startOurs, type BrokerProcess } from './servers.js';

interface Figures {
  qos0: Throughput;
  qos1: Throughput;
  fanout: Throughput;
  fanin: Throughput;
  latency: Latency;
  idle: IdleMemory;
  idleCold: IdleMemory;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

const windowMs = Number(arg('seconds', '3')) * 1000;
const only = arg('only', 'nest-mqtt5,mosquitto,aedes').split(',');
const latencyRate = Number(arg('rate', '10000'));
const idleCount = Number(arg('connections', '5000'));

const starters: [string, () => Promise<BrokerProcess>][] = [
  ['nest-mqtt5', startOurs],
  ['mosquitto', startMosquitto],
  ['aedes', startAedes],
];

async function run(start: () => Promise<BrokerProcess>): Promise<Figures> {
  // Memory first, each on a fresh process; then the throughput figures.
  let b = await start();
  const idleCold = await idleMemory(b, idleCount, false);
  await b.stop();
  b = await start();
  const idle = await idleMemory(b, idleCount, true);
  await b.stop();
  b = await start();
  try {
    const qos0 = await qos0Throughput(b, 1, 1, windowMs);
    const qos1 = await qos1Throughput(b, 20, windowMs);
    const fanout = await qos0Throughput(b, 1, 10, windowMs);
    const fanin = await qos0Throughput(b, 50, 1, windowMs);
    const latency = await latencyAtRate(b, latencyRate, windowMs);
    return { qos0, qos1, fanout, fanin, latency, idle, idleCold };
  } finally {
    await b.stop();
  }
}

const results = new Map<string, Figures>();
for (const [name, start] of starters) {
  if (!only.includes(name)) continue;
  process.stderr.write(`benchmarking ${name}…\n`);
  results.set(name, await run(start));
}

type Row = [label: string, get: (f: Figures) => number, format: (v: number) => string, higherIsBetter: boolean];
const k = (v: number): string => `${(v / 1000).toFixed(1)}k/s`;
const us = (v: number): string => `${v.toFixed(2)} µs`;
const ms = (v: number): string => `${v.toFixed(2)} ms`;
const kib = (v: number): string => `${(v / 1024).toFixed(2)} KiB`;
const rows: Row[] = [
  ['1→1 QoS 0 msgs/s', (f) => f.qos0.rate, k, true],
  ['1→1 QoS 1 (20 in flight) msgs/s', (f) => f.qos1.rate, k, true],
  ['1→10 fan-out QoS 0 deliveries/s', (f) => f.fanout.rate, k, true],
  ['50→1 QoS 0 msgs/s', (f) => f.fanin.rate, k, true],
  [`latency p50 @ ${latencyRate / 1000}k/s`, (f) => f.latency.p50, ms, false],
  [`latency p99 @ ${latencyRate / 1000}k/s`, (f) => f.latency.p99, ms, false],
  ['CPU per msg, 1→1 QoS 0', (f) => f.qos0.cpuPerMessageUs, us, false],
  ['CPU per msg, 1→1 QoS 1', (f) => f.qos1.cpuPerMessageUs, us, false],
  ['CPU per delivery, fan-out', (f) => f.fanout.cpuPerMessageUs, us, false],
  [`memory per idle connection (${idleCount}, warm)`, (f) => f.idle.rssPerConnection, kib, false],
  [`memory per idle connection (${idleCount}, fresh process)`, (f) => f.idleCold.rssPerConnection, kib, false],
];

const names = [...results.keys()];
const ours = results.get('nest-mqtt5');
const header = ['figure', ...names, ...(ours ? names.filter((n) => n !== 'nest-mqtt5').map((n) => `ours/${n}`) : [])];
const table: string[][] = [header];
for (const [label, get, fmt, higher] of rows) {
  const line = [label, ...names.map((n) => fmt(get(results.get(n)!)))];
  if (ours) {
    for (const n of names) {
      if (n === 'nest-mqtt5') continue;
      const a = get(ours);
      const b = get(results.get(n)!);
      // A ratio > 1 always means "ours is better".
      line.push(`${(higher ? a / b : b / a).toFixed(2)}×`);
    }
  }
  table.push(line);
}
const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
const fmtRow = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(fmtRow(table[0]!));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of table.slice(1)) console.log(fmtRow(r));
for (const [n, f] of results) {
  const lost = f.qos0.lost + f.fanout.lost + f.fanin.lost;
  if (lost > 0) console.log(`${n}: ${lost} QoS 0 messages lost under load`);
  const cpu = (t: Throughput): string => `${t.cpuPercent.toFixed(0)}%/${t.generatorCpuPercent.toFixed(0)}%`;
  console.log(`${n}: CPU broker/generator: 1→1 QoS 0 ${cpu(f.qos0)}, QoS 1 ${cpu(f.qos1)}, fan-out ${cpu(f.fanout)}, 50→1 ${cpu(f.fanin)}`);
}
for (const [n, f] of results) {
  if (f.idle.heapPerConnection !== undefined) console.log(`${n}: V8 heap per idle connection ${kib(f.idle.heapPerConnection)}`);
}
console.log('(ratios: > 1 means nest-mqtt5 is better; Mosquitto with its default configuration; Aedes over MQTT 3.1.1;');
console.log(' memory "warm": after 1 s of traffic, so that a Node process\'s young generation — a fixed cost up to ~48 MB — is not charged to the connections)');

if (!process.argv.includes('--skip-slow-consumer')) {
  console.log('');
  const slow = fileURLToPath(new URL('./slow-consumer.js', import.meta.url));
  const r = spawnSync(process.execPath, [slow, '--seconds', String(windowMs / 1000), '--only', only.filter((n) => n !== 'aedes').join(',')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

if (!process.argv.includes('--skip-idle-memory')) {
  console.log('');
  const memory = fileURLToPath(new URL('./memory.js', import.meta.url));
  const r = spawnSync(process.execPath, [memory, '--connections', arg('idle-connections', '10000')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
