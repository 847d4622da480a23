/**
 * MQTT 3.1.1 (level 4) and 3.1 (level 3) clients on the broker, on the wire: a raw client decodes what the
 * broker sends at the client's own level (a v5 property section or reason code would fail to decode), so
 * every test also checks that nothing v5-only reaches an older client. Cross-version delivery between v5
 * and 3.1.1 clients, CONNACK return codes, SUBACK 0x80, silent drops of refused publishes, closing instead
 * of DISCONNECT, persistent sessions.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import type { DropInfo } from '../../../lib/broker/index.js';
import type { RawClient } from '../../helpers/raw-client.js';
import { nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** A raw client at `level` (4 unless said), connected; fails the test on any CONNACK but 0x00. */
async function old(t: TestBroker, opts: { level?: 3 | 4; clientId?: string; cleanStart?: boolean; keepAlive?: number } = {}): Promise<RawClient> {
  const { client, connack } = await t.raw({
    protocolVersion: opts.level ?? 4,
    clientId: opts.clientId ?? uid('v4').slice(0, 20),
    cleanStart: opts.cleanStart ?? true,
    keepAlive: opts.keepAlive ?? 0,
  });
  expect(connack.reasonCode).toBe(0);
  return client;
}

/** Everything `c` received decoded at its level: a v5-only byte would have set decodeError. */
function expectClean(c: RawClient): void {
  expect(c.decodeError).toBeUndefined();
}

