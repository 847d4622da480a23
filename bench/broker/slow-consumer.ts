/**
 * Slow-consumer benchmark: does one stuck subscriber stall the others? A raw-socket publisher sends
 * 64-byte messages to one topic at a fixed rate (each carrying its send time); a healthy subscriber
 * measures each delivery's latency (and acknowledges QoS 1 per read chunk, in one write). The same run
 * is made without and with a second subscriber of the topic that stops reading after SUBSCRIBE.
 * Ours and Mosquitto, each in its own process, side by side.
 *
 *   npm run build && node dist/bench/broker/slow-consumer.js [--seconds 3] [--only nest-mqtt5,mosquitto]
 *
 * The QoS 1 publisher keeps at most the broker's Receive Maximum (CONNACK; 1000 at most) unacknowledged:
 * a message due while that window is full is sent when it opens, stamped then (so a refusing or slow
 * broker shows as a lower achieved rate, which is printed, rather than as latency).
 * Latency counts every message sent during the window, however late it arrives (a publisher held back
 * delivers after the window). Target: p99 with a stuck subscriber ≤ 2× p99 without.
 */
import { performance } from 'node:perf_hooks';
import { PacketDecoder, PacketType } from '../../lib/codec/index.js';
import { packetIdOffset, payloadOffset, publishFrame, writePuback } from './frames.js';
import { GenConn } from './load.js';
import { cpuSeconds, startMosquitto, startOurs, type BrokerProcess } from './servers.js';

const TOPIC = 'bench/slow/0001';
const PAYLOAD = Buffer.alloc(64, 0x61);

/** One run: the healthy subscriber's latency percentiles, what went through, and the broker's CPU. */
export interface SlowConsumerRun {
  p50: number;
  p99: number;
  /** Messages published per second during the window (QoS 1: limited by the window of unacknowledged ones). */
  rate: number;
  /** Messages published during the window that never reached the healthy subscriber. */
  missing: number;
  /** Broker CPU per delivery to the healthy subscriber, µs. */
  cpuPerMessageUs: number;
  /** QoS 1 PUBACKs with a failure reason code (ours: 0x97 once the stuck subscriber's queue is full). */
  refused: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function receiveMaximum(connack: Buffer | null): number {
  if (connack === null) return 65_535;
  const [p] = new PacketDecoder().push(connack);
  return p?.type === PacketType.CONNACK ? (p.properties?.receiveMaximum ?? 65_535) : 65_535;
}

/** Publishes `rate` msgs/s of QoS `qos` to one topic for `windowMs` (after 500 ms of warm-up); optionally with a stuck second subscriber. */
export async function slowConsumerRun(b: BrokerProcess, rate: number, qos: 0 | 1, stuck: boolean, windowMs: number): Promise<SlowConsumerRun> {
  const tag = `sc-${qos}-${stuck ? 's' : 'n'}-${Date.now()}`;
  const healthy = await GenConn.open(b, `h-${tag}`);
  await healthy.subscribe(TOPIC, qos);
  let frozen: GenConn | null = null;
  if (stuck) {
    frozen = await GenConn.open(b, `x-${tag}`);
    await frozen.subscribe(TOPIC, qos);
    // Stops reading: the kernel buffers fill, then the broker's side of the socket backs up.
    frozen.socket.pause();
  }
  const pub = await GenConn.open(b, `p-${tag}`);
  const window = Math.min(1000, receiveMaximum(pub.lastReply));
  const template = publishFrame(b.dialect, TOPIC, PAYLOAD, qos, 1);
  const stampOffset = payloadOffset(b.dialect, template);
  const pidOffset = qos === 0 ? 0 : packetIdOffset(template);

  const samples: number[] = [];
  // Messages count by their send time: those sent during the window, however late they arrive (a
  // publisher the broker stops reading delivers its backlog after the window: it must count).
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let received = 0;
  let lastArrival = 0;
  let acks = Buffer.allocUnsafe(4096);
  let ackLen = 0;
  healthy.onPublish = (buf, start) => {
    const sentAt = buf.readDoubleLE(payloadOffset(b.dialect, buf, start));
    if (sentAt >= windowStart && sentAt < windowEnd) {
      lastArrival = performance.now();
      samples.push(lastArrival - sentAt);
      received++;
    }
    if (qos === 1) {
      if (ackLen + 4 > acks.length) {
        const bigger = Buffer.allocUnsafe(acks.length * 2);
        acks.copy(bigger, 0, 0, ackLen);
        acks = bigger;
      }
      ackLen = writePuback(acks, ackLen, buf.readUInt16BE(packetIdOffset(buf, start)));
    }
  };
  healthy.onDataEnd = () => {
    if (ackLen === 0) return;
    healthy.write(Buffer.from(acks.subarray(0, ackLen)));
    ackLen = 0;
  };

  let unacked = 0;
  let refused = 0;
  pub.onPuback = (_id, reasonCode) => {
    unacked--;
    if (reasonCode >= 0x80) refused++;
  };

  const start = performance.now();
  let sent = 0;
  let nextId = 1;
  const tick = setInterval(() => {
    const now = performance.now();
    let due = Math.floor(((now - start) * rate) / 1000) - sent;
    if (qos === 1) due = Math.min(due, window - unacked);
    if (due <= 0) return;
    const buf = Buffer.allocUnsafe(template.length * due);
    for (let i = 0; i < due; i++) {
      const off = i * template.length;
      template.copy(buf, off);
      buf.writeDoubleLE(now, off + stampOffset);
      if (qos === 1) {
        buf.writeUInt16BE(nextId, off + pidOffset);
        nextId = nextId === 0xffff ? 1 : nextId + 1;
      }
    }
    sent += due;
    unacked += qos === 1 ? due : 0;
    pub.write(buf);
  }, 1);
  await sleep(500);
  const c0 = cpuSeconds(b.pid);
  refused = 0;
  const sent0 = sent;
  windowStart = performance.now();
  await sleep(windowMs);
  windowEnd = performance.now();
  const seconds = (windowEnd - windowStart) / 1000;
  const cpu = cpuSeconds(b.pid) - c0;
  const inWindow = sent - sent0;
  clearInterval(tick);
  // The stragglers of the window: until all have arrived, or nothing arrived for 500 ms (10 s at most).
  const deadline = performance.now() + 10_000;
  while (received < inWindow && performance.now() < deadline && performance.now() - Math.max(lastArrival, windowEnd) < 500) await sleep(20);
  await Promise.all([pub.close(), healthy.close(), frozen?.close()]);
  samples.sort((x, y) => x - y);
  const q = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), rate: inWindow / seconds, cpuPerMessageUs: (cpu * 1e6) / Math.max(1, received), refused, missing: inWindow - received };
}

