/**
 * Cost of the client's DurableSessionStore per QoS 1 publish, against the in-memory store measured in
 * the same run: the store calls MqttClient makes for a queued publish (pushPending, shiftPending +
 * setInflight with a packet id, deleteInflight on PUBACK) — three synchronous transactions — and for a
 * fast-path one (setInflight, deleteInflight).
 *
 *   npm run build && node dist/bench/store/client-store.js [--count 5000] [--dir /tmp]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType, type PublishPacket } from '../../lib/codec/index.js';
import { DurableSessionStore, MemorySessionStore, type OutgoingMessage, type SessionStore } from '../../lib/client/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}
const count = Number(arg('count', '5000'));
const base = arg('dir', tmpdir());
const payload = Buffer.alloc(64, 0x61);

function run(store: SessionStore, queued: boolean, n = count): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const packet = { type: PacketType.PUBLISH, topic: 'bench/t', payload, qos: 1, retain: false, dup: false, packetId: undefined } as PublishPacket;
    const msg: OutgoingMessage = { packet, state: 'queued', sent: false };
    if (queued) {
      store.pushPending(msg);
      store.shiftPending();
    }
    packet.packetId = (i % 65535) + 1;
    msg.state = 'publish';
    store.setInflight(msg);
    store.deleteInflight(packet.packetId);
  }
  return (n / (performance.now() - t0)) * 1000;
}

async function main(): Promise<void> {
  const rows: [string, number, number][] = [];
  rows.push(['memory', run(new MemorySessionStore(), false), run(new MemorySessionStore(), true)]);
  for (const sync of ['periodic', 'always'] as const) {
    // always: an fsync per call, so fewer messages keep the run short.
    const n = sync === 'always' ? Math.min(count, 300) : count;
    const dir = mkdtempSync(join(base, 'nest-mqtt5-client-store-'));
    const store = DurableSessionStore.open({ dir, sync });
    try {
      rows.push([`durable ${sync}`, run(store, false, n), run(store, true, n)]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`client session store: QoS 1 publishes/s through the store calls only (${count} messages)`);
  console.log(['store'.padEnd(18), 'fast path/s'.padStart(12), 'queued/s'.padStart(12), 'vs memory'.padStart(10)].join(''));
  for (const [name, fast, queued] of rows) {
    console.log([name.padEnd(18), Math.round(fast).toLocaleString().padStart(12), Math.round(queued).toLocaleString().padStart(12), `${(fast / rows[0]![1]).toFixed(4)}×`.padStart(10)].join(''));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
