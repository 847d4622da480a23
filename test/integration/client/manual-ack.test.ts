/**
 * `manualAck`: received QoS 1/2 messages are acknowledged when the application calls `client.ack()`,
 * in receive order, on the connection that delivered them only.
 *
 * "Nothing was sent" is shown without sleeping: after the client has handled what the server sent,
 * the test makes it publish a QoS 0 probe; an ack written before would reach the server first.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { MessageReceiver, type MqttClient, type MqttMessage } from '../../../lib/client/index.js';
import type { Packet, PublishPacket } from '../../../lib/codec/index.js';
import type { FakeServerConnection } from '../../helpers/fake-server.js';
import { waitForEvent, withTimeout } from '../../helpers/wait.js';
import {
  PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, acceptReconnect, connected, type Harness,
} from './setup.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MANUAL = { manualAck: true };
/** A session that outlives the connection (so that QoS 2 acks given while disconnected are kept). */
const WITH_SESSION = { properties: { sessionExpiryInterval: 600 } };

const pub = (topic: string, payload: string, qos: 0 | 1 | 2, packetId?: number, dup = false): PublishPacket => ({
  type: PUBLISH, topic, payload: Buffer.from(payload), qos, retain: false, dup, packetId,
});

/** Subscribes a receiver to `filter` and answers the SUBACK. */
async function subscribe(harness: Harness, filter = 'm/#'): Promise<MessageReceiver> {
  const r = new MessageReceiver();
  const p = harness.client.subscribe({ subscriptions: [{ topicFilter: filter, qos: 2 }] }, r);
  const sub = await harness.conn.expect(SUBSCRIBE);
  harness.conn.send({ type: SUBACK, packetId: sub.packetId, reasonCodes: [2] });
  await p;
  return r;
}

const recv = (r: MessageReceiver): Promise<MqttMessage> => withTimeout(r.recv(), 5000, 'a delivered message');

/** Asserts that the client sent nothing since the last packet read: its next packet is a fresh probe. */
async function nothingSent(client: MqttClient, conn: FakeServerConnection): Promise<void> {
  const topic = `probe/${Math.random()}`;
  await client.publish({ topic, qos: 0 });
  const next: Packet = await conn.next();
  expect(next).toMatchObject({ type: PUBLISH, topic });
}

