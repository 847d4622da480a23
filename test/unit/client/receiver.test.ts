import { describe, it, expect } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import { MessageReceiver } from '../../../lib/client/receiver.js';
import { ReceiverClosedError } from '../../../lib/client/errors.js';

function msg(n: number): PublishPacket {
  return { type: PacketType.PUBLISH, topic: `t/${n}`, payload: Buffer.from(String(n)), qos: 0, retain: false, dup: false };
}

describe('MessageReceiver', () => {
  it('returns queued messages in order, then waits for the next', async () => {
    const r = new MessageReceiver();
    r.push(msg(1));
    r.push(msg(2));
    expect((await r.recv()).topic).toBe('t/1');
    expect((await r.recv()).topic).toBe('t/2');
    const pending = r.recv();
    r.push(msg(3));
    expect((await pending).topic).toBe('t/3');
    expect(r.size).toBe(0);
  });

  it('tryRecv never waits', () => {
    const r = new MessageReceiver();
    expect(r.tryRecv()).toBeUndefined();
    r.push(msg(1));
    expect(r.tryRecv()?.topic).toBe('t/1');
  });

  it('reports full at capacity and keeps accepting (soft bound for one network read)', () => {
    const r = new MessageReceiver({ capacity: 3 });
    expect(r.push(msg(1))).toBe(true);
    expect(r.push(msg(2))).toBe(true);
    expect(r.push(msg(3))).toBe(false);
    expect(r.push(msg(4))).toBe(false);
    expect(r.size).toBe(4);
  });

  it('hands a message straight to a waiting reader without queueing it', async () => {
    const r = new MessageReceiver({ capacity: 1 });
    const p = r.recv();
    expect(r.push(msg(1))).toBe(true);
    expect(r.size).toBe(0);
    expect((await p).topic).toBe('t/1');
  });

  it('calls drain listeners once the queue falls to the low-water mark', async () => {
    const r = new MessageReceiver({ capacity: 4, lowWaterMark: 1 });
    for (let i = 0; i < 4; i++) r.push(msg(i));
    const drained: number[] = [];
    r.onDrain(() => drained.push(r.size));
    await r.recv(); // 3 left
    await r.recv(); // 2 left
    expect(drained).toEqual([]);
    await r.recv(); // 1 left: low water
    expect(drained).toEqual([1]);
    await r.recv();
    expect(drained).toEqual([1]); // once only
  });

  it('calls a drain listener at once when already below the low-water mark', () => {
    const r = new MessageReceiver({ capacity: 4 });
    let called = false;
    r.onDrain(() => (called = true));
    expect(called).toBe(true);
  });

  it('offDrain removes a listener', async () => {
    const r = new MessageReceiver({ capacity: 2, lowWaterMark: 0 });
    r.push(msg(1));
    r.push(msg(2));
    let called = false;
    const l = (): void => {
      called = true;
    };
    r.onDrain(l);
    r.offDrain(l);
    await r.recv();
    await r.recv();
    expect(called).toBe(false);
  });

  it('iterates with for await and ends after close once drained', async () => {
    const r = new MessageReceiver();
    r.push(msg(1));
    r.push(msg(2));
    r.close();
    const seen: string[] = [];
    for await (const m of r) seen.push(m.topic);
    expect(seen).toEqual(['t/1', 't/2']);
  });

  it('ends a waiting iteration when closed', async () => {
    const r = new MessageReceiver();
    const it = r[Symbol.asyncIterator]();
    const next = it.next();
    r.close();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
  });

  it('rejects recv() with the close reason once closed and empty', async () => {
    const r = new MessageReceiver();
    const waiting = r.recv();
    const reason = new ReceiverClosedError('gone');
    r.close(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(r.recv()).rejects.toBe(reason);
    expect(r.closed).toBe(true);
  });

  it('drops messages after close and releases drain listeners', () => {
    const r = new MessageReceiver({ capacity: 1 });
    r.push(msg(1));
    let drained = false;
    r.onDrain(() => (drained = true));
    r.close();
    expect(drained).toBe(true);
    expect(r.push(msg(2))).toBe(true);
    expect(r.size).toBe(1);
  });

  it('closes when a for-await loop is left early', async () => {
    const r = new MessageReceiver();
    r.push(msg(1));
    r.push(msg(2));
    for await (const m of r) {
      expect(m.topic).toBe('t/1');
      break;
    }
    expect(r.closed).toBe(true);
  });

  it('keeps order across internal growth', async () => {
    const r = new MessageReceiver({ capacity: 100_000 });
    for (let i = 0; i < 5000; i++) r.push(msg(i));
    for (let i = 0; i < 5000; i++) expect(r.tryRecv()?.topic).toBe(`t/${i}`);
  });

  it('validates its options', () => {
    expect(() => new MessageReceiver({ capacity: 0 })).toThrow(RangeError);
    expect(() => new MessageReceiver({ capacity: 4, lowWaterMark: 4 })).toThrow(RangeError);
  });
});
