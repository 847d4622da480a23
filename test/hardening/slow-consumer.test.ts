/**
 * Slow consumers. A subscriber whose application stops reading (a MessageReceiver that is never
 * drained) makes our client stop reading its socket; the broker then sees a congested connection and
 * queues that subscriber's messages in its bounded session queue (`maxQueuedMessages`), dropping per
 * the documented policy (QoS 0 first, then `dropNew`), each drop counted and reported. Checked:
 * - the broker's heap stays bounded while 30 MiB are published past the stuck subscriber;
 * - the client's receiver holds at most its capacity plus one network read;
 * - another subscriber of the same messages gets them all at (about) its normal rate;
 * - nothing is lost silently: for QoS 1, messages the slow subscriber eventually reads plus messages
 *   reported dropped for it equal the messages published.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { MqttBroker, type DropInfo } from '../../lib/broker/index.js';
import { MessageReceiver, MqttClient, TcpConnection, type MqttMessage } from '../../lib/client/index.js';
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

  async function setup(): Promise<{ broker: MqttBroker; port: number; client: (id: string) => Promise<MqttClient> }> {
    const broker = new MqttBroker({ maxQueuedMessages: MAX_QUEUED, writeBufferHighWaterMark: 16 * 1024, slowConsumerTimeout: SLOW_CONSUMER_TIMEOUT });
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

  /** Publishes `n` messages of QoS `qos` with 64 in flight and resolves when the fast subscriber has them all; returns ms. */
  async function publishAll(pub: MqttClient, qos: 0 | 1, fastGot: ReturnType<typeof counter>, n = N): Promise<number> {
    const started = Date.now();
    const window: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      window.push(pub.publish({ topic: 'slow/t', payload: PAYLOAD, qos }));
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
    // The other subscriber kept its rate: the broker held the publisher back for at most
    // slowConsumerTimeout (flow control, documented), then dropped for the stuck one instead.
    // Generously bounded: the machine is shared.
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
});
