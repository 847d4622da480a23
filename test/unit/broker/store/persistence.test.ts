/**
 * The broker's write-through bookkeeping (lib/broker/store/persistence.ts) against a store whose group
 * commits the test settles by hand: acks and held connections wait for the group that was newest when
 * they were queued, in order, also when a second group forms while the first is still being synced;
 * a failed group refuses its acks with the store's reason code. And which packets a connection holds.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType } from '../../../../lib/codec/index.js';
import { Message } from '../../../../lib/broker/message.js';
import { Delivery, type Session } from '../../../../lib/broker/session.js';
import { DurableBrokerStore, MemoryBrokerStore } from '../../../../lib/broker/store/index.js';
import { Persistence, showsDurableState, type AckTarget } from '../../../../lib/broker/store/persistence.js';
import { StoreFullError } from '../../../../lib/store/index.js';

/** A store whose commits of one group share a promise until cut(); the test settles each group. */
class ManualStore extends MemoryBrokerStore {
  private current: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly groups: { resolve: () => void; reject: (e: Error) => void }[] = [];
  override commit(): Promise<void> {
    if (this.current === undefined) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.current = { promise, resolve, reject };
      this.groups.push(this.current);
    }
    return this.current.promise;
  }
  /** The group being formed is handed to the disk: later commits form the next one. */
  cut(): void {
    this.current = undefined;
  }
}

function setup() {
  const store = new ManualStore();
  const failures: Error[] = [];
  let released = 0;
  const p = new Persistence(store, (e) => failures.push(e), () => released++);
  const sent: string[] = [];
  const target: AckTarget = { sendStoredAck: (type, id, rc) => sent.push(`${type === PacketType.PUBACK ? 'PUBACK' : 'PUBREC'} ${id} 0x${rc.toString(16)}`) };
  const stage = (): void => p.retainedChanged('t', null);
  return { store, p, failures, sent, target, stage, released: () => released };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Persistence group bookkeeping', () => {
  it('acknowledges at once when nothing is staged', () => {
    const { p, sent, target } = setup();
    expect(p.unsettledGroup).toBe(0);
    p.acknowledge(target, PacketType.PUBACK, 1, 0);
    expect(sent).toEqual(['PUBACK 1 0x0']);
  });

  it('holds acks and writes until their group is durable, then releases them at once', async () => {
    const { store, p, sent, target, stage, released } = setup();
    stage();
    const group = p.unsettledGroup;
    expect(group).toBe(1);
    p.acknowledge(target, PacketType.PUBACK, 1, 0);
    p.acknowledge(target, PacketType.PUBREC, 2, 0x10);
    const writes: string[] = [];
    p.hold({ releaseHeld: () => writes.push('conn') }, group);
    await tick();
    expect(sent).toEqual([]);
    expect(writes).toEqual([]);
    expect(p.settled(group)).toBe(false);
    store.groups[0]!.resolve();
    await tick();
    expect(sent).toEqual(['PUBACK 1 0x0', 'PUBREC 2 0x10']);
    expect(writes).toEqual(['conn']);
    expect(p.settled(group)).toBe(true);
    expect(p.unsettledGroup).toBe(0);
    expect(released()).toBe(1);
  });

  it('a second group forming while the first syncs: each waits for its own, order kept', async () => {
    const { store, p, sent, target, stage } = setup();
    stage();
    p.acknowledge(target, PacketType.PUBACK, 1, 0);
    store.cut();
    stage();
    expect(p.unsettledGroup).toBe(2);
    p.acknowledge(target, PacketType.PUBACK, 2, 0);
    const writes: string[] = [];
    p.hold({ releaseHeld: () => writes.push('g2') }, 2);
    store.groups[0]!.resolve();
    await tick();
    expect(sent).toEqual(['PUBACK 1 0x0']);
    expect(writes).toEqual([]);
    expect(p.unsettledGroup).toBe(2);
    // An ack queued behind a waiting one waits too, even if nothing new was staged for it.
    store.groups[1]!.resolve();
    await tick();
    expect(sent).toEqual(['PUBACK 1 0x0', 'PUBACK 2 0x0']);
    expect(writes).toEqual(['g2']);
  });

  it('a failed group refuses its acks with 0x97 when the store is full, and reports the failure once', async () => {
    const { store, p, sent, target, stage, failures } = setup();
    stage();
    p.acknowledge(target, PacketType.PUBACK, 7, 0);
    p.acknowledge(target, PacketType.PUBREC, 8, 0);
    const full = new StoreFullError('/data/store.mdb', 'store is full');
    store.groups[0]!.reject(full);
    await tick();
    expect(sent).toEqual(['PUBACK 7 0x97', 'PUBREC 8 0x97']);
    expect(failures).toEqual([full]);
    expect(p.failure).toBe(full);
  });

  it('an ack queued while an older one waits keeps its place', async () => {
    const { store, p, sent, target, stage } = setup();
    stage();
    p.acknowledge(target, PacketType.PUBACK, 1, 0);
    store.cut();
    stage();
    store.groups[0]!.resolve();
    await tick();
    // Group 2 is unsettled: a new ack waits for it, behind nothing.
    p.acknowledge(target, PacketType.PUBACK, 3, 0);
    expect(sent).toEqual(['PUBACK 1 0x0']);
    store.groups[1]!.resolve();
    await tick();
    expect(sent).toEqual(['PUBACK 1 0x0', 'PUBACK 3 0x0']);
  });
});

