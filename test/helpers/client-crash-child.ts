/**
 * Child process of the client crash test (test/integration/client/durable-crash.test.ts): publishes
 * `crash/<i>` for i in [from, to) at QoS 1 (even i) or 2 (odd i) through an MqttClient with a
 * DurableSessionStore, printing `accepted <i>` once publish() has returned, and `done` when every
 * publish (including those restored from the store) is acknowledged.
 *
 *   node dist/test/helpers/client-crash-child.js <port> <dir> <clientId> <from> <to>
 */
import { MqttClient, TcpConnection, DurableSessionStore, type PublishResult } from '../../lib/client/index.js';

async function main(): Promise<void> {
  const [port, dir, clientId, fromArg, toArg] = process.argv.slice(2);
  const from = Number(fromArg);
  const to = Number(toArg);
  const store = DurableSessionStore.open({ dir: dir!, clientId: clientId! });
  const restored = store.inflightCount + store.pendingCount;
  // A publish accepted just before the kill may not have been printed: it is in the store, so carry
  // on after the newest restored message instead of publishing it a second time as a new message.
  let start = from;
  for (const m of store.restored) start = Math.max(start, Number(m.packet.topic.slice('crash/'.length)) + 1);
  const client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port: Number(port) }), {
    sessionStore: store,
    initialReconnectDelay: 5,
    maxReconnectDelay: 50,
    reconnectJitter: 0,
  });
  const connack = await client.connect({ clientId: clientId!, cleanStart: false, properties: { sessionExpiryInterval: 3600 } });
  console.log(`connected sessionPresent=${connack.sessionPresent} restored=${restored} resuming at ${start}`);
  const acks: Promise<PublishResult>[] = [];
  for (let i = start; i < to; i++) {
    acks.push(client.publish({ topic: `crash/${i}`, payload: String(i), qos: i % 2 === 0 ? 1 : 2 }));
    console.log(`accepted ${i}`);
    // Let acknowledgements flow between small bursts, so the kill lands with messages in every state.
    if (i % 5 === 4) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(acks);
  // Restored messages have no promise: wait until the session holds nothing more.
  while (store.inflightCount + store.pendingCount > 0) await new Promise((r) => setTimeout(r, 5));
  console.log('done');
  await client.disconnect();
  await store.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
