/**
 * Broker store crash test: a child process commits groups to a DurableBrokerStore and prints each
 * acknowledged (durable) group; the test kills it with SIGKILL after a seeded number of acks, reopens
 * the store and checks that every acknowledged group is there, and that every group present is whole
 * (group commit is atomic). STORE_CRASH_SEED replays a run.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableBrokerStore } from '../../../lib/broker/store/index.js';
import { DIST, ensureBuilt } from '../../helpers/build.js';
import { Random } from '../../helpers/prng.js';
import { startProcess, stopAllProcesses } from '../../helpers/run-process.js';

const CHILD = join(DIST, 'test', 'helpers', 'broker-store-crash-child.js');
let root: string;
beforeAll(async () => {
  await ensureBuilt(CHILD);
  root = mkdtempSync(join(tmpdir(), 'nest-mqtt5-store-crash-'));
}, 240_000);
afterEach(stopAllProcesses);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Per group found in the store: how many outbound records and whether its retained message is there. */
function scan(dir: string): Map<number, { outbound: number; retained: boolean }> {
  const store = DurableBrokerStore.open({ dir });
  const groups = new Map<number, { outbound: number; retained: boolean }>();
  const entry = (g: number) => groups.get(g) ?? groups.set(g, { outbound: 0, retained: false }).get(g)!;
  try {
    store.load({
      session: () => undefined,
      subscription: () => undefined,
      inbound: () => undefined,
      outbound: (m) => void entry(Math.floor(m.seq / 100)).outbound++,
      retained: (m) => void (entry(Number(m.topic.slice(2))).retained = true),
    });
  } finally {
    void store.close();
  }
  return groups;
}

describe('DurableBrokerStore crash (kill -9)', () => {
  for (const [sync, kills] of [
    ['always', 4],
    ['periodic', 2],
  ] as const) {
    it(`keeps every acknowledged group, whole (sync: ${sync}, ${kills} kills)`, async () => {
      const seed = Random.seedFromEnv('STORE_CRASH_SEED');
      console.log(`store crash test (${sync}) seed ${seed} (STORE_CRASH_SEED=${seed} replays it)`);
      const rnd = new Random(seed);
      const dir = join(root, sync);
      const acked: number[] = [];
      for (let round = 0; round < kills; round++) {
        const child = startProcess(process.execPath, [CHILD, dir, sync, String(round * 1_000_000)]);
        await child.waitForLine('ready', 15_000);
        await child.waitForLines(/^acked /, rnd.range(1, 150), 30_000);
        child.kill('SIGKILL');
        const exit = await child.waitForExit(10_000);
        expect(exit.signal).toBe('SIGKILL');
        const these = child.stdoutLines().filter((l) => l.startsWith('acked ')).map((l) => Number(l.slice(6)));
        acked.push(...these);
        const groups = scan(dir);
        const lost = acked.filter((g) => groups.get(g)?.outbound !== 20 || groups.get(g)?.retained !== true);
        const partial = [...groups].filter(([, v]) => v.outbound !== 20 || !v.retained).map(([g]) => g);
        const unacked = [...groups.keys()].filter((g) => !acked.includes(g)).length;
        console.log(`round ${round}: ${these.length} groups acked before kill -9; store holds ${groups.size} groups (${unacked} committed but not yet acked); lost ${lost.length}, partial ${partial.length}`);
        expect(lost).toEqual([]);
        expect(partial).toEqual([]);
      }
    }, 120_000);
  }
});
