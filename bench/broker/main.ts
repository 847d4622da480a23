/**
 * Broker benchmark: nest-mqtt5 vs Mosquitto 2.0 vs Aedes, each in its own process, driven by the raw
 * socket load generator of load.ts (64-byte payloads). Prints one table with ratios.
 *
 *   npm run build && node dist/bench/broker/main.js [--seconds 3] [--only nest-mqtt5,mosquitto]
 *     [--idle-connections 10000 | --skip-idle-memory]
 * Then runs memory.ts (idle memory per connection, ours vs Mosquitto, each broker in a fresh process,
 * the connections opened by a separate generator process), slow-consumer.ts (a healthy subscriber's
 * p99 latency with and without a stuck one; skipped with --skip-slow-consumer) and aliases.ts (bytes on
 * the wire per delivery with and without server → client topic aliases).
 *
 *   npm run bench -- broker --protocol=4
 * drives every broker at protocol level 4 (MQTT 3.1.1, pre-encoded 3.1.1 frames): 1→1 QoS 0, 1→10
 * fan-out and 1→1 QoS 1 with 20 in flight only, against the issue-15 targets (≥ 3× Mosquitto and ≥ 4×
 * Aedes on QoS 0, ≥ 1.5× both on QoS 1). `--protocol=5` gives the same three figures in v5 (Aedes stays 3.1.1).
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

/** `--protocol=4` or `--protocol 4` (npm run bench passes only dash-arguments on: use the `=` form there). */
function protocolLevel(): number {
  const eq = process.argv.find((a) => a.startsWith('--protocol='));
  return Number(eq !== undefined ? eq.slice('--protocol='.length) : arg('protocol', '5'));
}
const level4 = protocolLevel() === 4;
/** `--protocol=5` (or 4): only the three throughput figures, at that level (the full run measures v5 and memory). */
const throughputOnly = process.argv.some((a) => a.startsWith('--protocol'));
const windowMs = Number(arg('seconds', '3')) * 1000;
const only = arg('only', 'nest-mqtt5,mosquitto,aedes').split(',');
const latencyRate = Number(arg('rate', '10000'));
const idleCount = Number(arg('connections', '5000'));

const starters: [string, () => Promise<BrokerProcess>][] = [
  ['nest-mqtt5', () => startOurs(level4 ? 'v311' : 'v5')],
  ['mosquitto', () => startMosquitto(level4 ? 'v311' : 'v5')],
  ['aedes', startAedes],
];

const NONE: Throughput = { rate: NaN, cpuPerMessageUs: NaN, cpuPercent: NaN, lost: 0, generatorCpuPercent: NaN };
const NO_LATENCY = { p50: NaN, p99: NaN } as Latency;
const NO_MEMORY = { rssPerConnection: NaN } as IdleMemory;

/** `--protocol=4|5`: the three throughput figures of issue 15 only. */
async function runLevel4(start: () => Promise<BrokerProcess>): Promise<Figures> {
  const b = await start();
  try {
    const qos0 = await qos0Throughput(b, 1, 1, windowMs);
    const qos1 = await qos1Throughput(b, 20, windowMs);
    const fanout = await qos0Throughput(b, 1, 10, windowMs);
    return { qos0, qos1, fanout, fanin: NONE, latency: NO_LATENCY, idle: NO_MEMORY, idleCold: NO_MEMORY };
  } finally {
    await b.stop();
  }
}

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
  results.set(name, await (throughputOnly ? runLevel4(start) : run(start)));
}

type Row = [label: string, get: (f: Figures) => number, format: (v: number) => string, higherIsBetter: boolean];
const k = (v: number): string => `${(v / 1000).toFixed(1)}k/s`;
const us = (v: number): string => `${v.toFixed(2)} µs`;
const ms = (v: number): string => `${v.toFixed(2)} ms`;
const kib = (v: number): string => `${(v / 1024).toFixed(2)} KiB`;
const allRows: Row[] = [
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
const rows = throughputOnly ? allRows.filter(([, get]) => !Number.isNaN(get(results.values().next().value!))) : allRows;
if (level4) console.log('protocol level 4 (MQTT 3.1.1) for every broker');

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
if (level4 && ours) {
  // Issue 15's targets at protocol level 4.
  const targets: [string, (f: Figures) => number, string, number][] = [
    ['1→1 QoS 0', (f) => f.qos0.rate, 'mosquitto', 3],
    ['1→1 QoS 0', (f) => f.qos0.rate, 'aedes', 4],
    ['1→10 fan-out', (f) => f.fanout.rate, 'mosquitto', 3],
    ['1→10 fan-out', (f) => f.fanout.rate, 'aedes', 4],
    ['QoS 1', (f) => f.qos1.rate, 'mosquitto', 1.5],
    ['QoS 1', (f) => f.qos1.rate, 'aedes', 1.5],
  ];
  for (const [label, get, peer, target] of targets) {
    const other = results.get(peer);
    if (other === undefined) continue;
    const ratio = get(ours) / get(other);
    console.log(`target ${label} vs ${peer}: ${ratio.toFixed(2)}× (≥ ${target}×) ${ratio >= target ? 'met' : 'NOT met'}`);
  }
}
console.log('(ratios: > 1 means nest-mqtt5 is better; Mosquitto with its default configuration; Aedes over MQTT 3.1.1;');
console.log(' memory "warm": after 1 s of traffic, so that a Node process\'s young generation — a fixed cost up to ~48 MB — is not charged to the connections)');

if (!throughputOnly && !process.argv.includes('--skip-slow-consumer')) {
  console.log('');
  const slow = fileURLToPath(new URL('./slow-consumer.js', import.meta.url));
  const r = spawnSync(process.execPath, [slow, '--seconds', String(windowMs / 1000), '--only', only.filter((n) => n !== 'aedes').join(',')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

if (!throughputOnly && !process.argv.includes('--skip-idle-memory')) {
  console.log('');
  const memory = fileURLToPath(new URL('./memory.js', import.meta.url));
  const r = spawnSync(process.execPath, [memory, '--connections', arg('idle-connections', '10000')], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

if (!throughputOnly && !process.argv.includes('--skip-aliases') && only.includes('nest-mqtt5')) {
  console.log('');
  const aliases = fileURLToPath(new URL('./aliases.js', import.meta.url));
  const r = spawnSync(process.execPath, [aliases], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
