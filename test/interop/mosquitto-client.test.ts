/**
 * The client against a real Mosquitto: the three transports, QoS 0/1/2, wills, retained messages,
 * subscription options, topic aliases, limits from CONNACK, and the seed's slow tests made fast —
 * keepalive (TestBasicWithKeepAlive) and publishing across a reconnect with and without session
 * (TestPublishAfterReconnectWithSession / WithoutSession), the connection cut by a TCP proxy.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals';
import {
  ConnectFailedError,
  ConnectionLostError,
  MessageReceiver,
  MqttClient,
  PublishError,
  TcpConnection,
  TlsConnection,
  connectionFromUrl,
  type Connection,
  type MqttClientOptions,
  type MqttMessage,
  type ReconnectedInfo,
  type ResubscribeResult,
} from '../../lib/client/index.js';
import { PacketDecoder, PacketType } from '../../lib/codec/index.js';
import { mosquittoTestsEnabled, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { counter, waitForEvent, withTimeout } from '../helpers/wait.js';

let broker: Mosquitto;
const clients: MqttClient[] = [];
const proxies: TcpProxy[] = [];
let seq = 0;

/** A client with fast reconnects, disconnected after the test. */
function makeClient(connection: Connection | string, options: MqttClientOptions = {}): MqttClient {
  const c = new MqttClient(typeof connection === 'string' ? connectionFromUrl(connection) : connection, {
    initialReconnectDelay: 5,
    maxReconnectDelay: 50,
    reconnectJitter: 0.2,
    ...options,
  });
  clients.push(c);
  return c;
}

/** A unique client id / topic prefix per call, so tests on the shared broker never interfere. */
function uid(name: string): string {
  return `${name}-${process.pid}-${++seq}`;
}

async function proxy(): Promise<TcpProxy> {
  const p = await TcpProxy.start(broker.tcpPort);
  proxies.push(p);
  return p;
}

function via(p: TcpProxy): TcpConnection {
  return new TcpConnection({ host: '127.0.0.1', port: p.port });
}

/** Subscribes a fresh receiver to `filter` on a new client; returns both. */
async function subscriber(filter: string, qos: 0 | 1 | 2 = 2): Promise<{ client: MqttClient; receiver: MessageReceiver }> {
  const client = makeClient(broker.tcpUrl);
  await client.connect({ clientId: uid('sub') });
  const receiver = new MessageReceiver();
  await client.subscribe({ subscriptions: [{ topicFilter: filter, qos }] }, receiver);
  return { client, receiver };
}

const text = (m: MqttMessage): string => m.payload.toString();