describe('manualAck', () => {
  it('QoS 1: no PUBACK until ack(), which sends it with the given reason code', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/a', 'a', 1, 11));
    h.conn.send(pub('m/b', 'b', 1, 12));
    const a = await recv(r);
    const b = await recv(r);
    await nothingSent(h.client, h.conn);
    expect(h.client.ack(a)).toBe(true);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 11, reasonCode: 0x00 });
    // The handler failed: an error reason code tells the server (and the publisher) so.
    expect(h.client.ack(b, 0x80)).toBe(true);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 12, reasonCode: 0x80 });
  });

  it('QoS 2: no PUBREC until ack(); then PUBREL → PUBCOMP completes the flow', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/two', 'x', 2, 21));
    const m = await recv(r);
    await nothingSent(h.client, h.conn);
    expect(h.client.ack(m, 0x10)).toBe(true);
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 21, reasonCode: 0x10 });
    h.conn.send({ type: PUBREL, packetId: 21 });
    expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: 21, reasonCode: 0x00 });
  });

  it('QoS 2: an error PUBREC ends the flow, so the id then carries a new message', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/two', 'refused', 2, 22));
    h.client.ack(await recv(r), 0x97);
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 22, reasonCode: 0x97 });
    // No PUBREL is due; a PUBREL anyway is for an unknown id.
    h.conn.send({ type: PUBREL, packetId: 22 });
    expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: 22, reasonCode: 0x92 });
    h.conn.send(pub('m/two', 'next', 2, 22));
    const next = await recv(r);
    expect(next.payload.toString()).toBe('next');
    h.client.ack(next);
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 22, reasonCode: 0x00 });
  });

  it('does not deliver a PUBLISH re-sent with DUP while its first copy is unacked, nor after its PUBREC', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/q2', 'once', 2, 5));
    h.conn.send(pub('m/q2', 'once', 2, 5, true));
    h.conn.send(pub('m/q1', 'once', 1, 6));
    h.conn.send(pub('m/q1', 'once', 1, 6, true));
    const q2 = await recv(r);
    const q1 = await recv(r);
    expect([q2.topic, q1.topic]).toEqual(['m/q2', 'm/q1']);
    // The copies were dropped (nothing queued), and no ack went out for them.
    expect(r.size).toBe(0);
    await nothingSent(h.client, h.conn);
    h.client.ack(q2);
    h.client.ack(q1);
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 5 });
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 6 });
    // Past PUBREC a re-send gets PUBREC again, without a second delivery.
    h.conn.send(pub('m/q2', 'once', 2, 5, true));
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 5, reasonCode: 0x00 });
    h.conn.send({ type: PUBREL, packetId: 5 });
    expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: 5, reasonCode: 0x00 });
    expect(r.size).toBe(0);
  });

  it('sends acks in the order the PUBLISHes were received (spec 4.6), holding early ones', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/1', '1', 1, 1));
    h.conn.send(pub('m/2', '2', 2, 2));
    h.conn.send(pub('m/3', '3', 1, 3));
    h.conn.send(pub('m/4', '4', 1, 4));
    const [m1, m2, m3, m4] = [await recv(r), await recv(r), await recv(r), await recv(r)];
    expect(h.client.ack(m3)).toBe(true);
    expect(h.client.ack(m2, 0x80)).toBe(true);
    await nothingSent(h.client, h.conn);
    expect(h.client.ack(m1)).toBe(true);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 1 });
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 2, reasonCode: 0x80 });
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 3 });
    await nothingSent(h.client, h.conn);
    h.client.ack(m4);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 4 });
  });

  it('never sends a stale ack on a new connection; the redelivered message is delivered again and ackable', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/a', 'a', 1, 7));
    h.conn.send(pub('m/b', 'b', 1, 8));
    const a = await recv(r);
    const b = await recv(r);
    const lost = waitForEvent(h.client, 'disconnected');
    h.conn.destroy();
    await lost;
    // Acked while disconnected: nowhere to send it, and never later.
    expect(h.client.ack(a)).toBe(false);
    const { conn } = await acceptReconnect(h.server, { sessionPresent: true });
    h.conn = conn;
    // Acked once the new connection is up: that connection may use id 8 for another message.
    expect(h.client.ack(b)).toBe(false);
    await nothingSent(h.client, conn);
    // The server redelivers both; they are new deliveries, each acked in turn.
    conn.send(pub('m/a', 'a', 1, 7, true));
    conn.send(pub('m/b', 'b', 1, 8, true));
    const a2 = await recv(r);
    const b2 = await recv(r);
    expect([a2.payload.toString(), a2.dup, b2.payload.toString(), b2.dup]).toEqual(['a', true, 'b', true]);
    expect(a2).not.toBe(a);
    expect(h.client.ack(b2)).toBe(true);
    expect(h.client.ack(a2)).toBe(true);
    expect(await conn.expect(PUBACK)).toMatchObject({ packetId: 7 });
    expect(await conn.expect(PUBACK)).toMatchObject({ packetId: 8 });
  });

  it('QoS 2 accepted between a connection loss and the resumed session is not delivered a second time', async () => {
    h = await connected({}, MANUAL, WITH_SESSION);
    const r = await subscribe(h);
    h.conn.send(pub('m/x', 'x', 2, 31));
    h.conn.send(pub('m/y', 'y', 2, 32));
    const x = await recv(r);
    const y = await recv(r);
    const lost = waitForEvent(h.client, 'disconnected');
    h.conn.destroy();
    await lost;
    // Processed successfully while disconnected: x; failed: y (the server may try again).
    expect(h.client.ack(x)).toBe(false);
    expect(h.client.ack(y, 0x80)).toBe(false);
    const { conn } = await acceptReconnect(h.server, { sessionPresent: true });
    h.conn = conn;
    await nothingSent(h.client, conn);
    conn.send(pub('m/x', 'x', 2, 31, true));
    conn.send(pub('m/y', 'y', 2, 32, true));
    // x is answered at once; y is delivered again and awaits its ack.
    expect(await conn.expect(PUBREC)).toMatchObject({ packetId: 31, reasonCode: 0x00 });
    const y2 = await recv(r);
    expect(y2.payload.toString()).toBe('y');
    expect(r.size).toBe(0);
    h.client.ack(y2);
    expect(await conn.expect(PUBREC)).toMatchObject({ packetId: 32 });
    conn.send({ type: PUBREL, packetId: 31 });
    expect(await conn.expect(PUBCOMP)).toMatchObject({ packetId: 31, reasonCode: 0x00 });
  });

  it('forgets such QoS 2 records when the session did not survive', async () => {
    h = await connected({}, MANUAL, WITH_SESSION);
    const r = await subscribe(h);
    h.conn.send(pub('m/x', 'x', 2, 31));
    const x = await recv(r);
    const lost = waitForEvent(h.client, 'disconnected');
    h.conn.destroy();
    await lost;
    h.client.ack(x);
    const { conn } = await acceptReconnect(h.server, { sessionPresent: false });
    h.conn = conn;
    const re = await conn.expect(SUBSCRIBE);
    conn.send({ type: SUBACK, packetId: re.packetId, reasonCodes: [2] });
    // Id 31 is a new message in the new session.
    conn.send(pub('m/new', 'new', 2, 31));
    expect((await recv(r)).topic).toBe('m/new');
  });

  it('a second ack() of the same message is a no-op', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/a', 'a', 1, 9));
    h.conn.send(pub('m/b', 'b', 2, 10));
    const a = await recv(r);
    const b = await recv(r);
    expect(h.client.ack(a)).toBe(true);
    expect(h.client.ack(a, 0x80)).toBe(false);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 9, reasonCode: 0x00 });
    expect(h.client.ack(b)).toBe(true);
    expect(h.client.ack(b)).toBe(false);
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 10 });
    await nothingSent(h.client, h.conn);
  });

  it('ack() is a no-op for QoS 0 and for objects it did not deliver; a bad reason code throws', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    h.conn.send(pub('m/zero', 'z', 0));
    h.conn.send(pub('m/one', 'o', 1, 3));
    const zero = await recv(r);
    const one = await recv(r);
    expect(h.client.ack(zero)).toBe(false);
    expect(h.client.ack(pub('m/one', 'o', 1, 3))).toBe(false);
    expect(() => h!.client.ack(one, 0x8e)).toThrow(RangeError);
    await nothingSent(h.client, h.conn);
    expect(h.client.ack(one)).toBe(true);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 3 });
  });

  it('works with push callbacks, also when they ack synchronously', async () => {
    h = await connected({}, MANUAL);
    const client = h.client;
    const sub = client.subscribe({ subscriptions: [{ topicFilter: 'cb/#', qos: 2 }] }, (m) => {
      client.ack(m, m.topic === 'cb/bad' ? 0x80 : 0x00);
    });
    const s = await h.conn.expect(SUBSCRIBE);
    h.conn.send({ type: SUBACK, packetId: s.packetId, reasonCodes: [2] });
    await sub;
    h.conn.send(pub('cb/ok', '', 1, 1));
    h.conn.send(pub('cb/bad', '', 2, 2));
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 1, reasonCode: 0x00 });
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 2, reasonCode: 0x80 });
  });

  it('acknowledges itself what nobody received (no subscription, closed receiver), so later acks are not held', async () => {
    h = await connected({}, MANUAL);
    const r = await subscribe(h);
    const closed = await subscribe(h, 'closed/#');
    closed.close();
    h.conn.send(pub('nobody', '', 1, 1));
    h.conn.send(pub('closed/x', '', 2, 2));
    h.conn.send(pub('m/a', 'a', 1, 3));
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 1 });
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 2 });
    h.client.ack(await recv(r));
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 3 });
  });

  it("leaves the ack of an unhandled message to an 'unhandledMessage' listener", async () => {
    h = await connected({}, MANUAL);
    const got = waitForEvent<[MqttMessage]>(h.client, 'unhandledMessage');
    h.conn.send(pub('orphan', 'o', 1, 4));
    const [m] = await got;
    await nothingSent(h.client, h.conn);
    expect(h.client.ack(m)).toBe(true);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 4 });
  });

  it('with enforceReceiveMaximum false, tolerates a server overshooting our Receive Maximum; pending acks do not disturb the connection', async () => {
    h = await connected({}, { ...MANUAL, enforceReceiveMaximum: false }, { properties: { receiveMaximum: 2 } });
    const r = await subscribe(h);
    h.conn.send(pub('m/1', '1', 1, 1));
    h.conn.send(pub('m/2', '2', 2, 2));
    h.conn.send(pub('m/3', '3', 1, 3));
    const got = [await recv(r), await recv(r), await recv(r)];
    // Three unacked, one more than allowed: the client carries on (its own QoS 1 publish completes).
    const probe = h.client.publish({ topic: 'probe', qos: 1 });
    const sent = await h.conn.expect(PUBLISH);
    h.conn.send({ type: PUBACK, packetId: sent.packetId! });
    await probe;
    for (const m of got) h.client.ack(m);
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 1 });
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 2 });
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 3 });
    expect(h.client.connected).toBe(true);
  });

  it('manualAck false (default) keeps acknowledging on receipt; ack() is then a no-op', async () => {
    h = await connected();
    const r = await subscribe(h);
    h.conn.send(pub('m/a', 'a', 1, 1));
    expect(await h.conn.expect(PUBACK)).toMatchObject({ packetId: 1, reasonCode: 0x00 });
    h.conn.send(pub('m/b', 'b', 2, 2));
    expect(await h.conn.expect(PUBREC)).toMatchObject({ packetId: 2, reasonCode: 0x00 });
    const a = await recv(r);
    expect(h.client.ack(a)).toBe(false);
    expect(h.client.ack(await recv(r))).toBe(false);
    h.conn.send({ type: PUBREL, packetId: 2 });
    expect(await h.conn.expect(PUBCOMP)).toMatchObject({ packetId: 2 });
    await nothingSent(h.client, h.conn);
  });
});
