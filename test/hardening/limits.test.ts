/**
 * Limits at and just past their bound that the broker's own tests leave out. Covered there, and not
 * repeated here: maxConnections (CONNACK 0x89, connect.test.ts), connectTimeout (connect.test.ts),
 * maximumPacketSize and receiveMaximum (protocol-errors.test.ts, limits.test.ts), topicAliasMaximum
 * and maxSubscriptionsPerClient (limits.test.ts), maxQueuedMessages with both policies (session.test.ts).
 * Here: the same limits where the transport is WebSocket, and the accept-time margin that sheds a
 * connection flood before any CONNECT is read.
 */
import { describe, expect, it } from '@jest/globals';
import { MqttBroker } from '../../lib/broker/index.js';
import { PacketType, encodePacket } from '../../lib/codec/index.js';
import { Wire } from '../helpers/wire.js';
import { counter } from '../helpers/wait.js';

describe('limits over WebSocket', () => {
  it('maximumPacketSize: a packet of exactly the maximum passes, one byte more gets DISCONNECT 0x95', async () => {
    const max = 4096;
    const broker = new MqttBroker({ maximumPacketSize: max, closeGracePeriod: 100 });
    const { ws } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' } });
    const target = { wsUrl: ws!.url };
    const publish = (size: number): Buffer => {
      // Fixed header 1 + 2 (remaining length < 16384) + topic 2 + 1 + property length 1 + payload.
      const p = encodePacket({ type: PacketType.PUBLISH, topic: 'x', payload: Buffer.alloc(size - 7), qos: 0, retain: false, dup: false });
      expect(p.length).toBe(size);
      return p;
    };
    const { wire, connack } = await Wire.connect('ws', target);
    try {
      expect(connack.properties?.maximumPacketSize).toBe(max);
      wire.sendRaw(publish(max));
      wire.send({ type: PacketType.PINGREQ });
      await wire.expect(PacketType.PINGRESP);
      wire.sendRaw(publish(max + 1));
      expect((await wire.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x95);
      await wire.waitClosed();
    } finally {
      wire.destroy();
      await broker.close();
    }
  });

  it('a WebSocket frame far beyond any packet the broker accepts is refused by the WebSocket layer, and the broker goes on', async () => {
    const broker = new MqttBroker({ maximumPacketSize: 1024, closeGracePeriod: 100 });
    const { ws } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' } });
    const target = { wsUrl: ws!.url };
    const { wire } = await Wire.connect('ws', target);
    try {
      wire.sendRaw(Buffer.alloc(1024 * 1024, 0x30));
      await wire.waitClosed();
      // 1009: message too big.
      expect(wire.closeCode).toBe(1009);
      const { wire: ok, connack } = await Wire.connect('ws', target);
      expect(connack.reasonCode).toBe(0);
      ok.destroy();
    } finally {
      wire.destroy();
      await broker.close();
    }
  });

  it('receiveMaximum and topicAliasMaximum hold over WebSocket too (0x93, 0x94)', async () => {
    const broker = new MqttBroker({ receiveMaximum: 2, topicAliasMaximum: 2, closeGracePeriod: 100 });
    const { ws } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' } });
    const target = { wsUrl: ws!.url };
    try {
      const a = await Wire.connect('ws', target);
      for (const id of [1, 2]) {
        a.wire.send({ type: PacketType.PUBLISH, topic: 'rm', payload: Buffer.alloc(1), qos: 2, retain: false, dup: false, packetId: id });
        await a.wire.expect(PacketType.PUBREC);
      }
      a.wire.send({ type: PacketType.PUBLISH, topic: 'rm', payload: Buffer.alloc(1), qos: 2, retain: false, dup: false, packetId: 3 });
      expect((await a.wire.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x93);
      a.wire.destroy();

      const b = await Wire.connect('ws', target);
      b.wire.send({ type: PacketType.PUBLISH, topic: 'ta', payload: Buffer.alloc(1), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } });
      b.wire.send({ type: PacketType.PINGREQ });
      await b.wire.expect(PacketType.PINGRESP);
      b.wire.send({ type: PacketType.PUBLISH, topic: 'ta', payload: Buffer.alloc(1), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
      expect((await b.wire.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x94);
      b.wire.destroy();
    } finally {
      await broker.close();
    }
  });
});

describe('connection flood', () => {
  it('past maxConnections plus its margin, sockets are shed at accept; connected clients are still served', async () => {
    const max = 10;
    // The broker keeps max + max(64, max/16) sockets: the rest are closed before any byte is read.
    const margin = 64;
    const broker = new MqttBroker({ maxConnections: max, closeGracePeriod: 100, connectTimeout: 30_000 });
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const target = { tcpPort: port };
    const wires: Wire[] = [];
    try {
      const connected: Wire[] = [];
      for (let i = 0; i < max; i++) {
        const { wire, connack } = await Wire.connect('tcp', target);
        expect(connack.reasonCode).toBe(0);
        connected.push(wire);
      }
      wires.push(...connected);
      // A flood of silent sockets: the broker holds at most max + margin of them.
      const flood = await Promise.all(Array.from({ length: margin + 40 }, () => Wire.open('tcp', target)));
      wires.push(...flood);
      // Exactly the sockets past max + margin are closed at once (the kept ones would wait for the
      // connect timeout, 30 s): wait for that many closes.
      const shed = flood.length - margin;
      const closes = counter(shed, 5000, 'shed sockets to close');
      for (const w of flood) void w.closed.then(() => closes.hit());
      await closes.done;
      expect(broker.metrics().connections).toBe(max + margin);
      expect(flood.filter((w) => w.isSocketClosed)).toHaveLength(shed);
      // The connected clients are unaffected.
      for (const w of connected) {
        w.send({ type: PacketType.PINGREQ });
        await w.expect(PacketType.PINGRESP);
      }
    } finally {
      for (const w of wires) w.destroy();
      await broker.close();
    }
  });
});