(mosquittoTestsEnabled() ? describe : describe.skip)('MqttClient against Mosquitto', () => {
  beforeAll(async () => {
    broker = await startMosquitto({ extraConfig: ['max_packet_size 100000', 'max_inflight_messages 20'] });
  });
  afterAll(async () => {
    await broker?.stop();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  describe('transports', () => {
    const roundTrip = async (client: MqttClient): Promise<void> => {
      const topic = uid('rt');
      await client.connect({ clientId: uid('rt') });
      const r = new MessageReceiver();
      await client.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, r);
      await client.publish({ topic, payload: 'over the wire', qos: 1 });
      expect(text(await r.recv())).toBe('over the wire');
    };

    it('TCP', async () => {
      await roundTrip(makeClient(broker.tcpUrl));
    });

    it('WebSocket (subprotocol mqtt, binary frames)', async () => {
      const client = makeClient(broker.wsUrl);
      await roundTrip(client);
      // Several packets in one frame (one tick's batch) and a packet bigger than a small frame.
      // (Mosquitto's WebSocket listener reads large frames slowly, hence the modest size.)
      const topic = uid('ws-batch');
      const r = new MessageReceiver();
      await client.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, r);
      const big = Buffer.alloc(3000, 7);
      await Promise.all([0, 1, 2, 3].map((i) => client.publish({ topic, payload: String(i), qos: 1 })).concat(client.publish({ topic, payload: big, qos: 1 })));
      expect([text(await r.recv()), text(await r.recv()), text(await r.recv()), text(await r.recv())]).toEqual(['0', '1', '2', '3']);
      expect((await r.recv()).payload.equals(big)).toBe(true);
    });

    it('TLS with the test CA', async () => {
      await roundTrip(makeClient(connectionFromUrl(broker.tlsUrl, { tls: { ca: broker.ca } })));
    });

    it('WebSocket over TLS', async () => {
      await roundTrip(makeClient(connectionFromUrl(broker.wssUrl, { ws: { ca: broker.ca } })));
    });

    it('TLS refuses a server certificate it does not trust', async () => {
      const client = makeClient(new TlsConnection({ host: '127.0.0.1', port: broker.tlsPort }));
      const err = await client.connect().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectFailedError);
      expect(String((err as Error).message)).toMatch(/certificate/i);
    });
  });

  describe('publish and subscribe', () => {
    it('delivers at QoS 0, 1 and 2 in order, with properties', async () => {
      const topic = uid('qos');
      const { receiver } = await subscriber(`${topic}/#`);
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('pub') });
      const props = {
        contentType: 'text/plain',
        responseTopic: `${topic}/reply`,
        correlationData: Buffer.from('c-1'),
        userProperties: [['k', 'v']] as [string, string][],
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
      };
      await expect(pub.publish({ topic: `${topic}/0`, payload: 'q0', qos: 0 })).resolves.toBeUndefined();
      await expect(pub.publish({ topic: `${topic}/1`, payload: 'q1', qos: 1, properties: props })).resolves.toMatchObject({ reasonCode: 0 });
      await expect(pub.publish({ topic: `${topic}/2`, payload: 'q2', qos: 2 })).resolves.toMatchObject({ type: PacketType.PUBCOMP });
      const got = [await receiver.recv(), await receiver.recv(), await receiver.recv()];
      expect(got.map((m) => [m.topic, text(m), m.qos])).toEqual([
        [`${topic}/0`, 'q0', 0],
        [`${topic}/1`, 'q1', 1],
        [`${topic}/2`, 'q2', 2],
      ]);
      expect(got[1]!.properties).toMatchObject({ ...props, messageExpiryInterval: expect.any(Number) });
    });

    it('reports No matching subscribers (0x10) on PUBACK as a success', async () => {
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('pub') });
      const ack = await pub.publish({ topic: uid('nobody'), qos: 1 });
      expect(ack?.reasonCode).toBe(0x10);
    });

    it('routes overlapping subscriptions to each handler, by subscription identifier', async () => {
      const topic = uid('overlap');
      const client = makeClient(broker.tcpUrl);
      await client.connect({ clientId: uid('ov') });
      const wide: string[] = [];
      const narrow: string[] = [];
      const done = counter(5, 5000);
      await client.subscribe(
        { subscriptions: [{ topicFilter: `${topic}/#`, qos: 1 }], properties: { subscriptionIdentifier: 1 } },
        (m) => void (wide.push(m.topic), done.hit()),
      );
      await client.subscribe(
        { subscriptions: [{ topicFilter: `${topic}/+`, qos: 1 }], properties: { subscriptionIdentifier: 2 } },
        (m) => void (narrow.push(m.topic), done.hit()),
      );
      await client.publish({ topic: `${topic}/a`, qos: 1 });
      await client.publish({ topic: `${topic}/a/b`, qos: 1 });
      await client.publish({ topic: `${topic}/c`, qos: 1 });
      await done.done;
      expect(wide).toEqual([`${topic}/a`, `${topic}/a/b`, `${topic}/c`]);
      expect(narrow).toEqual([`${topic}/a`, `${topic}/c`]);
    });

    it('shares a $share subscription between two clients', async () => {
      const topic = uid('jobs');
      const seen: string[][] = [[], []];
      const all = counter(20, 5000);
      for (const bucket of seen) {
        const c = makeClient(broker.tcpUrl);
        await c.connect({ clientId: uid('worker') });
        await c.subscribe({ subscriptions: [{ topicFilter: `$share/workers/${topic}`, qos: 1 }] }, (m) => {
          bucket.push(text(m));
          all.hit();
        });
      }
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('pub') });
      for (let i = 0; i < 20; i++) await pub.publish({ topic, payload: String(i), qos: 1 });
      await all.done;
      // Each message went to exactly one member of the group.
      const merged = [...seen[0]!, ...seen[1]!].sort((x, y) => Number(x) - Number(y));
      expect(merged).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      expect(seen[0]!.length).toBeGreaterThan(0);
      expect(seen[1]!.length).toBeGreaterThan(0);
    });
  });

  describe('wills', () => {
    it('publishes the will after its delay when the connection dies', async () => {
      const topic = uid('will');
      const { receiver } = await subscriber(topic, 1);
      const p = await proxy();
      const dying = makeClient(via(p), { reconnect: false });
      await dying.connect({
        clientId: uid('dying'),
        properties: { sessionExpiryInterval: 30 },
        will: { topic, payload: 'last words', qos: 1, properties: { willDelayInterval: 1, contentType: 'text/plain' } },
      });
      const cutAt = Date.now();
      p.cut();
      const will = await withTimeout(receiver.recv(), 5000, 'the will');
      expect(Date.now() - cutAt).toBeGreaterThanOrEqual(900);
      expect(text(will)).toBe('last words');
      expect(will.properties?.contentType).toBe('text/plain');
    });

    it('publishes the will at once on DISCONNECT 0x04 and not on a normal disconnect', async () => {
      const topic = uid('will04');
      const { receiver } = await subscriber(topic, 1);
      const normal = makeClient(broker.tcpUrl);
      await normal.connect({ clientId: uid('normal'), will: { topic, payload: 'should not appear', qos: 1 } });
      await normal.disconnect();
      const leaving = makeClient(broker.tcpUrl);
      await leaving.connect({ clientId: uid('leaving'), will: { topic, payload: 'bye', qos: 1 } });
      await leaving.disconnect({ reasonCode: 0x04 });
      // The first message is the 0x04 will: the normal disconnect published none.
      expect(text(await withTimeout(receiver.recv(), 3000, 'the will'))).toBe('bye');
    });
  });

  describe('retained messages and subscription options', () => {
    it('delivers a retained message to a new subscriber, flagged retained', async () => {
      const topic = uid('retained');
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('pub') });
      await pub.publish({ topic, payload: 'kept', qos: 1, retain: true });
      const { receiver } = await subscriber(topic, 1);
      const m = await receiver.recv();
      expect([text(m), m.retain]).toEqual(['kept', true]);
      await pub.publish({ topic, payload: Buffer.alloc(0), qos: 1, retain: true }); // clear it
    });

    it('retainHandling 2 sends no retained message; 1 only for a new subscription', async () => {
      const topic = uid('rh');
      const client = makeClient(broker.tcpUrl);
      await client.connect({ clientId: uid('rh') });
      await client.publish({ topic, payload: 'retained', qos: 1, retain: true });
      const r2 = new MessageReceiver();
      await client.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1, retainHandling: 2 }] }, r2);
      await client.publish({ topic, payload: 'marker-1', qos: 1 });
      // The marker comes first: the retained message was not sent.
      expect(text(await r2.recv())).toBe('marker-1');

      const other = makeClient(broker.tcpUrl);
      await other.connect({ clientId: uid('rh1') });
      const r1 = new MessageReceiver();
      await other.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1, retainHandling: 1 }] }, r1);
      expect(text(await r1.recv())).toBe('retained');
      await other.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1, retainHandling: 1 }] }, r1);
      await client.publish({ topic, payload: 'marker-2', qos: 1 });
      expect(text(await r1.recv())).toBe('marker-2');
      await client.publish({ topic, payload: Buffer.alloc(0), qos: 1, retain: true });
    });

    it('retainAsPublished keeps the retain flag on forwarded messages', async () => {
      const topic = uid('rap');
      const client = makeClient(broker.tcpUrl);
      await client.connect({ clientId: uid('rap') });
      const keep = new MessageReceiver();
      const clear = new MessageReceiver();
      // Identifiers route each copy to the subscription it was sent for.
      await client.subscribe(
        { subscriptions: [{ topicFilter: topic, qos: 1, retainAsPublished: true }], properties: { subscriptionIdentifier: 1 } },
        keep,
      );
      await client.subscribe({ subscriptions: [{ topicFilter: `${topic}/#`, qos: 1 }], properties: { subscriptionIdentifier: 2 } }, clear);
      await client.publish({ topic, payload: 'r', qos: 1, retain: true });
      expect((await keep.recv()).retain).toBe(true);
      expect((await clear.recv()).retain).toBe(false);
      await client.publish({ topic, payload: Buffer.alloc(0), qos: 1, retain: true });
    });

    it('noLocal keeps the client from receiving its own messages', async () => {
      const topic = uid('nolocal');
      const client = makeClient(broker.tcpUrl);
      await client.connect({ clientId: uid('nl') });
      const r = new MessageReceiver();
      await client.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1, noLocal: true }] }, r);
      await client.publish({ topic, payload: 'own', qos: 1 });
      const other = makeClient(broker.tcpUrl);
      await other.connect({ clientId: uid('other') });
      await other.publish({ topic, payload: 'foreign', qos: 1 });
      expect(text(await r.recv())).toBe('foreign');
    });
  });

  describe('limits and topic aliases', () => {
    it('honours the CONNACK limits: receive maximum and maximum packet size', async () => {
      const topic = uid('limits');
      const client = makeClient(broker.tcpUrl);
      const connack = await client.connect({ clientId: uid('lim') });
      expect(connack.properties?.receiveMaximum).toBe(20);
      expect(connack.properties?.maximumPacketSize).toBe(100000);
      expect(client.serverLimits).toMatchObject({ receiveMaximum: 20, maximumPacketSize: 100000 });
      const big = await client.publish({ topic, payload: Buffer.alloc(150_000), qos: 1 }).then(() => undefined, (e: unknown) => e);
      expect(big).toBeInstanceOf(PublishError);
      expect((big as PublishError).reasonCode).toBe(0x95);
      // 200 QoS 1 publishes at once: at most 20 in flight, all complete, still connected.
      const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => client.publish({ topic, payload: String(i), qos: 1 })));
      expect(acks).toHaveLength(200);
      expect(client.connected).toBe(true);
    });

    it('sends topic aliases (automatic and explicit) that Mosquitto resolves', async () => {
      const topic = uid('alias/some/long/topic/name');
      const { receiver } = await subscriber(topic, 1);
      const p = await proxy();
      let bytesUp = 0;
      p.tap = (dir, chunk) => {
        if (dir === 'up') bytesUp += chunk.length;
      };
      const pub = makeClient(via(p), { autoTopicAlias: true });
      const connack = await pub.connect({ clientId: uid('alias') });
      expect(connack.properties?.topicAliasMaximum).toBeGreaterThan(0);
      const before = bytesUp;
      for (let i = 0; i < 10; i++) await pub.publish({ topic, payload: String(i), qos: 1 });
      // With aliases the topic goes over the wire once, not ten times.
      expect(bytesUp - before).toBeLessThan(10 * topic.length);
      const explicit = makeClient(broker.tcpUrl);
      await explicit.connect({ clientId: uid('alias-x') });
      await explicit.publish({ topic, payload: 'x1', qos: 1, properties: { topicAlias: 3 } });
      await explicit.publish({ topic: '', payload: 'x2', qos: 1, properties: { topicAlias: 3 } });
      const got: string[] = [];
      for (let i = 0; i < 12; i++) {
        const m = await receiver.recv();
        expect(m.topic).toBe(topic);
        got.push(text(m));
      }
      expect(got).toEqual([...Array.from({ length: 10 }, (_, i) => String(i)), 'x1', 'x2']);
    });
  });

  describe("the seed's slow tests, fast", () => {
    it('keepalive: PINGREQ keeps an idle connection alive (TestBasicWithKeepAlive)', async () => {
      const p = await proxy();
      const up = new PacketDecoder();
      const down = new PacketDecoder();
      const pings = counter(2, 5000, 'PINGRESPs');
      let pingreqs = 0;
      p.tap = (dir, chunk) => {
        if (dir === 'up') up.feed(chunk, (pk) => void (pk.type === PacketType.PINGREQ && pingreqs++));
        else down.feed(chunk, (pk) => void (pk.type === PacketType.PINGRESP && pings.hit()));
      };
      const client = makeClient(via(p));
      const lost: unknown[] = [];
      client.on('disconnected', (e) => lost.push(e));
      await client.connect({ clientId: uid('ka'), keepAlive: 1 });
      // Idle for two keepalive periods: Mosquitto would drop us after 1.5 s without the pings.
      await pings.done;
      expect(pingreqs).toBeGreaterThanOrEqual(2);
      expect(lost).toEqual([]);
      expect(client.connected).toBe(true);
      await client.publish({ topic: uid('ka'), qos: 1 });
    });

    it('publish after reconnect with session: queued messages go out, the session resumes (TestPublishAfterReconnectWithSession)', async () => {
      const topic = uid('with-session');
      const { receiver } = await subscriber(topic, 2);
      const p = await proxy();
      const pub = makeClient(via(p));
      await pub.connect({ clientId: uid('pub-s'), cleanStart: true, properties: { sessionExpiryInterval: 60 } });
      // A subscription of the publisher itself must survive in the broker's session: no resubscribe.
      const own = new MessageReceiver();
      await pub.subscribe({ subscriptions: [{ topicFilter: `${topic}/echo`, qos: 1 }] }, own);
      const resubscribed: ResubscribeResult[] = [];
      pub.on('resubscribed', (r) => resubscribed.push(r));
      const reconnected = waitForEvent<[ReconnectedInfo]>(pub, 'reconnected', 5000);
      p.cut();
      await waitForEvent(pub, 'disconnected');
      const sent = [
        pub.publish({ topic, payload: 'a', qos: 1 }),
        pub.publish({ topic, payload: 'b', qos: 2 }),
        pub.publish({ topic, payload: 'c', qos: 0 }),
      ];
      expect(pub.pendingCount).toBe(3);
      const [info] = await reconnected;
      expect(info.sessionPresent).toBe(true);
      await Promise.all(sent);
      // (Mosquitto forwards a QoS 2 message on PUBREL, so 'b' may come after 'c'.)
      const got = [text(await receiver.recv()), text(await receiver.recv()), text(await receiver.recv())];
      expect(got.sort()).toEqual(['a', 'b', 'c']);
      expect(resubscribed).toEqual([]);
      await pub.publish({ topic: `${topic}/echo`, payload: 'echo', qos: 1 });
      expect(text(await own.recv())).toBe('echo');
    });

    it('a subscriber with session gets what was published while it was cut off', async () => {
      const topic = uid('offline');
      const p = await proxy();
      const sub = makeClient(via(p));
      await sub.connect({ clientId: uid('sub-s'), cleanStart: true, properties: { sessionExpiryInterval: 60 } });
      const r = new MessageReceiver();
      await sub.subscribe({ subscriptions: [{ topicFilter: topic, qos: 2 }] }, r);
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('pub') });
      p.cut();
      await waitForEvent(sub, 'disconnected');
      await pub.publish({ topic, payload: 'while-away-1', qos: 1 });
      await pub.publish({ topic, payload: 'while-away-2', qos: 2 });
      expect([text(await r.recv()), text(await r.recv())]).toEqual(['while-away-1', 'while-away-2']);
    });

    it('publish after reconnect without session: resubscribes and still receives (TestPublishAfterReconnectWithoutSession)', async () => {
      const topic = uid('without-session');
      const p = await proxy();
      const client = makeClient(via(p));
      await client.connect({ clientId: uid('nosess'), cleanStart: true });
      expect(client.sessionExpiryInterval).toBe(0);
      const r = new MessageReceiver();
      await client.subscribe({ subscriptions: [{ topicFilter: `${topic}/#`, qos: 1 }, { topicFilter: `${topic}/x/+`, qos: 2 }] }, r);
      const resubscribed: ResubscribeResult[] = [];
      const both = counter(2, 5000, 'resubscribe results');
      client.on('resubscribed', (res) => void (resubscribed.push(res), both.hit()));
      const reconnected = waitForEvent<[ReconnectedInfo]>(client, 'reconnected', 5000);
      p.cut();
      await waitForEvent(client, 'disconnected');
      const q1 = client.publish({ topic: `${topic}/m`, payload: 'after', qos: 1 });
      const [info] = await reconnected;
      expect(info.sessionPresent).toBe(false);
      await both.done;
      expect(resubscribed.map((x) => [x.topicFilter, x.reasonCode])).toEqual([
        [`${topic}/#`, 1],
        [`${topic}/x/+`, 2],
      ]);
      await q1;
      // The re-subscription is in place: messages flow again.
      const other = makeClient(broker.tcpUrl);
      await other.connect({ clientId: uid('o') });
      await other.publish({ topic: `${topic}/n`, payload: 'from-other', qos: 1 });
      const texts = [text(await r.recv()), text(await r.recv())];
      expect(texts).toContain('from-other');
    });
  });

  describe('manual acknowledgement', () => {
    it('redelivers an unacked QoS 1 message after a reconnect with session; once acked, never again', async () => {
      const topic = uid('manual-ack');
      const p = await proxy();
      const sub = makeClient(via(p), { manualAck: true });
      await sub.connect({ clientId: uid('ack'), cleanStart: true, properties: { sessionExpiryInterval: 60 } });
      const r = new MessageReceiver();
      await sub.subscribe({ subscriptions: [{ topicFilter: topic, qos: 1 }] }, r);
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('pub') });
      await pub.publish({ topic, payload: 'first', qos: 1 });
      const first = await withTimeout(r.recv(), 5000, 'the first delivery');
      expect([text(first), first.dup]).toEqual(['first', false]);

      // The connection drops before the handler is done: no ack can go out any more.
      let reconnected = waitForEvent<[ReconnectedInfo]>(sub, 'reconnected', 5000);
      p.cut();
      await waitForEvent(sub, 'disconnected');
      expect(sub.ack(first)).toBe(false);
      expect((await reconnected)[0].sessionPresent).toBe(true);
      const again = await withTimeout(r.recv(), 5000, 'the redelivery');
      expect([text(again), again.dup, again.packetId]).toEqual(['first', true, first.packetId]);
      expect(sub.ack(again)).toBe(true);
      // A QoS 1 round trip behind the PUBACK: once it completes, Mosquitto has processed the PUBACK.
      await sub.publish({ topic: uid('barrier'), qos: 1 });

      // Acked: a further session resumption does not bring it back.
      reconnected = waitForEvent<[ReconnectedInfo]>(sub, 'reconnected', 5000);
      p.cut();
      expect((await reconnected)[0].sessionPresent).toBe(true);
      await pub.publish({ topic, payload: 'second', qos: 1 });
      const next = await withTimeout(r.recv(), 5000, 'the second message');
      expect([text(next), next.dup]).toEqual(['second', false]);
      expect(sub.ack(next)).toBe(true);
    });

    it('with a small Receive Maximum and acks given later, every message arrives once and the connection stays up', async () => {
      const topic = uid('manual-flow');
      // Mosquitto 2.0.11 overshoots a client's Receive Maximum after its first window.
      const sub = makeClient(broker.tcpUrl, { manualAck: true, enforceReceiveMaximum: false });
      await sub.connect({ clientId: uid('flow'), properties: { receiveMaximum: 4 } });
      const total = 60;
      const all = counter(total, 10_000, 'acked messages');
      const seen = new Set<string>();
      let lost = 0;
      sub.on('disconnected', () => lost++);
      await sub.subscribe({ subscriptions: [{ topicFilter: `${topic}/+`, qos: 2 }] }, (m) => {
        seen.add(m.topic);
        // Acked on a later turn, as after asynchronous handling.
        setImmediate(() => {
          sub.ack(m);
          all.hit();
        });
      });
      const pub = makeClient(broker.tcpUrl);
      await pub.connect({ clientId: uid('flow-pub') });
      await Promise.all(Array.from({ length: total }, (_, i) => pub.publish({ topic: `${topic}/${i}`, qos: i % 2 === 0 ? 1 : 2 })));
      await all.done;
      expect(seen.size).toBe(total);
      expect(lost).toBe(0);
      expect(sub.connected).toBe(true);
    });
  });
});
