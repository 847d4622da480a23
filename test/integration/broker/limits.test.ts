/**
 * Limits at and just past their bound (those not covered next to their feature: connections and
 * connect timeout in connect.test.ts, packet size and receive maximum in protocol-errors.test.ts,
 * queued messages in session.test.ts), and validation of the options.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType } from '../../../lib/codec/index.js';
import { BrokerOptionsError, MqttBroker } from '../../../lib/broker/index.js';
import { DEFAULT_OPTIONS } from '../../../lib/broker/options.js';
import { collectMessages, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('maxSubscriptionsPerClient', () => {
  it('grants up to the limit (re-subscribing counts once) and answers 0x97 past it', async () => {
    tb = await startBroker({ maxSubscriptionsPerClient: 3 });
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: ['a', 'b', 'c'].map((topicFilter) => ({ topicFilter, qos: 0 as const })) });
    expect((await client.expect(PacketType.SUBACK)).reasonCodes).toEqual([0, 0, 0]);
    client.send({ type: PacketType.SUBSCRIBE, packetId: 2, subscriptions: [{ topicFilter: 'a', qos: 1 }, { topicFilter: 'd', qos: 0 }] });
    const suback = await client.expect(PacketType.SUBACK);
    expect(suback.reasonCodes).toEqual([1, 0x97]);
    client.send({ type: PacketType.UNSUBSCRIBE, packetId: 3, topicFilters: ['b'] });
    await client.expect(PacketType.UNSUBACK);
    client.send({ type: PacketType.SUBSCRIBE, packetId: 4, subscriptions: [{ topicFilter: 'd', qos: 0 }] });
    expect((await client.expect(PacketType.SUBACK)).reasonCodes).toEqual([0]);
  });
});

describe('topicAliasMaximum', () => {
  it('accepts the highest alias and refuses the next (DISCONNECT 0x94)', async () => {
    tb = await startBroker({ topicAliasMaximum: 2 });
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('ta/#');
    const got = collectMessages(sub, 1);
    const { client, connack } = await tb.raw({ clientId: uid() });
    expect(connack.properties?.topicAliasMaximum).toBe(2);
    client.send({ type: PacketType.PUBLISH, topic: 'ta/2', payload: Buffer.from('ok'), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } });
    expect((await got)[0]!.topic).toBe('ta/2');
    client.send({ type: PacketType.PUBLISH, topic: 'ta/3', payload: Buffer.from('no'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    expect((await client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x94);
  });

  it('with 0, announces no aliases and refuses any', async () => {
    tb = await startBroker({ topicAliasMaximum: 0 });
    const { client, connack } = await tb.raw({ clientId: uid() });
    expect(connack.properties?.topicAliasMaximum).toBeUndefined();
    client.send({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } });
    expect((await client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x94);
  });
});

describe('receiveMaximum', () => {
  it('accepts exactly Receive Maximum QoS 2 messages awaiting PUBREL; PUBREL frees a slot', async () => {
    tb = await startBroker({ receiveMaximum: 3 });
    const { client, connack } = await tb.raw({ clientId: uid() });
    expect(connack.properties?.receiveMaximum).toBe(3);
    const send = (id: number): void => client.send({ type: PacketType.PUBLISH, topic: 'rm', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: id });
    for (const id of [1, 2, 3]) {
      send(id);
      await client.expect(PacketType.PUBREC);
    }
    client.send({ type: PacketType.PUBREL, packetId: 1 });
    await client.expect(PacketType.PUBCOMP);
    send(4);
    await client.expect(PacketType.PUBREC);
    send(5);
    expect((await client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x93);
  });
});

describe('options', () => {
  it('has safe defaults', () => {
    expect(DEFAULT_OPTIONS).toMatchObject({
      maxConnections: 10_000,
      maximumPacketSize: 1024 * 1024,
      receiveMaximum: 1024,
      topicAliasMaximum: 32,
      maxQueuedMessages: 1000,
      maxSubscriptionsPerClient: 1000,
      connectTimeout: 10_000,
    });
  });

  it.each([
    ['maxConnections', 0],
    ['maximumPacketSize', 10],
    ['receiveMaximum', 0],
    ['receiveMaximum', 70_000],
    ['topicAliasMaximum', -1],
    ['maxQueuedMessages', 1.5],
    ['maxSubscriptionsPerClient', 0],
    ['connectTimeout', 0],
    ['maximumQoS', 3],
    ['serverKeepAlive', 70_000],
  ])('refuses %s = %p with a BrokerOptionsError', (name, value) => {
    expect(() => new MqttBroker({ [name]: value })).toThrow(BrokerOptionsError);
  });

  it('refuses a hook that is not a function and an unknown queue policy', () => {
    expect(() => new MqttBroker({ authenticate: 'yes' as never })).toThrow(BrokerOptionsError);
    expect(() => new MqttBroker({ queueFullPolicy: 'random' as never })).toThrow(BrokerOptionsError);
  });
});
