/**
 * Flow control towards publishers: when a connected subscriber's queue is half full, the publishers
 * feeding it are not read until it has drained; a subscriber congested past slowConsumerTimeout
 * holds nobody back any more and its queue policy applies (drops counted).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type Packet } from '../../../lib/codec/index.js';
import type { RawClient } from '../../helpers/raw-client.js';
import { startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** A subscriber that takes one QoS 1 message at a time (Receive Maximum 1) and acks only when told. */
async function slowSubscriber(t: TestBroker): Promise<RawClient> {
  const { client } = await t.raw({ clientId: uid('slow'), properties: { receiveMaximum: 1 } });
  client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'fc', qos: 1 }] });
  await client.expect(PacketType.SUBACK);
  return client;
}

/** Publishes `n` QoS 1 messages in one write. */
async function burst(t: TestBroker, n: number): Promise<RawClient> {
  const { client } = await t.raw({ clientId: uid('pub') });
  const { encodePacket } = await import('../../../lib/codec/index.js');
  const frames: Buffer[] = [];
  for (let i = 1; i <= n; i++) {
    frames.push(encodePacket({ type: PacketType.PUBLISH, topic: 'fc', payload: Buffer.from(String(i)), qos: 1, retain: false, dup: false, packetId: i }));
  }
  client.sendRaw(Buffer.concat(frames));
  return client;
}

const isPuback = (p: Packet): p is Extract<Packet, { type: 4 }> => p.type === PacketType.PUBACK;

describe('publisher flow control', () => {
  it('stops processing a publisher while a subscriber queue is half full, and resumes as it drains, losing nothing', async () => {
    tb = await startBroker({ maxQueuedMessages: 10 });
    const sub = await slowSubscriber(tb);
    const pub = await burst(tb, 20);
    // 1 in flight + 5 queued (half of 10): the 6th message holds the publisher back.
    for (let i = 1; i <= 6; i++) expect((await pub.nextMatching(isPuback)).packetId).toBe(i);
    expect(tb.broker.metrics().messagesReceived).toBe(6);
    const received: string[] = [];
    for (let i = 0; i < 20; i++) {
      const p = await sub.expect(PacketType.PUBLISH);
      received.push(p.payload.toString());
      sub.send({ type: PacketType.PUBACK, packetId: p.packetId! });
    }
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    for (let i = 7; i <= 20; i++) expect((await pub.nextMatching(isPuback)).packetId).toBe(i);
    expect(tb.broker.metrics().droppedMessages).toBe(0);
  });

  it('lets the publisher go after slowConsumerTimeout; the full queue then drops, counted', async () => {
    tb = await startBroker({ maxQueuedMessages: 10, slowConsumerTimeout: 300 });
    const drops: string[] = [];
    tb.broker.on('drop', (d) => drops.push(d.message.payload.toString()));
    const sub = await slowSubscriber(tb);
    const started = Date.now();
    const pub = await burst(tb, 20);
    for (let i = 1; i <= 20; i++) expect((await pub.nextMatching(isPuback, 3000)).packetId).toBe(i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    // 1 in flight + 10 queued; the other 9 were dropped.
    expect(drops).toEqual(['12', '13', '14', '15', '16', '17', '18', '19', '20']);
    expect((await sub.expect(PacketType.PUBLISH)).payload.toString()).toBe('1');
  });

  it('with slowConsumerTimeout 0 never holds publishers back', async () => {
    tb = await startBroker({ maxQueuedMessages: 10, slowConsumerTimeout: 0 });
    await slowSubscriber(tb);
    const pub = await burst(tb, 20);
    for (let i = 1; i <= 20; i++) expect((await pub.nextMatching(isPuback)).packetId).toBe(i);
    expect(tb.broker.metrics().droppedMessages).toBe(9);
  });

  it('does not hold publishers back for an offline session (its queue is meant to fill)', async () => {
    tb = await startBroker({ maxQueuedMessages: 10 });
    const id = uid('offline');
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 } });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'fc', qos: 1 }] });
    await a.client.expect(PacketType.SUBACK);
    a.client.send({ type: PacketType.DISCONNECT });
    await a.client.waitClosed();
    const pub = await burst(tb, 20);
    for (let i = 1; i <= 20; i++) expect((await pub.nextMatching(isPuback)).packetId).toBe(i);
    expect(tb.broker.metrics().droppedMessages).toBe(10);
  });

  it('releases held publishers when the congested subscriber disconnects', async () => {
    tb = await startBroker({ maxQueuedMessages: 10 });
    const sub = await slowSubscriber(tb);
    const pub = await burst(tb, 20);
    for (let i = 1; i <= 6; i++) await pub.nextMatching(isPuback);
    sub.destroy();
    for (let i = 7; i <= 20; i++) expect((await pub.nextMatching(isPuback)).packetId).toBe(i);
  });
});
