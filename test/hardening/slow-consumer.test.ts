/**
 * Slow consumers. A subscriber whose application stops reading (a MessageReceiver that is never
 * drained) makes our client stop reading its socket; the broker then sees a congested connection and
 * queues that subscriber's messages in its bounded session queue (`maxQueuedMessages`), dropping per
 * the documented policy (QoS 0 first, then `dropNew`), each drop counted and reported. Checked:
 * - the broker's heap stays bounded while 30 MiB are published past the stuck subscriber;
 * - the client's receiver holds at most its capacity plus one network read;
 * - another subscriber of the same messages gets them all at (about) its normal rate;
 * - nothing is lost silently: for QoS 1, messages the slow subscriber eventually reads plus messages
 *   reported dropped for it equal the messages published, and each dropped one was refused to the
 *   publisher (PUBACK 0x97) — nothing acknowledged is lost;
 * - with a stuck subscriber beside it, a healthy subscriber's delivery latency stays bounded (p99 far
 *   below the old 1 s stall): the stuck one only fills its own queue;
 * - when the stuck subscriber is the only route, the publisher is held back instead (nothing dropped or
 *   refused), and everything arrives once it reads again.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { MqttBroker, type DropInfo, type MqttBrokerOptions } from '../../lib/broker/index.js';
import { MessageReceiver, MqttClient, PublishError, TcpConnection, type MqttMessage } from '../../lib/client/index.js';
import { formatBytes, settledHeapUsed } from '../helpers/memory.js';
import { counter, withTimeout } from '../helpers/wait.js';

const N = 30_000;
const PAYLOAD = Buffer.alloc(1024, 0x61);
const MAX_QUEUED = 500;
const CAPACITY = 8;
/** The broker holds publishers back this long for a congested subscriber before declaring it slow. */
const SLOW_CONSUMER_TIMEOUT = 300;

