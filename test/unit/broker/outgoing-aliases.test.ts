/**
 * OutgoingAliases: the broker's topic aliases towards one client. Aliases stay within 1..max, a topic
 * keeps its alias while it is in use, a mapping counts only once committed, and a full table reuses the
 * alias of a topic not used since the clock hand last passed (a checked model: what the client would
 * resolve always equals the topic sent).
 */
import { describe, expect, it } from '@jest/globals';
import { OutgoingAliases } from '../../../lib/broker/outgoing-aliases.js';
import { Random } from '../../helpers/prng.js';

describe('OutgoingAliases', () => {
  it('hands out 1..max, then reuses one; an uncommitted lookup changes nothing', () => {
    const a = new OutgoingAliases(2);
    expect(a.lookup('x')).toBe(-1);
    expect(a.lookup('x')).toBe(-1); // not committed yet: still new
    a.commit();
    expect(a.lookup('x')).toBe(1);
    expect(a.lookup('y')).toBe(-2);
    a.commit();
    expect(a.lookup('y')).toBe(2);
    const z = a.lookup('z');
    expect([-1, -2]).toContain(z);
    a.commit();
    expect(a.lookup('z')).toBe(-z);
  });

  it('keeps a frequently used topic over one used once (clock)', () => {
    const a = new OutgoingAliases(2);
    a.lookup('hot');
    a.commit();
    a.lookup('cold');
    a.commit();
    // Both referenced: the hand clears both and takes alias 1; 'hot' used again, so next eviction spares it.
    a.lookup('new1');
    a.commit();
    expect(a.lookup('hot')).toBeLessThan(0);
    a.commit();
    expect(a.lookup('hot')).toBeGreaterThan(0);
  });

  it('model check: what the client resolves is always the topic sent (seeded)', () => {
    const seed = Random.seedFromEnv('ALIAS_SEED');
    const rnd = new Random(seed);
    const max = 5;
    const a = new OutgoingAliases(max);
    const client = new Map<number, string>();
    for (let i = 0; i < 20_000; i++) {
      const topic = `t/${rnd.int(12)}`;
      const r = a.lookup(topic);
      if (r > 0) {
        expect({ seed, i, resolved: client.get(r) }).toEqual({ seed, i, resolved: topic });
      } else {
        expect(-r).toBeGreaterThanOrEqual(1);
        expect(-r).toBeLessThanOrEqual(max);
        // Dropped (too large) now and then: the client never learns the mapping.
        if (rnd.chance(0.05)) continue;
        a.commit();
        client.set(-r, topic);
      }
    }
  });
});
