/**
 * CONNECT handling: protocol version, CONNACK properties, client identifier assignment, connect
 * timeout, keep alive (1.5×, server keep alive), takeover and the connection limit.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType } from '../../../lib/codec/index.js';
import type { ClientInfo, DisconnectInfo } from '../../../lib/broker/index.js';
import { RawClient } from '../../helpers/raw-client.js';
import { nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;

/** Every byte the broker sends on `c` until it closes the connection (rejects after 2 s). */
function receivedUntilClose(c: RawClient): Promise<Buffer> {
  const chunks: Buffer[] = [];
  c.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not closed within 2 s; got ${Buffer.concat(chunks).toString('hex')}`)), 2000);
    void c.closed.then(() => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}
/** The first `n` bytes the server sends from now on (it may keep the connection open). */
function receivedBytes(c: RawClient, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${Buffer.concat(chunks).toString('hex')} within 2 s, expected ${n} bytes`)), 2000);
    c.socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= n) {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      }
    });
  });
}
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('CONNECT', () => {
  it('answers a v5 CONNECT with CONNACK 0x00 announcing the broker limits', async () => {
    tb = await startBroker({ receiveMaximum: 50, topicAliasMaximum: 7, maximumPacketSize: 4096 });
    const { connack } = await tb.raw({ clientId: 'props' });
    expect(connack.reasonCode).toBe(0);
    expect(connack.sessionPresent).toBe(false);
    expect(connack.properties).toMatchObject({ receiveMaximum: 50, topicAliasMaximum: 7, maximumPacketSize: 4096 });
  });

  it('accepts MQTT 3.1.1 (level 4) with the 4-byte 3.1.1 CONNACK 0x00 (no properties)', async () => {
    tb = await startBroker();
    const c = await tb.rawOpen();
    // CONNECT, protocol MQTT level 4, clean session, keepalive 60, client id "v4"; then PINGREQ.
    c.sendRaw([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 2, 0x76, 0x34, 0xc0, 0x00]);
    const bytes = await receivedBytes(c, 6);
    expect(bytes.toString('hex')).toBe('20020000d000');
  });

  it('accepts MQTT 3.1 (MQIsdp, level 3) with CONNACK 0x00', async () => {
    tb = await startBroker();
    const c = await tb.rawOpen();
    c.sendRaw([0x10, 16, 0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 3, 0x02, 0, 60, 0, 2, 0x76, 0x33]);
    expect((await receivedBytes(c, 4)).toString('hex')).toBe('20020000');
  });

  it('refuses a level whose protocol name does not match (MQTT at level 3) with the 3.1.1 CONNACK 0x01, and closes', async () => {
    tb = await startBroker();
    const c = await tb.rawOpen();
    const bytes = receivedUntilClose(c);
    c.sendRaw([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 3, 0x02, 0, 60, 0, 2, 0x76, 0x34]);
    expect((await bytes).toString('hex')).toBe('20020001');
  });

  it('refuses any other protocol level with the v5 CONNACK 0x84 and closes', async () => {
    tb = await startBroker();
    const c = await tb.rawOpen();
    c.sendRaw([0x10, 14, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 0x02, 0, 60, 0, 2, 0x76, 0x36]);
    expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0x84);
    await c.waitClosed();
  });

  it('accepts an MQTT.js client speaking 3.1.1', async () => {
    tb = await startBroker();
    const c = await tb.mqttjs({ protocolVersion: 4 });
    expect(c.connected).toBe(true);
  });

  it('assigns a client identifier to an empty one and returns it in CONNACK', async () => {
    tb = await startBroker();
    const { connack } = await tb.raw({ clientId: '' });
    const id = connack.properties?.assignedClientIdentifier;
    expect(id).toMatch(/^auto-/);
    expect(tb.broker.isConnected(id!)).toBe(true);
    const ours = await tb.ours({ clientId: '' });
    expect(ours.clientId).toMatch(/^auto-/);
    expect(ours.clientId).not.toBe(id);
  });

  it('refuses an empty client identifier with 0x85 when allowEmptyClientId is false', async () => {
    tb = await startBroker({ allowEmptyClientId: false });
    const { client, connack } = await tb.raw({ clientId: '' });
    expect(connack.reasonCode).toBe(0x85);
    await client.waitClosed();
  });

  it('closes a connection that sends no CONNECT within connectTimeout', async () => {
    tb = await startBroker({ connectTimeout: 100 });
    const c = await tb.rawOpen();
    const errors: Error[] = [];
    tb.broker.on('clientError', (_c, e) => errors.push(e));
    await c.waitClosed(2000);
    expect(c.received).toEqual([]);
    expect(errors.some((e) => /no CONNECT/.test(e.message))).toBe(true);
  });

  it('closes a slowloris connection that never completes its CONNECT, however it trickles bytes', async () => {
    tb = await startBroker({ connectTimeout: 150 });
    const c = await tb.rawOpen();
    c.sendRaw([0x10]);
    const closed = c.waitClosed(2000);
    // Trickle bytes while waiting: the deadline counts from the connection's start, not the last byte.
    const trickle = setInterval(() => c.sendRaw([0x7f]), 20);
    try {
      await closed;
    } finally {
      clearInterval(trickle);
    }
  });

  it('runs a CONNECT sent one byte at a time', async () => {
    tb = await startBroker();
    const c = await tb.rawOpen();
    const { encodePacket } = await import('../../../lib/codec/index.js');
    const bytes = encodePacket({ type: PacketType.CONNECT, clientId: 'bytewise', keepAlive: 0, cleanStart: true });
    for (const b of bytes) c.sendRaw([b]);
    expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0);
  });
});

