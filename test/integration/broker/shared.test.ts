/** Shared subscriptions: one member per message, spread round robin, re-sent when a member leaves with it unacknowledged. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import { MessageReceiver } from '../../../lib/client/index.js';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('shared subscriptions', () => {
  it('delivers each message to one member, spreading them round robin', async () => {
    tb = await startBroker();
    const a = await tb.mqttjs();
    const b = await tb.ours();
    await a.subscribeAsync('$share/g/sh/#', { qos: 1 });
    const rb = new MessageReceiver();
    await b.subscribe({ subscriptions: [{ topicFilter: '$share/g/sh/#', qos: 1 }] }, rb);
    const gotA = collectMessages(a, 3);
    const pub = await tb.mqttjs();
    for (let i = 0; i < 6; i++) await pub.publishAsync(`sh/${i}`, String(i), { qos: 1 });
    const fromA = (await gotA).map((m) => m.payload.toString());
    const fromB: string[] = [];
    for (let i = 0; i < 3; i++) fromB.push((await rb.recv()).payload.toString());
    expect(fromA).toEqual(['0', '2', '4']);
    expect(fromB).toEqual(['1', '3', '5']);
  });

  it('gives every group and every ordinary subscriber its own copy', async () => {
    tb = await startBroker();
    const g1 = await tb.mqttjs();
    const g2 = await tb.mqttjs();
    const plain = await tb.mqttjs();
    await g1.subscribeAsync('$share/one/t');
    await g2.subscribeAsync('$share/two/t');
    await plain.subscribeAsync('t');
    const got = [collectMessages(g1, 1), collectMessages(g2, 1), collectMessages(plain, 1)];
    const pub = await tb.mqttjs();
    await pub.publishAsync('t', 'x', { qos: 1 });
    for (const g of got) expect((await g)[0]!.payload.toString()).toBe('x');
  });

  it('re-sends an unacknowledged message to another member when its member disconnects', async () => {
    tb = await startBroker();
    const { client: lazy } = await tb.raw({ clientId: uid('lazy') });
    lazy.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/w/jobs', qos: 1 }] });
    await lazy.expect(PacketType.SUBACK);
    const worker = await tb.mqttjs();
    await worker.subscribeAsync('$share/w/jobs', { qos: 1 });
    const got = collectMessages(worker, 2);
    const pub = await tb.mqttjs();
    await pub.publishAsync('jobs', 'job-1', { qos: 1 });
    await pub.publishAsync('jobs', 'job-2', { qos: 1 });
    // job-1 went to the lazy member, which never acknowledges it.
    const p = (await lazy.expect(PacketType.PUBLISH)) as PublishPacket;
    expect(p.payload.toString()).toBe('job-1');
    lazy.destroy();
    expect((await got).map((m) => m.payload.toString()).sort()).toEqual(['job-1', 'job-2']);
  });

  it('hands queued messages of a persistent member that went offline to a connected member', async () => {
    tb = await startBroker();
    const id = uid('persistent');
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/p/q', qos: 1 }] });
    await a.client.expect(PacketType.SUBACK);
    const other = await tb.ours();
    const r = new MessageReceiver();
    await other.subscribe({ subscriptions: [{ topicFilter: '$share/p/q', qos: 1 }] }, r);
    const pub = await tb.mqttjs();
    // Round robin: 1 → a (in flight), 2 → other, 3 → a (queued behind Receive Maximum 1), 4 → other.
    for (let i = 1; i <= 4; i++) await pub.publishAsync('q', String(i), { qos: 1 });
    await a.client.expect(PacketType.PUBLISH);
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push((await r.recv()).payload.toString());
    expect(seen.sort()).toEqual(['1', '2', '3', '4']);
  });

  it('answers SUBACK 0x9E when shared subscriptions are disabled, and says so in CONNACK', async () => {
    tb = await startBroker({ sharedSubscriptionAvailable: false });
    const { client, connack } = await tb.raw({ clientId: uid() });
    expect(connack.properties?.sharedSubscriptionAvailable).toBe(false);
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/g/x', qos: 0 }, { topicFilter: 'x', qos: 0 }] });
    expect((await client.expect(PacketType.SUBACK)).reasonCodes).toEqual([0x9e, 0]);
  });

  it('unsubscribes a member from its group', async () => {
    tb = await startBroker();
    const a = await tb.mqttjs();
    const b = await tb.mqttjs();
    await a.subscribeAsync('$share/u/t');
    await b.subscribeAsync('$share/u/t');
    await a.unsubscribeAsync('$share/u/t');
    expect(tb.broker.metrics().subscriptions).toBe(1);
    const got = collectMessages(b, 3);
    const pub = await tb.mqttjs();
    for (let i = 0; i < 3; i++) await pub.publishAsync('t', String(i));
    expect((await got).map((m) => m.payload.toString())).toEqual(['0', '1', '2']);
  });
});
