/**
 * Bad input over raw sockets: every violation ends that connection with the right reason code —
 * CONNACK before the connection is accepted (no DISCONNECT may precede a successful CONNACK,
 * MQTT-3.14.0-1), DISCONNECT after — and the broker keeps serving a well-behaved pair of clients.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MqttClient as MqttJsClient } from 'mqtt';
import { PacketType, encodePacket, type Packet } from '../../../lib/codec/index.js';
import type { RawClient } from '../../helpers/raw-client.js';
import { collectMessages, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker;
let healthySub: MqttJsClient;
let healthyPub: MqttJsClient;
let round = 0;
const clientErrors: Error[] = [];

beforeAll(async () => {
  tb = await startBroker({ maximumPacketSize: 1024, receiveMaximum: 2, topicAliasMaximum: 4, maximumQoS: 1 });
  tb.broker.on('clientError', (_c, e) => clientErrors.push(e));
  healthySub = await tb.mqttjs();
  healthyPub = await tb.mqttjs();
  await healthySub.subscribeAsync('healthy', { qos: 1 });
});
afterAll(async () => tb.close());

/** The healthy pair still talks through the broker. */
async function stillServing(): Promise<void> {
  const got = collectMessages(healthySub, 1);
  const payload = `ok-${++round}`;
  await healthyPub.publishAsync('healthy', payload, { qos: 1 });
  expect((await got)[0]!.payload.toString()).toBe(payload);
}

/** A connected raw client. */
async function connected(extra: Record<string, unknown> = {}): Promise<RawClient> {
  const { client, connack } = await tb.raw({ clientId: uid('bad'), ...extra });
  expect(connack.reasonCode).toBe(0);
  return client;
}

async function expectDisconnect(c: RawClient, reasonCode: number): Promise<void> {
  const d = await c.nextMatching((p): p is Extract<Packet, { type: 14 }> => p.type === PacketType.DISCONNECT);
  expect(d.reasonCode).toBe(reasonCode);
  expect(d.properties?.reasonString).toEqual(expect.any(String));
  await c.waitClosed();
  await stillServing();
}

async function expectRefused(c: RawClient, reasonCode: number): Promise<void> {
  const connack = await c.expect(PacketType.CONNACK);
  expect(connack.reasonCode).toBe(reasonCode);
  await c.waitClosed();
  await stillServing();
}

const publish = (topic: string, qos: 0 | 1 | 2 = 0, packetId?: number): Packet => ({
  type: PacketType.PUBLISH,
  topic,
  payload: Buffer.from('x'),
  qos,
  retain: false,
  dup: false,
  packetId: qos === 0 ? undefined : (packetId ?? 1),
});

describe('before CONNECT', () => {
  it('PUBLISH before CONNECT: CONNACK 0x82 and close', async () => {
    const c = await tb.rawOpen();
    c.send(publish('t'));
    await expectRefused(c, 0x82);
  });

  it('SUBSCRIBE before CONNECT: CONNACK 0x82 and close', async () => {
    const c = await tb.rawOpen();
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0 }] });
    await expectRefused(c, 0x82);
  });

  it('garbage instead of CONNECT: CONNACK 0x81 and close', async () => {
    const c = await tb.rawOpen();
    c.sendRaw([0x00, 0x00]);
    await expectRefused(c, 0x81);
  });

  it('a CONNECT with a reserved flag set: CONNACK 0x81', async () => {
    const c = await tb.rawOpen();
    const bytes = encodePacket({ type: PacketType.CONNECT, clientId: 'x', keepAlive: 0, cleanStart: true });
    bytes[9] = bytes[9]! | 0x01; // connect flags: reserved bit
    c.sendRaw(bytes);
    await expectRefused(c, 0x81);
  });

  it('a will QoS above the maximum QoS: CONNACK 0x9B', async () => {
    const { client, connack } = await tb.raw({ clientId: uid(), will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } });
    expect(connack.reasonCode).toBe(0x9b);
    await client.waitClosed();
    await stillServing();
  });

  it('a CONNECT above the maximum packet size: CONNACK 0x95', async () => {
    const c = await tb.rawOpen();
    c.send({ type: PacketType.CONNECT, clientId: 'big', keepAlive: 0, cleanStart: true, password: Buffer.alloc(2000) });
    await expectRefused(c, 0x95);
  });
});

