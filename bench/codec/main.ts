/**
 * Codec benchmark: encode and decode a PUBLISH QoS 1 (20-byte topic; 64 B and 4 KiB payloads; with and
 * without one user property) with nest-mqtt5 and with mqtt-packet in the same run, and print packets/s
 * for both and the ratio. Targets: ≥ 2× mqtt-packet to encode and ≥ 3× to decode at 64 B, not slower at 4 KiB.
 *
 *   npm run build && node dist/bench/codec/main.js [--time=<ms per task>]
 *
 * Each task runs an inner loop of {@link INNER} operations so that the timer's own cost per sample does not
 * flatten the ratios; packets/s = INNER × tasks/s.
 */
import mqttPacket from 'mqtt-packet';
import { Bench } from 'tinybench';
import { PacketDecoder, encodePacket, type Packet, type PublishPacket } from '../../lib/codec/index.js';

const INNER = 1000;
const TOPIC = 'sensors/room-42/temp'; // 20 bytes
const timeArg = process.argv.find((a) => a.startsWith('--time='));
const TIME_MS = timeArg ? Number(timeArg.slice('--time='.length)) : 500;

interface Case {
  name: string;
  ours: PublishPacket;
  theirs: mqttPacket.IPublishPacket;
  encodeTarget: number;
  decodeTarget: number;
}

function makeCase(payloadSize: number, userProperty: boolean): Case {
  const payload = Buffer.alloc(payloadSize, 0x61);
  return {
    name: `PUBLISH QoS1 ${payloadSize >= 1024 ? `${payloadSize / 1024} KiB` : `${payloadSize} B`}${userProperty ? ' +1 user property' : ''}`,
    ours: {
      type: 3,
      topic: TOPIC,
      payload,
      qos: 1,
      retain: false,
      dup: false,
      packetId: 42,
      ...(userProperty ? { properties: { userProperties: [['trace-id', 'abc123']] } } : {}),
    },
    theirs: {
      cmd: 'publish',
      topic: TOPIC,
      payload,
      qos: 1,
      retain: false,
      dup: false,
      messageId: 42,
      ...(userProperty ? { properties: { userProperties: { 'trace-id': 'abc123' } } } : {}),
    },
    encodeTarget: payloadSize <= 64 ? 2 : 1,
    decodeTarget: payloadSize <= 64 ? 3 : 1,
  };
}

const cases = [makeCase(64, false), makeCase(64, true), makeCase(4096, false), makeCase(4096, true)];

// Sinks so that the work cannot be optimised away.
let sinkBuf: Buffer = Buffer.alloc(0);
let decoded = 0;
const onOurs = (p: Packet): void => {
  if (p.type === 3) decoded++;
};

async function main(): Promise<void> {
  const bench = new Bench({ time: TIME_MS, warmup: true, warmupTime: Math.min(200, TIME_MS) });
  for (const c of cases) {
    const ourBytes = encodePacket(c.ours);
    const theirBytes = mqttPacket.generate(c.theirs, { protocolVersion: 5 });
    // Same wire bytes, so both decoders do the same work (up to property order, of which there is one).
    if (!ourBytes.equals(theirBytes)) throw new Error(`${c.name}: encodings differ`);

    const decoder = new PacketDecoder();
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', () => {
      decoded++;
    });
    parser.on('error', (err: Error) => {
      throw err;
    });

    bench
      .add(`encode ours ${c.name}`, () => {
        for (let i = 0; i < INNER; i++) sinkBuf = encodePacket(c.ours);
      })
      .add(`encode mqtt-packet ${c.name}`, () => {
        for (let i = 0; i < INNER; i++) sinkBuf = mqttPacket.generate(c.theirs, { protocolVersion: 5 });
      })
      .add(`decode ours ${c.name}`, () => {
        for (let i = 0; i < INNER; i++) decoder.feed(ourBytes, onOurs);
      })
      .add(`decode mqtt-packet ${c.name}`, () => {
        for (let i = 0; i < INNER; i++) parser.parse(ourBytes);
      });
  }
  await bench.run();

  const rate = (name: string): number => {
    const task = bench.getTask(name);
    const r = task?.result;
    if (r === undefined || !('throughput' in r)) throw new Error(`no result for ${name}`);
    return r.throughput.mean * INNER;
  };
  const fmt = (n: number): string => `${(n / 1e6).toFixed(2)}M/s`;
  const rows: Record<string, string>[] = [];
  let belowTarget = 0;
  for (const c of cases) {
    for (const op of ['encode', 'decode'] as const) {
      const ours = rate(`${op} ours ${c.name}`);
      const theirs = rate(`${op} mqtt-packet ${c.name}`);
      const ratio = ours / theirs;
      const target = op === 'encode' ? c.encodeTarget : c.decodeTarget;
      if (ratio < target) belowTarget++;
      rows.push({
        case: c.name,
        op,
        'nest-mqtt5': fmt(ours),
        'mqtt-packet': fmt(theirs),
        ratio: `${ratio.toFixed(2)}×`,
        target: `≥${target}× ${ratio >= target ? 'ok' : 'BELOW'}`,
      });
    }
  }
  console.table(rows);
  console.log(`${belowTarget === 0 ? 'all targets met' : `${belowTarget} below target`} (decoded ${decoded} packets, last size ${sinkBuf.length})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
