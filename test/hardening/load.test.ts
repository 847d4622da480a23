/**
 * The CI-short load test: 2,000 concurrent connections held by one broker, then a 10-second soak at a
 * fixed rate (2,000 QoS 1 messages/s between random connections) with nothing lost and the heap flat.
 * The broker runs in this process, so the memory figures include the generator's own sockets (an
 * upper bound); the long mode measures the broker alone, in its own process, with 10,000 connections
 * and a 5-minute soak: `npm run build && node dist/bench/load/main.js --connections 10000 --soak 300`.
 */
import { describe, expect, it } from '@jest/globals';
import { MqttBroker } from '../../lib/broker/index.js';
import { LoadClients } from '../../bench/load/generator.js';
import { formatBytes, settledHeapUsed } from '../helpers/memory.js';

const CONNECTIONS = 2000;
const RATE = 2000;
const WARMUP_MS = 2_000;
const SOAK_MS = 10_000;

describe('load (CI-short)', () => {
  it(`${CONNECTIONS} connections, then a ${SOAK_MS / 1000} s soak at ${RATE} msg/s: nothing lost, memory flat`, async () => {
    const broker = new MqttBroker({ closeGracePeriod: 200 });
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    let clients: LoadClients | undefined;
    try {
      const heapIdle = await settledHeapUsed();
      clients = await LoadClients.open({ port, connections: CONNECTIONS, keepAlive: 30 });
      expect(clients.errors).toEqual([]);
      expect(broker.metrics()).toMatchObject({ connections: CONNECTIONS, clients: CONNECTIONS, subscriptions: CONNECTIONS });
      const heapHeld = await settledHeapUsed();

      // Warm up (JIT, buffers, session state of every connection), then take the heap. No forced GC
      // during the measured soak: a full GC of the test worker's heap would be charged to the latency.
      await clients.soak(RATE, WARMUP_MS);
      const heapWarm = await settledHeapUsed();
      const result = await clients.soak(RATE, SOAK_MS);
      const heapEnd = await settledHeapUsed();
      const perConnection = (heapHeld - heapIdle) / CONNECTIONS;
      console.log(
        `load: ${CONNECTIONS} connections, ${formatBytes(perConnection)} heap per connection (broker + generator); ` +
          `soak ${result.sent} sent / ${result.received} delivered, p50 ${result.p50} ms, p99 ${result.p99} ms, max ${result.max.toFixed(1)} ms; ` +
          `heap warm ${formatBytes(heapWarm)} → end ${formatBytes(heapEnd)}`,
      );
      // QoS 1 at a rate well below saturation: every message arrives, none dropped.
      expect(result.sent).toBeGreaterThanOrEqual((RATE * SOAK_MS) / 1000 - RATE);
      expect(result.received).toBe(result.sent);
      expect(broker.metrics().droppedMessages).toBe(0);
      expect(clients.errors).toEqual([]);
      // Flat: from warm to the end of the soak, the heap moves by less than 4 MiB.
      expect(Math.abs(heapEnd - heapWarm)).toBeLessThan(4 * 1024 * 1024);
      // Latency is reported above (the long mode gives the real figures); on a shared 2-core CI machine,
      // with another jest worker busy, only a stall is a failure.
      expect(result.p99).toBeLessThan(2000);
      // Both sides of every connection live in this process: still a handful of KiB each.
      expect(perConnection).toBeLessThan(32 * 1024);
    } finally {
      await clients?.close();
      await broker.close();
    }
    expect(broker.metrics().connections).toBe(0);
  }, 90_000);
});
