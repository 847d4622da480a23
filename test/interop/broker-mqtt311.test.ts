/**
 * Interoperability of the broker with real MQTT 3.1.1 and 3.1 peers beside v5 ones: MQTT.js at
 * `protocolVersion` 4 and 3, `mosquitto_pub`/`mosquitto_sub` at `-V 311` and `-V 31`, and a mixed
 * population (MQTT.js v5 and 3.1.1, our v5 client) publishing to each other with QoS 0/1/2, retained
 * messages, wills, shared subscriptions and persistent sessions. Also the server → client topic aliases
 * (`outgoingTopicAliases`), resolved by MQTT.js and by our client.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { IClientOptions } from 'mqtt';
import { MessageReceiver, type MqttMessage } from '../../lib/client/index.js';
import { PacketType, type PublishPacket } from '../../lib/codec/index.js';
import type { ClientInfo } from '../../lib/broker/index.js';
import { startProcess, stopAllProcesses } from '../helpers/run-process.js';
import { mosquittoTestsEnabled } from '../helpers/mosquitto.js';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from '../integration/broker/support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await stopAllProcesses();
  await tb?.close();
  tb = undefined;
});

const v4: IClientOptions = { protocolVersion: 4 };
// MQTT.js needs the 3.1 protocol name spelled out.
const v3: IClientOptions = { protocolVersion: 3, protocolId: 'MQIsdp' };

describe.each([
  ['MQTT 3.1.1', v4],
  ['MQTT 3.1', v3],
] as const)('MQTT.js speaking %s', (_name, opts) => {
  it.each([0, 1, 2] as const)('QoS %i both ways with a v5 client', async (qos) => {
    tb = await startBroker();
    const old = await tb.mqttjs({ ...opts, clientId: uid('js').slice(0, 20) });
    const ours = await tb.ours();
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'to/ours', qos }] }, r);
    await old.subscribeAsync('to/old', { qos });
    const got = collectMessages(old, 1);
    await old.publishAsync('to/ours', 'from old', { qos });
    await ours.publish({ topic: 'to/old', payload: 'from v5', qos, properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } });
    const m = await r.recv();
    expect([m.topic, m.payload.toString(), m.qos, m.properties]).toEqual(['to/ours', 'from old', qos, undefined]);
    const n = (await got)[0]!;
    expect([n.topic, n.payload.toString(), n.packet.qos]).toEqual(['to/old', 'from v5', qos]);
  });

  it('retained messages and wills cross to and from v5 clients', async () => {
    tb = await startBroker();
    const v5 = await tb.mqttjs();
    await v5.publishAsync('ret/v5', 'kept by v5', { qos: 1, retain: true, properties: { messageExpiryInterval: 100 } });
    const old = await tb.mqttjs({ ...opts, clientId: uid('js').slice(0, 20), will: { topic: 'will/old', payload: Buffer.from('old died'), qos: 1, retain: false } });
    await old.publishAsync('ret/old', 'kept by old', { qos: 1, retain: true });
    const retainedToOld = collectMessages(old, 1);
    await old.subscribeAsync('ret/v5', { qos: 1 });
    const r = (await retainedToOld)[0]!;
    expect([r.topic, r.payload.toString(), r.packet.retain]).toEqual(['ret/v5', 'kept by v5', true]);
    const retainedToV5 = collectMessages(v5, 1);
    await v5.subscribeAsync('ret/old', { qos: 1 });
    const s = (await retainedToV5)[0]!;
    expect([s.topic, s.payload.toString(), s.packet.retain]).toEqual(['ret/old', 'kept by old', true]);
    await v5.subscribeAsync('will/old', { qos: 1 });
    const will = collectMessages(v5, 1);
    old.stream.destroy(); // not a clean DISCONNECT: the will goes out
    const w = (await will)[0]!;
    expect([w.topic, w.payload.toString()]).toEqual(['will/old', 'old died']);
  });

  it('a persistent session (clean: false) gets the QoS 1 messages published while it was away', async () => {
    tb = await startBroker();
    const clientId = uid('keep').slice(0, 20);
    const first = await tb.mqttjs({ ...opts, clientId, clean: false });
    await first.subscribeAsync('away', { qos: 1 });
    await first.endAsync();
    const v5 = await tb.ours();
    for (let i = 0; i < 3; i++) await v5.publish({ topic: 'away', payload: `m${i}`, qos: 1, properties: { userProperties: [['i', String(i)]] } });
    const back = tb.mqttjsUnconnected({ ...opts, clientId, clean: false });
    const got = collectMessages(back, 3);
    const [connack] = await nextEvent<[{ sessionPresent: boolean }]>(back, 'connect');
    expect(connack.sessionPresent).toBe(true);
    expect((await got).map((m) => m.payload.toString())).toEqual(['m0', 'm1', 'm2']);
  });
});

describe('a mixed population', () => {
  it('shared subscriptions with 3.1.1 and v5 members, QoS 0/1/2 publishers of both versions', async () => {
    tb = await startBroker();
    const members = [await tb.mqttjs(v4), await tb.mqttjs(), await tb.mqttjs(v3)];
    const received = members.map(() => [] as string[]);
    for (let i = 0; i < members.length; i++) {
      members[i]!.on('message', (_t, payload) => received[i]!.push(payload.toString()));
      await members[i]!.subscribeAsync('$share/workers/jobs/#', { qos: 2 });
    }
    const publishers = [await tb.mqttjs(v4), await tb.mqttjs(), await tb.ours()];
    let n = 0;
    for (const qos of [0, 1, 2] as const) {
      for (const p of publishers) {
        for (let k = 0; k < 4; k++) {
          const payload = `job ${n++}`;
          if ('publishAsync' in p) await p.publishAsync(`jobs/${qos}`, payload, { qos });
          else await p.publish({ topic: `jobs/${qos}`, payload, qos });
        }
      }
    }
    const total = (): number => received.reduce((a, r) => a + r.length, 0);
    await until(() => total() === n);
    expect(received.flat().sort()).toEqual(Array.from({ length: n }, (_, i) => `job ${i}`).sort());
    for (const r of received) expect(r.length).toBeGreaterThan(0);
  });
});

describe.each([
  ['311', 'MQTT 3.1.1'],
  ['31', 'MQTT 3.1'],
] as const)('mosquitto_pub / mosquitto_sub -V %s (%s)', (version, _name) => {
  const itMosquitto = mosquittoTestsEnabled() ? it : it.skip;

  itMosquitto('mosquitto_sub receives from a v5 publisher; mosquitto_pub reaches a v5 subscriber (QoS 0/1/2, retained)', async () => {
    tb = await startBroker();
    const port = String(tb.port);
    const subscribed = nextEvent<[ClientInfo]>(tb.broker, 'subscribe', 5000);
    const sub = startProcess('mosquitto_sub', ['-V', version, '-h', '127.0.0.1', '-p', port, '-i', `sub${version}`, '-t', 'mix/#', '-q', '2', '-C', '4', '-W', '10', '-v']);
    const [client] = await subscribed;
    expect(client.protocolVersion).toBe(version === '311' ? 4 : 3);
    const v5 = await tb.ours();
    for (const qos of [0, 1, 2] as const) await v5.publish({ topic: `mix/${qos}`, payload: `v5 q${qos}`, qos, properties: { contentType: 'text/plain' } });
    await v5.publish({ topic: 'mix/r', payload: 'v5 retained', qos: 1, retain: true });
    const done = await sub.waitForExit();
    expect(done.code).toBe(0);
    // Sorted: mosquitto_sub hands a QoS 2 message over at PUBREL, so it may print it after a later QoS 1 one.
    expect(done.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['mix/0 v5 q0', 'mix/1 v5 q1', 'mix/2 v5 q2', 'mix/r v5 retained']);

    const r = new MessageReceiver();
    await v5.subscribe({ subscriptions: [{ topicFilter: 'from/tool/#', qos: 2 }] }, r);
    for (const qos of ['0', '1', '2']) {
      const pub = await startProcess('mosquitto_pub', ['-V', version, '-h', '127.0.0.1', '-p', port, '-t', `from/tool/${qos}`, '-q', qos, '-m', `tool q${qos}`]).waitForExit();
      expect(pub.code).toBe(0);
      const m: MqttMessage = await r.recv();
      expect([m.topic, m.payload.toString(), m.qos]).toEqual([`from/tool/${qos}`, `tool q${qos}`, Number(qos)]);
    }
    // A retained message from the tool, read back by the tool.
    expect((await startProcess('mosquitto_pub', ['-V', version, '-h', '127.0.0.1', '-p', port, '-t', 'tool/ret', '-q', '1', '-r', '-m', 'sticky']).waitForExit()).code).toBe(0);
    const back = await startProcess('mosquitto_sub', ['-V', version, '-h', '127.0.0.1', '-p', port, '-t', 'tool/ret', '-C', '1', '-W', '5']).waitForExit();
    expect([back.code, back.stdout.trim()]).toEqual([0, 'sticky']);
  });
});

describe('server → client topic aliases (outgoingTopicAliases)', () => {
  const topics = ['sensors/building-a/floor-1/temperature', 'sensors/building-a/floor-2/temperature', 'sensors/building-b/floor-1/humidity'];

  it('MQTT.js (Topic Alias Maximum 2) receives aliased publishes and resolves every topic, across alias reuse', async () => {
    tb = await startBroker({ outgoingTopicAliases: 16 });
    const js = await tb.mqttjs({ properties: { topicAliasMaximum: 2 } });
    await js.subscribeAsync('sensors/#', { qos: 1 });
    const order = [0, 1, 0, 2, 1, 0, 2, 2, 1, 0];
    const got = collectMessages(js, order.length, 5000);
    const ours = await tb.ours();
    for (let i = 0; i < order.length; i++) await ours.publish({ topic: topics[order[i]!]!, payload: String(i), qos: 1 });
    const msgs = await got;
    expect(msgs.map((m) => [m.topic, m.payload.toString()])).toEqual(order.map((t, i) => [topics[t], String(i)]));
    const aliases = msgs.map((m) => m.packet.properties?.topicAlias);
    expect(aliases.every((a) => a === 1 || a === 2)).toBe(true);
  });

  it('our client (Topic Alias Maximum 8) resolves the aliases; the wire shows empty topics after the first', async () => {
    tb = await startBroker({ outgoingTopicAliases: 16 });
    const ours = await tb.ours({ properties: { topicAliasMaximum: 8 } });
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'sensors/#', qos: 0 }] }, r);
    const { client: raw } = await tb.raw({ clientId: 'alias-raw', properties: { topicAliasMaximum: 8 } });
    raw.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'sensors/#', qos: 0 }] });
    await raw.expect(PacketType.SUBACK);
    const pub = await tb.mqttjs(v4);
    for (let i = 0; i < 6; i++) await pub.publishAsync(topics[i % 3]!, String(i), { qos: 1 });
    for (let i = 0; i < 6; i++) {
      const m = await r.recv();
      expect([m.topic, m.payload.toString()]).toEqual([topics[i % 3], String(i)]);
    }
    const wire: PublishPacket[] = [];
    for (let i = 0; i < 6; i++) wire.push(await raw.expect(PacketType.PUBLISH));
    expect(wire.map((p) => [p.topic, p.properties?.topicAlias])).toEqual([
      [topics[0], 1],
      [topics[1], 2],
      [topics[2], 3],
      ['', 1],
      ['', 2],
      ['', 3],
    ]);
  });

  it('a client with Topic Alias Maximum 0 (or none) never gets one, and the option is off by default', async () => {
    tb = await startBroker({ outgoingTopicAliases: 16 });
    const { client: none } = await tb.raw({ clientId: 'no-alias' });
    const { client: zero } = await tb.raw({ clientId: 'zero-alias', properties: { topicAliasMaximum: 0 } });
    for (const c of [none, zero]) {
      c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'sensors/#', qos: 1 }] });
      await c.expect(PacketType.SUBACK);
    }
    const pub = await tb.ours();
    for (let i = 0; i < 4; i++) await pub.publish({ topic: topics[0]!, payload: String(i), qos: 1 });
    for (const c of [none, zero]) {
      for (let i = 0; i < 4; i++) {
        const p = await c.expect(PacketType.PUBLISH);
        expect([p.topic, p.properties?.topicAlias]).toEqual([topics[0], undefined]);
      }
    }
    await tb.close();
    tb = await startBroker();
    const { client: asks } = await tb.raw({ clientId: 'asks', properties: { topicAliasMaximum: 10 } });
    asks.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'sensors/#', qos: 0 }] });
    await asks.expect(PacketType.SUBACK);
    const pub2 = await tb.ours();
    for (let i = 0; i < 3; i++) await pub2.publish({ topic: topics[1]!, payload: String(i) });
    for (let i = 0; i < 3; i++) expect((await asks.expect(PacketType.PUBLISH)).properties?.topicAlias).toBeUndefined();
  });
});

/** Resolves when `pred` holds, polling every 10 ms; rejects after `ms`. */
function until(pred: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (pred()) resolve();
      else if (Date.now() - started > ms) reject(new Error('timed out waiting for a condition'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