/** The four runs for one broker: QoS 0 at `rate0` and QoS 1 at `rate1`, each without and with a stuck subscriber. */
export interface SlowConsumerFigures {
  qos0: [alone: SlowConsumerRun, stuck: SlowConsumerRun];
  qos1: [alone: SlowConsumerRun, stuck: SlowConsumerRun];
}

/** Runs the scenario on a fresh broker process. */
export async function slowConsumerFigures(start: () => Promise<BrokerProcess>, rate0: number, rate1: number, windowMs: number): Promise<SlowConsumerFigures> {
  const b = await start();
  try {
    const q0a = await slowConsumerRun(b, rate0, 0, false, windowMs);
    const q0s = await slowConsumerRun(b, rate0, 0, true, windowMs);
    const q1a = await slowConsumerRun(b, rate1, 1, false, windowMs);
    const q1s = await slowConsumerRun(b, rate1, 1, true, windowMs);
    return { qos0: [q0a, q0s], qos1: [q1a, q1s] };
  } finally {
    await b.stop();
  }
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

async function main(): Promise<void> {
  const windowMs = Number(arg('seconds', '3')) * 1000;
  const rate0 = Number(arg('rate0', '20000'));
  const rate1 = Number(arg('rate1', '10000'));
  const only = arg('only', 'nest-mqtt5,mosquitto').split(',');
  const brokers: [string, () => Promise<BrokerProcess>][] = [
    ['nest-mqtt5', startOurs],
    ['mosquitto', startMosquitto],
  ];
  const results = new Map<string, SlowConsumerFigures>();
  for (const [name, start] of brokers) {
    if (!only.includes(name)) continue;
    process.stderr.write(`slow consumer: ${name}…\n`);
    results.set(name, await slowConsumerFigures(start, rate0, rate1, windowMs));
  }
  const f = (v: number): string => `${v.toFixed(2)} ms`;
  console.log('| healthy subscriber, 64 B to one topic | broker | p99 alone | p99 with a stuck one | ratio (target ≤ 2×) | p50 alone / stuck | rate alone / stuck | CPU/msg alone / stuck | refused (stuck) | missing alone / stuck |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const [name, r] of results) {
    for (const [label, [a, s]] of [
      [`QoS 0 @ ${rate0 / 1000}k/s`, r.qos0],
      [`QoS 1 @ ${rate1 / 1000}k/s`, r.qos1],
    ] as const) {
      console.log(
        `| ${label} | ${name} | ${f(a.p99)} | ${f(s.p99)} | ${(s.p99 / a.p99).toFixed(2)}× | ${f(a.p50)} / ${f(s.p50)} | ${(a.rate / 1000).toFixed(1)}k / ${(s.rate / 1000).toFixed(1)}k | ${a.cpuPerMessageUs.toFixed(1)} / ${s.cpuPerMessageUs.toFixed(1)} µs | ${s.refused} | ${a.missing} / ${s.missing} |`,
      );
    }
  }
  const ours = results.get('nest-mqtt5');
  const mosq = results.get('mosquitto');
  if (ours !== undefined && mosq !== undefined) {
    console.log(`ours/mosquitto p99 with a stuck subscriber: QoS 0 ${(mosq.qos0[1].p99 / ours.qos0[1].p99).toFixed(2)}×, QoS 1 ${(mosq.qos1[1].p99 / ours.qos1[1].p99).toFixed(2)}× (> 1: ours better)`);
    console.log(`ours/mosquitto healthy QoS 1 p99 alone: ${(mosq.qos1[0].p99 / ours.qos1[0].p99).toFixed(2)}× (target ≥ 1)`);
  }
}

if (process.argv[1]?.endsWith('slow-consumer.js') === true) {
  await main();
}
