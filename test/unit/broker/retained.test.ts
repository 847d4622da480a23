import { describe, expect, it } from '@jest/globals';
import { MemoryRetainedStore } from '../../../lib/broker/retained.js';
import type { RetainedMessage } from '../../../lib/broker/store.js';

const m = (topic: string, payload = topic): RetainedMessage => ({ topic, payload: Buffer.from(payload), qos: 0, retain: true, properties: undefined, expiresAt: 0 });
const topics = (s: MemoryRetainedStore, filter: string): string[] => {
  const out: string[] = [];
  s.match(filter, (r) => out.push(r.topic));
  return out.sort();
};

describe('MemoryRetainedStore', () => {
  it('stores one message per topic, replaces it, deletes it', () => {
    const s = new MemoryRetainedStore();
    s.set(m('a/b', '1'));
    s.set(m('a/b', '2'));
    expect(s.size).toBe(1);
    expect(s.get('a/b')?.payload.toString()).toBe('2');
    expect(s.delete('a/b')).toBe(true);
    expect(s.delete('a/b')).toBe(false);
    expect(s.get('a/b')).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('matches literal, + and # filters; # includes the parent level', () => {
    const s = new MemoryRetainedStore();
    for (const t of ['a', 'a/b', 'a/b/c', 'a/x/c', 'b', '/', '/y']) s.set(m(t));
    expect(topics(s, 'a/b')).toEqual(['a/b']);
    expect(topics(s, 'a/+/c')).toEqual(['a/b/c', 'a/x/c']);
    expect(topics(s, 'a/#')).toEqual(['a', 'a/b', 'a/b/c', 'a/x/c']);
    expect(topics(s, '+')).toEqual(['a', 'b']);
    expect(topics(s, '+/+')).toEqual(['/', '/y', 'a/b']);
    expect(topics(s, '#')).toEqual(['/', '/y', 'a', 'a/b', 'a/b/c', 'a/x/c', 'b']);
    expect(topics(s, 'nothing/#')).toEqual([]);
  });

  it('keeps $-topics from filters starting with a wildcard', () => {
    const s = new MemoryRetainedStore();
    s.set(m('$SYS/a'));
    s.set(m('sys/a'));
    expect(topics(s, '#')).toEqual(['sys/a']);
    expect(topics(s, '+/a')).toEqual(['sys/a']);
    expect(topics(s, '$SYS/#')).toEqual(['$SYS/a']);
    expect(topics(s, '$SYS/+')).toEqual(['$SYS/a']);
  });

  it('prunes emptied branches but keeps ancestors still in use', () => {
    const s = new MemoryRetainedStore();
    s.set(m('a'));
    s.set(m('a/b/c'));
    s.delete('a/b/c');
    expect(topics(s, '#')).toEqual(['a']);
    const root = (s as unknown as { root: { children: Map<string, { children: Map<string, unknown> | null }> } }).root;
    expect(root.children.get('a')!.children?.size ?? 0).toBe(0);
  });

  it('handles thousands of levels without recursion', () => {
    const s = new MemoryRetainedStore();
    const deep = Array.from({ length: 10_000 }, (_, i) => `l${i % 7}`).join('/');
    s.set(m(deep));
    expect(topics(s, '#')).toHaveLength(1);
  });
});
