/**
 * Sessions: clean start, session expiry (kept, expired, changed at DISCONNECT), session present,
 * resumption of in-flight messages, and the bounded offline queue with its drop policy.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import type { DropInfo } from '../../../lib/broker/index.js';
import type { MqttMessage } from '../../../lib/client/index.js';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const isPublish = (p: { type: number }): p is PublishPacket => p.type === PacketType.PUBLISH;

/** Publishes from a raw client at QoS 1 and waits for each PUBACK. */
async function publishQoS1(t: TestBroker, topic: string, payloads: string[]): Promise<void> {
  const { client } = await t.raw({ clientId: uid('pub') });
  let id = 1;
  for (const p of payloads) {
    client.send({ type: PacketType.PUBLISH, topic, payload: Buffer.from(p), qos: 1, retain: false, dup: false, packetId: id++ });
    await client.expect(PacketType.PUBACK);
  }
  client.destroy();
}

describe('session expiry and session present', () => {
  it('MQTT.js: keeps subscriptions and queues QoS 1 while offline, then delivers on resume with session present', async () => {
    tb = await startBroker();
    const id = uid('persist');
    const sub = await tb.mqttjs({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await sub.subscribeAsync('sess/t', { qos: 1 });
    await sub.endAsync();
    await publishQoS1(tb, 'sess/t', ['1', '2', '3']);
    // Listen before the CONNACK: the queued messages follow it at once.
    const again = tb.mqttjsUnconnected({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    const got = collectMessages(again, 3);
    const connack = nextEvent<[{ sessionPresent: boolean }]>(again, 'connect');
    expect((await connack)[0].sessionPresent).toBe(true);
    expect((await got).map((m) => m.payload.toString())).toEqual(['1', '2', '3']);
  });

  it('our client: resumes the session and receives what was queued', async () => {
    tb = await startBroker();
    const id = uid('persist');
    const first = await tb.ours({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    await first.subscribe({ subscriptions: [{ topicFilter: 'ours/s', qos: 2 }] }, () => undefined);
    await first.disconnect();
    await publishQoS1(tb, 'ours/s', ['a', 'b']);
    const { MqttClient, connectionFromUrl } = await import('../../../lib/client/index.js');
    const second = new MqttClient(connectionFromUrl(tb.url), { reconnect: false });
    const got: MqttMessage[] = [];
    const done = new Promise<void>((resolve) => {
      second.on('unhandledMessage', (m) => {
        got.push(m);
        if (got.length === 2) resolve();
      });
    });
    const connack = await second.connect({ clientId: id, cleanStart: false, keepAlive: 0, properties: { sessionExpiryInterval: 60 } });
    expect(connack.sessionPresent).toBe(true);
    await done;
    expect(got.map((m) => m.payload.toString())).toEqual(['a', 'b']);
    await second.disconnect();
  });

  it('ends a session with expiry 0 at disconnect (session present 0, nothing queued)', async () => {
    tb = await startBroker();
    const id = uid();
    const a = await tb.raw({ clientId: id });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'e0', qos: 1 }] });
    await a.client.expect(PacketType.SUBACK);
    a.client.send({ type: PacketType.DISCONNECT });
    await a.client.waitClosed();
    await publishQoS1(tb, 'e0', ['lost']);
    const b = await tb.raw({ clientId: id, cleanStart: false });
    expect(b.connack.sessionPresent).toBe(false);
    expect(tb.broker.metrics().subscriptions).toBe(0);
  });

  it('ends the session when its expiry interval elapses', async () => {
    tb = await startBroker();
    const id = uid();
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 1 } });
    a.client.send({ type: PacketType.DISCONNECT });
    await a.client.waitClosed();
    expect(tb.broker.metrics().sessions).toBe(1);
    // The expiry is the behaviour under test: let 1 s pass.
    await new Promise((r) => setTimeout(r, 1200));
    expect(tb.broker.metrics().sessions).toBe(0);
    const b = await tb.raw({ clientId: id, cleanStart: false });
    expect(b.connack.sessionPresent).toBe(false);
  });

  it('discards the old session on clean start', async () => {
    tb = await startBroker();
    const id = uid();
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 } });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'cs', qos: 1 }] });
    await a.client.expect(PacketType.SUBACK);
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    const b = await tb.raw({ clientId: id, cleanStart: true, properties: { sessionExpiryInterval: 60 } });
    expect(b.connack.sessionPresent).toBe(false);
    expect(tb.broker.metrics().subscriptions).toBe(0);
  });

  it('lets DISCONNECT lower the session expiry (to 0: the session ends)', async () => {
    tb = await startBroker();
    const id = uid();
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 } });
    a.client.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await a.client.waitClosed();
    const b = await tb.raw({ clientId: id, cleanStart: false });
    expect(b.connack.sessionPresent).toBe(false);
  });

  it('lets DISCONNECT raise a non-zero session expiry', async () => {
    tb = await startBroker();
    const id = uid();
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 1 } });
    a.client.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
    await a.client.waitClosed();
    await new Promise((r) => setTimeout(r, 1200));
    const b = await tb.raw({ clientId: id, cleanStart: false });
    expect(b.connack.sessionPresent).toBe(true);
  });

  it('treats a DISCONNECT raising the expiry from 0 as a protocol error (DISCONNECT 0x82, will published)', async () => {
    tb = await startBroker();
    const watcher = await tb.mqttjs();
    await watcher.subscribeAsync('will/e0');
    const got = collectMessages(watcher, 1);
    const a = await tb.raw({ clientId: uid(), will: { topic: 'will/e0', payload: Buffer.from('gone'), qos: 0, retain: false } });
    a.client.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    const d = await a.client.expect(PacketType.DISCONNECT);
    expect(d.reasonCode).toBe(0x82);
    expect((await got)[0]!.payload.toString()).toBe('gone');
  });

  it('caps the session expiry at maxSessionExpiryInterval and says so in CONNACK', async () => {
    tb = await startBroker({ maxSessionExpiryInterval: 100 });
    const { connack } = await tb.raw({ clientId: uid(), properties: { sessionExpiryInterval: 1000 } });
    expect(connack.properties?.sessionExpiryInterval).toBe(100);
    const ok = await tb.raw({ clientId: uid(), properties: { sessionExpiryInterval: 50 } });
    expect(ok.connack.properties?.sessionExpiryInterval).toBeUndefined();
  });
});