describe('which packets wait for the store', () => {
  const first = (type: number, flags = 0): number => (type << 4) | flags;
  it.each([
    ['PUBLISH QoS 0', first(PacketType.PUBLISH, 0), false],
    ['PUBLISH QoS 1 (a duplicate after a crash is allowed)', first(PacketType.PUBLISH, 0x02), false],
    ['PUBLISH QoS 1 DUP retain', first(PacketType.PUBLISH, 0x0b), false],
    ['PUBLISH QoS 2 (exactly once)', first(PacketType.PUBLISH, 0x04), true],
    ['PUBLISH QoS 2 DUP retain', first(PacketType.PUBLISH, 0x0d), true],
    ['PUBACK (sent once stored, or a refusal)', first(PacketType.PUBACK), false],
    ['PUBREC (sent once stored, or a refusal)', first(PacketType.PUBREC), false],
    ['PUBREL', first(PacketType.PUBREL, 0x02), true],
    ['PUBCOMP (the inbound id is forgotten)', first(PacketType.PUBCOMP), true],
    ['CONNACK (session present)', first(PacketType.CONNACK), true],
    ['SUBACK (the subscription is durable)', first(PacketType.SUBACK), true],
    ['UNSUBACK', first(PacketType.UNSUBACK), true],
    ['DISCONNECT', first(PacketType.DISCONNECT), true],
    ['PINGRESP', first(PacketType.PINGRESP), false],
  ])('%s (first byte %i) → held: %s', (_name, byte, held) => {
    expect(showsDurableState(byte)).toBe(held);
  });
});

describe('a QoS 1 delivery acknowledged before its group is written (real store)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** The transaction id of the data file's current meta page: it moves once per written group. */
  function txnid(file: string): bigint {
    const buf = readFileSync(file);
    const pageSize = buf.readUInt32LE(0x30);
    return [buf.readBigUInt64LE(0x98), buf.readBigUInt64LE(pageSize + 0x98)].reduce((a, b) => (a > b ? a : b));
  }

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'nest-mqtt5-elide-'));
    dirs.push(dir);
    const store = DurableBrokerStore.open({ dir });
    const p = new Persistence(store, () => undefined);
    const session = { clientId: 'sub', lastSeq: 0 } as unknown as Session;
    const sent: string[] = [];
    const target: AckTarget = { sendStoredAck: (_t, id) => sent.push(`PUBACK ${id}`) };
    const delivery = (qos: 1 | 2): Delivery => {
      const d = new Delivery(new Message('t', Buffer.from('x'), qos, false, undefined, null, 0), qos, false, undefined, null);
      d.packetId = 1;
      return d;
    };
    const stored = async (): Promise<number> => {
      let n = 0;
      store.load({ session: () => undefined, subscription: () => undefined, outbound: () => n++, inbound: () => undefined });
      return n;
    };
    // The group being formed, as scheduled (commitWithin does not hurry an existing group), then the
    // persistence's own handlers on it (registered first, so they have run).
    const groupSettled = async (): Promise<void> => {
      await store.commitWithin(60_000);
    };
    return { store, p, session, sent, target, delivery, stored, file: store.file, groupSettled };
  }

  it('is never written: the PUBACK it gated goes out with no transaction on disk', async () => {
    const { store, p, session, sent, target, delivery, stored, file, groupSettled } = await setup();
    try {
      const before = txnid(file);
      const d = delivery(1);
      p.sent(session, d); // sent at once to an online subscriber
      p.acknowledge(target, PacketType.PUBACK, 9, 0); // the publisher's ack waits for the group
      expect(sent).toEqual([]);
      p.completed(session, d); // the subscriber's PUBACK beat the disk
      await groupSettled();
      expect(sent).toEqual(['PUBACK 9']);
      expect(txnid(file)).toBe(before);
      expect(await stored()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('is written when its subscriber does not answer in time, and deleted when it does later', async () => {
    const { store, p, session, sent, target, delivery, stored, file, groupSettled } = await setup();
    try {
      const before = txnid(file);
      const d = delivery(1);
      p.sent(session, d);
      p.acknowledge(target, PacketType.PUBACK, 9, 0);
      await groupSettled(); // after the 2 ms wait the group is written
      expect(sent).toEqual(['PUBACK 9']);
      expect(txnid(file)).toBeGreaterThan(before);
      expect(await stored()).toBe(1);
      p.completed(session, d);
      await store.commit();
      expect(await stored()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('QoS 2 and queued (offline) deliveries are written before the ack, whatever follows', async () => {
    const { store, p, session, sent, target, delivery, file, groupSettled } = await setup();
    try {
      const before = txnid(file);
      const q2 = delivery(2);
      p.sent(session, q2);
      const queued = delivery(1);
      queued.packetId = 0;
      p.queued(session, queued);
      p.acknowledge(target, PacketType.PUBACK, 9, 0);
      p.completed(session, q2);
      await groupSettled();
      expect(sent).toEqual(['PUBACK 9']);
      expect(txnid(file)).toBeGreaterThan(before);
    } finally {
      await store.close();
    }
  });
});
