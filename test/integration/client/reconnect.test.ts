import { describe, it, expect, afterEach } from '@jest/globals';
import net from 'node:net';
import {
  ClientClosedError,
  ConnectionLostError,
  DisconnectedError,
  MessageReceiver,
  MemorySessionStore,
  MqttClient,
  MqttClientError,
  NotConnectedError,
  QueueFullError,
  TcpConnection,
  type Connection,
  type MqttStream,
  type ReconnectingInfo,
  type ResubscribeResult,
} from '../../../lib/client/index.js';
import { FakeServer } from '../../helpers/fake-server.js';
import { waitForEvent, withTimeout } from '../../helpers/wait.js';
import {
  DISCONNECT, FAST, PINGREQ, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
  acceptReconnect, connected, type Harness,
} from './setup.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('reconnect and session', () => {
  it('session present: re-sends PUBREL (not PUBLISH) for a QoS 2 flow past PUBREC, PUBLISH with DUP for the rest, no resubscribe', async () => {
    h = await connected({}, {}, { cleanStart: false, properties: { sessionExpiryInterval: 600 } });
    const { client, server } = h;
    const sub = client.subscribe({ subscriptions: [{ topicFilter: 's/#', qos: 1 }] }, () => undefined);
    const subPacket = await h.conn.expect(SUBSCRIBE);
    h.conn.send({ type: SUBACK, packetId: subPacket.packetId, reasonCodes: [1] });
    await sub;

    const q2 = client.publish({ topic: 's/two', payload: 'two', qos: 2 });
    const q1 = client.publish({ topic: 's/one', payload: 'one', qos: 1 });
    const p2 = await h.conn.expect(PUBLISH);
    const p1 = await h.conn.expect(PUBLISH);
    h.conn.send({ type: PUBREC, packetId: p2.packetId! });
    await h.conn.expect(PUBREL);

    const disconnected = waitForEvent<[ConnectionLostError]>(client, 'disconnected');
    const reconnected = waitForEvent<[{ sessionPresent: boolean }]>(client, 'reconnected');
    h.conn.destroy();
    expect((await disconnected)[0]).toBeInstanceOf(ConnectionLostError);
    expect(client.connected).toBe(false);

    const { conn, connect } = await acceptReconnect(server, { sessionPresent: true });
    h.conn = conn;
    expect(connect.cleanStart).toBe(false);
    expect(connect.clientId).toBe('test-client');
    expect((await reconnected)[0].sessionPresent).toBe(true);
    const rel = await conn.expect(PUBREL);
    expect(rel.packetId).toBe(p2.packetId);
    const again = await conn.expect(PUBLISH);
    expect([again.packetId, again.topic, again.dup, again.payload.toString()]).toEqual([p1.packetId, 's/one', true, 'one']);
    conn.send({ type: PUBCOMP, packetId: p2.packetId! });
    conn.send({ type: PUBACK, packetId: p1.packetId! });
    await expect(q2).resolves.toMatchObject({ type: PUBCOMP });
    await expect(q1).resolves.toMatchObject({ type: PUBACK });
    // No SUBSCRIBE was sent: the server kept the subscription.
    expect(conn.received.some((p) => p.type === SUBSCRIBE)).toBe(false);
  });

  it('no session: resubscribes every active subscription (results as events, failures included) and restarts QoS 1/2 from PUBLISH', async () => {
    h = await connected();
    const { client, server } = h;
    const r = new MessageReceiver();
    const s1 = client.subscribe({ subscriptions: [{ topicFilter: 'a/#', qos: 1 }, { topicFilter: 'b', qos: 2, noLocal: true }] }, r);
    const sp1 = await h.conn.expect(SUBSCRIBE);
    h.conn.send({ type: SUBACK, packetId: sp1.packetId, reasonCodes: [1, 2] });
    await s1;
    const s2 = client.subscribe(
      { subscriptions: [{ topicFilter: 'c/+', qos: 0 }], properties: { subscriptionIdentifier: 9, userProperties: [['x', 'y']] } },
      () => undefined,
    );
    const sp2 = await h.conn.expect(SUBSCRIBE);
    h.conn.send({ type: SUBACK, packetId: sp2.packetId, reasonCodes: [0] });
    await s2;

    const q2 = client.publish({ topic: 'a/q2', qos: 2 });
    const pp = await h.conn.expect(PUBLISH);
    h.conn.send({ type: PUBREC, packetId: pp.packetId! });
    await h.conn.expect(PUBREL);

    const results: ResubscribeResult[] = [];
    client.on('resubscribed', (res) => results.push(res));
    h.conn.destroy();
    const { conn } = await acceptReconnect(server, { sessionPresent: false });
    h.conn = conn;
    // One SUBSCRIBE per original group, with its options and properties.
    const re1 = await conn.expect(SUBSCRIBE);
    const re2 = await conn.expect(SUBSCRIBE);
    expect(re1.subscriptions).toEqual([{ topicFilter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }, { topicFilter: 'b', qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 0 }]);
    expect(re2.subscriptions.map((s) => s.topicFilter)).toEqual(['c/+']);
    expect(re2.properties).toMatchObject({ subscriptionIdentifier: 9, userProperties: [['x', 'y']] });
    // The QoS 2 flow restarts from PUBLISH (the new session never saw it), DUP 0.
    const restarted = await conn.expect(PUBLISH);
    expect([restarted.topic, restarted.qos, restarted.dup]).toEqual(['a/q2', 2, false]);

    conn.send({ type: SUBACK, packetId: re1.packetId, reasonCodes: [1, 0x87] });
    conn.send({ type: SUBACK, packetId: re2.packetId, reasonCodes: [0] });
    conn.send({ type: PUBREC, packetId: restarted.packetId! });
    await conn.expect(PUBREL);
    conn.send({ type: PUBCOMP, packetId: restarted.packetId! });
    await q2;
    expect(results.map((x) => [x.topicFilter, x.reasonCode, x.error?.reasonCode])).toEqual([
      ['a/#', 1, undefined],
      ['b', 0x87, 0x87],
      ['c/+', 0, undefined],
    ]);
    // The refused filter is dropped: the next session without state resubscribes only the others.
    conn.destroy();
    const next = await acceptReconnect(server, { sessionPresent: false });
    h.conn = next.conn;
    const filters = [(await next.conn.expect(SUBSCRIBE)).subscriptions, (await next.conn.expect(SUBSCRIBE)).subscriptions]
      .flat()
      .map((s) => s.topicFilter);
    expect(filters).toEqual(['a/#', 'c/+']);
  });

  it('queues publishes and subscribes made while reconnecting and sends them after', async () => {
    h = await connected();
    const { client, server } = h;
    const lost = waitForEvent(client, 'disconnected');
    h.conn.destroy();
    await lost;
    expect(client.state).toBe('reconnecting');
    const q0 = client.publish({ topic: 'later/0', qos: 0 });
    const q1 = client.publish({ topic: 'later/1', qos: 1 });
    const sub = client.subscribe({ subscriptions: [{ topicFilter: 'later/#', qos: 1 }] }, () => undefined);
    const { conn } = await acceptReconnect(server);
    h.conn = conn;
    const s = await conn.expect(SUBSCRIBE);
    conn.send({ type: SUBACK, packetId: s.packetId, reasonCodes: [1] });
    expect((await conn.expect(PUBLISH)).topic).toBe('later/0');
    const p1 = await conn.expect(PUBLISH);
    expect(p1.topic).toBe('later/1');
    conn.send({ type: PUBACK, packetId: p1.packetId! });
    await Promise.all([q0, q1, sub]);
  });

  it('reconnects with the same CONNECT: every field kept, only cleanStart false', async () => {
    h = await connected({}, {}, {
      clientId: 'same-connect',
      keepAlive: 33,
      cleanStart: true,
      username: 'u',
      password: 'p',
      will: { topic: 'w', payload: 'bye', qos: 2, retain: true, properties: { willDelayInterval: 4, contentType: 'c' } },
      properties: { sessionExpiryInterval: 60, receiveMaximum: 7, maximumPacketSize: 5000, topicAliasMaximum: 2, userProperties: [['k', 'v']] },
    });
    const first = h.connect;
    h.conn.destroy();
    const { conn, connect: again } = await acceptReconnect(h.server, { sessionPresent: true });
    h.conn = conn;
    expect(first.cleanStart).toBe(true);
    expect(again).toStrictEqual({ ...first, cleanStart: false });
  });

  it('bounds the publishes queued while disconnected (maxPendingPublishes) and sends them in order after', async () => {
    h = await connected({}, { maxPendingPublishes: 3 });
    const { client, server } = h;
    const lost = waitForEvent(client, 'disconnected');
    h.conn.destroy();
    await lost;
    const queued = [0, 1, 2].map((i) => client.publish({ topic: `off/${i}`, qos: i === 1 ? 0 : 1 }));
    expect(client.pendingCount).toBe(3);
    const overflow = await client.publish({ topic: 'off/3', qos: 1 }).then(() => undefined, (e: unknown) => e);
    expect(overflow).toBeInstanceOf(QueueFullError);
    expect(client.pendingCount).toBe(3);
    const { conn } = await acceptReconnect(server);
    h.conn = conn;
    for (let i = 0; i < 3; i++) {
      const p = await conn.expect(PUBLISH);
      expect(p.topic).toBe(`off/${i}`);
      if (p.qos !== 0) conn.send({ type: PUBACK, packetId: p.packetId! });
    }
    await Promise.all(queued);
    expect(client.pendingCount).toBe(0);
  });

  it('works with a user-supplied Connection: connect(signal) again on every reconnect, close() on loss', async () => {
    const server = await FakeServer.start();
    const calls: string[] = [];
    let socket: net.Socket | undefined;
    // Not a subclass of anything of ours: just the interface of the seed.
    const custom: Connection = {
      brokerUrl: `custom://127.0.0.1:${server.port}`,
      connect(signal: AbortSignal): Promise<MqttStream> {
        calls.push(`connect aborted=${signal.aborted}`);
        return new Promise((resolve, reject) => {
          const s = net.connect({ host: '127.0.0.1', port: server.port }, () => resolve(s));
          s.once('error', reject);
          socket = s;
        });
      },
      close(): void {
        calls.push('close');
        socket?.destroy();
      },
    };
    const client = new MqttClient(custom, FAST);
    try {
      const connecting = client.connect({ clientId: 'custom' });
      const c1 = await server.accept();
      await c1.handshake();
      await connecting;
      const back = waitForEvent(client, 'reconnected');
      c1.destroy();
      const c2 = await server.accept();
      await c2.handshake();
      await back;
      await client.publish({ topic: 'via/custom', qos: 0 });
      expect((await c2.expect(PUBLISH)).topic).toBe('via/custom');
      expect(calls).toEqual(['connect aborted=false', 'close', 'connect aborted=false']);
      await client.disconnect();
      expect(calls.at(-1)).toBe('close');
    } finally {
      await client.disconnect();
      await server.close();
    }
  });

  it('rejects QoS 0 publishes while reconnecting when queueQoS0 is false', async () => {
    h = await connected({}, { queueQoS0: false });
    const lost = waitForEvent(h.client, 'disconnected');
    h.conn.destroy();
    await lost;
    await expect(h.client.publish({ topic: 'x' })).rejects.toBeInstanceOf(NotConnectedError);
    h.conn = (await acceptReconnect(h.server)).conn;
  });

  it('re-sends a SUBSCRIBE and UNSUBSCRIBE that lost their ack with the connection', async () => {
    h = await connected();
    const { client, server } = h;
    const sub = client.subscribe({ subscriptions: [{ topicFilter: 'z', qos: 0 }] }, () => undefined);
    await h.conn.expect(SUBSCRIBE);
    const unsub = client.unsubscribe({ topicFilters: ['y'] });
    await h.conn.expect(UNSUBSCRIBE);
    h.conn.destroy();
    const { conn } = await acceptReconnect(server, { sessionPresent: true });
    h.conn = conn;
    const s = await conn.expect(SUBSCRIBE);
    expect(s.subscriptions[0]!.topicFilter).toBe('z');
    const u = await conn.expect(UNSUBSCRIBE);
    expect(u.topicFilters).toEqual(['y']);
    conn.send({ type: SUBACK, packetId: s.packetId, reasonCodes: [0] });
    conn.send({ type: UNSUBACK, packetId: u.packetId, reasonCodes: [0x11] });
    await expect(sub).resolves.toMatchObject({ reasonCodes: [0] });
    await expect(unsub).resolves.toMatchObject({ reasonCodes: [0x11] });
  });

  it('surfaces a server DISCONNECT with its reason code, then reconnects', async () => {
    h = await connected();
    const disconnected = waitForEvent<[DisconnectedError]>(h.client, 'disconnected');
    const reconnecting = waitForEvent<[ReconnectingInfo]>(h.client, 'reconnecting');
    h.conn.send({ type: DISCONNECT, reasonCode: 0x8b, properties: { reasonString: 'maintenance' } });
    const [err] = await disconnected;
    expect(err).toBeInstanceOf(DisconnectedError);
    expect(err.reasonCode).toBe(0x8b);
    expect(err.packet.properties?.reasonString).toBe('maintenance');
    const [info] = await reconnecting;
    expect(info).toMatchObject({ attempt: 1, delay: 5 });
    expect(info.error).toBe(err);
    h.conn = (await acceptReconnect(h.server)).conn;
  });

  it('consults the reconnect policy after each failed attempt too', async () => {
    h = await connected({}, { reconnect: (e) => e.reasonCode !== 0x86 });
    const closed = waitForEvent<[MqttClientError]>(h.client, 'closed', 5000);
    const reconnecting: ReconnectingInfo[] = [];
    h.client.on('reconnecting', (i) => reconnecting.push(i));
    h.conn.destroy();
    await (await h.server.accept()).handshake({ reasonCode: 0x88 }); // retried
    await (await h.server.accept()).handshake({ reasonCode: 0x86 }); // not retried
    expect((await closed)[0].reasonCode).toBe(0x86);
    expect(reconnecting.map((i) => i.error.reasonCode)).toEqual([0x80, 0x88]);
    expect(h.client.state).toBe('closed');
  });

  it('closes instead of reconnecting when the reconnect policy says no', async () => {
    h = await connected({}, { reconnect: (e) => e.reasonCode !== 0x8e });
    const pending = h.client.publish({ topic: 'p', qos: 1 });
    await h.conn.expect(PUBLISH);
    const disconnected = waitForEvent(h.client, 'disconnected');
    const closed = waitForEvent<[MqttClientError]>(h.client, 'closed');
    h.conn.send({ type: DISCONNECT, reasonCode: 0x8e });
    await disconnected;
    expect((await closed)[0].reasonCode).toBe(0x8e);
    const err = await pending.then(() => undefined, (e: unknown) => e);
    expect((err as DisconnectedError).reasonCode).toBe(0x8e);
    expect(h.client.state).toBe('closed');
  });

  it('detects a missing PINGRESP and reconnects', async () => {
    h = await connected({}, { pingTimeout: 100 }, { keepAlive: 1 });
    h.conn.autoPingResp = false;
    const disconnected = waitForEvent<[ConnectionLostError]>(h.client, 'disconnected', 4000);
    await h.conn.expect(PINGREQ, 2000);
    expect(await h.conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x8d });
    const [err] = await disconnected;
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(err.reasonCode).toBe(0x8d);
    h.conn = (await acceptReconnect(h.server)).conn;
  });

  it('backs off exponentially between failed attempts and resets after a success', async () => {
    h = await connected({}, { initialReconnectDelay: 10, maxReconnectDelay: 40, reconnectJitter: 0 });
    const infos: ReconnectingInfo[] = [];
    h.client.on('reconnecting', (i) => infos.push(i));
    // Refuse three attempts, accept the fourth.
    h.conn.destroy();
    for (let i = 0; i < 3; i++) {
      const c = await h.server.accept();
      await c.handshake({ reasonCode: 0x88 });
    }
    h.conn = (await acceptReconnect(h.server)).conn;
    await waitForEvent(h.client, 'connected');
    expect(infos.map((i) => [i.attempt, i.delay])).toEqual([[1, 10], [2, 20], [3, 40], [4, 40]]);
    expect(infos[1]!.error.reasonCode).toBe(0x88);
    // After a success, the next loss starts again from the initial delay.
    const next = waitForEvent<[ReconnectingInfo]>(h.client, 'reconnecting');
    h.conn.destroy();
    expect((await next)[0]).toMatchObject({ attempt: 1, delay: 10 });
    h.conn = (await acceptReconnect(h.server)).conn;
  });

  it('disconnect() sends DISCONNECT, stops reconnecting and settles every pending promise with ClientClosedError', async () => {
    h = await connected({ properties: { receiveMaximum: 1 } });
    const { client, conn } = h;
    const r = new MessageReceiver();
    const sub = client.subscribe({ subscriptions: [{ topicFilter: 'd', qos: 0 }] }, r);
    await conn.expect(SUBSCRIBE);
    const inflight = client.publish({ topic: 'd/1', qos: 1 });
    const queued = client.publish({ topic: 'd/2', qos: 2 });
    await conn.expect(PUBLISH);
    const waiting = r.recv();
    const reconnecting: unknown[] = [];
    client.on('reconnecting', (i) => reconnecting.push(i));
    const closedEvent = waitForEvent<[ClientClosedError]>(client, 'disconnected');
    const outcomes = [sub, inflight, queued, waiting].map((p) => p.then(() => undefined, (x: unknown) => x));
    await client.disconnect({ reasonCode: 0x04, properties: { reasonString: 'bye' } });
    expect(await conn.expect(DISCONNECT)).toMatchObject({ reasonCode: 0x04, properties: { reasonString: 'bye' } });
    for (const outcome of outcomes) {
      const e = await outcome;
      expect(e).toBeInstanceOf(ClientClosedError);
      expect((e as ClientClosedError).reasonCode).toBe(0x04);
    }
    expect((await closedEvent)[0]).toBeInstanceOf(ClientClosedError);
    expect(client.state).toBe('closed');
    await conn.closed;
    expect(reconnecting).toEqual([]);
    expect(r.closed).toBe(true);
  });

  it('a SessionStore carries in-flight QoS 2 state to a new client that resumes the session', async () => {
    const store = new MemorySessionStore();
    h = await connected({}, { sessionStore: store }, { clientId: 'durable', cleanStart: false, properties: { sessionExpiryInterval: 300 } });
    const q = h.client.publish({ topic: 'd', payload: 'kept', qos: 2 });
    const p = await h.conn.expect(PUBLISH);
    h.conn.send({ type: PUBREC, packetId: p.packetId! });
    await h.conn.expect(PUBREL);
    const rejected = expect(q).rejects.toBeInstanceOf(ClientClosedError);
    await h.client.disconnect();
    // The promise is settled, but the flow stays in the store: the session outlives the connection.
    await rejected;
    expect(store.inflightCount).toBe(1);
    const next = new MqttClient(new TcpConnection({ host: '127.0.0.1', port: h.server.port }), { ...FAST, sessionStore: store });
    const connecting = next.connect({ clientId: 'durable', cleanStart: false, properties: { sessionExpiryInterval: 300 } });
    const { conn } = await acceptReconnect(h.server, { sessionPresent: true });
    await connecting;
    const rel = await conn.expect(PUBREL);
    expect(rel.packetId).toBe(p.packetId);
    conn.send({ type: PUBCOMP, packetId: p.packetId! });
    // A new publish does not reuse the id while the old flow is open, and the store empties once complete.
    const q2 = next.publish({ topic: 'd2', qos: 1 });
    const p2 = await conn.expect(PUBLISH);
    expect(p2.packetId).not.toBe(p.packetId);
    conn.send({ type: PUBACK, packetId: p2.packetId! });
    await q2;
    expect(store.inflightCount).toBe(0);
    await next.disconnect();
  });

  it('forgets in-flight messages on disconnect() when the session ends with the connection', async () => {
    const store = new MemorySessionStore();
    h = await connected({}, { sessionStore: store });
    const q = h.client.publish({ topic: 'gone', qos: 1 });
    await h.conn.expect(PUBLISH);
    const rejected = expect(q).rejects.toBeInstanceOf(ClientClosedError);
    await h.client.disconnect();
    await rejected;
    expect(store.inflightCount).toBe(0);
  });

  it('disconnect() during reconnecting cancels the pending attempt', async () => {
    h = await connected({}, { initialReconnectDelay: 10_000, maxReconnectDelay: 10_000 });
    const reconnecting = waitForEvent(h.client, 'reconnecting');
    h.conn.destroy();
    await reconnecting;
    const q = expect(h.client.publish({ topic: 'x', qos: 1 })).rejects.toBeInstanceOf(ClientClosedError);
    const disconnected: unknown[] = [];
    h.client.on('disconnected', (e) => disconnected.push(e));
    const closed = waitForEvent<[MqttClientError]>(h.client, 'closed');
    await withTimeout(h.client.disconnect(), 1000, 'disconnect');
    await q;
    expect((await closed)[0]).toBeInstanceOf(ClientClosedError);
    expect(disconnected).toEqual([]); // it was not connected: only 'closed'
    expect(h.client.state).toBe('closed');
  });

  it('disconnect() during the first connect rejects connect() with ClientClosedError', async () => {
    const server = await FakeServer.start();
    try {
      const client = new MqttClient(server.connection(), FAST);
      const p = client.connect();
      await server.accept();
      await client.disconnect();
      await expect(p).rejects.toBeInstanceOf(ClientClosedError);
    } finally {
      await server.close();
    }
  });
});
