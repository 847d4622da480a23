/**
 * DurableBrokerStore on a real LMDB file in a temp dir: every record kind survives a close and reopen,
 * group commit shares one promise per turn, deleteSession removes the session's key ranges, and the
 * in-memory store costs nothing.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DurableBrokerStore,
  MemoryBrokerStore,
  type BrokerStore,
  type BrokerStoreLoader,
  type StoredInbound,
  type StoredMessage,
  type StoredOutbound,
  type StoredSession,
  type StoredSubscription,
} from '../../../../lib/broker/store/index.js';

const dirs: string[] = [];
const stores: DurableBrokerStore[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nest-mqtt5-bstore-'));
  dirs.push(d);
  return d;
}
function open(dir: string, sync: 'always' | 'periodic' = 'always'): DurableBrokerStore {
  const s = DurableBrokerStore.open({ dir, sync });
  stores.push(s);
  return s;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function collect(store: DurableBrokerStore) {
  const out = {
    sessions: [] as StoredSession[],
    subscriptions: [] as StoredSubscription[],
    outbound: [] as StoredOutbound[],
    inbound: [] as StoredInbound[],
    retained: [] as StoredMessage[],
  };
  const loader: BrokerStoreLoader = {
    session: (s) => out.sessions.push(s),
    subscription: (s) => out.subscriptions.push(s),
    outbound: (m) => out.outbound.push(m),
    inbound: (i) => out.inbound.push(i),
    retained: (m) => out.retained.push(m),
  };
  const stats = store.load(loader);
  return { ...out, stats };
}

const message = (topic: string, payload: string, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: false,
  properties: undefined,
  arrivedAt: 1_700_000_000_000,
  expiresAt: 0,
  ...extra,
});

describe('DurableBrokerStore', () => {
  it('reads back every record kind after a close and reopen', async () => {
    const dir = tempDir();
    const s = open(dir);
    const session: StoredSession = {
      clientId: 'c1',
      protocolVersion: 5,
      expiryInterval: 3600,
      disconnectedAt: 1_700_000_001_000,
      will: {
        delayInterval: 30,
        message: message('will/c1', 'bye', { qos: 2, retain: true, properties: { userProperties: [['k', 'v']], contentType: 'text/plain' } }),
      },
    };
    s.putSession(session);
    s.putSession({ clientId: 'c2', protocolVersion: 4, expiryInterval: 0xffffffff, disconnectedAt: 0, will: undefined });
    const sub: StoredSubscription = {
      clientId: 'c1',
      filter: '$share/g/a/+',
      qos: 2,
      noLocal: true,
      retainAsPublished: true,
      retainHandling: 2,
      subscriptionId: 77,
    };
    s.putSubscription(sub);
    s.putSubscription({ ...sub, filter: 'b/#', subscriptionId: undefined, qos: 1 });
    const props = { messageExpiryInterval: 60, correlationData: Buffer.from([1, 2, 3]), responseTopic: 'r', payloadFormatIndicator: true };
    const out: StoredOutbound[] = [];
    for (let seq = 1; seq <= 12; seq++) {
      out.push({
        clientId: 'c1',
        seq,
        state: seq === 1 ? 'pubrec' : seq === 2 ? 'sent' : 'queued',
        packetId: seq <= 2 ? 100 + seq : 0,
        qos: seq % 2 === 0 ? 1 : 2,
        subscriptionIds: seq === 3 ? [77, 78] : undefined,
        message: message('a/x', `m${seq}`, { qos: 2, properties: props, expiresAt: 1_700_000_060_000 }),
      });
    }
    // Staged in reverse: the load still yields seq order (2 sorts before 10 and 12).
    for (const m of [...out].reverse()) s.putOutbound(m);
    s.putInbound('c1', 5);
    s.putInbound('c1', 65535);
    s.putRetained(message('r/1', 'retained', { retain: true, expiresAt: 1_800_000_000_000 }));
    s.putRetained(message('r/2', '', { retain: true }));
    await s.commit();
    await s.close();

    const r = collect(open(dir));
    expect(r.stats).toEqual({ sessions: 2, subscriptions: 2, outbound: 12, inbound: 2, retained: 2 });
    expect(r.sessions.find((x) => x.clientId === 'c1')).toEqual(session);
    expect(Buffer.from(r.sessions[0]!.will!.message.payload).toString()).toBe('bye');
    expect(r.subscriptions).toEqual(expect.arrayContaining([sub]));
    expect(r.outbound.map((m) => m.seq)).toEqual(out.map((m) => m.seq));
    expect(r.outbound).toEqual(out);
    const first = r.outbound[0]!;
    expect(Buffer.isBuffer(first.message.payload) || first.message.payload instanceof Uint8Array).toBe(true);
    // Payloads stay intact after the whole scan (no reused decode buffer).
    expect(r.outbound.map((m) => Buffer.from(m.message.payload).toString())).toEqual(out.map((m) => `m${m.seq}`));
    expect(r.inbound).toEqual([
      { clientId: 'c1', packetId: 5 },
      { clientId: 'c1', packetId: 65535 },
    ]);
    expect(r.retained.map((m) => [m.topic, Buffer.from(m.payload).toString(), m.expiresAt])).toEqual([
      ['r/1', 'retained', 1_800_000_000_000],
      ['r/2', '', 0],
    ]);
  });

  it('commits every mutation of one turn as one group (one shared promise) and applies later states', async () => {
    const dir = tempDir();
    const s = open(dir);
    const base = { clientId: 'c', qos: 1 as const, subscriptionIds: undefined, message: message('t', 'p') };
    s.putOutbound({ ...base, seq: 1, state: 'queued', packetId: 0 });
    const p1 = s.commit();
    s.putOutbound({ ...base, seq: 1, state: 'sent', packetId: 9 });
    const p2 = s.commit();
    expect(p2).toBe(p1);
    expect(s.staged).toBe(2);
    await p1;
    expect(s.staged).toBe(0);
    s.deleteOutbound('c', 1);
    s.putOutbound({ ...base, seq: 2, state: 'queued', packetId: 0 });
    const p3 = s.commit();
    expect(p3).not.toBe(p1);
    await p3;
    await s.close();
    const r = collect(open(dir));
    expect(r.outbound.map((m) => [m.seq, m.state])).toEqual([[2, 'queued']]);
  });

  it('deleteSession removes the session with its subscriptions, messages and inbound ids, including ones staged before it', async () => {
    const dir = tempDir();
    const s = open(dir);
    const sess = (clientId: string): StoredSession => ({ clientId, protocolVersion: 5, expiryInterval: 10, disconnectedAt: 0, will: undefined });
    for (const id of ['a', 'ab', 'b']) {
      s.putSession(sess(id));
      s.putSubscription({ clientId: id, filter: 'x', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined });
      s.putOutbound({ clientId: id, seq: 1, state: 'queued', packetId: 0, qos: 1, subscriptionIds: undefined, message: message('x', id) });
      s.putInbound(id, 3);
    }
    await s.commit();
    s.putOutbound({ clientId: 'a', seq: 2, state: 'queued', packetId: 0, qos: 1, subscriptionIds: undefined, message: message('x', 'late') });
    s.deleteSession('a');
    await s.commit();
    const r = collect(s);
    expect(r.sessions.map((x) => x.clientId)).toEqual(['ab', 'b']);
    expect(r.subscriptions.map((x) => x.clientId)).toEqual(['ab', 'b']);
    expect(r.outbound.map((x) => x.clientId)).toEqual(['ab', 'b']);
    expect(r.inbound.map((x) => x.clientId)).toEqual(['ab', 'b']);
  });

  it('periodic mode resolves commits and keeps the data across a reopen', async () => {
    const dir = tempDir();
    const s = open(dir, 'periodic');
    for (let i = 0; i < 100; i++) s.putRetained(message(`t/${i}`, String(i), { retain: true }));
    await s.commit();
    await s.close();
    expect(collect(open(dir)).stats.retained).toBe(100);
  });

  it('rejects commits after close', async () => {
    const s = open(tempDir());
    await s.close();
    await expect(s.commit()).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });
});

describe('MemoryBrokerStore', () => {
  it('is not durable, loads nothing and commits at once', async () => {
    const s: BrokerStore = new MemoryBrokerStore();
    expect(s.durable).toBe(false);
    s.putRetained(message('t', 'p'));
    await expect(s.commit()).resolves.toBeUndefined();
    expect(s.commit()).toBe(s.commit());
    const seen: unknown[] = [];
    const see = (r: unknown): void => void seen.push(r);
    expect(s.load({ session: see, subscription: see, outbound: see, inbound: see, retained: see })).toEqual({
      sessions: 0,
      subscriptions: 0,
      outbound: 0,
      inbound: 0,
      retained: 0,
    });
    expect(seen).toHaveLength(0);
    await s.close();
  });
});
