import { describe, it, expect, afterEach } from '@jest/globals';
import {
  MqttClient,
  NotConnectedError,
  PublishError,
  QueueFullError,
  TcpConnection,
  type PublishResult,
} from '../../../lib/client/index.js';
import type { PublishPacket } from '../../../lib/codec/index.js';
import { PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, connected, type Harness } from './setup.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Settles a promise into a tagged result without throwing (for order checks). */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}

describe('publish', () => {
  it('QoS 0 resolves once written; QoS 1 on PUBACK; QoS 2 on PUBCOMP after PUBREC/PUBREL', async () => {
    h = await connected();
    const { client, conn } = h;
    await expect(client.publish({ topic: 'q/0', payload: 'zero' })).resolves.toBeUndefined();
    const p0 = await conn.expect(PUBLISH);
    expect([p0.topic, p0.qos, p0.payload.toString(), p0.packetId]).toEqual(['q/0', 0, 'zero', undefined]);

    let settled1 = false;
    const q1 = client.publish({ topic: 'q/1', payload: Buffer.from('one'), qos: 1 }).finally(() => (settled1 = true));
    const p1 = await conn.expect(PUBLISH);
    expect([p1.qos, p1.dup]).toEqual([1, false]);
    expect(settled1).toBe(false);
    conn.send({ type: PUBACK, packetId: p1.packetId!, reasonCode: 0x10 });
    await expect(q1).resolves.toMatchObject({ type: PUBACK, reasonCode: 0x10 });

    let settled2 = false;
    const q2 = client.publish({ topic: 'q/2', payload: new Uint8Array([1, 2]), qos: 2 }).finally(() => (settled2 = true));
    const p2 = await conn.expect(PUBLISH);
    expect(p2.payload).toEqual(Buffer.from([1, 2]));
    conn.send({ type: PUBREC, packetId: p2.packetId! });
    const rel = await conn.expect(PUBREL);
    expect(rel.packetId).toBe(p2.packetId);
    expect(settled2).toBe(false);
    conn.send({ type: PUBCOMP, packetId: p2.packetId! });
    await expect(q2).resolves.toMatchObject({ type: PUBCOMP, packetId: p2.packetId });
    expect(client.inflightCount).toBe(0);
  });

  it('carries every publish property and the retain flag', async () => {
    h = await connected();
    const props = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 30,
      contentType: 'application/json',
      responseTopic: 'reply/here',
      correlationData: Buffer.from('corr'),
      userProperties: [['k', 'v'], ['k', 'w']] as [string, string][],
    };
    void h.client.publish({ topic: 'props', payload: '{}', qos: 0, retain: true, properties: props });
    const p = await h.conn.expect(PUBLISH);
    expect(p.retain).toBe(true);
    expect(p.properties).toMatchObject({ ...props, correlationData: Buffer.from('corr') });
  });

  it('rejects with the reason code of an error PUBACK or PUBREC', async () => {
    h = await connected();
    const { client, conn } = h;
    const q1 = settle(client.publish({ topic: 'deny/1', qos: 1 }));
    const p1 = await conn.expect(PUBLISH);
    conn.send({ type: PUBACK, packetId: p1.packetId!, reasonCode: 0x87, properties: { reasonString: 'no way' } });
    const r1 = await q1;
    expect(r1.ok).toBe(false);
    const e1 = (r1 as { error: PublishError }).error;
    expect(e1).toBeInstanceOf(PublishError);
    expect(e1.reasonCode).toBe(0x87);
    expect(e1.ack?.properties?.reasonString).toBe('no way');

    const q2 = settle(client.publish({ topic: 'deny/2', qos: 2 }));
    const p2 = await conn.expect(PUBLISH);
    conn.send({ type: PUBREC, packetId: p2.packetId!, reasonCode: 0x97 });
    const r2 = await q2;
    expect((r2 as { error: PublishError }).error.reasonCode).toBe(0x97);
    // An error PUBREC ends the flow: no PUBREL follows, and the id is free again.
    expect(client.inflightCount).toBe(0);
    void client.publish({ topic: 'after', qos: 0 });
    expect((await conn.expect(PUBLISH)).topic).toBe('after');
  });

  it('keeps at most the server Receive Maximum in flight; the rest wait in order', async () => {
    h = await connected({ properties: { receiveMaximum: 2 } });
    const { client, conn } = h;
    const results: Promise<PublishResult>[] = [];
    for (let i = 0; i < 5; i++) results.push(client.publish({ topic: `rm/${i}`, qos: 1 }));
    const first = [await conn.expect(PUBLISH), await conn.expect(PUBLISH)];
    expect(first.map((p) => p.topic)).toEqual(['rm/0', 'rm/1']);
    // Nothing more until an ack frees a slot: the other three wait in the client's queue.
    expect(client.pendingCount).toBe(3);
    expect(client.inflightCount).toBe(2);
    conn.send({ type: PUBACK, packetId: first[0]!.packetId! });
    const third = await conn.expect(PUBLISH);
    expect(third.topic).toBe('rm/2');
    expect(client.pendingCount).toBe(2);
    conn.send({ type: PUBACK, packetId: first[1]!.packetId! });
    conn.send({ type: PUBACK, packetId: third.packetId! });
    const rest = [await conn.expect(PUBLISH), await conn.expect(PUBLISH)];
    expect(rest.map((p) => p.topic)).toEqual(['rm/3', 'rm/4']);
    for (const p of rest) conn.send({ type: PUBACK, packetId: p.packetId! });
    await Promise.all(results);
  });

  it('caps in-flight messages at maxInflight too', async () => {
    h = await connected({}, { maxInflight: 1 });
    const a = h.client.publish({ topic: 'a', qos: 1 });
    const b = h.client.publish({ topic: 'b', qos: 2 });
    const pa = await h.conn.expect(PUBLISH);
    expect(h.client.pendingCount).toBe(1);
    h.conn.send({ type: PUBACK, packetId: pa.packetId! });
    await a;
    const pb = await h.conn.expect(PUBLISH);
    expect(pb.topic).toBe('b');
    h.conn.send({ type: PUBREC, packetId: pb.packetId! });
    await h.conn.expect(PUBREL);
    h.conn.send({ type: PUBCOMP, packetId: pb.packetId! });
    await b;
  });

  it('refuses locally, without sending, what the server does not accept', async () => {
    h = await connected({ properties: { maximumPacketSize: 64, maximumQoS: 1, retainAvailable: false } });
    const { client, conn } = h;
    const tooBig = await settle(client.publish({ topic: 'big', payload: Buffer.alloc(100), qos: 1 }));
    expect((tooBig as { error: PublishError }).error).toBeInstanceOf(PublishError);
    expect((tooBig as { error: PublishError }).error.reasonCode).toBe(0x95);
    const qos2 = await settle(client.publish({ topic: 'q2', qos: 2 }));
    expect((qos2 as { error: PublishError }).error.reasonCode).toBe(0x9b);
    const retained = await settle(client.publish({ topic: 'r', retain: true }));
    expect((retained as { error: PublishError }).error.reasonCode).toBe(0x9a);
    const badTopic = await settle(client.publish({ topic: 'a/+' }));
    expect((badTopic as { error: PublishError }).error.reasonCode).toBe(0x90);
    const badAlias = await settle(client.publish({ topic: 'x', properties: { topicAlias: 1 } }));
    expect((badAlias as { error: PublishError }).error.reasonCode).toBe(0x94);
    // None of them reached the wire: the next packet the server sees is this one.
    const ok = client.publish({ topic: 'ok', qos: 1 });
    const p = await conn.expect(PUBLISH);
    expect(p.topic).toBe('ok');
    expect(client.inflightCount).toBe(1);
    conn.send({ type: PUBACK, packetId: p.packetId! });
    await ok;
  });

  it('assigns outgoing topic aliases automatically when the server allows them', async () => {
    h = await connected({ properties: { topicAliasMaximum: 2 } }, { autoTopicAlias: true });
    const { client, conn } = h;
    const topics = ['t/a', 't/a', 't/b', 't/c', 't/a'];
    for (const t of topics) void client.publish({ topic: t, payload: t });
    const wire: PublishPacket[] = [];
    for (let i = 0; i < topics.length; i++) wire.push(await conn.expect(PUBLISH));
    expect(wire.map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()])).toEqual([
      ['t/a', 1, 't/a'],
      ['', 1, 't/a'],
      ['t/b', 2, 't/b'],
      ['t/c', 1, 't/c'], // replaces the least recently used alias (t/a)
      ['t/a', 2, 't/a'], // t/a defined again, replacing t/b
    ]);
  });

  it('honours an alias set by the application and allows the topic to be left out', async () => {
    h = await connected({ properties: { topicAliasMaximum: 5 } });
    const { client, conn } = h;
    void client.publish({ topic: 'long/topic/name', payload: '1', properties: { topicAlias: 4 } });
    void client.publish({ topic: 'long/topic/name', payload: '2', properties: { topicAlias: 4 } });
    void client.publish({ topic: '', payload: '3', properties: { topicAlias: 4 } });
    const wire = [await conn.expect(PUBLISH), await conn.expect(PUBLISH), await conn.expect(PUBLISH)];
    expect(wire.map((p) => [p.topic, p.properties?.topicAlias])).toEqual([
      ['long/topic/name', 4],
      ['', 4],
      ['', 4],
    ]);
    await expect(client.publish({ topic: '', properties: { topicAlias: 5 } })).rejects.toMatchObject({ reasonCode: 0x94 });
  });

  it('bounds the queue of waiting publishes with QueueFullError', async () => {
    h = await connected({ properties: { receiveMaximum: 1 } }, { maxPendingPublishes: 2 });
    const { client, conn } = h;
    const inflight = client.publish({ topic: 'a', qos: 1 });
    const waiting = [client.publish({ topic: 'b', qos: 1 }), client.publish({ topic: 'c', qos: 1 })];
    const overflow = await settle(client.publish({ topic: 'd', qos: 1 }));
    expect((overflow as { error: unknown }).error).toBeInstanceOf(QueueFullError);
    expect((overflow as { error: QueueFullError }).error.reasonCode).toBe(0x97);
    for (const t of ['a', 'b', 'c']) {
      const p = await conn.expect(PUBLISH);
      expect(p.topic).toBe(t);
      conn.send({ type: PUBACK, packetId: p.packetId! });
    }
    await Promise.all([inflight, ...waiting]);
  });

  it('honours socket backpressure: publishes wait in the bounded queue until the socket drains', async () => {
    h = await connected({}, { maxPendingPublishes: 20 });
    const { client, conn } = h;
    conn.socket.pause(); // the server stops reading: kernel buffers fill, then the client's socket backs up
    const payload = Buffer.alloc(64 * 1024, 1);
    const outcomes: Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }>[] = [];
    for (let i = 0; i < 400; i++) outcomes.push(settle(client.publish({ topic: `bp/${i}`, payload })));
    // The client took what the socket would hold, queued 20 more, and refused the rest.
    expect(client.pendingCount).toBe(20);
    const refused = (await Promise.all(outcomes.slice(-10))).filter((r) => !r.ok);
    expect(refused.every((r) => (r as { error: unknown }).error instanceof QueueFullError)).toBe(true);
    expect(refused.length).toBe(10);
    conn.socket.resume();
    const all = await Promise.all(outcomes);
    const accepted = all.filter((r) => r.ok).length;
    expect(accepted).toBeGreaterThan(20);
    expect(accepted).toBeLessThan(400);
    // Everything accepted arrives, in order.
    for (let i = 0; i < accepted; i++) expect((await conn.expect(PUBLISH)).topic).toBe(`bp/${i}`);
    expect(client.pendingCount).toBe(0);
  });

  it('rejects before connect() and after disconnect() with NotConnectedError', async () => {
    const idle = new MqttClient(new TcpConnection({ host: '127.0.0.1', port: 1 }));
    await expect(idle.publish({ topic: 'x', qos: 1 })).rejects.toBeInstanceOf(NotConnectedError);
    expect(idle.pendingCount).toBe(0);
    h = await connected();
    await h.client.disconnect();
    await expect(h.client.publish({ topic: 'x' })).rejects.toBeInstanceOf(NotConnectedError);
  });

  it('batches the writes of one tick into one network write', async () => {
    h = await connected();
    const writes: number[] = [];
    // Count how the server receives the bytes: 100 small publishes made in one tick arrive as few chunks.
    h.conn.socket.on('data', (chunk: Buffer) => writes.push(chunk.length));
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) all.push(h.client.publish({ topic: 'batch', payload: String(i) }));
    await Promise.all(all);
    for (let i = 0; i < 100; i++) expect((await h.conn.expect(PUBLISH)).payload.toString()).toBe(String(i));
    expect(writes.length).toBeLessThanOrEqual(2);
  });
});
