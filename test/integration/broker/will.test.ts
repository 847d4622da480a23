/**
 * Will messages: published after a lost connection, DISCONNECT 0x04, keep-alive timeout or protocol
 * error; not after DISCONNECT 0x00; delayed by the will delay interval, cancelled by a reconnect in
 * time, published at session end if that comes first; takeover; authorisation.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type Will } from '../../../lib/codec/index.js';
import type { MqttClient as MqttJsClient } from 'mqtt';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const will = (payload: string, extra: Partial<Will> = {}): Will => ({ topic: 'will/t', payload: Buffer.from(payload), qos: 1, retain: false, ...extra });

/** A watcher subscribed to will/t and to the marker topic. */
async function watcher(t: TestBroker): Promise<MqttJsClient> {
  const w = await t.mqttjs();
  await w.subscribeAsync(['will/t', 'marker'], { qos: 1 });
  return w;
}

/** Publishes a marker: anything the watcher received before it was published before it. */
async function mark(t: TestBroker): Promise<void> {
  const m = await t.mqttjs();
  await m.publishAsync('marker', 'm', { qos: 1 });
}

describe('wills', () => {
  it('publishes the will when the connection is lost', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1);
    const { client } = await tb.raw({ clientId: uid(), will: will('lost', { properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } }) });
    client.destroy();
    const m = (await got)[0]!;
    expect([m.topic, m.payload.toString(), m.packet.qos]).toEqual(['will/t', 'lost', 1]);
    expect(m.packet.properties?.contentType).toBe('text/plain');
    expect(m.packet.properties?.userProperties).toEqual({ k: 'v' });
  });

  it('does not publish the will after DISCONNECT 0x00', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1);
    const { client } = await tb.raw({ clientId: uid(), will: will('no') });
    client.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await client.waitClosed();
    await mark(tb);
    expect((await got)[0]!.topic).toBe('marker');
  });

  it('publishes the will after DISCONNECT 0x04 (Disconnect with Will Message)', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1);
    const { client } = await tb.raw({ clientId: uid(), will: will('asked') });
    client.send({ type: PacketType.DISCONNECT, reasonCode: 0x04 });
    expect((await got)[0]!.payload.toString()).toBe('asked');
  });

  it('publishes the will on a keep-alive timeout', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1, 5000);
    const { client } = await tb.raw({ clientId: uid(), keepAlive: 1, will: will('silent') });
    expect((await client.expect(PacketType.DISCONNECT, 4000)).reasonCode).toBe(0x8d);
    expect((await got)[0]!.payload.toString()).toBe('silent');
  });

  it('MQTT.js and our client: will on a lost connection and on DISCONNECT 0x04', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 2);
    const js = await tb.mqttjs({ will: { topic: 'will/t', payload: Buffer.from('mqtt.js'), qos: 1, retain: false } });
    js.stream.destroy();
    await nextEvent(tb.broker, 'disconnect');
    const ours = await tb.ours({ will: { topic: 'will/t', payload: 'ours', qos: 1 } });
    await ours.disconnect({ reasonCode: 0x04 });
    expect((await got).map((m) => m.payload.toString())).toEqual(['mqtt.js', 'ours']);
  });

  it('publishes a retained will as retained', async () => {
    tb = await startBroker();
    const { client } = await tb.raw({ clientId: uid(), will: will('kept', { retain: true }) });
    const published = nextEvent(tb.broker, 'publish');
    client.destroy();
    await published;
    expect(tb.broker.metrics().retainedMessages).toBe(1);
  });

  it('delays the will by its will delay interval', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1, 4000);
    const { client } = await tb.raw({ clientId: uid(), properties: { sessionExpiryInterval: 60 }, will: will('late', { properties: { willDelayInterval: 1 } }) });
    const lostAt = Date.now();
    client.destroy();
    const m = (await got)[0]!;
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(950);
    expect(m.payload.toString()).toBe('late');
    // The will delay interval is not a PUBLISH property.
    expect((m.packet.properties as Record<string, unknown> | undefined)?.willDelayInterval).toBeUndefined();
  });

  it('cancels a delayed will when the client reconnects to its session in time', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1, 4000);
    const id = uid('back');
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 }, will: will('cancelled', { properties: { willDelayInterval: 1 } }) });
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    expect(tb.broker.metrics().pendingWills).toBe(1);
    const b = await tb.raw({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    expect(b.connack.sessionPresent).toBe(true);
    expect(tb.broker.metrics().pendingWills).toBe(0);
    // Let the delay pass: the will must not come.
    await new Promise((r) => setTimeout(r, 1200));
    await mark(tb);
    expect((await got)[0]!.topic).toBe('marker');
  });

  it('publishes the will when the session ends before the will delay', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1, 4000);
    const { client } = await tb.raw({ clientId: uid(), properties: { sessionExpiryInterval: 1 }, will: will('session over', { properties: { willDelayInterval: 300 } }) });
    const lostAt = Date.now();
    client.destroy();
    expect((await got)[0]!.payload.toString()).toBe('session over');
    expect(Date.now() - lostAt).toBeLessThan(2500);
  });

  it('publishes a pending will at once when a clean-start connection ends its session', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1);
    const id = uid();
    const a = await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 }, will: will('replaced', { properties: { willDelayInterval: 300 } }) });
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    await tb.raw({ clientId: id, cleanStart: true });
    expect((await got)[0]!.payload.toString()).toBe('replaced');
  });

  it('on takeover: publishes the old will when the session ends, not when it continues', async () => {
    tb = await startBroker();
    const w = await watcher(tb);
    const got = collectMessages(w, 1);
    const id = uid();
    await tb.raw({ clientId: id, properties: { sessionExpiryInterval: 60 }, will: will('continues') });
    await tb.raw({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 60 }, will: will('ends') });
    await tb.raw({ clientId: id, cleanStart: true });
    expect((await got)[0]!.payload.toString()).toBe('ends');
  });

  it('asks authorizePublish before publishing a will', async () => {
    const seen: [string, boolean][] = [];
    tb = await startBroker({
      authorizePublish: (_c, m, isWill) => {
        seen.push([m.topic, isWill]);
        return m.topic !== 'will/t' || m.payload.toString() !== 'forbidden';
      },
    });
    const w = await watcher(tb);
    const got = collectMessages(w, 1);
    const a = await tb.raw({ clientId: uid(), will: will('forbidden') });
    a.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    await mark(tb);
    expect((await got)[0]!.topic).toBe('marker');
    expect(seen).toContainEqual(['will/t', true]);
  });
});
