/**
 * Server → client topic aliases (broker option `outgoingTopicAliases`): bytes on the wire per delivered
 * message, and deliveries per second, with the option off (0) and on (16), our broker in a child process.
 * One v5 subscriber announcing Topic Alias Maximum 16 receives QoS 0 messages (64-byte payload) published
 * round-robin on 10 topics of realistic length by a raw publisher; the subscriber counts every byte
 * it reads. Also: Mosquitto (which never sends aliases) on the same load, as the peer figure.
 *
 *   npm run build && node dist/bench/broker/aliases.js [--messages 200000]
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PacketType, encodePacket } from '../../lib/codec/index.js';
import { FrameScanner } from './frames.js';
import { cpuSeconds, startMosquitto, startOurs, type BrokerProcess } from './servers.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

const MESSAGES = Number(arg('messages', '200000'));
const TOPICS = Array.from({ length: 10 }, (_, i) => `factory/line-${i % 3}/station-${String(i).padStart(3, '0')}/telemetry/temperature`);
const PAYLOAD = Buffer.alloc(64, 0x61);
const BATCH = 100;

function open(port: number, frame: Buffer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    s.once('error', reject);
    s.once('connect', () => {
      s.write(frame);
      // CONNACK (and SUBACK) are read by the caller's first 'data' handling: wait for the CONNACK here.
      s.once('data', () => resolve(s));
    });
  });
}

interface Figures {
  bytesPerMessage: number;
  rate: number;
  cpuPerMessageUs: number;
}

async function measure(b: BrokerProcess): Promise<Figures> {
  const sub = await open(b.port, encodePacket({ type: PacketType.CONNECT, clientId: 'alias-sub', keepAlive: 0, cleanStart: true, properties: { topicAliasMaximum: 16 } }));
  await new Promise<void>((resolve) => {
    sub.once('data', () => resolve());
    sub.write(encodePacket({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'factory/#', qos: 0 }] }));
  });
  const pub = await open(b.port, encodePacket({ type: PacketType.CONNECT, clientId: 'alias-pub', keepAlive: 0, cleanStart: true }));
  const frames = TOPICS.map((topic) => encodePacket({ type: PacketType.PUBLISH, topic, payload: PAYLOAD, qos: 0, retain: false, dup: false }));
  const batch = Buffer.concat(Array.from({ length: BATCH }, (_, i) => frames[i % frames.length]!));
  let bytes = 0;
  let delivered = 0;
  let sent = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const scanner = new FrameScanner((_buf, _s, _e, first) => {
    if (first >> 4 === 3) delivered++;
  });
  const pump = (): void => {
    // At most 4 batches ahead of the subscriber: the figure is the broker's, not a socket buffer's.
    while (sent < MESSAGES && sent - delivered < 4 * BATCH) {
      pub.write(batch);
      sent += BATCH;
    }
  };
  sub.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    scanner.push(chunk);
    if (delivered >= MESSAGES) finish();
    else pump();
  });
  const c0 = cpuSeconds(b.pid);
  const t0 = performance.now();
  pump();
  const timer = setTimeout(finish, 60_000);
  await done;
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(b.pid) - c0;
  sub.destroy();
  pub.destroy();
  return { bytesPerMessage: bytes / delivered, rate: delivered / seconds, cpuPerMessageUs: (cpu * 1e6) / delivered };
}

const results: [string, Figures][] = [];
for (const [name, start] of [
  ['nest-mqtt5, aliases off', () => startOurs('v5', 0)],
  ['nest-mqtt5, aliases on (16)', () => startOurs('v5', 16)],
  ['mosquitto (sends none)', () => startMosquitto('v5')],
] as const) {
  const b = await start();
  try {
    results.push([name, await measure(b)]);
  } finally {
    await b.stop();
  }
}
console.log(`server → client topic aliases: ${MESSAGES} QoS 0 deliveries, 10 topics of ${TOPICS[0]!.length} bytes, ${PAYLOAD.length}-byte payload`);
for (const [name, f] of results) {
  console.log(`  ${name.padEnd(28)} ${f.bytesPerMessage.toFixed(1).padStart(6)} bytes/delivery  ${(f.rate / 1000).toFixed(1).padStart(7)}k deliveries/s  ${f.cpuPerMessageUs.toFixed(2)} µs CPU/delivery`);
}
const off = results[0]![1];
const on = results[1]![1];
console.log(`  aliases on/off: ${(on.bytesPerMessage / off.bytesPerMessage).toFixed(2)}× the bytes, ${(on.rate / off.rate).toFixed(2)}× the rate`);
