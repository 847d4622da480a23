/**
 * Interoperability: MQTT.js (protocol 5) and our MqttClient talking to each other through our broker —
 * every QoS both ways, request/response with v5 properties, ordering, large payloads, retained
 * messages, and our client's reconnect after the broker ends its connection.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { MessageReceiver, type MqttMessage } from '../../lib/client/index.js';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from '../integration/broker/support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('MQTT.js ⇄ our client through the broker', () => {
  it.each([0, 1, 2] as const)('QoS %i both ways', async (qos) => {
    tb = await startBroker();
    const js = await tb.mqttjs();
    const ours = await tb.ours();
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'to/ours', qos }] }, r);
    await js.subscribeAsync('to/js', { qos });
    const got = collectMessages(js, 1);
    await js.publishAsync('to/ours', 'hi ours', { qos });
    await ours.publish({ topic: 'to/js', payload: 'hi js', qos });
    const m = await r.recv();
    expect([m.topic, m.payload.toString(), m.qos]).toEqual(['to/ours', 'hi ours', qos]);
    const n = (await got)[0]!;
    expect([n.topic, n.payload.toString(), n.packet.qos]).toEqual(['to/js', 'hi js', qos]);
  });

  it('request/response with response topic, correlation data and user properties', async () => {
    tb = await startBroker();
    const responder = await tb.ours();
    await responder.subscribe({ subscriptions: [{ topicFilter: 'rpc/sum', qos: 1 }] }, (req: MqttMessage) => {
      const [a, b] = JSON.parse(req.payload.toString()) as [number, number];
      void responder.publish({
        topic: req.properties!.responseTopic!,
        payload: JSON.stringify(a + b),
        qos: 1,
        properties: { correlationData: req.properties!.correlationData, userProperties: [['served-by', 'ours']] },
      });
    });
    const requester = await tb.mqttjs();
    await requester.subscribeAsync('rpc/reply/1', { qos: 1 });
    const reply = collectMessages(requester, 1);
    await requester.publishAsync('rpc/sum', '[2,40]', { qos: 1, properties: { responseTopic: 'rpc/reply/1', correlationData: Buffer.from('req-7') } });
    const m = (await reply)[0]!;
    expect(m.payload.toString()).toBe('42');
    expect(m.packet.properties?.correlationData).toEqual(Buffer.from('req-7'));
    expect(m.packet.properties?.userProperties).toEqual({ 'served-by': 'ours' });
  });

  it('keeps the order of 500 QoS 1 messages from MQTT.js to our client', async () => {
    tb = await startBroker();
    const ours = await tb.ours();
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'seq', qos: 1 }] }, r);
    const js = await tb.mqttjs();
    await Promise.all(Array.from({ length: 500 }, (_, i) => js.publishAsync('seq', String(i), { qos: 1 })));
    const seen: number[] = [];
    for (let i = 0; i < 500; i++) seen.push(Number((await r.recv()).payload.toString()));
    expect(seen).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('carries a 512 KiB payload intact from our client to MQTT.js', async () => {
    tb = await startBroker();
    const js = await tb.mqttjs();
    await js.subscribeAsync('big', { qos: 1 });
    const got = collectMessages(js, 1, 5000);
    const ours = await tb.ours();
    const payload = Buffer.alloc(512 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    await ours.publish({ topic: 'big', payload, qos: 1 });
    expect((await got)[0]!.payload.equals(payload)).toBe(true);
  });

  it('serves a retained message of MQTT.js to our client', async () => {
    tb = await startBroker();
    const js = await tb.mqttjs();
    await js.publishAsync('state/door', 'open', { qos: 1, retain: true });
    const ours = await tb.ours();
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'state/#', qos: 1 }] }, r);
    const m = await r.recv();
    expect([m.topic, m.payload.toString(), m.retain]).toEqual(['state/door', 'open', true]);
  });

  it('our client reconnects after the broker ends its connection and resumes its session', async () => {
    tb = await startBroker();
    const id = uid('rc');
    const ours = await tb.ours({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 } }, { reconnect: true, initialReconnectDelay: 10, maxReconnectDelay: 50 });
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'after', qos: 1 }] }, r);
    const reconnected = nextEvent<[{ sessionPresent: boolean }]>(ours, 'reconnected', 3000);
    expect(tb.broker.disconnectClient(id)).toBe(true);
    expect((await reconnected)[0].sessionPresent).toBe(true);
    const js = await tb.mqttjs();
    await js.publishAsync('after', 'still subscribed', { qos: 1 });
    expect((await r.recv()).payload.toString()).toBe('still subscribed');
  });
});
