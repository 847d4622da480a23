/** Retained messages: storage, delivery on subscribe per Retain Handling, clearing, expiry. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType } from '../../../lib/codec/index.js';
import { MessageReceiver } from '../../../lib/client/index.js';
import { collectMessages, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** Subscribes a raw client and returns the payloads of the retained messages sent after SUBACK (a live marker ends the list). */
async function retainedFor(t: TestBroker, filter: string, options: { rh?: 0 | 1 | 2; qos?: 0 | 1 | 2; again?: boolean } = {}): Promise<string[]> {
  const { client } = await t.raw({ clientId: uid() });
  const subscribe = (packetId: number): void =>
    client.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ topicFilter: filter, qos: options.qos ?? 1, retainHandling: options.rh ?? 0 }] });
  const read = async (): Promise<string[]> => {
    await client.expect(PacketType.SUBACK);
    const marker = await t.mqttjs();
    await marker.publishAsync('marker', 'end');
    const out: string[] = [];
    for (;;) {
      const p = await client.expect(PacketType.PUBLISH);
      if (p.qos > 0) client.send({ type: PacketType.PUBACK, packetId: p.packetId! });
      if (p.topic === 'marker') return out;
      expect(p.retain).toBe(true);
      out.push(`${p.topic}=${p.payload.toString()}`);
    }
  };
  client.send({ type: PacketType.SUBSCRIBE, packetId: 99, subscriptions: [{ topicFilter: 'marker', qos: 0 }] });
  await client.expect(PacketType.SUBACK);
  subscribe(1);
  const first = await read();
  if (!options.again) return first;
  subscribe(2);
  return read();
}

describe('retained messages', () => {
  it('stores the last retained message per topic and sends it on subscribe, retain flag set', async () => {
    tb = await startBroker();
    const pub = await tb.mqttjs();
    await pub.publishAsync('ret/a', 'old', { retain: true, qos: 1 });
    await pub.publishAsync('ret/a', 'new', { retain: true, qos: 1 });
    await pub.publishAsync('ret/b', 'b', { retain: true, qos: 1 });
    await pub.publishAsync('ret/c', 'not retained', { qos: 1 });
    expect(tb.broker.metrics().retainedMessages).toBe(2);
    expect((await retainedFor(tb, 'ret/+')).sort()).toEqual(['ret/a=new', 'ret/b=b']);
    const sub = await tb.mqttjs();
    const got = collectMessages(sub, 1);
    await sub.subscribeAsync('ret/a', { qos: 0 });
    const m = (await got)[0]!;
    expect([m.payload.toString(), m.packet.retain, m.packet.qos]).toEqual(['new', true, 0]);
  });

  it('clears a retained message with an empty payload', async () => {
    tb = await startBroker();
    const pub = await tb.mqttjs();
    await pub.publishAsync('clr', 'x', { retain: true, qos: 1 });
    await pub.publishAsync('clr', '', { retain: true, qos: 1 });
    expect(tb.broker.metrics().retainedMessages).toBe(0);
    expect(await retainedFor(tb, 'clr')).toEqual([]);
  });

  it('matches retained messages with wildcards, but not $-topics with a leading wildcard', async () => {
    tb = await startBroker();
    tb.broker.publish({ topic: 'w/1/x', payload: '1', retain: true });
    tb.broker.publish({ topic: 'w/2/x', payload: '2', retain: true });
    tb.broker.publish({ topic: 'w', payload: 'w', retain: true });
    tb.broker.publish({ topic: '$SYS/uptime', payload: 's', retain: true });
    expect((await retainedFor(tb, 'w/#')).sort()).toEqual(['w/1/x=1', 'w/2/x=2', 'w=w']);
    expect((await retainedFor(tb, '#')).sort()).toEqual(['w/1/x=1', 'w/2/x=2', 'w=w']);
    expect(await retainedFor(tb, '+/+/x')).toHaveLength(2);
    expect(await retainedFor(tb, '$SYS/#')).toEqual(['$SYS/uptime=s']);
  });

  it('Retain Handling 0 sends on every subscribe, 1 only for a new subscription, 2 never', async () => {
    tb = await startBroker();
    tb.broker.publish({ topic: 'rh', payload: 'v', retain: true });
    expect(await retainedFor(tb, 'rh', { rh: 0, again: true })).toEqual(['rh=v']);
    expect(await retainedFor(tb, 'rh', { rh: 1 })).toEqual(['rh=v']);
    expect(await retainedFor(tb, 'rh', { rh: 1, again: true })).toEqual([]);
    expect(await retainedFor(tb, 'rh', { rh: 2 })).toEqual([]);
  });

  it('sends retained messages at the lower of their QoS and the granted QoS', async () => {
    tb = await startBroker();
    tb.broker.publish({ topic: 'rq', payload: 'v', retain: true, qos: 1 });
    const sub = await tb.ours();
    const r = new MessageReceiver();
    await sub.subscribe({ subscriptions: [{ topicFilter: 'rq', qos: 2 }] }, r);
    const m = await r.recv();
    expect([m.qos, m.retain]).toEqual([1, true]);
  });

  it('does not send retained messages to shared subscriptions', async () => {
    tb = await startBroker();
    tb.broker.publish({ topic: 'sr', payload: 'v', retain: true });
    expect(await retainedFor(tb, '$share/g/sr')).toEqual([]);
  });

  it('honours the message expiry of retained messages and decrements it', async () => {
    tb = await startBroker();
    tb.broker.publish({ topic: 're/short', payload: 's', retain: true, properties: { messageExpiryInterval: 1 } });
    tb.broker.publish({ topic: 're/long', payload: 'l', retain: true, properties: { messageExpiryInterval: 100 } });
    // Expiry is the behaviour under test: let the short one's second pass.
    await new Promise((r) => setTimeout(r, 1200));
    const sub = await tb.mqttjs();
    const got = collectMessages(sub, 1);
    await sub.subscribeAsync('re/#');
    const m = (await got)[0]!;
    expect(m.topic).toBe('re/long');
    expect(m.packet.properties?.messageExpiryInterval).toBeLessThanOrEqual(99);
    expect(await retainedFor(tb, 're/#')).toEqual(['re/long=l']);
    expect(tb.broker.metrics().retainedMessages).toBe(1);
  });

  it('with retainAvailable false: announces it and refuses retained PUBLISH with DISCONNECT 0x9A', async () => {
    tb = await startBroker({ retainAvailable: false });
    const { client, connack } = await tb.raw({ clientId: uid() });
    expect(connack.properties?.retainAvailable).toBe(false);
    client.send({ type: PacketType.PUBLISH, topic: 'r', payload: Buffer.from('x'), qos: 0, retain: true, dup: false });
    expect((await client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x9a);
    await client.waitClosed();
  });
});
