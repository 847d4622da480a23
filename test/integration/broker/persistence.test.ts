/**
 * Broker persistence in process (issue 14): what a broker with `persistence` stores is restored by a
 * new broker on the same directory — sessions with session present, subscriptions with their options,
 * queued and in-flight QoS 1/2 messages (DUP on re-send, PUBREL for PUBREC'd), inbound QoS 2 ids,
 * retained messages, expiries and will delays across the downtime — and bad storage is refused.
 * Crashes (kill -9) are in persistence-crash.test.ts.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import type { MqttBrokerOptions } from '../../../lib/broker/index.js';
import { startBroker, uid, type TestBroker } from './support.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
const mounts: string[] = [];
const brokers: TestBroker[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nest-mqtt5-persist-'));
  dirs.push(d);
  return d;
}
async function start(dir: string, extra: MqttBrokerOptions = {}): Promise<TestBroker> {
  const tb = await startBroker({ persistence: { dir }, ...extra });
  brokers.push(tb);
  return tb;
}
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close().catch(() => undefined);
  for (const m of mounts.splice(0)) execFileSync('umount', [m]);
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o700);
    rmSync(d, { recursive: true, force: true });
  }
});

const isPublish = (p: { type: number }): p is PublishPacket => p.type === PacketType.PUBLISH;
const persistent = { cleanStart: false, properties: { sessionExpiryInterval: 3600 } };

describe('broker persistence across a restart', () => {
  it('restores an offline session: subscription, queued QoS 1/2 messages, session present', async () => {
    const dir = tempDir();
    let tb = await start(dir);
    const id = uid('sub');
    const { client: sub } = await tb.raw({ clientId: id, ...persistent });
    sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'p/+', qos: 2 }], properties: { subscriptionIdentifier: 7 } });
    expect((await sub.expect(PacketType.SUBACK)).reasonCodes).toEqual([2]);
    sub.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await sub.waitClosed();
    const { client: pub } = await tb.raw({ clientId: uid('pub') });
    pub.send({ type: PacketType.PUBLISH, topic: 'p/1', payload: Buffer.from('one'), qos: 1, retain: false, dup: false, packetId: 1 });
    expect((await pub.expect(PacketType.PUBACK)).reasonCode ?? 0).toBe(0);
    pub.send({ type: PacketType.PUBLISH, topic: 'p/2', payload: Buffer.from('two'), qos: 2, retain: false, dup: false, packetId: 2 });
    expect((await pub.expect(PacketType.PUBREC)).reasonCode ?? 0).toBe(0);
    pub.send({ type: PacketType.PUBLISH, topic: 'r/x', payload: Buffer.from('kept'), qos: 1, retain: true, dup: false, packetId: 3 });
    await pub.expect(PacketType.PUBACK);
    await tb.close();

    tb = await start(dir);
    // The publisher's inbound QoS 2 id survived: a re-send is acknowledged and not delivered again.
    const { client: pub2, connack: pc } = await tb.raw({ clientId: 'unused-' + id });
    expect(pc.sessionPresent).toBe(false);
    pub2.destroy();
    const { client: again, connack } = await tb.raw({ clientId: id, ...persistent });
    expect(connack.sessionPresent).toBe(true);
    const first = await again.nextMatching(isPublish);
    const second = await again.nextMatching(isPublish);
    expect([first.topic, first.payload.toString(), first.qos, first.properties?.subscriptionIdentifier]).toEqual(['p/1', 'one', 1, 7]);
    expect([second.topic, second.payload.toString(), second.qos]).toEqual(['p/2', 'two', 2]);
    again.send({ type: PacketType.PUBACK, packetId: first.packetId! });
    again.send({ type: PacketType.PUBREC, packetId: second.packetId! });
    await again.expect(PacketType.PUBREL);
    again.send({ type: PacketType.PUBCOMP, packetId: second.packetId! });
    // The subscription survived: a new message is routed to it.
    const r = await tb.raw({ clientId: uid('rsub') });
    r.client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'r/#', qos: 1 }] });
    await r.client.expect(PacketType.SUBACK);
    const retained = await r.client.nextMatching(isPublish);
    expect([retained.topic, retained.payload.toString(), retained.retain]).toEqual(['r/x', 'kept', true]);
  });

  it('re-sends in-flight messages after a restart with DUP and their packet ids; PUBREL for PUBREC\'d ones', async () => {
    const dir = tempDir();
    let tb = await start(dir);
    const id = uid('sub');
    const { client: sub } = await tb.raw({ clientId: id, ...persistent });
    sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'f/#', qos: 2 }] });
    await sub.expect(PacketType.SUBACK);
    const { client: pub } = await tb.raw({ clientId: uid('pub') });
    pub.send({ type: PacketType.PUBLISH, topic: 'f/1', payload: Buffer.from('a'), qos: 1, retain: false, dup: false, packetId: 1 });
    pub.send({ type: PacketType.PUBLISH, topic: 'f/2', payload: Buffer.from('b'), qos: 2, retain: false, dup: false, packetId: 2 });
    await pub.expect(PacketType.PUBACK);
    await pub.expect(PacketType.PUBREC);
    const a = await sub.nextMatching(isPublish);
    const b = await sub.nextMatching(isPublish);
    sub.send({ type: PacketType.PUBREC, packetId: b.packetId! });
    await sub.expect(PacketType.PUBREL);
    sub.destroy();
    await tb.close();

    tb = await start(dir);
    const { client: again, connack } = await tb.raw({ clientId: id, ...persistent });
    expect(connack.sessionPresent).toBe(true);
    const rel = await again.expect(PacketType.PUBREL);
    expect(rel.packetId).toBe(b.packetId);
    const dup = await again.nextMatching(isPublish);
    expect([dup.topic, dup.dup, dup.packetId]).toEqual(['f/1', true, a.packetId]);
  });

  it('counts session expiry across the downtime: an expired session is gone, its will published', async () => {
    const dir = tempDir();
    let tb = await start(dir);
    const id = uid('short');
    const { client } = await tb.raw({
      clientId: id,
      cleanStart: false,
      properties: { sessionExpiryInterval: 1 },
      will: { topic: 'will/t', payload: Buffer.from('gone'), qos: 1, retain: true, properties: { willDelayInterval: 1 } },
    });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'x', qos: 1 }] });
    await client.expect(PacketType.SUBACK);
    client.destroy(); // connection lost: the will waits for its delay
    await tb.close();
    // The broker's close() published the pending will (its delay cannot outlast the broker).
    await new Promise<void>((resolve) => setTimeout(resolve, 1100)); // the expiry must pass in wall-clock time
    tb = await start(dir);
    const { connack } = await tb.raw({ clientId: id, cleanStart: false, properties: { sessionExpiryInterval: 1 } });
    expect(connack.sessionPresent).toBe(false);
    expect(tb.broker.metrics().retainedMessages).toBe(1); // the will, retained
  });
});

describe('shared subscriptions across a restart', () => {
  it("hands a restored member's unacknowledged messages to another member of its group when its session ends", async () => {
    const dir = tempDir();
    let tb = await start(dir);
    const idA = uid('member-a');
    const idB = uid('member-b');
    // A takes one message at a time and acknowledges none; B acknowledges everything.
    const { client: a } = await tb.raw({ clientId: idA, cleanStart: false, properties: { sessionExpiryInterval: 3600, receiveMaximum: 1 } });
    a.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/g/jobs', qos: 1 }] });
    await a.expect(PacketType.SUBACK);
    const { client: b } = await tb.raw({ clientId: idB, ...persistent });
    b.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: '$share/g/jobs', qos: 1 }] });
    await b.expect(PacketType.SUBACK);
    const { client: pub } = await tb.raw({ clientId: uid('pub') });
    for (let i = 1; i <= 4; i++) {
      pub.send({ type: PacketType.PUBLISH, topic: 'jobs', payload: Buffer.from(`job${i}`), qos: 1, retain: false, dup: false, packetId: i });
      await pub.expect(PacketType.PUBACK);
    }
    const atB: string[] = [];
    while (atB.length < 2) {
      const m = await b.nextMatching(isPublish);
      atB.push(m.payload.toString());
      b.send({ type: PacketType.PUBACK, packetId: m.packetId! });
    }
    const atA = (await a.nextMatching(isPublish)).payload.toString(); // in flight; the other one queued behind it
    a.destroy();
    b.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await b.waitClosed();
    await tb.close();

    tb = await start(dir);
    const { client: b2, connack } = await tb.raw({ clientId: idB, ...persistent });
    expect(connack.sessionPresent).toBe(true);
    // A comes back with a clean start: its old session ends, and what it held goes to B.
    const { client: a2 } = await tb.raw({ clientId: idA, cleanStart: true });
    const handed: string[] = [];
    while (handed.length < 2) {
      const m = await b2.nextMatching(isPublish);
      handed.push(m.payload.toString());
      b2.send({ type: PacketType.PUBACK, packetId: m.packetId! });
    }
    expect(handed).toContain(atA);
    expect([...atB, ...handed].sort()).toEqual(['job1', 'job2', 'job3', 'job4']);
    a2.destroy();
  });
});

describe('retained messages read from the data file', () => {
  it('after a restart: delivered on subscribe, replaced, cleared, expired — with $SYS statistics beside them', async () => {
    const dir = tempDir();
    let tb = await start(dir);
    const { client: pub } = await tb.raw({ clientId: uid('pub') });
    let pid = 1;
    const retain = async (topic: string, payload: string, properties?: PublishPacket['properties']): Promise<void> => {
      pub.send({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false, packetId: pid, ...(properties ? { properties } : {}) });
      expect((await pub.expect(PacketType.PUBACK)).packetId).toBe(pid++);
    };
    for (let i = 0; i < 20; i++) await retain(`dev/${i}/state`, `s${i}`);
    await retain('dev/short/state', 'soon gone', { messageExpiryInterval: 1 });
    await tb.close();
    await new Promise<void>((resolve) => setTimeout(resolve, 1100)); // the expiry passes in wall-clock time

    tb = await start(dir, { sysInterval: 60 });
    expect(tb.broker.metrics().retainedMessages).toBeGreaterThanOrEqual(21); // counted from the file, $SYS on top
    const { client: p2 } = await tb.raw({ clientId: uid('pub2') });
    p2.send({ type: PacketType.PUBLISH, topic: 'dev/3/state', payload: Buffer.from('new'), qos: 1, retain: true, dup: false, packetId: 1 });
    await p2.expect(PacketType.PUBACK);
    p2.send({ type: PacketType.PUBLISH, topic: 'dev/4/state', payload: Buffer.alloc(0), qos: 1, retain: true, dup: false, packetId: 2 });
    await p2.expect(PacketType.PUBACK);
    const { client: sub } = await tb.raw({ clientId: uid('sub') });
    sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'dev/+/state', qos: 1 }, { topicFilter: '$SYS/broker/version', qos: 0 }] });
    await sub.expect(PacketType.SUBACK);
    const got = new Map<string, string>();
    while (got.size < 20) {
      const m = await sub.nextMatching(isPublish);
      expect(m.retain).toBe(true);
      got.set(m.topic, m.payload.toString());
    }
    expect(got.get('dev/3/state')).toBe('new');
    expect(got.has('dev/4/state')).toBe(false);
    expect(got.has('dev/short/state')).toBe(false); // expired while the broker was down
    expect(got.get('dev/0/state')).toBe('s0');
    expect(got.get('$SYS/broker/version')).toMatch(/^nest-mqtt5 version /);
  });
});

describe('bad storage', () => {
  it('refuses to start on a path that is not a directory, naming it', async () => {
    const d = tempDir();
    const file = join(d, 'file');
    writeFileSync(file, 'x');
    await expect(startBroker({ persistence: { dir: join(file, 'data') } })).rejects.toMatchObject({ code: 'STORE_OPEN_FAILED', path: join(file, 'data') });
  });

  it('refuses to start on a corrupt data file, naming it', async () => {
    const d = tempDir();
    writeFileSync(join(d, 'store.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    await expect(startBroker({ persistence: { dir: d } })).rejects.toMatchObject({ code: 'STORE_CORRUPT', path: join(d, 'store.mdb') });
  });

  (isRoot ? it : it.skip)('refuses to start on a read-only file system (root: read-only tmpfs)', async () => {
    const d = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', d]);
    mounts.push(d);
    const err = await startBroker({ persistence: { dir: d } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'STORE_OPEN_FAILED' });
    expect((err as Error).message).toContain(d);
  });

  (isRoot ? it : it.skip)('a full disk at run time: QoS 1/2 publishes get 0x97, never a PUBACK for what is not stored', async () => {
    const d = tempDir();
    const mnt = join(d, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    mounts.push(mnt);
    const tb = await start(join(mnt, 'data'));
    const errors: Error[] = [];
    tb.broker.on('clientError', (_c, e) => errors.push(e));
    const id = uid('sub');
    const { client: sub } = await tb.raw({ clientId: id, ...persistent });
    sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'big', qos: 1 }] });
    await sub.expect(PacketType.SUBACK);
    sub.destroy(); // offline: every message is queued for it, on disk
    const { client: pub } = await tb.raw({ clientId: uid('pub') });
    const payload = Buffer.alloc(64 * 1024, 1);
    let acked = 0;
    let refused = 0;
    for (let i = 1; i <= 64 && refused === 0; i++) {
      pub.send({ type: PacketType.PUBLISH, topic: 'big', payload, qos: 1, retain: false, dup: false, packetId: i });
      const ack = await pub.expect(PacketType.PUBACK);
      if ((ack.reasonCode ?? 0) < 0x80) acked++;
      else {
        expect(ack.reasonCode).toBe(0x97);
        refused++;
      }
    }
    expect(refused).toBe(1);
    expect(acked).toBeGreaterThan(0);
    // Every later one is refused too, QoS 2 as well, and the store failure was reported.
    pub.send({ type: PacketType.PUBLISH, topic: 'big', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 100 });
    expect((await pub.expect(PacketType.PUBREC)).reasonCode).toBe(0x97);
    expect(errors.some((e) => (e as { code?: string }).code === 'STORE_FULL')).toBe(true);
    // A persistent session cannot be kept any more: its CONNACK is a refusal, not a promise.
    const { connack: refusedConnack } = await tb.raw({ clientId: uid('late'), ...persistent });
    expect(refusedConnack.reasonCode).toBe(0x97);
    // A clean session does not touch the disk: it still works, QoS 0 included.
    const { client: clean } = await tb.raw({ clientId: uid('clean') });
    clean.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'q0', qos: 0 }] });
    expect((await clean.expect(PacketType.SUBACK)).reasonCodes).toEqual([0]);
    pub.send({ type: PacketType.PUBLISH, topic: 'q0', payload: Buffer.from('still'), qos: 0, retain: false, dup: false });
    expect((await clean.nextMatching(isPublish)).payload.toString()).toBe('still');
    clean.destroy();
    pub.destroy();
  });
});
