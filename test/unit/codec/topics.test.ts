import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import {
  MqttProtocolError,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '../../../lib/codec/index.js';

function reasonOf(fn: () => unknown): number | string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return e instanceof MqttProtocolError ? e.reasonCode : `not an MqttProtocolError: ${String(e)}`;
  }
}

describe('topic names', () => {
  it.each(['a', 'a/b', '/', '//', '/a', 'a/', ' ', '$SYS/broker/uptime', 'häuser/🏠', 'a'.repeat(65535), '$share/g/a'])('valid: %s', (t) => {
    expect(isValidTopicName(t)).toBe(true);
    expect(() => validateTopicName(t)).not.toThrow();
  });

  it.each(['', 'a/+', '+', 'a/#', '#', 'a+b', 'a\0b', 'a\ud800', '\udc00b', 'é'.repeat(32768)])('invalid: %j → 0x90', (t) => {
    expect(isValidTopicName(t)).toBe(false);
    expect(reasonOf(() => validateTopicName(t))).toBe(0x90);
  });

  it('refuses non-strings', () => {
    expect(isValidTopicName(5 as unknown as string)).toBe(false);
    expect(isValidTopicName(undefined as unknown as string)).toBe(false);
  });
});

describe('topic filters', () => {
  it.each([
    'a', 'a/b', '#', '+', '+/+', 'a/+/c', 'a/#', '/#', '+/#', '/', '$SYS/#', 'a//b', '$share/g/a', '$share/g/#', '$share/g/+/b',
    '$share/group-1//', '$share', '$sharex/a', 'a/$share/g',
  ])('valid: %s', (f) => {
    expect(isValidTopicFilter(f)).toBe(true);
    expect(() => validateTopicFilter(f)).not.toThrow();
  });

  it.each([
    '', 'a#', 'a/#/b', '#/a', 'a/b#', '##', 'a+', '+a', 'a/+b', 'a/b+/c', 'a\0', 'a\ud800',
    '$share/', '$share//a', '$share/g', '$share/g/', '$share/g+/a', '$share/#/a', '$share/g/a#',
  ])('invalid: %j → 0x8F', (f) => {
    expect(isValidTopicFilter(f)).toBe(false);
    expect(reasonOf(() => validateTopicFilter(f))).toBe(0x8f);
  });
});

describe('shared subscriptions', () => {
  it('splits $share/<group>/<filter>', () => {
    expect(parseSharedSubscription('$share/g/a/b')).toEqual({ group: 'g', filter: 'a/b' });
    expect(parseSharedSubscription('$share/consumers/#')).toEqual({ group: 'consumers', filter: '#' });
    expect(parseSharedSubscription('$share/g//')).toEqual({ group: 'g', filter: '/' });
    expect(parseSharedSubscription('$share/g/$SYS/x')).toEqual({ group: 'g', filter: '$SYS/x' });
  });

  it('returns undefined for a filter that is not shared', () => {
    expect(parseSharedSubscription('a/b')).toBeUndefined();
    expect(parseSharedSubscription('$share')).toBeUndefined();
    expect(parseSharedSubscription('$SYS/#')).toBeUndefined();
  });

  it.each(['$share/', '$share//a', '$share/g', '$share/g/', '$share/g+/a', '$share/g/a/#/b'])('throws 0x8F for %j', (f) => {
    expect(reasonOf(() => parseSharedSubscription(f))).toBe(0x8f);
  });
});

describe('topicMatches', () => {
  it.each<[string, string, boolean]>([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/bc', false],
    ['a/bc', 'a/b', false],
    ['a/b', 'a', false],
    ['a', 'a/b', false],
    ['+', 'a', true],
    ['+', '', true],
    ['+', 'a/b', false],
    ['+', '/a', false],
    ['+/+', '/a', true],
    ['+/+', '/', true],
    ['/+', '/a', true],
    ['a/+', 'a/', true],
    ['a/+', 'a', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/+/c', 'a//c', true],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a/#', 'a', true],
    ['a/#', 'a/', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['a/b/#', 'a', false],
    ['+/#', 'a', true],
    ['+/b/#', 'a/b', true],
    ['/#', '/a', true],
    ['/#', 'a', false],
    ['a/', 'a/', true],
    ['a/', 'a', false],
    // $-topics are not matched by a leading wildcard (4.7.2) but are by an explicit $ level.
    ['#', '$SYS/uptime', false],
    ['+/uptime', '$SYS/uptime', false],
    ['$SYS/#', '$SYS/uptime', true],
    ['$SYS/+', '$SYS/uptime', true],
    ['a/#', 'a/$b', true],
    ['a/+', 'a/$b', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/+', 'sport/', true],
    ['sport/+', 'sport', false],
  ])('%j matches %j: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  /** Straightforward reference: split into levels. */
  function reference(filter: string, topic: string): boolean {
    if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
    const f = filter.split('/');
    const t = topic.split('/');
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length) return false;
      if (f[i] !== '+' && f[i] !== t[i]) return false;
    }
    return f.length === t.length;
  }

  it('agrees with a split-based reference on random filters and topics', () => {
    const level = fc.constantFrom('a', 'b', '', '$x', 'ab');
    const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
    const filter = fc
      .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 5 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'))
      .filter((f) => f.length > 0);
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        expect(isValidTopicFilter(f)).toBe(true);
        expect(topicMatches(f, t)).toBe(reference(f, t));
      }),
      { numRuns: 5000 },
    );
  });
});