describe('MQTT 3.1.1 and 3.1 clients', () => {
  it.each([4, 3] as const)('level %i: subscribe, publish QoS 0/1/2 to itself, acks without reason codes', async (level) => {
    tb = await startBroker();
    const c = await old(tb, { level });
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'o/+', qos: 2 }] });
    expect((await c.expect(PacketType.SUBACK)).reasonCodes).toEqual([2]);
    for (const qos of [0, 1, 2] as const) {
      c.send({ type: PacketType.PUBLISH, topic: `o/${qos}`, payload: Buffer.from(`m${qos}`), qos, retain: false, dup: false, packetId: qos === 0 ? undefined : 10 + qos });
      // The delivery to itself and the acknowledgement come in either order.
      const got = qos === 0 ? [await c.next()] : [await c.next(), await c.next()];
      const m = got.find((p): p is PublishPacket => p.type === PacketType.PUBLISH)!;
      expect([m.topic, m.payload.toString(), m.qos]).toEqual([`o/${qos}`, `m${qos}`, qos]);
      if (qos === 1) expect(got.find((p) => p.type === PacketType.PUBACK)).toMatchObject({ packetId: 11 });
      if (qos === 2) {
        expect(got.find((p) => p.type === PacketType.PUBREC)).toMatchObject({ packetId: 12 });
        c.send({ type: PacketType.PUBREL, packetId: 12 });
        expect((await c.expect(PacketType.PUBCOMP)).packetId).toBe(12);
      }
      if (qos === 1) c.send({ type: PacketType.PUBACK, packetId: m.packetId! });
      if (qos === 2) {
        c.send({ type: PacketType.PUBREC, packetId: m.packetId! });
        expect((await c.expect(PacketType.PUBREL)).packetId).toBe(m.packetId);
        c.send({ type: PacketType.PUBCOMP, packetId: m.packetId! });
      }
    }
    c.send({ type: PacketType.UNSUBSCRIBE, packetId: 2, topicFilters: ['o/+', 'never'] });
    expect((await c.expect(PacketType.UNSUBACK)).packetId).toBe(2);
    c.send({ type: PacketType.PINGREQ });
    await c.expect(PacketType.PINGRESP);
    expectClean(c);
  });

  it('PUBACK for a message nobody subscribed to is the plain 3.1.1 ack (v5 would say 0x10)', async () => {
    tb = await startBroker();
    const c = await old(tb);
    const raw: Buffer[] = [];
    c.socket.on('data', (b: Buffer) => raw.push(b));
    c.send({ type: PacketType.PUBLISH, topic: 'nobody', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 5 });
    await c.expect(PacketType.PUBACK);
    expect(Buffer.concat(raw).toString('hex')).toBe('40020005');
  });

  it('PUBREL for an unknown packet identifier gets the plain PUBCOMP (v5 would say 0x92)', async () => {
    tb = await startBroker();
    const c = await old(tb);
    c.send({ type: PacketType.PUBREL, packetId: 77 });
    const comp = await c.expect(PacketType.PUBCOMP);
    expect([comp.packetId, comp.reasonCode ?? 0]).toEqual([77, 0]);
    expectClean(c);
  });

  describe('CONNACK return codes', () => {
    it('0x04 for a wrong password, 0x05 for a refused client without credentials', async () => {
      tb = await startBroker({ authenticate: () => false });
      const withCredentials = await tb.raw({ protocolVersion: 4, clientId: 'a', username: 'u', password: Buffer.from('bad') });
      expect(withCredentials.connack.reasonCode).toBe(0x04);
      await withCredentials.client.waitClosed();
      const without = await tb.raw({ protocolVersion: 4, clientId: 'b' });
      expect(without.connack.reasonCode).toBe(0x05);
      await without.client.waitClosed();
    });

    it('0x02 for a 3.1 client identifier over 23 bytes', async () => {
      tb = await startBroker();
      const c = await tb.rawOpen();
      // The encoder refuses such an id itself: the CONNECT is written by hand (MQIsdp, level 3, clean session).
      const id = Buffer.from('x'.repeat(24));
      const body = Buffer.concat([Buffer.from([0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, 3, 0x02, 0, 0, 0, id.length]), id]);
      c.useProtocolVersion(3);
      c.sendRaw(Buffer.concat([Buffer.from([0x10, body.length]), body]));
      expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0x02);
      await c.waitClosed();
    });

    it('0x02 for an empty client identifier with Clean Session 0; an assigned one with Clean Session 1', async () => {
      tb = await startBroker();
      const c = await tb.rawOpen();
      c.useProtocolVersion(4);
      c.sendRaw([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 0, 0, 0]);
      expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0x02);
      await c.waitClosed();
      const ok = await tb.raw({ protocolVersion: 4, clientId: '', cleanStart: true });
      expect(ok.connack.reasonCode).toBe(0);
      expect(ok.connack.properties).toBeUndefined();
    });

    it('0x02 for a keep alive above maxKeepAlive (a 3.1.1 client cannot be told another one)', async () => {
      tb = await startBroker({ maxKeepAlive: 30 });
      const r = await tb.raw({ protocolVersion: 4, clientId: 'ka', keepAlive: 60 });
      expect(r.connack.reasonCode).toBe(0x02);
      expect((await tb.raw({ protocolVersion: 4, clientId: 'ka2', keepAlive: 20 })).connack.reasonCode).toBe(0);
    });

    it('0x03 when the broker is full', async () => {
      tb = await startBroker({ maxConnections: 1 });
      await old(tb);
      expect((await tb.raw({ protocolVersion: 4, clientId: 'second' })).connack.reasonCode).toBe(0x03);
    });
  });

  it('SUBACK 0x80 for a refused filter, the granted QoS for the others', async () => {
    tb = await startBroker({ authorizeSubscribe: (_c, s) => !s.topicFilter.startsWith('secret') });
    const c = await old(tb);
    c.send({ type: PacketType.SUBSCRIBE, packetId: 3, subscriptions: [{ topicFilter: 'a', qos: 1 }, { topicFilter: 'secret/#', qos: 1 }, { topicFilter: '$share/g/b', qos: 2 }] });
    expect((await c.expect(PacketType.SUBACK)).reasonCodes).toEqual([1, 0x80, 2]);
    expectClean(c);
  });

  it('a publish refused by authorizePublish is acknowledged, not routed, and counted as a drop', async () => {
    tb = await startBroker({ authorizePublish: (_c, m) => !m.topic.startsWith('forbidden') });
    const sub = await tb.ours();
    const got: string[] = [];
    await sub.subscribe({ subscriptions: [{ topicFilter: '#', qos: 1 }] }, (m) => void got.push(m.topic));
    const c = await old(tb);
    const drop = nextEvent<[DropInfo]>(tb.broker, 'drop');
    c.send({ type: PacketType.PUBLISH, topic: 'forbidden/x', payload: Buffer.from('no'), qos: 1, retain: false, dup: false, packetId: 9 });
    expect((await c.expect(PacketType.PUBACK)).packetId).toBe(9);
    const [info] = await drop;
    expect([info.reason, info.message.topic, info.qos]).toEqual(['notAuthorized', 'forbidden/x', 1]);
    expect(tb.broker.metrics().droppedMessages).toBe(1);
    c.send({ type: PacketType.PUBLISH, topic: 'allowed', payload: Buffer.from('yes'), qos: 1, retain: false, dup: false, packetId: 10 });
    await c.expect(PacketType.PUBACK);
    await until(() => got.length === 1);
    expect(got).toEqual(['allowed']);
  });

  it('a protocol violation closes the connection without a DISCONNECT', async () => {
    tb = await startBroker({ maximumQoS: 1 });
    const c = await old(tb);
    c.send({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 2, retain: false, dup: false, packetId: 1 });
    await c.waitClosed();
    expect(c.received.filter((p) => p.type === PacketType.DISCONNECT)).toEqual([]);
    expectClean(c);
  });

  it('a takeover closes the older 3.1.1 connection without a DISCONNECT', async () => {
    tb = await startBroker();
    const first = await old(tb, { clientId: 'same' });
    await old(tb, { clientId: 'same' });
    await first.waitClosed();
    expect(first.received.map((p) => p.type)).toEqual([PacketType.CONNACK]);
  });

  it('keep alive: a silent client is closed after 1.5 × its keep alive, without a DISCONNECT', async () => {
    tb = await startBroker();
    const c = await old(tb, { keepAlive: 1 });
    await c.waitClosed(3000);
    expect(c.received.map((p) => p.type)).toEqual([PacketType.CONNACK]);
  });

  it('Clean Session 0: the session outlives the connection and its QoS 1 messages are delivered on return', async () => {
    tb = await startBroker();
    const a = await old(tb, { clientId: 'durable', cleanStart: false });
    a.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'q', qos: 1 }] });
    await a.expect(PacketType.SUBACK);
    a.send({ type: PacketType.DISCONNECT });
    await a.waitClosed();
    const pub = await tb.ours();
    await pub.publish({ topic: 'q', payload: 'while away', qos: 1 });
    const { client: b, connack } = await tb.raw({ protocolVersion: 4, clientId: 'durable', cleanStart: false, keepAlive: 0 });
    expect(connack.sessionPresent).toBe(true);
    const m = await b.expect(PacketType.PUBLISH);
    expect([m.topic, m.payload.toString(), m.qos]).toEqual(['q', 'while away', 1]);
    expectClean(b);
  });

  it('Clean Session 1: no session is kept', async () => {
    tb = await startBroker();
    const a = await old(tb, { clientId: 'fleeting', cleanStart: true });
    a.send({ type: PacketType.DISCONNECT });
    await a.waitClosed();
    const { connack } = await tb.raw({ protocolVersion: 4, clientId: 'fleeting', cleanStart: false });
    expect(connack.sessionPresent).toBe(false);
  });
});

