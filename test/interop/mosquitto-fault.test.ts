/**
 * Fault test against Mosquitto: 1,000 QoS 1 and 1,000 QoS 2 publishes while the network is cut 50
 * times at random moments (a TCP proxy in front of the broker, carrying both the publisher and the
 * subscriber). Every QoS 1 message must arrive at least once, every QoS 2 message exactly once, and
 * every publish promise must settle — successfully, since the session survives each cut.
 *
 * Cuts are driven by progress (after a random number of completed publishes), not by timers, so the
 * test is as fast as the machine allows and always cuts mid-stream. The random source is seeded and
 * the seed printed on failure.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { MqttClient, TcpConnection, type MqttMessage, type PublishResult } from '../../lib/client/index.js';
import { mosquittoTestsEnabled, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { counter, deferred, waitForEvent } from '../helpers/wait.js';
import { Random } from '../helpers/prng.js';

const PER_QOS = 1000;
const CUTS = 50;


(mosquittoTestsEnabled() ? describe : describe.skip)('fault injection against Mosquitto', () => {
  let broker: Mosquitto;
  let proxy: TcpProxy;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    proxy = await TcpProxy.start(broker.tcpPort);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await proxy?.close();
    await broker?.stop();
  });

  it(`QoS 1 at least once, QoS 2 exactly once, every promise settled, across ${CUTS} cuts`, async () => {
    const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
    const rng = new Random(seed);
    const random = (): number => rng.next();
    const note = `(seed ${seed}; rerun with FAULT_SEED=${seed})`;
    const options = { initialReconnectDelay: 2, maxReconnectDelay: 20, reconnectJitter: 0.5, random };
    const connection = (): TcpConnection => new TcpConnection({ host: '127.0.0.1', port: proxy.port });

    // Subscriber: persistent session, so that messages published during its cuts are kept for it.
    const received = { 1: new Map<number, number>(), 2: new Map<number, number>() };
    const distinct = counter(2 * PER_QOS, 25_000, `distinct messages ${note}`);
    const subscriber = new MqttClient(connection(), options);
    clients.push(subscriber);
    await subscriber.connect({ clientId: `fault-sub-${seed}`, cleanStart: true, properties: { sessionExpiryInterval: 300 } });
    await subscriber.subscribe({ subscriptions: [{ topicFilter: 'fault/#', qos: 2 }] }, (m: MqttMessage) => {
      const [qos, n] = m.payload.toString().split(':').map(Number) as [1 | 2, number];
      const seen = received[qos];
      const count = (seen.get(n) ?? 0) + 1;
      seen.set(n, count);
      if (count === 1) distinct.hit();
    });

    const publisher = new MqttClient(connection(), options);
    clients.push(publisher);
    await publisher.connect({ clientId: `fault-pub-${seed}`, cleanStart: true, properties: { sessionExpiryInterval: 300 } });

    // Cut after a random number (1–30) of completed publishes, then wait for both clients to resume.
    let completed = 0;
    let nextCut = 1 + Math.floor(random() * 30);
    let cuts = 0;
    let cutting = false;
    const cutsDone = deferred<void>();
    const maybeCut = (): void => {
      if (cutting || cuts >= CUTS || completed < nextCut) return;
      cutting = true;
      const resumed = Promise.all([
        waitForEvent(publisher, 'reconnected', 5000),
        waitForEvent(subscriber, 'reconnected', 5000),
      ]);
      if (process.env.FAULT_DEBUG) console.log(`cut ${cuts} completed=${completed} inflight=${publisher.inflightCount} pending=${publisher.pendingCount}`);
      if (proxy.cut() > 0) cuts++;
      resumed.then(
        () => {
          cutting = false;
          nextCut = completed + 1 + Math.floor(random() * 30);
          if (cuts === CUTS) cutsDone.resolve();
          else maybeCut();
        },
        (e: unknown) => cutsDone.reject(new Error(`Clients did not reconnect after cut ${cuts} ${note}: ${String(e)}`)),
      );
    };

    const settled: Promise<PublishResult>[] = [];
    for (let i = 0; i < PER_QOS; i++) {
      for (const qos of [1, 2] as const) {
        const p = publisher.publish({ topic: `fault/${qos}/${i % 10}`, payload: `${qos}:${i}`, qos });
        settled.push(p);
        p.then(() => {
          completed++;
          maybeCut();
        }, () => undefined);
      }
    }
    const results = await Promise.allSettled(settled);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(completed).toBe(2 * PER_QOS);
    if (cuts < CUTS) {
      // Publishing finished first: keep cutting an idle session until 50 cuts are done.
      nextCut = completed;
      maybeCut();
    }
    await cutsDone.promise;
    expect(cuts).toBe(CUTS);

    await distinct.done;
    // A last QoS 2 message behind everything: redeliveries, if any, would come before it.
    const marker = deferred<void>();
    await subscriber.subscribe({ subscriptions: [{ topicFilter: 'fault-marker', qos: 2 }] }, () => marker.resolve());
    await publisher.publish({ topic: 'fault-marker', qos: 2 });
    await marker.promise;

    const missing1 = [...Array(PER_QOS).keys()].filter((n) => !received[1].has(n));
    const missing2 = [...Array(PER_QOS).keys()].filter((n) => !received[2].has(n));
    const dup2 = [...received[2]].filter(([, c]) => c !== 1);
    expect({ missing1, missing2, dup2, seed }).toEqual({ missing1: [], missing2: [], dup2: [], seed });
    expect(proxy.accepted).toBeGreaterThanOrEqual(2 * (CUTS + 1));
  }, 30_000);
});