describe('resumption of messages in flight', () => {
  it('re-sends an unacknowledged QoS 1 PUBLISH with DUP and the same packet id, and PUBREL for a received QoS 2', async () => {
    tb = await startBroker();
    const id = uid('resume');
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 } });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'r/#', qos: 2 }] });
    await a.client.expect(PacketType.SUBACK);
    const pub = await tb.mqttjs();
    await pub.publishAsync('r/2', 'two', { qos: 2 });
    await pub.publishAsync('r/1', 'one', { qos: 1 });
    const p2 = await a.client.nextMatching(isPublish);
    expect(p2.qos).toBe(2);
    const p1 = await a.client.nextMatching(isPublish);
    expect(p1.qos).toBe(1);
    a.client.send({ type: PacketType.PUBREC, packetId: p2.packetId! });
    await a.client.expect(PacketType.PUBREL);
    // Vanish without PUBCOMP / PUBACK.
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    const b = await tb.raw({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    expect(b.connack.sessionPresent).toBe(true);
    const rel = await b.client.expect(PacketType.PUBREL);
    expect(rel.packetId).toBe(p2.packetId);
    const again = await b.client.expect(PacketType.PUBLISH);
    expect(again).toMatchObject({ topic: 'r/1', dup: true, qos: 1, packetId: p1.packetId });
    b.client.send({ type: PacketType.PUBCOMP, packetId: p2.packetId! });
    b.client.send({ type: PacketType.PUBACK, packetId: p1.packetId! });
    b.client.send({ type: PacketType.PINGREQ });
    await b.client.expect(PacketType.PINGRESP);
    expect(tb.broker.metrics().droppedMessages).toBe(0);
  });
});