describe('slow consumers', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(options: MqttBrokerOptions = {}): Promise<{ broker: MqttBroker; port: number; client: (id: string) => Promise<MqttClient> }> {
    const broker = new MqttBroker({ maxQueuedMessages: MAX_QUEUED, writeBufferHighWaterMark: 16 * 1024, slowConsumerTimeout: SLOW_CONSUMER_TIMEOUT, ...options });
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    cleanups.push(() => broker.close());
    const client = async (id: string): Promise<MqttClient> => {
      const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
      await c.connect({ clientId: id, keepAlive: 0 });
      cleanups.push(() => c.disconnect());
      return c;
    };
    return { broker, port, client };
  }

  /** QoS 1 publishes the broker refused with 0x97 (Quota exceeded), per test. */
  const refusals = { n: 0 };
  /** Publishes with a 0x97 refusal counted (the broker's answer when a subscriber's queue cannot keep the message). */
  function publishCounted(pub: MqttClient, qos: 0 | 1, payload: Buffer): Promise<unknown> {
    return pub.publish({ topic: 'slow/t', payload, qos }).catch((e: unknown) => {
      if (e instanceof PublishError && e.reasonCode === 0x97) refusals.n++;
      else throw e;
    });
  }

  /** Publishes `n` messages of QoS `qos` with 64 in flight and resolves when the fast subscriber has them all; returns ms. */
  async function publishAll(pub: MqttClient, qos: 0 | 1, fastGot: ReturnType<typeof counter>, n = N): Promise<number> {
    const started = Date.now();
    const window: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      window.push(publishCounted(pub, qos, PAYLOAD));
      if (window.length >= 64) await window.shift();
    }
    await Promise.all(window);
    await fastGot.done;
    return Date.now() - started;
  }

  it.each([1, 0] as const)('QoS %i: a stuck subscriber costs the broker a bounded queue; the other keeps its rate; drops are reported', async (qos) => {
    const { broker, client } = await setup();
    const pub = await client('pub');
    const fast = await client('fast');
    const fastCount = { n: 0 };
    let fastGot = counter(N, 60_000, 'messages at the fast subscriber');
    await fast.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos }] }, () => {
      fastCount.n++;
      fastGot.hit();
    });

    // Baseline: the fast subscriber alone.
    const baselineMs = await publishAll(pub, qos, fastGot);

    // Now with a subscriber that never reads.
    const slow = await client('slow');
    const receiver = new MessageReceiver({ capacity: CAPACITY });
    await slow.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos }] }, receiver);
    // Count drops without keeping them (a DropInfo holds its message).
    const drops = { length: 0, kinds: new Set<string>() };
    refusals.n = 0;
    broker.on('drop', (d: DropInfo) => {
      drops.length++;
      drops.kinds.add(`${d.clientId}/${d.reason}`);
    });
    fastGot = counter(N, 60_000, 'messages at the fast subscriber');
    const heapBefore = await settledHeapUsed();
    const withSlowMs = await publishAll(pub, qos, fastGot);
    const heapAfter = await settledHeapUsed();

    // Bounded: 30 MiB went past; the broker keeps ≤ MAX_QUEUED messages for the stuck one (≈ 0.5 MiB),
    // its socket buffer and the client's receiver; 8 MiB leaves room for the sockets' buffers and noise.
    console.log(`QoS ${qos}: heap +${formatBytes(heapAfter - heapBefore)}, receiver ${receiver.size}, drops ${drops.length}, baseline ${baselineMs} ms, with a stuck subscriber ${withSlowMs} ms, external ${formatBytes(process.memoryUsage().external)}`);
    expect(heapAfter - heapBefore).toBeLessThan(8 * 1024 * 1024);
    // The client stopped reading: its receiver holds its capacity plus at most one network read (64 KiB).
    expect(receiver.size).toBeLessThanOrEqual(CAPACITY + 64);
    // Drops were reported, for the stuck subscriber only, as queueFull.
    expect(drops.length).toBeGreaterThan(0);
    expect(drops.kinds).toEqual(new Set(['slow/queueFull']));
    expect(broker.metrics().droppedMessages).toBe(drops.length);
    expect(broker.metrics().droppedByReason.queueFull).toBe(drops.length);
    // QoS 1: each drop is a refusal the publisher saw (0x97), never a message acknowledged and then lost.
    expect(refusals.n).toBe(qos === 1 ? drops.length : 0);
    expect(broker.metrics().refusedMessages).toBe(refusals.n);
    // The other subscriber kept its rate: with a healthy route beside it the stuck one holds nobody
    // back (it only fills its own queue). Generously bounded: the machine is shared.
    expect(withSlowMs).toBeLessThan(4 * baselineMs + SLOW_CONSUMER_TIMEOUT + 1000);
    expect(fastCount.n).toBe(2 * N);

    if (qos === 1) {
      // Nothing lost silently: what the slow subscriber reads once it drains, plus what was reported
      // dropped for it, is everything.
      const dropped = drops.length;
      let read = 0;
      const all = counter(N - dropped, 30_000, 'messages at the slow subscriber');
      const drain = (async () => {
        for await (const m of receiver) {
          void (m satisfies MqttMessage);
          read++;
          all.hit();
          if (read === N - dropped) break;
        }
      })();
      await all.done;
      await withTimeout(drain, 5000, 'the drain loop');
      expect(read + dropped).toBe(N);
    }
  }, 120_000);

  // A subscriber that keeps reading, only slowly (500 messages/s), is the harder case for flow control:
  // it never stays congested for slowConsumerTimeout at a stretch, yet must not pace everybody else.
  it('a subscriber reading slowly but steadily does not pace the other subscribers', async () => {
    const { client } = await setup();
    const pub = await client('pub');
    const fast = await client('fast');
    const n = 10_000;
    let fastGot = counter(n, 60_000, 'messages at the fast subscriber');
    await fast.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos: 1 }] }, () => fastGot.hit());
    const baselineMs = await publishAll(pub, 1, fastGot, n);

    const slow = await client('slow');
    const receiver = new MessageReceiver({ capacity: CAPACITY });
    await slow.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos: 1 }] }, receiver);
    // The slow application: 5 messages every 10 ms (this timer is the consumer's pace, not a wait).
    const reader = setInterval(() => {
      for (let i = 0; i < 5 && receiver.tryRecv() !== undefined; i++);
    }, 10);
    cleanups.push(async () => clearInterval(reader));
    fastGot = counter(n, 60_000, 'messages at the fast subscriber');
    const withSlowMs = await publishAll(pub, 1, fastGot, n);
    console.log(`steady slow reader: baseline ${baselineMs} ms, with it ${withSlowMs} ms for ${n} messages`);
    // At the slow reader's pace these 10,000 messages would take 20 s.
    expect(withSlowMs).toBeLessThan(4 * baselineMs + SLOW_CONSUMER_TIMEOUT + 1000);
  }, 120_000);

  /**
   * Publishes `n` messages at `rate` per second (a batch per timer tick: the workload's pace, not a
   * wait), each stamped with its send time; resolves when all were handed to the client.
   */
  async function publishPaced(pub: MqttClient, qos: 0 | 1, n: number, rate: number, size: number): Promise<void> {
    const started = performance.now();
    let sent = 0;
    const pending: Promise<unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      const tick = setInterval(() => {
        const due = Math.min(n, Math.floor(((performance.now() - started) * rate) / 1000)) - sent;
        for (let i = 0; i < due; i++) {
          const payload = Buffer.alloc(size, 0x61);
          payload.writeDoubleLE(performance.now(), 0);
          pending.push(publishCounted(pub, qos, payload));
        }
        sent += Math.max(0, due);
        if (sent === n) {
          clearInterval(tick);
          Promise.all(pending).then(() => resolve(), reject);
        }
      }, 2);
    });
  }

  it.each([0, 1] as const)(
    'QoS %i: with a stuck subscriber beside it, a healthy subscriber of the same publisher keeps a bounded latency; drops counted, refusals (QoS 1) never lose an acknowledged message',
    async (qos) => {
      // 10 MiB over 5 s: more than the socket buffers between the broker and the stuck client take
      // (about 4-5 MiB on loopback), at a pace a loaded CI machine keeps up with.
      const n = 10_000;
      const size = 1024;
      const { broker, client } = await setup({ slowConsumerTimeout: 60_000, maxQueuedMessages: 200 });
      // Counted, not kept: a DropInfo holds its message (9 MiB here), and this process is also the broker.
      const drops = { length: 0, kinds: new Set<string>() };
      broker.on('drop', (d: DropInfo) => {
        drops.length++;
        drops.kinds.add(`${d.clientId}/${d.reason}`);
      });
      refusals.n = 0;
      const healthy = await client('healthy');
      let latencies: number[] = [];
      let got: ReturnType<typeof counter> | null = null;
      await healthy.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos }] }, (m: MqttMessage) => {
        latencies.push(performance.now() - m.payload.readDoubleLE(0));
        got!.hit();
      });
      const pub = await client('pub');
      const p99 = (): number => {
        latencies.sort((a, b) => a - b);
        return latencies[Math.floor(latencies.length * 0.99)]!;
      };
      // Baseline: the healthy subscriber alone, same pace (a measure of this machine's noise right now).
      got = counter(n / 2, 90_000, 'messages at the healthy subscriber');
      await publishPaced(pub, qos, n / 2, 2000, size);
      await got!.done;
      const alone = p99();
      latencies = [];

      const stuck = await client('stuck');
      const receiver = new MessageReceiver({ capacity: CAPACITY });
      await stuck.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos }] }, receiver);
      got = counter(n, 90_000, 'messages at the healthy subscriber');
      await publishPaced(pub, qos, n, 2000, size);
      await got!.done;
      const withStuck = p99();
      console.log(`QoS ${qos} paced: healthy p99 alone ${alone.toFixed(1)} ms, with a stuck subscriber ${withStuck.toFixed(1)} ms (p50 ${latencies[latencies.length >> 1]!.toFixed(1)} ms); drops ${drops.length}, refused ${refusals.n}`);
      // Before per-subscriber flow control the stuck one stalled the publisher (and so this subscriber)
      // for up to 1 s at a time. Bounded far below that — or, on a machine so loaded that the healthy
      // subscriber alone is slow, within a few times its own figure.
      expect(withStuck).toBeLessThan(Math.max(200, 3 * alone));
      expect(latencies.length).toBe(n);
      // The stuck subscriber's queue overflowed: drops counted, for it only.
      expect(drops.length).toBeGreaterThan(0);
      expect(drops.kinds).toEqual(new Set(['stuck/queueFull']));
      expect(broker.metrics().droppedByReason.queueFull).toBe(drops.length);
      if (qos === 0) {
        expect(refusals.n).toBe(0);
        return;
      }
      // QoS 1: every drop was refused to the publisher (0x97); what was acknowledged reaches the stuck
      // subscriber once it reads again — all of it.
      expect(refusals.n).toBe(drops.length);
      const accepted = n - refusals.n;
      let read = 0;
      const all = counter(accepted, 60_000, 'messages at the resumed subscriber');
      const drain = (async () => {
        for await (const m of receiver) {
          void (m satisfies MqttMessage);
          read++;
          all.hit();
          if (read === accepted) break;
        }
      })();
      await all.done;
      await withTimeout(drain, 5000, 'the drain loop');
      expect(read).toBe(accepted);
    },
    120_000,
  );

  it('holds the publisher back when the stuck subscriber is the only route: nothing dropped or refused, all delivered once it reads', async () => {
    // 8 MiB: more than the socket buffers between the broker and the stuck client take.
    const n = 8000;
    const { broker, client } = await setup({ slowConsumerTimeout: 60_000 });
    const stuck = await client('only');
    const receiver = new MessageReceiver({ capacity: CAPACITY });
    await stuck.subscribe({ subscriptions: [{ topicFilter: 'slow/#', qos: 1 }] }, receiver);
    const pub = await client('pub');
    refusals.n = 0;
    let acked = 0;
    const publishing = (async () => {
      const window: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        window.push(publishCounted(pub, 1, PAYLOAD).then(() => acked++));
        if (window.length >= 64) await window.shift();
      }
      await Promise.all(window);
    })();
    // The publisher stalls: the only route is backed up, and nobody can take its messages.
    const stalled = await withTimeout(publishing, 1500, 'publishing').then(
      () => false,
      () => true,
    );
    expect(stalled).toBe(true);
    expect(acked).toBeLessThan(n);
    expect(broker.metrics().droppedMessages).toBe(0);
    // The subscriber reads again: the publisher goes on, and every message arrives.
    let read = 0;
    const all = counter(n, 60_000, 'messages at the only subscriber');
    const drain = (async () => {
      for await (const m of receiver) {
        void (m satisfies MqttMessage);
        read++;
        all.hit();
        if (read === n) break;
      }
    })();
    await all.done;
    await withTimeout(publishing, 10_000, 'publishing after the drain');
    await withTimeout(drain, 5000, 'the drain loop');
    expect(read).toBe(n);
    expect(refusals.n).toBe(0);
    expect(broker.metrics().droppedMessages).toBe(0);
  }, 120_000);
});
