import { describe, it, expect, afterEach } from '@jest/globals';
import { ConnectionLostError, MessageReceiver, type MqttMessage } from '../../../lib/client/index.js';
import { encodePacket } from '../../../lib/codec/index.js';
import { waitForEvent } from '../../helpers/wait.js';
import {
  DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, acceptReconnect, connected, type Harness,
} from './setup.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Subscribes `sink` to `filter` and answers the SUBACK. */
async function subscribe(
  harness: Harness,
  filter: string,
  sink: MessageReceiver | ((m: MqttMessage) => void),
  subscriptionIdentifier?: number,
): Promise<void> {
  const p = harness.client.subscribe(
    { subscriptions: [{ topicFilter: filter, qos: 2 }], properties: subscriptionIdentifier === undefined ? undefined : { subscriptionIdentifier } },
    sink,
  );
  const sub = await harness.conn.expect(SUBSCRIBE);
  harness.conn.send({ type: SUBACK, packetId: sub.packetId, reasonCodes: [2] });
  await p;
}

const pub = (topic: string, payload: string, qos: 0 | 1 | 2 = 0, packetId?: number, extra: object = {}) => ({
  type: PUBLISH, topic, payload: Buffer.from(payload), qos, retain: false, dup: false, packetId, ...extra,
}) as const;

