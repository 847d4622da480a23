/**
 * DurableSessionStore on a real store directory: what a restarted process finds after each kind of
 * change (queued, in flight, PUBREC'd, completed, abandoned), and the client-id check.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType, type PublishPacket, type QoS } from '../../../lib/codec/index.js';
import { DurableSessionStore } from '../../../lib/client/durable-store.js';
import type { OutgoingMessage } from '../../../lib/client/session.js';

const dirs: string[] = [];
const stores: DurableSessionStore[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nest-mqtt5-cstore-'));
  dirs.push(d);
  return d;
}
function open(dir: string, clientId = 'c1'): DurableSessionStore {
  const s = DurableSessionStore.open({ dir, clientId });
  stores.push(s);
  return s;
}
async function reopen(s: DurableSessionStore, dir: string): Promise<DurableSessionStore> {
  await s.close();
  return open(dir);
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function msg(n: number, qos: QoS = 1): OutgoingMessage {
  const packet: PublishPacket = {
    type: PacketType.PUBLISH,
    topic: `t/${n}`,
    payload: Buffer.from(`p${n}`),
    qos,
    retain: n % 2 === 0,
    dup: false,
    properties: { userProperties: [['n', String(n)]], messageExpiryInterval: 60 },
  } as PublishPacket;
  return { packet, state: 'queued', sent: false };
}
const payloads = (it: Iterable<OutgoingMessage>): string[] => [...it].map((m) => m.packet.payload.toString());
function drainPending(s: DurableSessionStore): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (let m = s.shiftPending(); m !== undefined; m = s.shiftPending()) out.push(m);
  return out;
}
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DurableSessionStore', () => {
  it('restores queued publishes in order, without QoS 0', async () => {
    const dir = tempDir();
    let s = open(dir);
    s.pushPending(msg(1));
    s.pushPending(msg(2, 0));
    s.pushPending(msg(3, 2));
    s = await reopen(s, dir);
    expect(s.pendingCount).toBe(2);
    expect(s.restored.map((m) => m.packet.topic)).toEqual(['t/1', 't/3']);
    const restored = drainPending(s);
    expect(payloads(restored)).toEqual(['p1', 'p3']);
    expect(restored[1]!.packet).toMatchObject({ topic: 't/3', qos: 2, retain: false, properties: { userProperties: [['n', '3']], messageExpiryInterval: 60 } });
    expect(Buffer.isBuffer(restored[0]!.packet.payload)).toBe(true);
    expect(restored[0]!.resolve).toBeUndefined();
  });

  it('restores in-flight messages with packet id and state, in first-sent order', async () => {
    const dir = tempDir();
    let s = open(dir);
    const a = msg(1, 2);
    const b = msg(2, 1);
    s.pushPending(a);
    s.pushPending(b);
    // Sent in the same turn as shifted: same record, now with its packet id.
    for (const [m, id] of [[s.shiftPending()!, 7], [s.shiftPending()!, 3]] as const) {
      m.packet.packetId = id;
      m.state = 'publish';
      s.setInflight(m);
    }
    a.state = 'pubrel';
    s.setInflight(a);
    await turn();
    s = await reopen(s, dir);
    expect(s.pendingCount).toBe(0);
    expect([...s.inflight()].map((m) => [m.packet.packetId, m.state, m.packet.payload.toString()])).toEqual([
      [7, 'pubrel', 'p1'],
      [3, 'publish', 'p2'],
    ]);
    expect(s.getInflight(3)?.packet.topic).toBe('t/2');
    expect(s.deleteInflight(7)).toBe(true);
    expect(s.deleteInflight(7)).toBe(false);
    s = await reopen(s, dir);
    expect([...s.inflight()].map((m) => m.packet.packetId)).toEqual([3]);
  });

  it('keeps a shifted publish until the end of the turn, then forgets it unless it went in flight', async () => {
    const dir = tempDir();
    let s = open(dir);
    s.pushPending(msg(1));
    s.pushPending(msg(2));
    const rejected = s.shiftPending()!;
    expect(rejected.packet.topic).toBe('t/1');
    await turn();
    s = await reopen(s, dir);
    expect(payloads(drainPending(s))).toEqual(['p2']);
  });

  it('remembers inbound QoS 2 ids until PUBREL, and clearIncoming/clear forget everything', async () => {
    const dir = tempDir();
    let s = open(dir);
    s.addIncoming(1);
    s.addIncoming(65535);
    s.addIncoming(9);
    expect(s.deleteIncoming(9)).toBe(true);
    s = await reopen(s, dir);
    expect([s.hasIncoming(1), s.hasIncoming(65535), s.hasIncoming(9), s.incomingCount]).toEqual([true, true, false, 2]);
    s.clearIncoming();
    s.pushPending(msg(5));
    s = await reopen(s, dir);
    expect([s.incomingCount, s.pendingCount]).toEqual([0, 1]);
    s.addIncoming(4);
    s.clear();
    s = await reopen(s, dir);
    expect([s.incomingCount, s.pendingCount, s.inflightCount]).toEqual([0, 0, 0]);
  });

  it('continues sequence numbers after a restart so new publishes go after restored ones', async () => {
    const dir = tempDir();
    let s = open(dir);
    s.pushPending(msg(1));
    s.pushPending(msg(2));
    s = await reopen(s, dir);
    s.pushPending(msg(3));
    s = await reopen(s, dir);
    expect(payloads(drainPending(s))).toEqual(['p1', 'p2', 'p3']);
  });

  it('refuses a directory of another client id (STORE_OPEN_FAILED)', async () => {
    const dir = tempDir();
    await open(dir, 'alpha').close();
    expect(() => open(dir, 'beta')).toThrow(expect.objectContaining({ code: 'STORE_OPEN_FAILED', path: dir }));
  });
});
