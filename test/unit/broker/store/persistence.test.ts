/**
 * The broker's write-through bookkeeping (lib/broker/store/persistence.ts) against a store whose group
 * commits the test settles by hand: acks and held connections wait for the group that was newest when
 * they were queued, in order, also when a second group forms while the first is still being synced;
 * a failed group refuses its acks with the store's reason code. And which packets a connection holds.
 */
import { describe, expect, it } from '@jest/globals';
import { PacketType } from '../../../../lib/codec/index.js';
import { MemoryBrokerStore } from '../../../../lib/broker/store/index.js';
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
