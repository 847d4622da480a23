/**
 * DurableRetainedStore (retained messages read from the data file on demand): a seeded differential
 * test against MemoryRetainedStore over random sets, deletes and group commits — messages in the
 * overlay, in the file, overwritten or deleted in the overlay over a committed one — plus the count
 * across a reopen, memory-only ($SYS) entries, and a failed store keeping the overlay.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Message } from '../../../../lib/broker/message.js';
import { MemoryRetainedStore } from '../../../../lib/broker/retained.js';
import type { RetainedMessage, RetainedStore } from '../../../../lib/broker/store.js';
import { DurableRetainedStore } from '../../../../lib/broker/store/durable-retained.js';
import { DurableBrokerStore } from '../../../../lib/broker/store/index.js';
import { Persistence } from '../../../../lib/broker/store/persistence.js';

const dirs: string[] = [];
const stores: DurableBrokerStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dir?: string) {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'nest-mqtt5-dretained-'));
  if (dir === undefined) dirs.push(d);
  const store = DurableBrokerStore.open({ dir: d, sync: 'periodic' });
  stores.push(store);
  const persistence = new Persistence(store, () => undefined);
  const retained = new DurableRetainedStore(store);
  persistence.retained = retained;
  return {
    dir: d,
    store,
    retained,
    /** What the broker core does for a retained PUBLISH. */
    set(topic: string, payload: string): void {
      const msg = new Message(topic, Buffer.from(payload), 1, true, undefined, null, 0);
      retained.set(msg);
      persistence.retainedChanged(topic, msg);
    },
    delete(topic: string): void {
      retained.delete(topic);
      persistence.retainedChanged(topic, null);
    },
    async commit(): Promise<void> {
      await store.commit();
      await new Promise((r) => setImmediate(r));
    },
    overlaySize: (): number => (retained as unknown as { overlay: Map<string, unknown> }).overlay.size,
  };
}

const listing = (s: RetainedStore, filter: string): string[] => {
  const out: string[] = [];
  s.match(filter, (r: RetainedMessage) => out.push(`${r.topic}=${Buffer.from(r.payload).toString()}`));
  return out.sort();
};

const FILTERS = ['#', '+', '+/+', '+/+/+', 'a', 'a/#', 'a/+', 'a/+/c', '+/b/#', '/#', '/+', '$SYS/#', '$SYS/+', '+/#', 'a/b/c', 'b/#', 'a/b/#', '$x', 'é/#'];
const LEVELS = ['a', 'b', 'c', '', '$SYS', '$x', 'é', 'ab'];

describe('DurableRetainedStore', () => {
  it('matches exactly like the in-memory store across random sets, deletes and commits (seeded)', async () => {
    const seed = Number(process.env.RETAINED_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`retained differential seed ${seed} (RETAINED_SEED=${seed} replays it)`);
    let s = seed;
    const rnd = (n: number): number => {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      return s % n;
    };
    const d = open();
    const mem = new MemoryRetainedStore();
    for (let round = 0; round < 40; round++) {
      const ops = 1 + rnd(30);
      for (let i = 0; i < ops; i++) {
        const depth = 1 + rnd(3);
        const topic = Array.from({ length: depth }, (_, k) => LEVELS[rnd(LEVELS.length)]!)
          .map((l, k) => (k > 0 && l.startsWith('$') ? 'c' : l))
          .join('/');
        if (rnd(4) === 0) {
          expect(d.retained.delete(topic)).toBe(mem.delete(topic));
          d.delete(topic);
        } else {
          const payload = `${round}.${i}`;
          mem.set({ topic, payload: Buffer.from(payload), qos: 1, retain: true, properties: undefined, expiresAt: 0 });
          d.set(topic, payload);
        }
      }
      if (rnd(3) !== 0) await d.commit();
      expect(d.retained.size).toBe(mem.size);
      for (const f of FILTERS) expect([f, listing(d.retained, f)]).toEqual([f, listing(mem, f)]);
    }
    await d.commit();
    expect(d.overlaySize()).toBe(0); // everything committed is read from the file now
    for (const f of FILTERS) expect([f, listing(d.retained, f)]).toEqual([f, listing(mem, f)]);
  });

  it('counts what the file holds after a reopen, and reads it without loading it', async () => {
    const d = open();
    for (let i = 0; i < 50; i++) d.set(`t/${i}`, `v${i}`);
    d.delete('t/7');
    await d.commit();
    await d.store.close();
    stores.splice(stores.indexOf(d.store), 1);
    const again = open(d.dir);
    expect(again.retained.size).toBe(49);
    expect(again.retained.get('t/7')).toBeUndefined();
    const read = again.retained.get('t/8');
    expect(Buffer.isBuffer(read?.payload)).toBe(true); // the broker encodes it as a Buffer
    expect(read?.payload.toString()).toBe('v8');
    expect(listing(again.retained, 't/+')).toHaveLength(49);
    expect(again.overlaySize()).toBe(0);
  });

  it('keeps messages that are never stored ($SYS statistics) in memory across commits', async () => {
    const d = open();
    d.retained.set(new Message('$SYS/broker/uptime', Buffer.from('5'), 0, true, undefined, null, 0));
    d.set('a', '1');
    await d.commit();
    expect(d.overlaySize()).toBe(1);
    expect(listing(d.retained, '$SYS/#')).toEqual(['$SYS/broker/uptime=5']);
    expect(d.retained.size).toBe(2);
  });

  it('a value replaced before its commit settled stays in the overlay until its own commit', async () => {
    const d = open();
    d.set('a', '1');
    const first = d.store.commit();
    await first;
    d.set('a', '2');
    d.delete('a');
    expect(d.retained.get('a')).toBeUndefined();
    expect(listing(d.retained, '#')).toEqual([]);
    await d.commit();
    expect(d.retained.get('a')).toBeUndefined();
    expect(d.overlaySize()).toBe(0);
    expect(d.retained.size).toBe(0);
  });
});
