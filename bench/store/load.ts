/**
 * Startup cost of the durable broker store (issue 14 "Restart"): fills a DurableBrokerStore with
 * `--sessions` persistent sessions (one subscription each) and `--retained` retained messages of 64 B,
 * closes it, then times open + load() (the bulk scan the broker does at startup) and prints the data
 * file size. Only the store's part: restoring into the broker is phase 2. Peer figure (Mosquitto's
 * restart with the same state) comes with the broker bench in phase 2.
 *
 *   npm run build && node dist/bench/store/load.js [--sessions 100000] [--retained 1000000] [--dir /tmp]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableBrokerStore } from '../../lib/broker/store/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

const sessions = Number(arg('sessions', '100000'));
const retained = Number(arg('retained', '1000000'));
const dir = mkdtempSync(join(arg('dir', tmpdir()), 'nest-mqtt5-store-load-'));

async function main(): Promise<void> {
  const payload = Buffer.alloc(64, 0x61);
  const now = Date.now();
  let store = DurableBrokerStore.open({ dir, sync: 'periodic' });
  const t0 = performance.now();
  const batch = 20_000;
  for (let i = 0; i < sessions; i++) {
    const clientId = `client-${i}`;
    store.putSession({ clientId, protocolVersion: 5, expiryInterval: 3600, disconnectedAt: now, will: undefined });
    store.putSubscription({ clientId, filter: `devices/${i}/cmd`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined });
    if (i % batch === batch - 1) await store.commit();
  }
  for (let i = 0; i < retained; i++) {
    store.putRetained({ topic: `state/${i % 1000}/${i}`, payload, qos: 1, retain: true, properties: undefined, arrivedAt: now, expiresAt: 0 });
    if (i % batch === batch - 1) await store.commit();
  }
  await store.commit();
  await store.close();
  const fillMs = performance.now() - t0;
  const size = statSync(store.file).size;

  const t1 = performance.now();
  store = DurableBrokerStore.open({ dir });
  const counts = store.load({
    session: () => undefined,
    subscription: () => undefined,
    outbound: () => undefined,
    inbound: () => undefined,
    retained: () => undefined,
  });
  const loadMs = performance.now() - t1;
  await store.close();
  console.log(`durable broker store: ${sessions.toLocaleString()} sessions + subscriptions, ${retained.toLocaleString()} retained (64 B)`);
  console.log(`  fill (periodic, groups of ${batch.toLocaleString()}): ${(fillMs / 1000).toFixed(1)} s`);
  console.log(`  open + load (bulk scan, records decoded): ${loadMs.toFixed(0)} ms  ${JSON.stringify(counts)}`);
  console.log(`  data file: ${(size / 1024 / 1024).toFixed(1)} MiB`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
