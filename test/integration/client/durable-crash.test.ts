/**
 * Client crash test (issue 14, Done when): a child process publishes QoS 1/2 through MqttClient with a
 * DurableSessionStore to our broker and is killed with SIGKILL at a seeded random point; restarted
 * with the same store and client id, every publish it had accepted is delivered — QoS 2 exactly once,
 * QoS 1 at least once — counted at a subscriber that stays online. CLIENT_CRASH_SEED replays a run.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { MqttBroker } from '../../../lib/broker/index.js';
import { DIST, ensureBuilt } from '../../helpers/build.js';
import { Random } from '../../helpers/prng.js';
import { startProcess, stopAllProcesses } from '../../helpers/run-process.js';
import { deferred, withTimeout } from '../../helpers/wait.js';

const CHILD = join(DIST, 'test', 'helpers', 'client-crash-child.js');
const TOTAL = 400;
const KILLS = 3;

let dir: string;
beforeAll(async () => {
  await ensureBuilt(CHILD);
  dir = mkdtempSync(join(tmpdir(), 'nest-mqtt5-client-crash-'));
}, 240_000);
afterEach(stopAllProcesses);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('client crash with DurableSessionStore', () => {
  it('delivers every accepted publish after kill -9 and restart (QoS 2 exactly once)', async () => {
    const seed = Random.seedFromEnv('CLIENT_CRASH_SEED');
    console.log(`client crash test seed ${seed} (CLIENT_CRASH_SEED=${seed} replays it)`);
    const rnd = new Random(seed);
    const broker = new MqttBroker();
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const port = tcp!.port;
    const counts = new Map<number, number>();
    // How often the broker routed each message: tells a publish sent twice from a duplicate delivery.
    const routed = new Map<number, number>();
    broker.on('publish', (m) => {
      if (m.topic.startsWith('crash/')) routed.set(Number(m.topic.slice(6)), (routed.get(Number(m.topic.slice(6))) ?? 0) + 1);
    });
    const allSeen = deferred();
    const sub = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: 'crash-sub', reconnectPeriod: 0 });
    try {
      sub.on('message', (topic) => {
        const i = Number(topic.slice('crash/'.length));
        counts.set(i, (counts.get(i) ?? 0) + 1);
        if (counts.size === TOTAL) allSeen.resolve();
      });
      await withTimeout(new Promise<void>((resolve, reject) => sub.once('connect', () => resolve()).once('error', reject)), 10_000, 'subscriber connect');
      await withTimeout(sub.subscribeAsync('crash/#', { qos: 2 }), 10_000, 'subscribe');

      const store = join(dir, 'store');
      let next = 0;
      let accepted = -1;
      const log: string[] = [];
      for (let round = 0; round <= KILLS; round++) {
        const child = startProcess(process.execPath, [CHILD, String(port), store, 'crash-pub', String(next), String(TOTAL)]);
        const connected = await child.waitForLine(/^connected/, 15_000);
        // The last run (or the first after the stream is fully accepted) drains what the store restored.
        if (round === KILLS || next >= TOTAL) {
          await child.waitForLine('done', 60_000);
          const exit = await child.waitForExit(10_000);
          expect(exit.code).toBe(0);
          log.push(`final run: ${connected}, exit ${exit.code}`);
          accepted = TOTAL - 1;
          break;
        }
        // Kill after a seeded number of accepted publishes (the child keeps going meanwhile).
        const killAfter = rnd.range(1, Math.max(1, Math.min(120, TOTAL - next - 1)));
        await child.waitForLines(/^accepted /, killAfter, 30_000);
        child.kill('SIGKILL');
        const exit = await child.waitForExit(10_000);
        expect(exit.signal).toBe('SIGKILL');
        const lines = child.stdoutLines().filter((l) => l.startsWith('accepted '));
        const last = Number(lines[lines.length - 1]!.slice('accepted '.length));
        log.push(`round ${round}: ${connected}; killed after ${lines.length} accepted (last ${last})`);
        accepted = Math.max(accepted, last);
        next = last + 1;
      }
      console.log(log.join('\n'));
      await withTimeout(allSeen.promise, 30_000, `all ${TOTAL} messages at the subscriber (have ${counts.size})`);
      const missing: number[] = [];
      const qos2dups: number[] = [];
      let qos1dups = 0;
      for (let i = 0; i <= accepted; i++) {
        const n = counts.get(i) ?? 0;
        if (n === 0) missing.push(i);
        else if (i % 2 === 1 && n > 1) qos2dups.push(i);
        else if (n > 1) qos1dups++;
      }
      console.log(`client crash: ${accepted + 1} accepted, ${counts.size} delivered, ${missing.length} missing, ${qos2dups.length} QoS 2 duplicates, ${qos1dups} QoS 1 duplicates`);
      if (qos2dups.length > 0) console.log(`QoS 2 duplicates (id: times routed by the broker): ${qos2dups.map((i) => `${i}: ${routed.get(i)}`).join(', ')}`);
      expect(missing).toEqual([]);
      expect(qos2dups).toEqual([]);
    } finally {
      await sub.endAsync();
      await broker.close();
    }
  }, 180_000);
});
