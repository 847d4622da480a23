/** Events for logs and metrics, metrics(), and the application-side API (publish, disconnectClient). */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { Subscription } from '../../../lib/codec/index.js';
import { MqttProtocolError } from '../../../lib/codec/index.js';
import type { ClientInfo, DisconnectInfo, PublishedMessage } from '../../../lib/broker/index.js';
import { MessageReceiver } from '../../../lib/client/index.js';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('events', () => {
  it('reports connect, subscribe, publish, unsubscribe and disconnect', async () => {
    tb = await startBroker();
    const log: string[] = [];
    const b = tb.broker;
    b.on('connect', (c: ClientInfo, present: boolean) => log.push(`connect ${c.clientId} ${present}`));
    b.on('subscribe', (c: ClientInfo, subs: Subscription[], codes: number[]) => log.push(`subscribe ${c.clientId} ${subs.map((s) => s.topicFilter).join()} ${codes.join()}`));
    b.on('publish', (m: PublishedMessage, c: ClientInfo | null) => log.push(`publish ${c?.clientId ?? 'broker'} ${m.topic} ${m.payload.toString()}`));
    b.on('unsubscribe', (c: ClientInfo, filters: string[], codes: number[]) => log.push(`unsubscribe ${c.clientId} ${filters.join()} ${codes.join()}`));
    b.on('disconnect', (c: ClientInfo, info: DisconnectInfo) => log.push(`disconnect ${c.clientId} ${info.initiator} ${info.reasonCode} ${info.willPublished}`));
    const client = await tb.ours({ clientId: 'ev' });
    await client.subscribe({ subscriptions: [{ topicFilter: 'e/#', qos: 1 }, { topicFilter: 'f', qos: 2 }] }, new MessageReceiver());
    await client.publish({ topic: 'e/1', payload: 'one', qos: 1 });
    b.publish({ topic: 'e/2', payload: 'two' });
    await client.unsubscribe({ topicFilters: ['f', 'g'] });
    const gone = nextEvent(b, 'disconnect');
    await client.disconnect();
    await gone;
    expect(log).toEqual([
      'connect ev false',
      'subscribe ev e/#,f 1,2',
      'publish ev e/1 one',
      'publish broker e/2 two',
      'unsubscribe ev f,g 0,17',
      'disconnect ev client 0 false',
    ]);
  });

  it('counts in metrics()', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('m/#');
    const got = collectMessages(sub, 2);
    const pub = await tb.mqttjs();
    await pub.publishAsync('m/1', 'x', { retain: true });
    await pub.publishAsync('m/2', 'y');
    await got;
    expect(tb.broker.metrics()).toMatchObject({ connections: 2, clients: 2, sessions: 2, subscriptions: 1, retainedMessages: 1, messagesReceived: 2, messagesRouted: 2, droppedMessages: 0 });
  });
});

describe('application API', () => {
  it('publish() routes, retains and validates', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('app/#', { qos: 1 });
    const got = collectMessages(sub, 1);
    tb.broker.publish({ topic: 'app/x', payload: Buffer.from('hi'), qos: 1, retain: true, properties: { contentType: 'text/plain' } });
    const m = (await got)[0]!;
    expect([m.payload.toString(), m.packet.qos, m.packet.properties?.contentType]).toEqual(['hi', 1, 'text/plain']);
    expect(tb.broker.metrics().retainedMessages).toBe(1);
    expect(() => tb!.broker.publish({ topic: 'a/#', payload: 'x' })).toThrow(MqttProtocolError);
    expect(() => tb!.broker.publish({ topic: 'a', payload: 'x', qos: 3 as never })).toThrow(MqttProtocolError);
    expect(() => tb!.broker.publish({ topic: 'a', payload: 'x', properties: { topicAlias: 1 } })).toThrow(MqttProtocolError);
  });

  it('disconnectClient() sends DISCONNECT 0x98 (or the given code)', async () => {
    tb = await startBroker();
    const id = uid('kick');
    const js = await tb.mqttjs({ clientId: id });
    const d = nextEvent<[{ reasonCode?: number }]>(js, 'disconnect');
    expect(tb.broker.disconnectClient(id)).toBe(true);
    expect((await d)[0].reasonCode).toBe(0x98);
    expect(tb.broker.disconnectClient('nobody')).toBe(false);
  });
});
