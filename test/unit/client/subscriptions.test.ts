import { describe, it, expect } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import { MessageReceiver, type MqttMessage } from '../../../lib/client/receiver.js';
import { SubscriptionRegistry, type DeliveryHost } from '../../../lib/client/subscriptions.js';

function msg(topic: string, subscriptionIdentifier?: number | number[]): PublishPacket {
  return {
    type: PacketType.PUBLISH, topic, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false,
    properties: subscriptionIdentifier === undefined ? undefined : { subscriptionIdentifier },
  };
}

function host(): DeliveryHost & { full: MessageReceiver[]; failures: unknown[] } {
  const h = {
    full: [] as MessageReceiver[],
    failures: [] as unknown[],
    receiverFull(r: MessageReceiver) {
      h.full.push(r);
    },
    handlerFailed(e: unknown) {
      h.failures.push(e);
    },
  };
  return h;
}

const group = (identifier?: number) => ({ identifier, userProperties: undefined });

describe('SubscriptionRegistry', () => {
  it('routes by filter matching, to every matching handler of overlapping filters', () => {
    const reg = new SubscriptionRegistry(host());
    const a: string[] = [];
    const b: string[] = [];
    reg.add([{ topicFilter: 'x/#', qos: 0 }], group(), (m) => void a.push(m.topic));
    reg.add([{ topicFilter: 'x/+', qos: 0 }], group(), (m) => void b.push(m.topic));
    expect(reg.dispatch(msg('x/1'))).toBe(2);
    expect(reg.dispatch(msg('x/1/2'))).toBe(1);
    expect(reg.dispatch(msg('y'))).toBe(0);
    expect(a).toEqual(['x/1', 'x/1/2']);
    expect(b).toEqual(['x/1']);
  });

  it('delivers once to a handler whose several filters match', () => {
    const reg = new SubscriptionRegistry(host());
    const seen: string[] = [];
    const h = (m: MqttMessage): void => void seen.push(m.topic);
    reg.add([{ topicFilter: 'a/#', qos: 0 }, { topicFilter: 'a/b', qos: 1 }, { topicFilter: '+/b', qos: 1 }], group(), h);
    const other: string[] = [];
    reg.add([{ topicFilter: '#', qos: 0 }], group(), (m) => void other.push(m.topic));
    expect(reg.dispatch(msg('a/b'))).toBe(2);
    expect(seen).toEqual(['a/b']);
    expect(other).toEqual(['a/b']);
  });

  it('routes by subscription identifier when the message carries one we know', () => {
    const reg = new SubscriptionRegistry(host());
    const one: string[] = [];
    const two: string[] = [];
    reg.add([{ topicFilter: 'a/#', qos: 0 }], group(1), (m) => void one.push(m.topic));
    reg.add([{ topicFilter: 'a/+', qos: 0 }], group(2), (m) => void two.push(m.topic));
    reg.dispatch(msg('a/b', 2));
    expect([one, two]).toEqual([[], ['a/b']]);
    reg.dispatch(msg('a/c', [1, 2]));
    expect([one, two]).toEqual([['a/c'], ['a/b', 'a/c']]);
    // Unknown identifier: falls back to filter matching.
    reg.dispatch(msg('a/d', 99));
    expect([one, two]).toEqual([['a/c', 'a/d'], ['a/b', 'a/c', 'a/d']]);
  });

  it('matches shared subscriptions on the filter after $share/<group>/', () => {
    const reg = new SubscriptionRegistry(host());
    const seen: string[] = [];
    reg.add([{ topicFilter: '$share/g/jobs/+', qos: 1 }], group(), (m) => void seen.push(m.topic));
    reg.dispatch(msg('jobs/1'));
    reg.dispatch(msg('other/1'));
    expect(seen).toEqual(['jobs/1']);
  });

  it('tells the host when a receiver is full', () => {
    const h = host();
    const reg = new SubscriptionRegistry(h);
    const r = new MessageReceiver({ capacity: 2 });
    reg.add([{ topicFilter: 't', qos: 0 }], group(), r);
    reg.dispatch(msg('t'));
    expect(h.full).toEqual([]);
    reg.dispatch(msg('t'));
    expect(h.full).toEqual([r]);
  });

  it('reports a throwing or rejecting handler and keeps delivering to the others', async () => {
    const h = host();
    const reg = new SubscriptionRegistry(h);
    const boom = new Error('boom');
    const later = new Error('later');
    const seen: string[] = [];
    reg.add([{ topicFilter: 'a', qos: 0 }], group(), () => {
      throw boom;
    });
    reg.add([{ topicFilter: '#', qos: 0 }], group(), () => Promise.reject(later));
    reg.add([{ topicFilter: '+', qos: 0 }], group(), (m) => void seen.push(m.topic));
    reg.dispatch(msg('a'));
    await Promise.resolve();
    await Promise.resolve();
    expect(h.failures).toEqual([boom, later]);
    expect(seen).toEqual(['a']);
  });

  it('replaces a subscription to the same filter, forgets refused and removed ones', () => {
    const reg = new SubscriptionRegistry(host());
    const first: string[] = [];
    const second: string[] = [];
    reg.add([{ topicFilter: 't', qos: 0 }], group(), (m) => void first.push(m.topic));
    const [entry] = reg.add([{ topicFilter: 't', qos: 1 }], group(), (m) => void second.push(m.topic));
    reg.dispatch(msg('t'));
    expect([first, second]).toEqual([[], ['t']]);
    expect(reg.size).toBe(1);
    reg.granted(entry!, 0x01);
    expect(reg.get('t')!.state).toBe('active');
    reg.granted(entry!, 0x87);
    expect(reg.size).toBe(0);
    reg.add([{ topicFilter: 'u', qos: 0 }], group(), () => undefined);
    expect(reg.remove('u')).toBe(true);
    expect(reg.remove('u')).toBe(false);
  });
});
