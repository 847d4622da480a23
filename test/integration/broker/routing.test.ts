/**
 * Routing: wildcards and $-topics, subscription identifiers, No Local, Retain As Published, QoS
 * downgrade, overlapping subscriptions, message expiry, topic aliases from clients, Receive Maximum
 * and Maximum Packet Size towards clients, QoS 2 exactly once, properties forwarded.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import type { DropInfo } from '../../../lib/broker/index.js';
import { MessageReceiver } from '../../../lib/client/index.js';
import { collectMessages, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const isPublish = (p: { type: number }): p is PublishPacket => p.type === PacketType.PUBLISH;

describe('topic matching', () => {
  it('matches + and #, and keeps $-topics from leading wildcards', async () => {
    tb = await startBroker();
    const all = await tb.mqttjs();
    const plus = await tb.mqttjs();
    const sys = await tb.mqttjs();
    await all.subscribeAsync('#');
    await plus.subscribeAsync('+/b/+');
    await sys.subscribeAsync('$SYS/#');
    const gotAll = collectMessages(all, 3);
    const gotPlus = collectMessages(plus, 2);
    const gotSys = collectMessages(sys, 2);
    const pub = await tb.mqttjs();
    for (const t of ['a/b/c', '$SYS/load', 'x/b/y', '$SYS/b/z', 'done']) await pub.publishAsync(t, t);
    await pub.publishAsync('$SYS/done', 'x');
    expect((await gotAll).map((m) => m.topic)).toEqual(['a/b/c', 'x/b/y', 'done']);
    expect((await gotPlus).map((m) => m.topic)).toEqual(['a/b/c', 'x/b/y']);
    expect((await gotSys).map((m) => m.topic)).toEqual(['$SYS/load', '$SYS/b/z']);
  });

  it('a/# matches a itself; empty levels are levels', async () => {
    tb = await startBroker();
    const sub = await tb.ours();
    const r = new MessageReceiver();
    await sub.subscribe({ subscriptions: [{ topicFilter: 'a/#', qos: 0 }, { topicFilter: '+/+', qos: 0 }] }, r);
    const pub = await tb.ours();
    await pub.publish({ topic: 'a', payload: '1' });
    await pub.publish({ topic: '/x', payload: '2' });
    await pub.publish({ topic: 'a/', payload: '3' });
    const topics = [(await r.recv()).topic, (await r.recv()).topic, (await r.recv()).topic];
    expect(topics).toEqual(['a', '/x', 'a/']);
  });
});

describe('subscription options', () => {
  it('tags messages with the subscription identifier', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('sid/#', { qos: 1, properties: { subscriptionIdentifier: 42 } });
    const got = collectMessages(sub, 1);
    const pub = await tb.mqttjs();
    await pub.publishAsync('sid/x', 'v', { qos: 1 });
    expect((await got)[0]!.packet.properties?.subscriptionIdentifier).toBe(42);
  });

  it('sends one message for overlapping subscriptions, at the highest QoS, with every identifier', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, properties: { subscriptionIdentifier: 1 }, subscriptions: [{ topicFilter: 'ov/#', qos: 0 }] });
    await client.expect(PacketType.SUBACK);
    client.send({ type: PacketType.SUBSCRIBE, packetId: 2, properties: { subscriptionIdentifier: 2 }, subscriptions: [{ topicFilter: 'ov/+', qos: 1 }] });
    await client.expect(PacketType.SUBACK);
    client.send({ type: PacketType.SUBSCRIBE, packetId: 3, subscriptions: [{ topicFilter: 'ov/x', qos: 0 }] });
    await client.expect(PacketType.SUBACK);
    const pub = await tb.mqttjs();
    await pub.publishAsync('ov/x', 'once', { qos: 2 });
    await pub.publishAsync('ov/y/z', 'marker', { qos: 0 });
    const first = await client.expect(PacketType.PUBLISH);
    expect(first.qos).toBe(1);
    expect(first.properties?.subscriptionIdentifier).toEqual([1, 2]);
    const second = await client.expect(PacketType.PUBLISH);
    expect(second.payload.toString()).toBe('marker');
    expect(second.properties?.subscriptionIdentifier).toBe(1);
  });

  it('No Local: a client does not receive its own messages', async () => {
    tb = await startBroker();
    const c = await tb.mqttjs();
    await c.subscribeAsync('nl/#', { qos: 0, nl: true });
    const other = await tb.mqttjs();
    const got = collectMessages(c, 1);
    await c.publishAsync('nl/own', 'mine');
    await other.publishAsync('nl/other', 'theirs');
    expect((await got).map((m) => m.payload.toString())).toEqual(['theirs']);
  });

  it('Retain As Published keeps the retain flag of live messages; otherwise it is cleared', async () => {
    tb = await startBroker();
    const keep = await tb.mqttjs();
    const clear = await tb.mqttjs();
    await keep.subscribeAsync('rap', { qos: 0, rap: true });
    await clear.subscribeAsync('rap', { qos: 0, rap: false });
    const a = collectMessages(keep, 1);
    const b = collectMessages(clear, 1);
    const pub = await tb.mqttjs();
    await pub.publishAsync('rap', 'r', { retain: true });
    expect((await a)[0]!.packet.retain).toBe(true);
    expect((await b)[0]!.packet.retain).toBe(false);
  });

  it('downgrades QoS to the granted one', async () => {
    tb = await startBroker();
    const q0 = await tb.mqttjs();
    const q1 = await tb.mqttjs();
    await q0.subscribeAsync('dg', { qos: 0 });
    await q1.subscribeAsync('dg', { qos: 1 });
    const a = collectMessages(q0, 1);
    const b = collectMessages(q1, 1);
    const pub = await tb.mqttjs();
    await pub.publishAsync('dg', 'x', { qos: 2 });
    expect((await a)[0]!.packet.qos).toBe(0);
    expect((await b)[0]!.packet.qos).toBe(1);
  });

  it('replaces the options of an existing subscription to the same filter', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('re', { qos: 2 });
    await sub.subscribeAsync('re', { qos: 0 });
    expect(tb.broker.metrics().subscriptions).toBe(1);
    const got = collectMessages(sub, 1);
    const pub = await tb.mqttjs();
    await pub.publishAsync('re', 'x', { qos: 2 });
    expect((await got)[0]!.packet.qos).toBe(0);
  });

  it('UNSUBSCRIBE stops delivery and answers 0x11 for unknown filters', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'u/1', qos: 0 }, { topicFilter: 'u/2', qos: 0 }] });
    await client.expect(PacketType.SUBACK);
    client.send({ type: PacketType.UNSUBSCRIBE, packetId: 2, topicFilters: ['u/1', 'nope'] });
    expect((await client.expect(PacketType.UNSUBACK)).reasonCodes).toEqual([0x00, 0x11]);
    const pub = await tb.mqttjs();
    await pub.publishAsync('u/1', 'gone');
    await pub.publishAsync('u/2', 'kept');
    expect((await client.expect(PacketType.PUBLISH)).topic).toBe('u/2');
  });
});

describe('message properties', () => {
  it('forwards the application properties unchanged', async () => {
    tb = await startBroker();
    const sub = await tb.ours();
    const r = new MessageReceiver();
    await sub.subscribe({ subscriptions: [{ topicFilter: 'props', qos: 1 }] }, r);
    const pub = await tb.mqttjs();
    await pub.publishAsync('props', '{"a":1}', {
      qos: 1,
      properties: {
        payloadFormatIndicator: true,
        contentType: 'application/json',
        responseTopic: 'reply/here',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { k: ['v1', 'v2'], z: 'last' },
      },
    });
    const m = await r.recv();
    expect(m.properties).toMatchObject({
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'reply/here',
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: [['k', 'v1'], ['k', 'v2'], ['z', 'last']],
    });
  });

  it('decrements the message expiry interval by the time spent queued, and never delivers an expired message', async () => {
    tb = await startBroker();
    const id = uid('exp');
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 } });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'exp', qos: 1 }] });
    await a.client.expect(PacketType.SUBACK);
    a.client.send({ type: PacketType.DISCONNECT });
    await a.client.waitClosed();
    const pub = await tb.mqttjs();
    await pub.publishAsync('exp', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp', 'long', { qos: 1, properties: { messageExpiryInterval: 60 } });
    // Expiry is the behaviour under test: let the first message's second pass.
    await new Promise((r) => setTimeout(r, 1300));
    const b = await tb.raw({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    const p = await b.client.expect(PacketType.PUBLISH);
    expect(p.payload.toString()).toBe('long');
    expect(p.properties?.messageExpiryInterval).toBeLessThanOrEqual(59);
    expect(p.properties?.messageExpiryInterval).toBeGreaterThanOrEqual(57);
  });

  it('forwards a live message with its expiry interval', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('live-exp');
    const got = collectMessages(sub, 1);
    const pub = await tb.mqttjs();
    await pub.publishAsync('live-exp', 'x', { properties: { messageExpiryInterval: 30 } });
    const e = (await got)[0]!.packet.properties?.messageExpiryInterval;
    expect(e).toBeGreaterThanOrEqual(29);
    expect(e).toBeLessThanOrEqual(30);
  });
});

describe('topic aliases from clients', () => {
  it('maps an alias set by a client and resolves later PUBLISHes with an empty topic', async () => {
    tb = await startBroker({ topicAliasMaximum: 5 });
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('alias/#');
    const got = collectMessages(sub, 3);
    const { client } = await tb.raw({ clientId: uid() });
    const pub = (topic: string, alias: number, payload: string): void =>
      client.send({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });
    pub('alias/one', 1, 'a');
    pub('', 1, 'b');
    pub('alias/two', 1, 'c'); // remaps alias 1
    expect((await got).map((m) => [m.topic, m.payload.toString(), m.packet.properties?.topicAlias])).toEqual([
      ['alias/one', 'a', undefined],
      ['alias/one', 'b', undefined],
      ['alias/two', 'c', undefined],
    ]);
  });

  it('MQTT.js publishing with a topic alias', async () => {
    tb = await startBroker();
    const sub = await tb.ours();
    const r = new MessageReceiver();
    await sub.subscribe({ subscriptions: [{ topicFilter: 'js/alias', qos: 0 }] }, r);
    const pub = await tb.mqttjs();
    await pub.publishAsync('js/alias', 'first', { properties: { topicAlias: 3 } });
    await pub.publishAsync('', 'second', { properties: { topicAlias: 3 } });
    expect([(await r.recv()).topic, (await r.recv()).topic]).toEqual(['js/alias', 'js/alias']);
  });
});

describe('flow towards each client', () => {
  it('sends at most the client Receive Maximum of QoS 1 messages unacknowledged; the rest follow in order', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid(), properties: { receiveMaximum: 2 } });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'rm', qos: 1 }] });
    await client.expect(PacketType.SUBACK);
    const pub = await tb.mqttjs();
    for (let i = 1; i <= 5; i++) await pub.publishAsync('rm', String(i), { qos: 1 });
    const a = await client.expect(PacketType.PUBLISH);
    const b = await client.expect(PacketType.PUBLISH);
    client.send({ type: PacketType.PINGREQ });
    // With two in flight, the PINGRESP comes before any third PUBLISH.
    await client.expect(PacketType.PINGRESP);
    client.send({ type: PacketType.PUBACK, packetId: a.packetId! });
    const c = await client.expect(PacketType.PUBLISH);
    client.send({ type: PacketType.PUBACK, packetId: b.packetId! });
    client.send({ type: PacketType.PUBACK, packetId: c.packetId! });
    const d = await client.expect(PacketType.PUBLISH);
    const e = await client.expect(PacketType.PUBLISH);
    expect([a, b, c, d, e].map((p) => p.payload.toString())).toEqual(['1', '2', '3', '4', '5']);
  });

  it('does not send a message above the client Maximum Packet Size (counted as a drop)', async () => {
    tb = await startBroker();
    const drops: DropInfo[] = [];
    tb.broker.on('drop', (d) => drops.push(d));
    const { client } = await tb.raw({ clientId: uid('small'), properties: { maximumPacketSize: 100 } });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'mps', qos: 1 }] });
    await client.expect(PacketType.SUBACK);
    const pub = await tb.mqttjs();
    await pub.publishAsync('mps', Buffer.alloc(200, 1), { qos: 1 });
    await pub.publishAsync('mps', 'small', { qos: 1 });
    const p = await client.expect(PacketType.PUBLISH);
    expect(p.payload.toString()).toBe('small');
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ reason: 'packetTooLarge', qos: 1 });
  });

  it('omits the reason string of an ack rather than exceed the client Maximum Packet Size', async () => {
    tb = await startBroker({ authorizePublish: () => false });
    // 20 bytes: room for the CONNACK and a bare PUBACK 0x87, not for its reason string.
    const { client } = await tb.raw({ clientId: uid(), properties: { maximumPacketSize: 20 } });
    client.send({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 3 });
    const ack = await client.expect(PacketType.PUBACK);
    expect(ack.reasonCode).toBe(0x87);
    expect(ack.properties?.reasonString).toBeUndefined();
  });
});

describe('QoS 2 from clients', () => {
  it('routes a QoS 2 message exactly once, however often it is re-sent before PUBREL', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('eo', { qos: 2 });
    const got = collectMessages(sub, 2);
    const { client } = await tb.raw({ clientId: uid() });
    const publish = (dup: boolean, payload: string): void =>
      client.send({ type: PacketType.PUBLISH, topic: 'eo', payload: Buffer.from(payload), qos: 2, retain: false, dup, packetId: 7 });
    publish(false, 'first');
    expect((await client.expect(PacketType.PUBREC)).packetId).toBe(7);
    publish(true, 'first');
    expect((await client.expect(PacketType.PUBREC)).packetId).toBe(7);
    client.send({ type: PacketType.PUBREL, packetId: 7 });
    expect(await client.expect(PacketType.PUBCOMP)).toMatchObject({ packetId: 7, reasonCode: 0 });
    client.send({ type: PacketType.PUBREL, packetId: 7 });
    expect(await client.expect(PacketType.PUBCOMP)).toMatchObject({ packetId: 7, reasonCode: 0x92 });
    // After the flow completed, the id is free: a new message with it is a new message.
    publish(false, 'second');
    await client.expect(PacketType.PUBREC);
    expect((await got).map((m) => m.payload.toString())).toEqual(['first', 'second']);
  });

  it('answers PUBACK/PUBREC 0x10 when nobody subscribes', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.PUBLISH, topic: 'nobody', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1 });
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0x10);
    client.send({ type: PacketType.PUBLISH, topic: 'nobody', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 2 });
    expect((await client.expect(PacketType.PUBREC)).reasonCode).toBe(0x10);
  });

  it('QoS 2 end to end between MQTT.js and our client, both ways', async () => {
    tb = await startBroker();
    const js = await tb.mqttjs();
    const ours = await tb.ours();
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'x/js', qos: 2 }] }, r);
    await js.subscribeAsync('x/ours', { qos: 2 });
    const got = collectMessages(js, 1);
    await js.publishAsync('x/js', 'from mqtt.js', { qos: 2 });
    await ours.publish({ topic: 'x/ours', payload: 'from ours', qos: 2 });
    const m = await r.recv();
    expect([m.payload.toString(), m.qos]).toEqual(['from mqtt.js', 2]);
    const n = (await got)[0]!;
    expect([n.payload.toString(), n.packet.qos]).toEqual(['from ours', 2]);
  });
});

describe('PUBACK handling', () => {
  it('ignores a PUBACK for an unknown packet identifier', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.PUBACK, packetId: 999 });
    client.send({ type: PacketType.PUBREC, packetId: 998 });
    expect(await client.nextMatching((p): p is { type: 6; packetId: number; reasonCode?: number } => p.type === PacketType.PUBREL)).toMatchObject({ packetId: 998, reasonCode: 0x92 });
    client.send({ type: PacketType.PINGREQ });
    await client.expect(PacketType.PINGRESP);
  });
});

// Keeps `isPublish` referenced for readers extending these tests with raw subscribers.
void isPublish;
