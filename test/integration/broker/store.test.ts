/**
 * The store interfaces: sessions and retained messages live behind SessionStore / RetainedStore, so a
 * durable store can replace the in-memory defaults. The broker must go through the stores it is given.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType } from '../../../lib/codec/index.js';
import { MemoryRetainedStore, MemorySessionStore, type RetainedMessage } from '../../../lib/broker/index.js';
import type { Session } from '../../../lib/broker/session.js';
import { collectMessages, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** A session store that logs what the broker does with it. */
class LoggingSessionStore extends MemorySessionStore {
  readonly log: string[] = [];
  override set(clientId: string, session: Session): this {
    this.log.push(`set ${clientId}`);
    return super.set(clientId, session);
  }
  override delete(clientId: string): boolean {
    const had = super.delete(clientId);
    if (had) this.log.push(`delete ${clientId}`);
    return had;
  }
}

/** A retained store that logs what the broker does with it. */
class LoggingRetainedStore extends MemoryRetainedStore {
  readonly log: string[] = [];
  override set(message: RetainedMessage): void {
    this.log.push(`set ${message.topic}=${message.payload.toString()}`);
    super.set(message);
  }
  override delete(topic: string): boolean {
    this.log.push(`delete ${topic}`);
    return super.delete(topic);
  }
  override match(filter: string, visit: (message: RetainedMessage) => void): void {
    this.log.push(`match ${filter}`);
    super.match(filter, visit);
  }
}

describe('store interfaces', () => {
  it('keeps sessions in the given SessionStore', async () => {
    const sessionStore = new LoggingSessionStore();
    tb = await startBroker({ sessionStore });
    const keep = uid('keep');
    const temp = uid('temp');
    const a = await tb.raw({ clientId: keep, properties: { sessionExpiryInterval: 60 } });
    const b = await tb.raw({ clientId: temp });
    expect(sessionStore.size).toBe(2);
    a.client.send({ type: PacketType.DISCONNECT });
    b.client.send({ type: PacketType.DISCONNECT });
    await Promise.all([a.client.waitClosed(), b.client.waitClosed()]);
    // Expiry 0 ends the session (deleted from the store); the other stays and is found again.
    expect(sessionStore.log).toEqual([`set ${keep}`, `set ${temp}`, `delete ${temp}`]);
    expect([...sessionStore.keys()]).toEqual([keep]);
    const again = await tb.raw({ clientId: keep, cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    expect(again.connack.sessionPresent).toBe(true);
    expect(tb.broker.metrics().sessions).toBe(1);
  });

  it('keeps retained messages in the given RetainedStore', async () => {
    const retainedStore = new LoggingRetainedStore();
    tb = await startBroker({ retainedStore });
    const pub = await tb.mqttjs();
    await pub.publishAsync('st/a', 'kept', { qos: 1, retain: true });
    expect(retainedStore.get('st/a')?.payload.toString()).toBe('kept');
    const sub = await tb.mqttjs();
    const got = collectMessages(sub, 1);
    await sub.subscribeAsync('st/+');
    expect((await got)[0]!.payload.toString()).toBe('kept');
    await pub.publishAsync('st/a', '', { qos: 1, retain: true });
    expect(retainedStore.log).toEqual(['set st/a=kept', 'match st/+', 'delete st/a']);
    expect(retainedStore.size).toBe(0);
    expect(tb.broker.metrics().retainedMessages).toBe(0);
  });
});