describe('after CONNECT', () => {
  it('a second CONNECT: DISCONNECT 0x82', async () => {
    const c = await connected();
    c.send({ type: PacketType.CONNECT, clientId: 'again', keepAlive: 0, cleanStart: true });
    await expectDisconnect(c, 0x82);
  });

  it('reserved flag bits in a fixed header: DISCONNECT 0x81', async () => {
    const c = await connected();
    c.sendRaw([0xc1, 0x00]); // PINGREQ with flags 0001
    await expectDisconnect(c, 0x81);
  });

  it('a Remaining Length longer than 4 bytes: DISCONNECT 0x81', async () => {
    const c = await connected();
    c.sendRaw([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    await expectDisconnect(c, 0x81);
  });

  it('invalid UTF-8 in a topic name: DISCONNECT 0x81', async () => {
    const c = await connected();
    c.sendRaw([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x00]);
    await expectDisconnect(c, 0x81);
  });

  it('a reason code the packet type may not carry: DISCONNECT 0x82', async () => {
    const c = await connected();
    c.sendRaw([0x40, 0x03, 0x00, 0x01, 0x84]); // PUBACK with 0x84 (CONNACK only)
    await expectDisconnect(c, 0x82);
  });

  it('a packet above the maximum packet size: DISCONNECT 0x95', async () => {
    const c = await connected();
    c.send({ ...publish('big'), payload: Buffer.alloc(2000) } as Packet);
    await expectDisconnect(c, 0x95);
  });

  it('a packet of exactly the maximum packet size is accepted', async () => {
    const c = await connected();
    const sized = (n: number): Packet => ({ ...publish('edge', 1), payload: Buffer.alloc(n) }) as Packet;
    let n = 1024 - encodePacket(sized(0)).length;
    n -= encodePacket(sized(n)).length - 1024; // the Remaining Length may have grown a byte
    expect(encodePacket(sized(n)).length).toBe(1024);
    c.send(sized(n));
    expect((await c.expect(PacketType.PUBACK)).reasonCode).toBe(0x10);
    c.destroy();
  });

  it('more QoS 1/2 PUBLISHes unacknowledged than Receive Maximum: DISCONNECT 0x93', async () => {
    const c = await connected();
    c.send(publish('rm', 1, 1)); // QoS 1 is acknowledged at once: does not accumulate
    await c.expect(PacketType.PUBACK);
    c.send({ ...publish('rm', 1, 2), qos: 1 } as Packet);
    await c.expect(PacketType.PUBACK);
    // QoS 2 above maximumQoS 1 would be 0x9B: use a broker of its own for QoS 2 accumulation.
    c.destroy();
    const own = await startBroker({ receiveMaximum: 2 });
    try {
      const { client } = await own.raw({ clientId: uid() });
      client.send(publish('rm', 2, 1));
      await client.expect(PacketType.PUBREC);
      client.send(publish('rm', 2, 2));
      await client.expect(PacketType.PUBREC);
      client.send(publish('rm', 2, 3));
      const d = await client.expect(PacketType.DISCONNECT);
      expect(d.reasonCode).toBe(0x93);
    } finally {
      await own.close();
    }
    await stillServing();
  });

  it('a topic alias above the maximum: DISCONNECT 0x94', async () => {
    const c = await connected();
    c.send({ ...publish('a'), properties: { topicAlias: 5 } } as Packet);
    await expectDisconnect(c, 0x94);
  });

  it('an empty topic with an alias never set: DISCONNECT 0x94 (Topic Alias invalid, as our client answers)', async () => {
    const c = await connected();
    c.send({ ...publish(''), properties: { topicAlias: 2 } } as Packet);
    await expectDisconnect(c, 0x94);
  });

  it('QoS above the maximum QoS: DISCONNECT 0x9B', async () => {
    const c = await connected();
    c.send(publish('q2', 2));
    await expectDisconnect(c, 0x9b);
  });

  it('a wildcard in a PUBLISH topic: DISCONNECT 0x90', async () => {
    const c = await connected();
    c.sendRaw([0x30, 0x06, 0x00, 0x03, 0x61, 0x2f, 0x23, 0x00]); // topic "a/#", no properties
    await expectDisconnect(c, 0x90);
  });

  it('a subscription identifier in a PUBLISH from a client: DISCONNECT 0x82', async () => {
    const c = await connected();
    c.send({ ...publish('s'), properties: { subscriptionIdentifier: 3 } } as Packet);
    await expectDisconnect(c, 0x82);
  });

  it('an invalid topic filter: DISCONNECT 0x8F', async () => {
    const c = await connected();
    // SUBSCRIBE id 1, no properties, filter "a/#/b", options QoS 0.
    c.sendRaw([0x82, 0x0b, 0x00, 0x01, 0x00, 0x00, 0x05, 0x61, 0x2f, 0x23, 0x2f, 0x62, 0x00]);
    await expectDisconnect(c, 0x8f);
  });

  it('No Local on a shared subscription: DISCONNECT 0x82', async () => {
    const c = await connected();
    // SUBSCRIBE id 1, filter "$share/g/t", options No Local.
    const filter = Buffer.from('$share/g/t');
    c.sendRaw(Buffer.concat([Buffer.from([0x82, 2 + 1 + 2 + filter.length + 1, 0x00, 0x01, 0x00, 0x00, filter.length]), filter, Buffer.from([0x04])]));
    await expectDisconnect(c, 0x82);
  });

  it('a packet only servers send (CONNACK, SUBACK, PINGRESP): DISCONNECT 0x82', async () => {
    for (const bytes of [[0x20, 0x03, 0x00, 0x00, 0x00], [0x90, 0x04, 0x00, 0x01, 0x00, 0x00], [0xd0, 0x00]]) {
      const c = await connected();
      c.sendRaw(bytes);
      await expectDisconnect(c, 0x82);
    }
  });

  it('AUTH without enhanced authentication: DISCONNECT 0x82', async () => {
    const c = await connected();
    c.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
    await expectDisconnect(c, 0x82);
  });

  it('reports each violation as a clientError carrying its reason code', () => {
    const codes = new Set(clientErrors.map((e) => (e as { reasonCode?: number }).reasonCode));
    for (const code of [0x81, 0x82, 0x8f, 0x90, 0x94, 0x95, 0x9b]) expect(codes.has(code)).toBe(true);
  });
});

describe('feature switches', () => {
  it('a subscription identifier when they are disabled: DISCONNECT 0xA1', async () => {
    const own = await startBroker({ subscriptionIdentifiersAvailable: false });
    try {
      const { client, connack } = await own.raw({ clientId: uid() });
      expect(connack.properties?.subscriptionIdentifiersAvailable).toBe(false);
      client.send({ type: PacketType.SUBSCRIBE, packetId: 1, properties: { subscriptionIdentifier: 1 }, subscriptions: [{ topicFilter: 't', qos: 0 }] });
      expect((await client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0xa1);
    } finally {
      await own.close();
    }
  });

  it('a wildcard subscription when they are disabled: SUBACK 0xA2', async () => {
    const own = await startBroker({ wildcardSubscriptionAvailable: false });
    try {
      const { client, connack } = await own.raw({ clientId: uid() });
      expect(connack.properties?.wildcardSubscriptionAvailable).toBe(false);
      client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'a/+', qos: 0 }, { topicFilter: 'a/b', qos: 0 }, { topicFilter: '#', qos: 0 }] });
      expect((await client.expect(PacketType.SUBACK)).reasonCodes).toEqual([0xa2, 0, 0xa2]);
    } finally {
      await own.close();
    }
  });
});