describe('keep alive', () => {
  it('disconnects with 0x8D a client silent for 1.5 × its keep alive, not before', async () => {
    tb = await startBroker();
    const started = Date.now();
    const { client } = await tb.raw({ clientId: uid(), keepAlive: 1 });
    const d = await client.expect(PacketType.DISCONNECT, 4000);
    const elapsed = Date.now() - started;
    expect(d.reasonCode).toBe(0x8d);
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(3000);
  });

  it('keeps a client that pings', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid(), keepAlive: 1 });
    // Ping every 500 ms for 2.5 s (beyond 1.5 s): each PINGREQ gets its PINGRESP and no DISCONNECT comes.
    for (let i = 0; i < 5; i++) {
      client.send({ type: PacketType.PINGREQ });
      await client.expect(PacketType.PINGRESP);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(client.isSocketClosed).toBe(false);
  });

  it('imposes serverKeepAlive in CONNACK and enforces it', async () => {
    tb = await startBroker({ serverKeepAlive: 1 });
    const { client, connack } = await tb.raw({ clientId: uid(), keepAlive: 0 });
    expect(connack.properties?.serverKeepAlive).toBe(1);
    expect((await client.expect(PacketType.DISCONNECT, 4000)).reasonCode).toBe(0x8d);
  });

  it('caps the keep alive at maxKeepAlive (0 counts as infinite)', async () => {
    tb = await startBroker({ maxKeepAlive: 30 });
    const a = await tb.raw({ clientId: uid(), keepAlive: 100 });
    expect(a.connack.properties?.serverKeepAlive).toBe(30);
    const b = await tb.raw({ clientId: uid(), keepAlive: 0 });
    expect(b.connack.properties?.serverKeepAlive).toBe(30);
    const c = await tb.raw({ clientId: uid(), keepAlive: 20 });
    expect(c.connack.properties?.serverKeepAlive).toBeUndefined();
  });
});

describe('session takeover', () => {
  it('ends the older connection with DISCONNECT 0x8E and keeps serving the newer one', async () => {
    tb = await startBroker();
    const id = uid('take');
    const first = await tb.raw({ clientId: id });
    const events: [ClientInfo, DisconnectInfo][] = [];
    tb.broker.on('disconnect', (c, info) => events.push([c, info]));
    const second = await tb.raw({ clientId: id, cleanStart: false });
    const d = await first.client.expect(PacketType.DISCONNECT);
    expect(d.reasonCode).toBe(0x8e);
    await first.client.waitClosed();
    expect(events).toHaveLength(1);
    expect(events[0]![1]).toMatchObject({ initiator: 'server', reasonCode: 0x8e });
    second.client.send({ type: PacketType.PINGREQ });
    await second.client.expect(PacketType.PINGRESP);
    expect(tb.broker.metrics().clients).toBe(1);
  });

  it('MQTT.js: the first client sees 0x8E, our client takes over', async () => {
    tb = await startBroker();
    const id = uid('take');
    const js = await tb.mqttjs({ clientId: id });
    const gotDisconnect = nextEvent<[{ reasonCode?: number }]>(js, 'disconnect');
    await tb.ours({ clientId: id });
    const [packet] = await gotDisconnect;
    expect(packet.reasonCode).toBe(0x8e);
  });
});

describe('connection limit', () => {
  it('refuses the connection past maxConnections with CONNACK 0x89, and accepts again once one leaves', async () => {
    tb = await startBroker({ maxConnections: 2 });
    const a = await tb.raw({ clientId: 'a' });
    await tb.raw({ clientId: 'b' });
    const c = await tb.raw({ clientId: 'c' });
    expect(c.connack.reasonCode).toBe(0x89);
    await c.client.waitClosed();
    // A takeover of a connected id is not a new connection.
    const b2 = await tb.raw({ clientId: 'b' });
    expect(b2.connack.reasonCode).toBe(0);
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    const d = await tb.raw({ clientId: 'd' });
    expect(d.connack.reasonCode).toBe(0);
  });
});

describe('raw client helper sanity', () => {
  it('opens and closes', async () => {
    tb = await startBroker();
    const c = await RawClient.open(tb.port);
    c.destroy();
    await c.waitClosed();
  });
});