describe('receiving', () => {
  it('acks QoS 1 with PUBACK and QoS 2 with PUBREC/PUBCOMP', async () => {
    h = await connected();
    const r = new MessageReceiver();
    await subscribe(h, 'in/#', r);
    h.conn.send(pub('in/1', 'a', 1, 11));
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 11, reasonCode: 0 });
    h.conn.send(pub('in/2', 'b', 2, 12));
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 12 });
    h.conn.send({ type: PUBREL, packetId: 12 });
    expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: 12, reasonCode: 0 });
    expect([(await r.recv()).payload.toString(), (await r.recv()).payload.toString()]).toEqual(['a', 'b']);
  });

  it('delivers an inbound QoS 2 message exactly once, even when the server re-sends it', async () => {
    h = await connected();
    const seen: string[] = [];
    await subscribe(h, 'x', (m) => void seen.push(m.payload.toString()));
    h.conn.send(pub('x', 'once', 2, 5));
    await h.conn.expect(PUBREC);
    h.conn.send(pub('x', 'once', 2, 5, { dup: true }));
    await h.conn.expect(PUBREC);
    // Across a reconnect with session present, too.
    h.conn.destroy();
    const { conn } = await acceptReconnect(h.server, { sessionPresent: true });
    h.conn = conn;
    conn.send(pub('x', 'once', 2, 5, { dup: true }));
    await conn.expect(PUBREC);
    conn.send({ type: PUBREL, packetId: 5 });
    await conn.expect(PUBCOMP);
    // After PUBREL the id is free: the same id now carries a new message.
    conn.send(pub('x', 'twice', 2, 5));
    await conn.expect(PUBREC);
    expect(seen).toEqual(['once', 'twice']);
  });

  it('answers a PUBREL for an unknown id with PUBCOMP 0x92', async () => {
    h = await connected();
    h.conn.send({ type: PUBREL, packetId: 77 });
    expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: 77, reasonCode: 0x92 });
  });

  it('resolves incoming topic aliases', async () => {
    h = await connected({}, {}, { properties: { topicAliasMaximum: 3 } });
    const r = new MessageReceiver();
    await subscribe(h, 'alias/#', r);
    h.conn.send(pub('alias/long', '1', 0, undefined, { properties: { topicAlias: 3 } }));
    h.conn.send(pub('', '2', 0, undefined, { properties: { topicAlias: 3 } }));
    expect((await r.recv()).topic).toBe('alias/long');
    const second = await r.recv();
    expect([second.topic, second.payload.toString()]).toEqual(['alias/long', '2']);
  });

  it('disconnects with 0x94 on an unknown topic alias, then reconnects', async () => {
    h = await connected({}, {}, { properties: { topicAliasMaximum: 3 } });
    const lost = waitForEvent<[ConnectionLostError]>(h.client, 'disconnected');
    h.conn.send(pub('', 'x', 0, undefined, { properties: { topicAlias: 2 } }));
    expect(await h.conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x94 });
    const [err] = await lost;
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(err.reasonCode).toBe(0x94);
    await acceptReconnect(h.server);
  });

  it('disconnects with 0x94 on an alias above our Topic Alias Maximum', async () => {
    h = await connected({}, {}, { properties: { topicAliasMaximum: 1 } });
    h.conn.send(pub('t', 'x', 0, undefined, { properties: { topicAlias: 2 } }));
    expect(await h.conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x94 });
  });

  it('disconnects with 0x93 when the server exceeds our Receive Maximum', async () => {
    h = await connected({}, {}, { properties: { receiveMaximum: 2 } });
    const seen: string[] = [];
    await subscribe(h, '#', (m) => void seen.push(m.payload.toString()));
    h.conn.send(pub('a', '1', 2, 1));
    h.conn.send(pub('a', '2', 2, 2));
    h.conn.send(pub('a', '3', 2, 3));
    let p = await h.conn.next();
    while (p.type === PUBREC) p = await h.conn.next();
    expect(p).toMatchObject({ type: DISCONNECT, reasonCode: 0x93 });
    expect(seen).toEqual(['1', '2']);
  });

  it('with enforceReceiveMaximum false, tolerates a server exceeding it (Mosquitto 2.0.11 does)', async () => {
    h = await connected({}, { enforceReceiveMaximum: false }, { properties: { receiveMaximum: 2 } });
    const seen: string[] = [];
    await subscribe(h, '#', (m) => void seen.push(m.payload.toString()));
    h.conn.send(pub('a', '1', 2, 1));
    h.conn.send(pub('a', '2', 2, 2));
    h.conn.send(pub('a', '3', 2, 3));
    // Three QoS 2 messages await PUBREL, one more than allowed: all delivered and acknowledged.
    for (const id of [1, 2, 3]) expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: id, reasonCode: 0 });
    for (const id of [1, 2, 3]) h.conn.send({ type: PUBREL, packetId: id });
    for (const id of [1, 2, 3]) expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: id, reasonCode: 0 });
    expect(seen).toEqual(['1', '2', '3']);
    expect(h.client.connected).toBe(true);
  });

  it('disconnects with 0x95 when a packet exceeds our Maximum Packet Size', async () => {
    h = await connected({}, {}, { properties: { maximumPacketSize: 100 } });
    const lost = waitForEvent<[ConnectionLostError]>(h.client, 'disconnected');
    h.conn.send(pub('big', 'x'.repeat(200)));
    expect(await h.conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x95 });
    expect((await lost)[0].reasonCode).toBe(0x95);
  });

  it('disconnects with 0x81 on malformed bytes', async () => {
    h = await connected();
    h.conn.sendRaw(Buffer.from([0x30, 0x02, 0x00])); // PUBLISH whose topic length runs past the packet
    h.conn.sendRaw(Buffer.from([0x00]));
    expect(await h.conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x81 });
  });

  it('answers a CONNECT of another protocol version from the server with DISCONNECT 0x82, then reconnects', async () => {
    h = await connected();
    const lost = waitForEvent<[ConnectionLostError]>(h.client, 'disconnected');
    const reconnecting = waitForEvent(h.client, 'reconnecting');
    // An MQTT 3.1.1 CONNECT: the decoder's 0x84 may not travel in a DISCONNECT, so 0x82 goes instead.
    h.conn.sendRaw(Buffer.from('100e00044d5154540402003c00026331', 'hex'));
    expect(await h.conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x82 });
    const [err] = await lost;
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(err.reasonCode).toBe(0x84);
    expect(h.client.state).toBe('reconnecting');
    await reconnecting;
    const back = waitForEvent(h.client, 'reconnected');
    h.conn = (await acceptReconnect(h.server)).conn;
    await back;
    expect(h.client.connected).toBe(true);
  });

  it('routes by subscription identifier when present', async () => {
    h = await connected();
    const one: string[] = [];
    const two: string[] = [];
    await subscribe(h, 'r/#', (m) => void one.push(m.topic), 1);
    await subscribe(h, 'r/+', (m) => void two.push(m.topic), 2);
    h.conn.send(pub('r/a', '', 0, undefined, { properties: { subscriptionIdentifier: 2 } }));
    h.conn.send(pub('r/b', '', 0, undefined, { properties: { subscriptionIdentifier: [1, 2] } }));
    h.conn.send(pub('r/c', '', 0)); // no identifier: filter matching, both match
    h.conn.send(pub('r/end', '', 1, 1));
    await h.conn.expect(PUBACK);
    expect(one).toEqual(['r/b', 'r/c', 'r/end']);
    expect(two).toEqual(['r/a', 'r/b', 'r/c', 'r/end']);
  });

  it("reports a throwing callback on 'error' and keeps going", async () => {
    h = await connected();
    const boom = new Error('handler bug');
    const seen: string[] = [];
    await subscribe(h, 'e/#', (m) => {
      if (m.topic === 'e/bad') throw boom;
      seen.push(m.topic);
    });
    const reported = waitForEvent<[Error]>(h.client, 'error');
    h.conn.send(pub('e/bad', '', 1, 1));
    h.conn.send(pub('e/good', '', 1, 2));
    expect((await reported)[0]).toBe(boom);
    expect((await h.conn.expect(PUBACK)).packetId).toBe(1);
    expect((await h.conn.expect(PUBACK)).packetId).toBe(2);
    expect(seen).toEqual(['e/good']);
    expect(h.client.connected).toBe(true);
  });

  it("emits 'unhandledMessage' for a message no subscription matches", async () => {
    h = await connected();
    const got = waitForEvent<[MqttMessage]>(h.client, 'unhandledMessage');
    h.conn.send(pub('orphan', 'o', 1, 3));
    expect((await got)[0].topic).toBe('orphan');
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 3 });
  });

  it('stops reading the socket while a receiver is full and resumes when it drains', async () => {
    h = await connected();
    const r = new MessageReceiver({ capacity: 10, lowWaterMark: 5 });
    await subscribe(h, 'flood', r);
    const stream = h.connection.stream!;
    const total = 4000;
    const payload = 'p'.repeat(1000);
    const frames = Buffer.concat(Array.from({ length: total }, (_, i) => encodePacket(pub('flood', `${i}:${payload}`, 0))));
    const paused = waitForEvent(stream, 'pause');
    const written = new Promise<void>((resolve) => h!.conn.socket.write(frames, () => resolve()));
    // The receiver fills up and the client pauses its socket instead of queueing 4 MB of messages.
    await paused;
    expect(r.size).toBeGreaterThanOrEqual(10);
    // Bounded: capacity plus what one network read holds (64 KiB / ~1 KB per message).
    expect(r.size).toBeLessThan(10 + 70);
    const resumed = waitForEvent(stream, 'resume');
    let maxSize = r.size;
    for (let next = 0; next < total; next++) {
      maxSize = Math.max(maxSize, r.size);
      const m = await r.recv();
      expect(m.payload.toString().startsWith(`${next}:`)).toBe(true);
    }
    await resumed;
    await written;
    expect(maxSize).toBeLessThan(10 + 70);
  });
});
