/**
 * Child process of the broker store crash test (test/integration/broker/store-crash.test.ts): commits
 * groups of records to a DurableBrokerStore, one group per event-loop turn with several in flight, and
 * prints `acked <group>` when a group's commit resolves (= durable). Group g holds 20 outbound messages
 * of session `c<g % 7>` (seq g*100+i) and the retained message `r/<g>`.
 *
 *   node dist/test/helpers/broker-store-crash-child.js <dir> <always|periodic> <firstGroup>
 */
import { DurableBrokerStore } from '../../lib/broker/store/index.js';

const [dir, sync, firstArg] = process.argv.slice(2);
const store = DurableBrokerStore.open({ dir: dir!, sync: sync === 'periodic' ? 'periodic' : 'always' });
const first = Number(firstArg);
const last = first + 1_000_000;
const payload = Buffer.alloc(64, 0x61);
let g = first;

function stageGroup(): void {
  const group = g++;
  const clientId = `c${group % 7}`;
  for (let i = 0; i < 20; i++) {
    store.putOutbound({
      clientId,
      seq: group * 100 + i,
      state: 'queued',
      packetId: 0,
      qos: 1,
      subscriptionIds: undefined,
      message: { topic: `t/${group}`, payload, qos: 1, retain: false, properties: undefined, arrivedAt: Date.now(), expiresAt: 0 },
    });
  }
  store.putRetained({ topic: `r/${group}`, payload, qos: 1, retain: true, properties: undefined, arrivedAt: Date.now(), expiresAt: 0 });
  store.commit().then(
    () => console.log(`acked ${group}`),
    (error: unknown) => {
      console.error(`failed ${group}: ${String(error)}`);
      process.exit(1);
    },
  );
  if (g < last) setImmediate(stageGroup);
}
console.log('ready');
stageGroup();