describe('offline queue', () => {
  async function offlineSubscriber(t: TestBroker, topic: string): Promise<string> {
    const id = uid('off');
    const a = await t.raw({ clientId: id, properties: { sessionExpiryInterval: 60 } });
    a.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: topic, qos: 1 }] });
    await a.client.expect(PacketType.SUBACK);
    a.client.send({ type: PacketType.DISCONNECT });
    await a.client.waitClosed();
    return id;
  }

  async function resumeAndRead(t: TestBroker, id: string, n: number): Promise<string[]> {
    const b = await t.raw({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const p = await b.client.expect(PacketType.PUBLISH);
      if (p.qos > 0) b.client.send({ type: PacketType.PUBACK, packetId: p.packetId! });
      out.push(p.payload.toString());
    }
    // Nothing more: a PINGRESP comes next.
    b.client.send({ type: PacketType.PINGREQ });
    await b.client.expect(PacketType.PINGRESP);
    return out;
  }

  it('does not queue QoS 0 for an offline session by default', async () => {
    tb = await startBroker();
    const id = await offlineSubscriber(tb, 'q0');
    const pub = await tb.mqttjs();
    await pub.publishAsync('q0', 'zero', { qos: 0 });
    await publishQoS1(tb, 'q0', ['one']);
    expect(await resumeAndRead(tb, id, 1)).toEqual(['one']);
  });

  it('queues QoS 0 for an offline session with queueQoS0Offline', async () => {
    tb = await startBroker({ queueQoS0Offline: true });
    const id = await offlineSubscriber(tb, 'q0');
    const pub = await tb.mqttjs();
    await pub.publishAsync('q0', 'zero', { qos: 0 });
    await publishQoS1(tb, 'q0', ['one']);
    expect(await resumeAndRead(tb, id, 2)).toEqual(['zero', 'one']);
  });

  it('bounds the queue at maxQueuedMessages: dropNew refuses new messages, each drop counted and reported', async () => {
    tb = await startBroker({ maxQueuedMessages: 3 });
    const drops: DropInfo[] = [];
    tb.broker.on('drop', (d) => drops.push(d));
    const id = await offlineSubscriber(tb, 'bq');
    await publishQoS1(tb, 'bq', ['1', '2', '3', '4', '5']);
    expect(drops.map((d) => [d.clientId, d.message.payload.toString(), d.reason])).toEqual([
      [id, '4', 'queueFull'],
      [id, '5', 'queueFull'],
    ]);
    expect(tb.broker.metrics().droppedMessages).toBe(2);
    expect(await resumeAndRead(tb, id, 3)).toEqual(['1', '2', '3']);
  });

  it('dropOldest evicts the oldest queued message instead', async () => {
    tb = await startBroker({ maxQueuedMessages: 3, queueFullPolicy: 'dropOldest' });
    const drops: string[] = [];
    tb.broker.on('drop', (d) => drops.push(d.message.payload.toString()));
    const id = await offlineSubscriber(tb, 'bq');
    await publishQoS1(tb, 'bq', ['1', '2', '3', '4', '5']);
    expect(drops).toEqual(['1', '2']);
    expect(await resumeAndRead(tb, id, 3)).toEqual(['3', '4', '5']);
  });

  it('evicts queued QoS 0 messages before refusing QoS 1', async () => {
    tb = await startBroker({ maxQueuedMessages: 3, queueQoS0Offline: true });
    const drops: string[] = [];
    tb.broker.on('drop', (d) => drops.push(d.message.payload.toString()));
    const id = await offlineSubscriber(tb, 'mix');
    const { client } = await tb.raw({ clientId: uid('pub') });
    const msgs: [string, 0 | 1][] = [['a', 0], ['b', 1], ['c', 0], ['d', 1], ['e', 1], ['f', 0]];
    let pid = 1;
    for (const [payload, qos] of msgs) {
      client.send({ type: PacketType.PUBLISH, topic: 'mix', payload: Buffer.from(payload), qos, retain: false, dup: false, packetId: qos ? pid++ : undefined });
    }
    client.send({ type: PacketType.PINGREQ });
    await client.nextMatching((p): p is { type: 13 } => p.type === PacketType.PINGRESP);
    expect(drops).toEqual(['a', 'c', 'f']);
    expect(await resumeAndRead(tb, id, 3)).toEqual(['b', 'd', 'e']);
  });
});
