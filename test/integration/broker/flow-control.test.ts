/**
 * Flow control towards publishers: when every connected subscriber of a message has a queue at least
 * half full, its publisher is not read until one has drained; a healthy subscriber beside a congested
 * one means nobody is held back (the congested one only fills its own queue, then refuses: 0x97 to the
 * publisher for QoS 1/2). A subscriber holding a publisher back past slowConsumerTimeout holds nobody
 * back any more and its queue policy applies (drops counted).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type Packet, type PublishPacket } from '../../../lib/codec/index.js';
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
const isPubrec = (p: Packet): p is Extract<Packet, { type: 5 }> => p.type === PacketType.PUBREC;

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

  it('does not hold the publisher back for a congested subscriber when another route is healthy: the congested one refuses (0x97), the healthy one gets everything', async () => {
    tb = await startBroker({ maxQueuedMessages: 10 });
    const drops: string[] = [];
    tb.broker.on('drop', (d) => drops.push(`${d.clientId.split('-')[0]}/${d.reason}/${d.message.payload.toString()}`));
    const slow = await slowSubscriber(tb);
    const { client: healthy } = await tb.raw({ clientId: uid('healthy') });
    healthy.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'fc', qos: 1 }] });
    await healthy.expect(PacketType.SUBACK);
    const started = Date.now();
    const pub = await burst(tb, 20);
    // 1 in flight + 10 queued at the slow one: 11 accepted, the other 9 refused — at once, not after slowConsumerTimeout.
    const codes: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const ack = await pub.nextMatching(isPuback);
      expect(ack.packetId).toBe(i);
      codes.push(ack.reasonCode ?? 0);
      if (ack.reasonCode === 0x97) expect(ack.properties?.reasonString).toBe('a subscriber queue is full');
    }
    expect(Date.now() - started).toBeLessThan(800);
    expect(codes).toEqual([...Array<number>(11).fill(0), ...Array<number>(9).fill(0x97)]);
    const got: string[] = [];
    for (let i = 0; i < 20; i++) {
      const p = await healthy.expect(PacketType.PUBLISH);
      got.push(p.payload.toString());
      healthy.send({ type: PacketType.PUBACK, packetId: p.packetId! });
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    // Never dropped silently: each refusal is a drop event for the full session, counted by reason.
    expect(drops).toEqual(Array.from({ length: 9 }, (_, i) => `slow/queueFull/${i + 12}`));
    expect(tb.broker.metrics()).toMatchObject({ refusedMessages: 9, droppedMessages: 9, droppedByReason: { queueFull: 9 } });
    // Nothing acknowledged is lost: the slow subscriber gets the 11 accepted ones, in order.
    const slowGot: string[] = [];
    for (let i = 0; i < 11; i++) {
      const p = await slow.expect(PacketType.PUBLISH);
      slowGot.push(p.payload.toString());
      slow.send({ type: PacketType.PUBACK, packetId: p.packetId! });
    }
    expect(slowGot).toEqual(Array.from({ length: 11 }, (_, i) => String(i + 1)));
  });

  it('QoS 2 over a full queue: PUBREC 0x97, and the refused packet identifier is not kept (a re-send is a new message)', async () => {
    tb = await startBroker({ maxQueuedMessages: 1, slowConsumerTimeout: 0 });
    await slowSubscriber(tb);
    const { client: pub } = await tb.raw({ clientId: uid('pub2') });
    const send = (id: number): void =>
      pub.send({ type: PacketType.PUBLISH, topic: 'fc', payload: Buffer.from(String(id)), qos: 2, retain: false, dup: false, packetId: id });
    for (const id of [1, 2, 3]) send(id);
    expect((await pub.nextMatching(isPubrec)).reasonCode ?? 0).toBe(0); // in flight
    expect((await pub.nextMatching(isPubrec)).reasonCode ?? 0).toBe(0); // queued
    const refused = await pub.nextMatching(isPubrec);
    expect([refused.packetId, refused.reasonCode, refused.properties?.reasonString]).toEqual([3, 0x97, 'a subscriber queue is full']);
    // PUBREL for the refused one: unknown packet identifier (0x92), as the flow ended with 0x97.
    pub.send({ type: PacketType.PUBREL, packetId: 3 });
    const comp = await pub.nextMatching((p): p is Extract<Packet, { type: 7 }> => p.type === PacketType.PUBCOMP);
    expect([comp.packetId, comp.reasonCode]).toEqual([3, 0x92]);
  });

  it('a retained message refused with 0x97 does not replace the retained one', async () => {
    tb = await startBroker({ maxQueuedMessages: 1, slowConsumerTimeout: 0 });
    await slowSubscriber(tb);
    const { client: pub } = await tb.raw({ clientId: uid('pub3') });
    const send = (id: number): void =>
      pub.send({ type: PacketType.PUBLISH, topic: 'fc', payload: Buffer.from(`r${id}`), qos: 1, retain: true, dup: false, packetId: id });
    for (const id of [1, 2, 3]) send(id);
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) codes.push((await pub.nextMatching((p): p is Extract<Packet, { type: 4 }> => p.type === PacketType.PUBACK)).reasonCode ?? 0);
    expect(codes).toEqual([0, 0, 0x97]);
    const { client: late } = await tb.raw({ clientId: uid('late') });
    late.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'fc', qos: 0 }] });
    await late.expect(PacketType.SUBACK);
    const retained = await late.nextMatching((p): p is PublishPacket => p.type === PacketType.PUBLISH);
    expect([retained.payload.toString(), retained.retain]).toEqual(['r2', true]); // the last accepted one
  });

  it('bounds queued bytes broker-wide (maxTotalQueuedBytes): beyond it nothing is queued (memoryLimit) and QoS 1 publishers get 0x97', async () => {
    tb = await startBroker({ maxTotalQueuedBytes: 1024, slowConsumerTimeout: 0 });
    const drops: string[] = [];
    tb.broker.on('drop', (d) => drops.push(d.reason));
    await slowSubscriber(tb);
    const { client: pub } = await tb.raw({ clientId: uid('pubm') });
    const big = Buffer.alloc(300, 0x61);
    for (let i = 1; i <= 6; i++) pub.send({ type: PacketType.PUBLISH, topic: 'fc', payload: big, qos: 1, retain: false, dup: false, packetId: i });
    const codes: number[] = [];
    for (let i = 1; i <= 6; i++) codes.push((await pub.nextMatching(isPuback)).reasonCode ?? 0);
    // 1 in flight, then 302 bytes each: 4 × 302 ≥ 1024 — the fifth finds the bound reached.
    expect(codes).toEqual([0, 0, 0, 0, 0, 0x97]);
    expect(drops).toEqual(['memoryLimit']);
    expect(tb.broker.metrics().queuedBytes).toBe(4 * 302);
  });
});
