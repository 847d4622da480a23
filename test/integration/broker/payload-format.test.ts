/**
 * Payload Format Indicator 1 (UTF-8) with a payload that is not UTF-8 (spec 3.3.2.3.2, 3.1.3.2.3): the
 * broker refuses it with 0x99 (Payload format invalid) — PUBACK/PUBREC for QoS 1/2, DISCONNECT for QoS 0,
 * CONNACK for a will — and routes nothing; `validatePayloadFormat: false` turns the check off.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { MqttProtocolError, PacketType, type Packet } from '../../../lib/codec/index.js';
import { collectMessages, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** 0xC3 0x28: a two-byte sequence with an invalid continuation byte. */
const NOT_UTF8 = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);

const publish = (payload: Buffer, qos: 0 | 1 | 2, indicator: boolean | undefined, packetId = 1): Packet => ({
  type: PacketType.PUBLISH,
  topic: 'pf',
  payload,
  qos,
  retain: false,
  dup: false,
  packetId: qos === 0 ? undefined : packetId,
  properties: indicator === undefined ? undefined : { payloadFormatIndicator: indicator },
});

describe('payload format validation', () => {
  it('answers PUBACK 0x99 / PUBREC 0x99 to a QoS 1/2 payload that is not the UTF-8 it claims, and routes neither', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('pf', { qos: 2 });
    const got = collectMessages(sub, 1);
    const { client } = await tb.raw({ clientId: uid() });
    client.send(publish(NOT_UTF8, 1, true, 1));
    const puback = await client.expect(PacketType.PUBACK);
    expect([puback.packetId, puback.reasonCode]).toEqual([1, 0x99]);
    expect(puback.properties?.reasonString).toEqual(expect.any(String));
    client.send(publish(NOT_UTF8, 2, true, 2));
    const pubrec = await client.expect(PacketType.PUBREC);
    expect([pubrec.packetId, pubrec.reasonCode]).toEqual([2, 0x99]);
    // The connection goes on; the next (valid) message is the first the subscriber sees.
    client.send(publish(Buffer.from('{"ok":"✓"}'), 1, true, 3));
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0);
    expect((await got)[0]!.payload.toString()).toBe('{"ok":"✓"}');
    expect(tb.broker.metrics().messagesReceived).toBe(1);
  });

  it('ends the connection with DISCONNECT 0x99 for QoS 0, which has no acknowledgement', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid() });
    client.send(publish(NOT_UTF8, 0, true));
    expect((await client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x99);
    await client.waitClosed();
  });

  it('does not inspect payloads without the indicator (or with indicator 0)', async () => {
    tb = await startBroker();
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('pf');
    const got = collectMessages(sub, 2);
    const { client } = await tb.raw({ clientId: uid() });
    client.send(publish(NOT_UTF8, 1, undefined, 1));
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0);
    client.send(publish(NOT_UTF8, 1, false, 2));
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0);
    expect((await got).map((m) => m.payload)).toEqual([NOT_UTF8, NOT_UTF8]);
  });

  it('routes such payloads unchecked with validatePayloadFormat: false', async () => {
    tb = await startBroker({ validatePayloadFormat: false });
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('pf');
    const got = collectMessages(sub, 1);
    const { client } = await tb.raw({ clientId: uid() });
    client.send(publish(NOT_UTF8, 1, true));
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0);
    expect((await got)[0]!.payload).toEqual(NOT_UTF8);
  });

  it('refuses a will that is not the UTF-8 it claims with CONNACK 0x99', async () => {
    tb = await startBroker();
    const { client, connack } = await tb.raw({
      clientId: uid(),
      will: { topic: 'w', payload: NOT_UTF8, qos: 0, retain: false, properties: { payloadFormatIndicator: true } },
    });
    expect(connack.reasonCode).toBe(0x99);
    await client.waitClosed();
  });

  it('MQTT.js sees the PUBACK 0x99; broker.publish() throws 0x99', async () => {
    tb = await startBroker();
    const js = await tb.mqttjs();
    await expect(js.publishAsync('pf', NOT_UTF8, { qos: 1, properties: { payloadFormatIndicator: true } })).rejects.toMatchObject({ code: 0x99 });
    let thrown: unknown;
    try {
      tb.broker.publish({ topic: 'pf', payload: NOT_UTF8, properties: { payloadFormatIndicator: true } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MqttProtocolError);
    expect((thrown as MqttProtocolError).reasonCode).toBe(0x99);
  });
});