describe('cross-version delivery', () => {
  it('a v5 publish with properties and a topic alias reaches a 3.1.1 subscriber as a plain 3.1.1 PUBLISH', async () => {
    tb = await startBroker();
    const c = await old(tb);
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'x/#', qos: 1 }] });
    await c.expect(PacketType.SUBACK);
    const { client: v5 } = await tb.raw({ clientId: 'v5pub' });
    const props = { messageExpiryInterval: 60, contentType: 'text/plain', userProperties: [['k', 'v']] as [string, string][], responseTopic: 'r', correlationData: Buffer.from('c') };
    v5.send({ type: PacketType.PUBLISH, topic: 'x/long/topic/name', payload: Buffer.from('one'), qos: 1, retain: false, dup: false, packetId: 1, properties: { ...props, topicAlias: 3 } });
    v5.send({ type: PacketType.PUBLISH, topic: '', payload: Buffer.from('two'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    const one = await c.expect(PacketType.PUBLISH);
    const two = await c.expect(PacketType.PUBLISH);
    expect([one.topic, one.payload.toString(), one.qos, one.properties]).toEqual(['x/long/topic/name', 'one', 1, undefined]);
    expect([two.topic, two.payload.toString(), two.qos]).toEqual(['x/long/topic/name', 'two', 0]);
    expectClean(c);
  });

  it('an expired v5 message is not delivered to a 3.1.1 client that comes back', async () => {
    let now = Date.now();
    tb = await startBroker();
    (tb.broker as unknown as { core: { now(): number } }).core.now = () => now;
    const a = await old(tb, { clientId: 'late', cleanStart: false });
    a.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'e', qos: 1 }] });
    await a.expect(PacketType.SUBACK);
    a.send({ type: PacketType.DISCONNECT });
    await a.waitClosed();
    const pub = await tb.ours();
    await pub.publish({ topic: 'e', payload: 'short-lived', qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publish({ topic: 'e', payload: 'lasting', qos: 1 });
    now += 5000;
    const { client: b } = await tb.raw({ protocolVersion: 4, clientId: 'late', cleanStart: false });
    const m = await b.expect(PacketType.PUBLISH);
    expect(m.payload.toString()).toBe('lasting');
    await b.expectSilence(100);
  });

  it('a 3.1.1 publish reaches a v5 subscriber with no properties; retained messages cross both ways', async () => {
    tb = await startBroker();
    const c = await old(tb);
    c.send({ type: PacketType.PUBLISH, topic: 'ret/old', payload: Buffer.from('from 3.1.1'), qos: 1, retain: true, dup: false, packetId: 1 });
    await c.expect(PacketType.PUBACK);
    const { client: v5 } = await tb.raw({ clientId: 'v5sub' });
    v5.send({ type: PacketType.PUBLISH, topic: 'ret/new', payload: Buffer.from('from v5'), qos: 0, retain: true, dup: false, properties: { contentType: 'x' } });
    v5.send({ type: PacketType.SUBSCRIBE, packetId: 2, subscriptions: [{ topicFilter: 'ret/#', qos: 1 }] });
    await v5.expect(PacketType.SUBACK);
    const retained = [await v5.expect(PacketType.PUBLISH), await v5.expect(PacketType.PUBLISH)].sort((x, y) => x.topic.localeCompare(y.topic));
    expect(retained.map((m) => [m.topic, m.retain])).toEqual([['ret/new', true], ['ret/old', true]]);
    expect(retained[1]!.properties).toBeUndefined();
    c.send({ type: PacketType.SUBSCRIBE, packetId: 3, subscriptions: [{ topicFilter: 'ret/#', qos: 0 }] });
    await c.expect(PacketType.SUBACK);
    const back = [await c.expect(PacketType.PUBLISH), await c.expect(PacketType.PUBLISH)].map((m: PublishPacket) => [m.topic, m.retain, m.properties]).sort();
    expect(back).toEqual([['ret/new', true, undefined], ['ret/old', true, undefined]]);
    expectClean(c);
  });

  it('wills cross: a 3.1.1 will reaches a v5 subscriber, a v5 will (with properties) a 3.1.1 subscriber', async () => {
    tb = await startBroker();
    const c = await old(tb);
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'will/#', qos: 1 }] });
    await c.expect(PacketType.SUBACK);
    const v5sub = await tb.ours();
    const got: string[] = [];
    await v5sub.subscribe({ subscriptions: [{ topicFilter: 'will/old', qos: 1 }] }, (m) => void got.push(m.payload.toString()));
    const { client: dying311 } = await tb.raw({ protocolVersion: 4, clientId: 'dying311', will: { topic: 'will/old', payload: Buffer.from('311 gone'), qos: 1, retain: false } });
    const { client: dying5 } = await tb.raw({ clientId: 'dying5', will: { topic: 'will/new', payload: Buffer.from('v5 gone'), qos: 1, retain: false, properties: { contentType: 'text/plain' } } });
    dying311.destroy();
    dying5.destroy();
    const wills = [await c.expect(PacketType.PUBLISH, 3000), await c.expect(PacketType.PUBLISH, 3000)].map((m) => m.payload.toString()).sort();
    expect(wills).toEqual(['311 gone', 'v5 gone']);
    await until(() => got.length === 1);
    expect(got).toEqual(['311 gone']);
    expectClean(c);
  });

  it('a shared subscription spreads messages over v5 and 3.1.1 members', async () => {
    tb = await startBroker();
    const c = await old(tb);
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/grp/work', qos: 1 }] });
    await c.expect(PacketType.SUBACK);
    const { client: v5 } = await tb.raw({ clientId: 'member5' });
    v5.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/grp/work', qos: 1 }] });
    await v5.expect(PacketType.SUBACK);
    const pub = await tb.ours();
    for (let i = 0; i < 10; i++) await pub.publish({ topic: 'work', payload: `job ${i}`, qos: 1 });
    const count = (r: RawClient): number => r.received.filter((p) => p.type === PacketType.PUBLISH).length;
    await until(() => count(c) + count(v5) === 10);
    expect(count(c)).toBeGreaterThan(0);
    expect(count(v5)).toBeGreaterThan(0);
    expectClean(c);
  });
});

/** Resolves when `pred` holds, polling every 10 ms; rejects after `ms`. */
function until(pred: () => boolean, ms = 3000): Promise<void> {
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
