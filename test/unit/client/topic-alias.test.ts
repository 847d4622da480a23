import { describe, it, expect } from '@jest/globals';
import { MqttProtocolError, PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import { IncomingTopicAliases, OutgoingTopicAliases } from '../../../lib/client/topic-alias.js';

function pub(topic: string, topicAlias?: number): PublishPacket {
  return {
    type: PacketType.PUBLISH, topic, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false,
    properties: topicAlias === undefined ? undefined : { topicAlias },
  };
}

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return (e as MqttProtocolError).reasonCode;
  }
  return undefined;
}

describe('OutgoingTopicAliases', () => {
  it('leaves packets alone when automatic aliases are off', () => {
    const a = new OutgoingTopicAliases(10, false);
    const p = pub('a/b');
    expect(a.apply(p)).toBe(p);
  });

  it('assigns an alias with the topic first, then sends the alias alone', () => {
    const a = new OutgoingTopicAliases(2, true);
    const first = a.apply(pub('a'));
    expect([first.topic, first.properties?.topicAlias]).toEqual(['a', 1]);
    const again = a.apply(pub('a'));
    expect([again.topic, again.properties?.topicAlias]).toEqual(['', 1]);
  });

  it('replaces the least recently used alias when all are taken', () => {
    const a = new OutgoingTopicAliases(2, true);
    a.apply(pub('a')); // 1
    a.apply(pub('b')); // 2
    a.apply(pub('a')); // refresh a
    const c = a.apply(pub('c'));
    expect([c.topic, c.properties?.topicAlias]).toEqual(['c', 2]); // b was least recently used
    const b = a.apply(pub('b'));
    expect([b.topic, b.properties?.topicAlias]).toEqual(['b', 1]); // now a is
    expect(a.resolveTopic(1)).toBe('b');
    expect(a.resolveTopic(2)).toBe('c');
  });

  it('honours an alias the application sets and omits the topic once the server knows it', () => {
    const a = new OutgoingTopicAliases(5, false);
    const first = a.apply(pub('x/y', 3));
    expect([first.topic, first.properties?.topicAlias]).toEqual(['x/y', 3]);
    const second = a.apply(pub('x/y', 3));
    expect([second.topic, second.properties?.topicAlias]).toEqual(['', 3]);
    // Redefining alias 3 for another topic sends the topic again.
    expect(a.apply(pub('z', 3)).topic).toBe('z');
    expect(a.resolveTopic(3)).toBe('z');
  });

  it('refuses aliases the server does not allow (0x94)', () => {
    expect(codeOf(() => new OutgoingTopicAliases(0, false).apply(pub('a', 1)))).toBe(0x94);
    expect(codeOf(() => new OutgoingTopicAliases(2, false).apply(pub('a', 3)))).toBe(0x94);
    expect(codeOf(() => new OutgoingTopicAliases(2, false).resolveTopic(1))).toBe(0x94);
  });
});

describe('IncomingTopicAliases', () => {
  it('records a topic and fills it in for later alias-only packets', () => {
    const a = new IncomingTopicAliases(4);
    a.resolve(pub('s/t', 2), 2);
    const p = pub('', 2);
    a.resolve(p, 2);
    expect(p.topic).toBe('s/t');
  });

  it('rejects an unknown alias or one above our maximum with 0x94', () => {
    const a = new IncomingTopicAliases(4);
    expect(codeOf(() => a.resolve(pub('', 1), 1))).toBe(0x94);
    expect(codeOf(() => a.resolve(pub('x', 5), 5))).toBe(0x94);
    expect(codeOf(() => new IncomingTopicAliases(0).resolve(pub('x', 1), 1))).toBe(0x94);
  });
});
