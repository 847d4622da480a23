import { describe, it, expect, afterEach } from '@jest/globals';
import { MessageReceiver, SubscribeError, UnsubscribeError, type MqttMessage } from '../../../lib/client/index.js';
import { PUBACK, PUBLISH, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, connected, type Harness } from './setup.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function refusal(p: Promise<unknown>): Promise<SubscribeError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(SubscribeError);
  return e as SubscribeError;
}

describe('subscribe', () => {
  it('sends the subscription options and resolves with the SUBACK, refused filters included', async () => {
    h = await connected();
    const p = h.client.subscribe(
      {
        subscriptions: [
          { topicFilter: 'o/1', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
          { topicFilter: 'o/2', qos: 2, retainHandling: 1 },
        ],
        properties: { subscriptionIdentifier: 12, userProperties: [['u', 'v']] },
      },
      () => undefined,
    );
    const s = await h.conn.expect(SUBSCRIBE);
    expect(s.subscriptions).toEqual([
      { topicFilter: 'o/1', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      { topicFilter: 'o/2', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
    ]);
    expect(s.properties).toMatchObject({ subscriptionIdentifier: 12, userProperties: [['u', 'v']] });
    h.conn.send({ type: SUBACK, packetId: s.packetId, reasonCodes: [1, 0x87] });
    await expect(p).resolves.toMatchObject({ reasonCodes: [1, 0x87] });
  });

  it('refuses locally what the server does not support, and invalid input', async () => {
    h = await connected({
      properties: { wildcardSubscriptionAvailable: false, sharedSubscriptionAvailable: false, subscriptionIdentifiersAvailable: false },
    });
    const sink = (): void => undefined;
    const sub = (topicFilter: string, extra: object = {}) =>
      h!.client.subscribe({ subscriptions: [{ topicFilter, qos: 0 }], ...extra }, sink);
    expect((await refusal(sub('a/+'))).reasonCode).toBe(0xa2);
    expect((await refusal(sub('a/#'))).reasonCode).toBe(0xa2);
    expect((await refusal(sub('$share/g/a'))).reasonCode).toBe(0x9e);
    expect((await refusal(sub('a', { properties: { subscriptionIdentifier: 1 } }))).reasonCode).toBe(0xa1);
    expect((await refusal(sub('a/#/b'))).reasonCode).toBe(0x8f);
    expect((await refusal(h.client.subscribe({ subscriptions: [] }, sink))).reasonCode).toBe(0x82);
    expect((await refusal(h.client.subscribe({ subscriptions: [{ topicFilter: 'x', qos: 1 }] }, 'nope' as never))).reasonCode).toBe(0x80);
    // Nothing was sent.
    const ok = h.client.subscribe({ subscriptions: [{ topicFilter: 'plain', qos: 0 }] }, sink);
    const s = await h.conn.expect(SUBSCRIBE);
    expect(s.subscriptions[0]!.topicFilter).toBe('plain');
    h.conn.send({ type: SUBACK, packetId: s.packetId, reasonCodes: [0] });
    await ok;
  });

  it('refuses noLocal on a shared subscription and out-of-range identifiers (0x82)', async () => {
    h = await connected();
    const sink = (): void => undefined;
    const shared = h.client.subscribe({ subscriptions: [{ topicFilter: '$share/g/t', qos: 0, noLocal: true }] }, sink);
    expect((await refusal(shared)).reasonCode).toBe(0x82);
    const id = h.client.subscribe({ subscriptions: [{ topicFilter: 't', qos: 0 }], properties: { subscriptionIdentifier: 0 } }, sink);
    expect((await refusal(id)).reasonCode).toBe(0x82);
  });

  it('unsubscribe resolves with the UNSUBACK and stops delivery at once', async () => {
    h = await connected();
    const seen: string[] = [];
    const r = new MessageReceiver();
    const s = h.client.subscribe({ subscriptions: [{ topicFilter: 'u/#', qos: 1 }] }, (m: MqttMessage) => void seen.push(m.topic));
    const sp = await h.conn.expect(SUBSCRIBE);
    h.conn.send({ type: SUBACK, packetId: sp.packetId, reasonCodes: [1] });
    await s;
    h.conn.send({ type: PUBLISH, topic: 'u/1', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 1 });
    await h.conn.expect(PUBACK);
    const u = h.client.unsubscribe({ topicFilters: ['u/#'], properties: { userProperties: [['k', 'v']] } });
    const up = await h.conn.expect(UNSUBSCRIBE);
    expect(up.topicFilters).toEqual(['u/#']);
    expect(up.properties?.userProperties).toEqual([['k', 'v']]);
    h.conn.send({ type: UNSUBACK, packetId: up.packetId, reasonCodes: [0] });
    await expect(u).resolves.toMatchObject({ reasonCodes: [0] });
    h.conn.send({ type: PUBLISH, topic: 'u/2', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 2 });
    await h.conn.expect(PUBACK);
    expect(seen).toEqual(['u/1']);
    expect(r.size).toBe(0);
    const bad = await h.client.unsubscribe({ topicFilters: ['a/#/b'] }).then(() => undefined, (e: unknown) => e);
    expect(bad).toBeInstanceOf(UnsubscribeError);
    expect((bad as UnsubscribeError).reasonCode).toBe(0x8f);
  });
});
