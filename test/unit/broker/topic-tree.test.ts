import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { topicMatches } from '../../../lib/codec/index.js';
import { TopicTree, type SubscriptionEntry, type SharedGroup, type SubscriptionOptions } from '../../../lib/broker/topic-tree.js';

const opts = (qos: 0 | 1 | 2 = 0): SubscriptionOptions => ({ qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: 0 });

function matches(tree: TopicTree<string>, topic: string): { owners: string[]; groups: string[] } {
  const out: SubscriptionEntry<string>[] = [];
  const groups: SharedGroup<string>[] = [];
  tree.match(topic, out, groups);
  return { owners: out.map((e) => `${e.owner}:${e.topicFilter}`).sort(), groups: groups.map((g) => `${g.name}:${g.filter}`).sort() };
}

describe('TopicTree', () => {
  it('matches literal, + and # filters', () => {
    const t = new TopicTree<string>();
    for (const f of ['a/b/c', 'a/+/c', 'a/#', '#', '+/+/+', 'a/b', 'x/#']) t.add(f, 's', opts());
    expect(matches(t, 'a/b/c').owners).toEqual(['s:#', 's:+/+/+', 's:a/#', 's:a/+/c', 's:a/b/c']);
    expect(matches(t, 'a/b').owners).toEqual(['s:#', 's:a/#', 's:a/b']);
    expect(matches(t, 'a').owners).toEqual(['s:#', 's:a/#']);
    expect(matches(t, 'x').owners).toEqual(['s:#', 's:x/#']);
  });

  it('does not match $-topics with a leading wildcard', () => {
    const t = new TopicTree<string>();
    for (const f of ['#', '+/info', '$SYS/#', '$SYS/+']) t.add(f, 's', opts());
    expect(matches(t, '$SYS/info').owners).toEqual(['s:$SYS/#', 's:$SYS/+']);
    expect(matches(t, 'sys/info').owners).toEqual(['s:#', 's:+/info']);
  });

  it('treats empty levels as levels', () => {
    const t = new TopicTree<string>();
    for (const f of ['/', '+/+', '/#', 'a//b']) t.add(f, 's', opts());
    expect(matches(t, '/').owners).toEqual(['s:+/+', 's:/', 's:/#']);
    expect(matches(t, 'a//b').owners).toEqual(['s:a//b']);
  });

  it('keeps one entry per owner and filter, updating its options in place', () => {
    const t = new TopicTree<string>();
    const first = t.add('a', 's', opts(0));
    const second = t.add('a', 's', opts(2));
    expect(first.existed).toBe(false);
    expect(second.existed).toBe(true);
    expect(second.entry).toBe(first.entry);
    expect(first.entry.qos).toBe(2);
    expect(t.size).toBe(1);
    t.add('a', 'other', opts());
    expect(t.size).toBe(2);
  });

  it('removes subscriptions and prunes empty branches', () => {
    const t = new TopicTree<string>();
    t.add('a/b/c', 's', opts());
    t.add('a/+', 's', opts());
    expect(t.remove('a/b/c', 's')).toBe(true);
    expect(t.remove('a/b/c', 's')).toBe(false);
    expect(t.remove('nope/x', 's')).toBe(false);
    expect(matches(t, 'a/b/c').owners).toEqual([]);
    expect(matches(t, 'a/b').owners).toEqual(['s:a/+']);
    expect(t.remove('a/+', 's')).toBe(true);
    expect(t.size).toBe(0);
    // The root holds nothing any more: its branches were pruned.
    expect((t as unknown as { root: { children: Map<string, unknown> | null } }).root.children?.size ?? 0).toBe(0);
  });

  it('groups shared subscriptions by share name and filter', () => {
    const t = new TopicTree<string>();
    t.add('$share/g/a/+', 's1', opts());
    t.add('$share/g/a/+', 's2', opts(1));
    t.add('$share/h/a/#', 's3', opts());
    t.add('a/b', 'plain', opts());
    const m = matches(t, 'a/b');
    expect(m.owners).toEqual(['plain:a/b']);
    expect(m.groups).toEqual(['g:a/+', 'h:a/#']);
    expect(t.size).toBe(4);
    expect(t.get('$share/g/a/+', 's2')?.qos).toBe(1);
    expect(t.remove('$share/g/a/+', 's1')).toBe(true);
    expect(t.remove('$share/g/a/+', 's2')).toBe(true);
    expect(matches(t, 'a/b').groups).toEqual(['h:a/#']);
  });

  it('picks shared members round robin, preferring available ones and skipping an excluded owner', () => {
    const t = new TopicTree<string>();
    for (const o of ['a', 'b', 'c']) t.add('$share/g/t', o, opts());
    const groups: SharedGroup<string>[] = [];
    t.match('t', [], groups);
    const g = groups[0]!;
    const all = (): boolean => true;
    expect([1, 2, 3, 4].map(() => g.pick(all)!.owner)).toEqual(['a', 'b', 'c', 'a']);
    const onlyC = (e: SubscriptionEntry<string>): boolean => e.owner === 'c';
    expect(g.pick(onlyC)!.owner).toBe('c');
    expect(g.pick(() => false, 'a')!.owner).toBe('b'); // none preferred: first other member
    const lone = new TopicTree<string>();
    lone.add('$share/g/t', 'x', opts());
    const lg: SharedGroup<string>[] = [];
    lone.match('t', [], lg);
    expect(lg[0]!.pick(all, 'x')).toBeUndefined();
  });

  it('matches deep topics without recursion limits', () => {
    const t = new TopicTree<string>();
    const deep = Array.from({ length: 20_000 }, () => '+').join('/');
    t.add(deep, 's', opts());
    const topic = Array.from({ length: 20_000 }, () => 'x').join('/');
    expect(matches(t, topic).owners).toHaveLength(1);
  });

  it('agrees with topicMatches on random filters and topics', () => {
    const level = fc.constantFrom('a', 'b', '', '$x');
    const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
    const filterLevel = fc.constantFrom('a', 'b', '', '$x', '+');
    const filterArb = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));
    fc.assert(
      fc.property(fc.uniqueArray(filterArb, { maxLength: 12 }), fc.array(topicArb, { minLength: 1, maxLength: 8 }), (filters, topics) => {
        const t = new TopicTree<string>();
        for (const f of filters) t.add(f, f, opts());
        for (const topic of topics) {
          const expected = filters.filter((f) => topicMatches(f, topic)).sort();
          const out: SubscriptionEntry<string>[] = [];
          t.match(topic, out, []);
          expect(out.map((e) => e.owner).sort()).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('matching cost does not grow with the number of subscriptions, only with the topic depth', () => {
    // Counted in trie nodes visited, not in time: exact, and immune to a busy machine.
    const visits = (subscriptions: number, topic: string): number => {
      const t = new TopicTree<number>();
      for (let i = 0; i < subscriptions; i++) t.add(`devices/${i}/temperature`, i, opts());
      t.add('devices/+/temperature', -1, opts());
      t.add('devices/#', -2, opts());
      const out: SubscriptionEntry<number>[] = [];
      t.match(topic, out, []);
      expect(out.map((e) => e.owner).sort((a, b) => a - b)).toEqual([-2, -1, 7]);
      return t.lastMatchVisits;
    };
    const small = visits(100, 'devices/7/temperature');
    const large = visits(50_000, 'devices/7/temperature');
    expect(large).toBe(small);
    // root, devices, 7 and + (two branches of level 2), temperature under each: a handful of nodes.
    expect(small).toBeLessThanOrEqual(6);
    // A deeper topic costs more: one literal branch more per level.
    const t = new TopicTree<number>();
    t.add('a/b/c/d/e/f', 1, opts());
    t.match('a/b/c/d/e/f', [], []);
    const deep = t.lastMatchVisits;
    t.match('a/b/c', [], []);
    expect(deep).toBeGreaterThan(t.lastMatchVisits);
  });
});
