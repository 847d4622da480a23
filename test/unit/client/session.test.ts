import { describe, it, expect } from '@jest/globals';
import { PacketType, type PublishPacket, type QoS } from '../../../lib/codec/index.js';
import { ClientSession, MemorySessionStore, type OutgoingMessage } from '../../../lib/client/session.js';

function outgoing(packetId: number, qos: QoS, state: OutgoingMessage['state'] = 'publish'): OutgoingMessage {
  const packet: PublishPacket = {
    type: PacketType.PUBLISH, topic: `t/${packetId}`, payload: Buffer.alloc(0), qos, retain: false, dup: false, packetId,
  };
  return { packet, state, sent: true };
}

describe('ClientSession.allocatePacketId', () => {
  it('hands out 1, 2, 3 … and skips ids in flight or in use elsewhere', () => {
    const store = new MemorySessionStore();
    const s = new ClientSession(store);
    expect(s.allocatePacketId()).toBe(1);
    store.setInflight(outgoing(2, 1));
    expect(s.allocatePacketId((id) => id === 3)).toBe(4);
  });

  it('wraps from 65535 to 1', () => {
    const s = new ClientSession(new MemorySessionStore());
    let id = 0;
    for (let i = 0; i < 65535; i++) id = s.allocatePacketId()!;
    expect(id).toBe(65535);
    expect(s.allocatePacketId()).toBe(1);
  });

  it('returns undefined when every id is taken', () => {
    const store = new MemorySessionStore();
    const s = new ClientSession(store);
    expect(s.allocatePacketId(() => true)).toBeUndefined();
  });
});

describe('ClientSession.prepareResend', () => {
  function fill(): { store: MemorySessionStore; session: ClientSession; msgs: OutgoingMessage[] } {
    const store = new MemorySessionStore();
    const msgs = [outgoing(7, 1), outgoing(3, 2), outgoing(9, 2, 'pubrel')];
    for (const m of msgs) store.setInflight(m);
    store.addIncoming(42);
    return { store, session: new ClientSession(store), msgs };
  }

  it('with session present: keeps states, sets DUP on PUBLISH re-sends, keeps inbound ids, in original order', () => {
    const { store, session } = fill();
    const plan = session.prepareResend(true);
    expect(plan.map((m) => [m.packet.packetId, m.state, m.packet.dup, m.sent])).toEqual([
      [7, 'publish', true, false],
      [3, 'publish', true, false],
      [9, 'pubrel', false, false],
    ]);
    expect(store.hasIncoming(42)).toBe(true);
  });

  it('without session: restarts every flow from a fresh PUBLISH (DUP 0) and forgets inbound ids', () => {
    const { store, session } = fill();
    store.getInflight(7)!.packet.dup = true; // from an earlier re-send
    const plan = session.prepareResend(false);
    expect(plan.map((m) => [m.packet.packetId, m.state, m.packet.dup])).toEqual([
      [7, 'publish', false],
      [3, 'publish', false],
      [9, 'publish', false],
    ]);
    expect(store.getInflight(9)!.state).toBe('publish');
    expect(store.incomingCount).toBe(0);
  });
});

describe('MemorySessionStore', () => {
  it('keeps in-flight messages in first-insertion order across state updates', () => {
    const store = new MemorySessionStore();
    const a = outgoing(5, 2);
    const b = outgoing(1, 1);
    store.setInflight(a);
    store.setInflight(b);
    a.state = 'pubrel';
    store.setInflight(a);
    expect([...store.inflight()].map((m) => m.packet.packetId)).toEqual([5, 1]);
    expect(store.deleteInflight(5)).toBe(true);
    expect(store.deleteInflight(5)).toBe(false);
    expect(store.inflightCount).toBe(1);
  });

  it('is a FIFO for pending publishes, also across compaction', () => {
    const store = new MemorySessionStore();
    for (let i = 1; i <= 3000; i++) store.pushPending(outgoing(i, 0, 'queued'));
    for (let i = 1; i <= 2000; i++) expect(store.shiftPending()!.packet.packetId).toBe(i);
    for (let i = 3001; i <= 3500; i++) store.pushPending(outgoing(i, 0, 'queued'));
    expect(store.pendingCount).toBe(1500);
    expect(store.peekPending()!.packet.packetId).toBe(2001);
    for (let i = 2001; i <= 3500; i++) expect(store.shiftPending()!.packet.packetId).toBe(i);
    expect(store.shiftPending()).toBeUndefined();
    expect(store.pendingCount).toBe(0);
  });

  it('tracks inbound QoS 2 ids and clears everything', () => {
    const store = new MemorySessionStore();
    store.addIncoming(1);
    store.addIncoming(2);
    expect(store.deleteIncoming(1)).toBe(true);
    expect(store.deleteIncoming(1)).toBe(false);
    store.setInflight(outgoing(3, 1));
    store.pushPending(outgoing(4, 0, 'queued'));
    store.clear();
    expect([store.incomingCount, store.inflightCount, store.pendingCount]).toEqual([0, 0, 0]);
  });
});
