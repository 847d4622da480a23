/**
 * close(): wills of connected clients and pending delayed wills are published (the broker ends those
 * connections without DISCONNECT 0x00, spec 3.1.2.5), before the DISCONNECT 0x8B reaches subscribers;
 * and every timer the broker armed (supervision, session expiry, will delay, close grace) is cleared.
 */
import { describe, expect, it } from '@jest/globals';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import type { DisconnectInfo } from '../../../lib/broker/index.js';
import { nextEvent, startBroker, uid } from './support.js';

const isPublish = (p: { type: number }): p is PublishPacket => p.type === PacketType.PUBLISH;

/** Timers alive in this process (the broker's, since each test awaits its own to completion). */
const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('close()', () => {
  it('publishes the will of every connected client before sending DISCONNECT 0x8B', async () => {
    const tb = await startBroker();
    const { client: watcher } = await tb.raw({ clientId: uid('watch') });
    watcher.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'status/#', qos: 1 }] });
    await watcher.expect(PacketType.SUBACK);
    const id = uid('dev');
    await tb.raw({ clientId: id, will: { topic: `status/${id}`, payload: Buffer.from('offline'), qos: 1, retain: true } });
    const infos: [string, DisconnectInfo][] = [];
    tb.broker.on('disconnect', (c, info) => infos.push([c.clientId, info]));
    await tb.broker.close();
    const will = await watcher.nextMatching(isPublish);
    expect([will.topic, will.payload.toString()]).toEqual([`status/${id}`, 'offline']);
    // The will came before the watcher's own DISCONNECT 0x8B.
    const types = watcher.received.map((p) => p.type);
    expect(types.indexOf(PacketType.PUBLISH)).toBeLessThan(types.indexOf(PacketType.DISCONNECT));
    expect(watcher.received.find((p) => p.type === PacketType.DISCONNECT)).toMatchObject({ reasonCode: 0x8b });
    expect(infos.find(([c]) => c === id)?.[1]).toMatchObject({ initiator: 'server', reasonCode: 0x8b, willPublished: true });
    expect(tb.broker.metrics().retainedMessages).toBe(1);
    await tb.close();
  });

  it('publishes a will still waiting for its delay at once', async () => {
    const tb = await startBroker();
    const { client: watcher } = await tb.raw({ clientId: uid('watch') });
    watcher.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'late', qos: 0 }] });
    await watcher.expect(PacketType.SUBACK);
    const gone = await tb.raw({
      clientId: uid(),
      properties: { sessionExpiryInterval: 600 },
      will: { topic: 'late', payload: Buffer.from('bye'), qos: 0, retain: false, properties: { willDelayInterval: 300 } },
    });
    gone.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    expect(tb.broker.metrics().pendingWills).toBe(1);
    await tb.broker.close();
    expect((await watcher.nextMatching(isPublish)).payload.toString()).toBe('bye');
    expect(tb.broker.metrics().pendingWills).toBe(0);
    await tb.close();
  });

  it('clears every timer: supervision, session expiry, will delay and close grace', async () => {
    const before = timeouts();
    const tb = await startBroker({ closeGracePeriod: 60_000 });
    // A persistent session gone offline (expiry timer), a delayed will (will timer), a connected client
    // (supervision) and one that never sent CONNECT.
    const offline = await tb.raw({ clientId: uid(), properties: { sessionExpiryInterval: 600 } });
    offline.client.send({ type: PacketType.DISCONNECT });
    await offline.client.waitClosed();
    const lost = await tb.raw({
      clientId: uid(),
      properties: { sessionExpiryInterval: 600 },
      will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false, properties: { willDelayInterval: 300 } },
    });
    lost.client.destroy();
    await nextEvent(tb.broker, 'disconnect');
    await tb.raw({ clientId: uid() });
    await tb.rawOpen();
    expect(timeouts()).toBeGreaterThanOrEqual(before + 3);
    // The broker closes with its clients still connected; afterwards none of its timers may be left.
    await tb.broker.close();
    expect(tb.broker.metrics()).toMatchObject({ connections: 0, clients: 0, pendingWills: 0 });
    expect(timeouts()).toBe(before);
    await tb.close();
  });
});
