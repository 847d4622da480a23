/**
 * Slowloris: connections that send nothing, or trickle bytes so slowly that no packet completes in time,
 * are closed by the connect timeout (before CONNECT completes) or by the keep alive (after: 1.5 × the
 * keep alive without a complete control packet, DISCONNECT 0x8D), over TCP and WebSocket, while the
 * broker keeps serving a well-behaved client. Short timeouts through broker options keep this fast.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MqttBroker } from '../../lib/broker/index.js';
import { PacketType, encodePacket } from '../../lib/codec/index.js';
import { Wire, type Transport, type WireTarget } from '../helpers/wire.js';

const CONNECT_TIMEOUT = 400;
/** The broker checks deadlines on a coarse clock: a deadline may fire up to two ticks late. */
const SLACK = 600;

/** Writes `bytes` one byte at a time, `intervalMs` apart, until done or `stop()` — a slowloris client. */
function trickle(wire: Wire, bytes: Buffer, intervalMs: number): { stop(): void; sent(): number } {
  let i = 0;
  const timer = setInterval(() => {
    if (i >= bytes.length || wire.isSocketClosed) {
      clearInterval(timer);
      return;
    }
    wire.sendRaw(bytes.subarray(i, i + 1));
    i++;
  }, intervalMs);
  return { stop: () => clearInterval(timer), sent: () => i };
}

describe.each<Transport>(['tcp', 'ws'])('slowloris over %s', (transport) => {
  let broker: MqttBroker;
  let target: WireTarget;
  beforeAll(async () => {
    broker = new MqttBroker({ connectTimeout: CONNECT_TIMEOUT, closeGracePeriod: 100 });
    const a = await broker.listen(transport === 'tcp' ? { tcp: { port: 0, host: '127.0.0.1' } } : { ws: { port: 0, host: '127.0.0.1' } });
    target = { tcpPort: a.tcp?.port, wsUrl: a.ws?.url };
  });
  afterAll(() => broker.close());

  it('a connection that sends nothing is closed by the connect timeout, without CONNACK', async () => {
    const started = Date.now();
    const wire = await Wire.open(transport, target);
    try {
      await wire.waitClosed(CONNECT_TIMEOUT + SLACK + 1000);
      const after = Date.now() - started;
      expect(after).toBeGreaterThanOrEqual(CONNECT_TIMEOUT - 20);
      expect(after).toBeLessThan(CONNECT_TIMEOUT + SLACK + 500);
      expect(wire.packets).toEqual([]);
    } finally {
      wire.destroy();
    }
  });

  it('a CONNECT trickled one byte every 50 ms is closed by the connect timeout (activity does not extend it)', async () => {
    const started = Date.now();
    const wire = await Wire.open(transport, target);
    const connect = encodePacket({ type: PacketType.CONNECT, clientId: 'slowloris-connect', keepAlive: 10, cleanStart: true });
    const t = trickle(wire, connect, 50);
    try {
      await wire.waitClosed(CONNECT_TIMEOUT + SLACK + 1000);
      expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT + SLACK + 500);
      expect(t.sent()).toBeLessThan(connect.length);
      expect(wire.packets).toEqual([]);
    } finally {
      t.stop();
      wire.destroy();
    }
  });

  it('after CONNACK, silence past 1.5 × keep alive ends in DISCONNECT 0x8D', async () => {
    const { wire, connack } = await Wire.connect(transport, target, { keepAlive: 1 });
    const started = Date.now();
    try {
      expect(connack.reasonCode).toBe(0);
      const d = await wire.expect(PacketType.DISCONNECT, 1500 + SLACK + 1000);
      expect(d.reasonCode).toBe(0x8d);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500 - 20);
      await wire.waitClosed();
    } finally {
      wire.destroy();
    }
  });

  // Keep alive counts control packets (spec 3.1.2.10): a packet that never completes is not one. A
  // client trickling one byte of a PUBLISH every 200 ms must not hold its connection (and a buffer)
  // open forever.
  it('after CONNACK, a PUBLISH trickled one byte every 200 ms does not count as keep-alive traffic', async () => {
    const { wire, connack } = await Wire.connect(transport, target, { keepAlive: 1 });
    const publish = encodePacket({ type: PacketType.PUBLISH, topic: 'slow/loris', payload: Buffer.alloc(200), qos: 0, retain: false, dup: false });
    const t = trickle(wire, publish, 200);
    try {
      expect(connack.reasonCode).toBe(0);
      const d = await wire.expect(PacketType.DISCONNECT, 1500 + SLACK + 1500);
      expect(d.reasonCode).toBe(0x8d);
      expect(t.sent()).toBeLessThan(publish.length);
    } finally {
      t.stop();
      wire.destroy();
    }
  });
});

describe('slowloris at scale', () => {
  it('200 silent connections are all closed by the connect timeout; a normal client is served meanwhile', async () => {
    const broker = new MqttBroker({ connectTimeout: CONNECT_TIMEOUT, closeGracePeriod: 100 });
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const wires: Wire[] = [];
    try {
      for (let i = 0; i < 200; i++) wires.push(await Wire.open('tcp', { tcpPort: port }));
      const { wire: good, connack } = await Wire.connect('tcp', { tcpPort: port }, { keepAlive: 30 });
      wires.push(good);
      expect(connack.reasonCode).toBe(0);
      good.send({ type: PacketType.PINGREQ });
      await good.expect(PacketType.PINGRESP);
      await Promise.all(wires.slice(0, 200).map((w) => w.waitClosed(CONNECT_TIMEOUT + SLACK + 2000)));
      // The well-behaved client outlived them all.
      good.send({ type: PacketType.PINGREQ });
      await good.expect(PacketType.PINGRESP);
      expect(broker.metrics().connections).toBe(1);
    } finally {
      for (const w of wires) w.destroy();
      await broker.close();
    }
  });

  it('maxKeepAlive caps a client that asks for none (keep alive 0): it is told, then held to it', async () => {
    const broker = new MqttBroker({ maxKeepAlive: 1, closeGracePeriod: 100 });
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const { wire, connack } = await Wire.connect('tcp', { tcpPort: port }, { keepAlive: 0 });
    try {
      expect(connack.properties?.serverKeepAlive).toBe(1);
      const d = await wire.expect(PacketType.DISCONNECT, 1500 + SLACK + 1500);
      expect(d.reasonCode).toBe(0x8d);
    } finally {
      wire.destroy();
      await broker.close();
    }
  });
});
