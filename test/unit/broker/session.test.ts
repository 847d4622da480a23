import { describe, expect, it } from '@jest/globals';
import { PacketDecoder, PacketType, type Packet, type PublishPacket, type QoS } from '../../../lib/codec/index.js';
import { Message } from '../../../lib/broker/message.js';
import { resolveOptions, type MqttBrokerOptions } from '../../../lib/broker/options.js';
import { Session, type DropReason, type SessionHost, type SessionLink } from '../../../lib/broker/session.js';

class FakeHost implements SessionHost {
  readonly options;
  time = 1_000_000;
  drops: [string, DropReason][] = [];
  released = 0;
  queuedBytes = 0;
  memoryFull = false;
  constructor(o: MqttBrokerOptions = {}) {
    this.options = resolveOptions(o);
  }
  now(): number {
    return this.time;
  }
  dropped(_s: Session, m: Message, _q: QoS, reason: DropReason): void {
    this.drops.push([m.payload.toString(), reason]);
  }
  queuedBytesChanged(delta: number): void {
    this.queuedBytes += delta;
  }
  release(): void {
    this.released++;
  }
}

class FakeLink implements SessionLink {
  congested = false;
  sent: Packet[] = [];
  constructor(
    readonly receiveMaximum = 65_535,
    readonly maximumPacketSize = 1_000_000,
  ) {}
  sendBuffer(buf: Buffer): void {
    this.sent.push(...new PacketDecoder().push(buf));
  }
  sendPacket(p: Packet): void {
    this.sent.push(p);
  }
  encodePublish(m: Message, qos: QoS, retain: boolean, ids: number | number[] | undefined, packetId: number, dup: boolean, now: number): Buffer {
    return m.encode(qos, retain, ids, packetId, dup, now);
  }
  publishes(): PublishPacket[] {
    return this.sent.filter((p): p is PublishPacket => p.type === PacketType.PUBLISH);
  }
}

const msg = (payload: string, qos: QoS = 1, props?: Message['properties'], now = 1_000_000): Message =>
  new Message('t', Buffer.from(payload), qos, false, props, null, now);

describe('Session', () => {
  it('sends QoS 0 at once and QoS 1/2 with fresh packet identifiers', () => {
    const s = new Session('c', new FakeHost());
    const link = new FakeLink();
    s.attach(link, false);
    s.deliver(msg('a', 0), 0, false, undefined, null);
    s.deliver(msg('b'), 1, false, undefined, null);
    s.deliver(msg('c', 2), 2, false, 7, null);
    expect(link.publishes().map((p) => [p.payload.toString(), p.qos, p.packetId ?? 0])).toEqual([
      ['a', 0, 0],
      ['b', 1, 1],
      ['c', 2, 2],
    ]);
    expect(link.publishes()[2]!.properties?.subscriptionIdentifier).toBe(7);
    expect(s.inflightCount).toBe(2);
  });

  it('keeps at most Receive Maximum in flight and sends the rest in order as acks come', () => {
    const s = new Session('c', new FakeHost());
    const link = new FakeLink(2);
    s.attach(link, false);
    for (const p of ['1', '2', '3', '4']) s.deliver(msg(p), 1, false, undefined, null);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['1', '2']);
    expect(s.queuedCount).toBe(2);
    expect(s.onPuback(1)).toBe(true);
    expect(s.onPuback(1)).toBe(false);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['1', '2', '3']);
    // A QoS 0 message behind queued ones waits its turn.
    s.deliver(msg('5', 0), 0, false, undefined, null);
    s.onPuback(2);
    s.onPuback(3);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['1', '2', '3', '4', '5']);
  });

  it('runs the QoS 2 flow: PUBREC → PUBREL, PUBCOMP completes; unknown ids get 0x92', () => {
    const s = new Session('c', new FakeHost());
    const link = new FakeLink();
    s.attach(link, false);
    s.deliver(msg('x', 2), 2, false, undefined, null);
    s.onPubrec(1, 0);
    expect(link.sent.at(-1)).toEqual({ type: PacketType.PUBREL, packetId: 1 });
    expect(s.onPubcomp(1)).toBe(true);
    expect(s.inflightCount).toBe(0);
    s.onPubrec(9, 0);
    expect(link.sent.at(-1)).toEqual({ type: PacketType.PUBREL, packetId: 9, reasonCode: 0x92 });
    s.deliver(msg('y', 2), 2, false, undefined, null);
    s.onPubrec(2, 0x80); // refused by the client: the flow ends
    expect(s.inflightCount).toBe(0);
  });

  it('skips packet identifiers still in use and wraps after 65535', () => {
    const s = new Session('c', new FakeHost());
    const link = new FakeLink();
    s.attach(link, false);
    (s as unknown as { nextPacketId: number }).nextPacketId = 65_535;
    s.deliver(msg('a'), 1, false, undefined, null);
    s.deliver(msg('b'), 1, false, undefined, null);
    s.onPuback(65_535);
    (s as unknown as { nextPacketId: number }).nextPacketId = 1;
    s.deliver(msg('c'), 1, false, undefined, null); // 1 is in flight: gets 2
    expect(link.publishes().map((p) => p.packetId)).toEqual([65_535, 1, 2]);
  });

  it('queues for an offline session (QoS 0 only with queueQoS0Offline) and resends in-flight messages on resume', () => {
    const host = new FakeHost();
    const s = new Session('c', host);
    const first = new FakeLink();
    s.attach(first, false);
    s.deliver(msg('inflight-1'), 1, false, undefined, null);
    s.deliver(msg('inflight-2', 2), 2, false, undefined, null);
    s.onPubrec(2, 0);
    s.detach();
    s.deliver(msg('zero', 0), 0, false, undefined, null);
    s.deliver(msg('queued'), 1, false, undefined, null);
    expect(s.queuedCount).toBe(1);
    const second = new FakeLink();
    s.attach(second, true);
    expect(second.sent.map((p) => (p.type === PacketType.PUBLISH ? `${p.payload}:${p.dup}:${p.packetId}` : `PUBREL:${(p as { packetId: number }).packetId}`))).toEqual([
      'PUBREL:2',
      'inflight-1:true:1',
      'queued:false:3',
    ]);
  });

  it('resends no more than the new Receive Maximum at once', () => {
    const s = new Session('c', new FakeHost());
    s.attach(new FakeLink(), false);
    for (const p of ['a', 'b', 'c']) s.deliver(msg(p), 1, false, undefined, null);
    s.detach();
    const link = new FakeLink(1);
    s.attach(link, true);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['a']);
    // 'b' acknowledged before its turn (the client had the original): never re-sent; 'c' waits for 'a'.
    s.onPuback(2);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['a']);
    s.onPuback(1);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['a', 'c']);
    s.onPuback(3);
    expect(s.inflightCount).toBe(0);
  });

  it('does not send a message above the client Maximum Packet Size and reports the drop', () => {
    const host = new FakeHost();
    const s = new Session('c', host);
    const link = new FakeLink(10, 30);
    s.attach(link, false);
    s.deliver(msg('x'.repeat(50)), 1, false, undefined, null);
    s.deliver(msg('ok'), 1, false, undefined, null);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['ok']);
    expect(s.inflightCount).toBe(1);
    expect(host.drops).toEqual([['x'.repeat(50), 'packetTooLarge']]);
  });

  it('skips expired messages in the queue', () => {
    const host = new FakeHost();
    const s = new Session('c', host);
    s.deliver(msg('short', 1, { messageExpiryInterval: 1 }), 1, false, undefined, null);
    s.deliver(msg('long', 1, { messageExpiryInterval: 10 }), 1, false, undefined, null);
    host.time += 2000;
    const link = new FakeLink();
    s.attach(link, true);
    const p = link.publishes();
    expect(p.map((x) => x.payload.toString())).toEqual(['long']);
    expect(p[0]!.properties?.messageExpiryInterval).toBe(8);
  });

  it('applies the queue policy: QoS 0 dropped first, then dropNew / dropOldest', () => {
    const mk = (policy: 'dropNew' | 'dropOldest'): [Session, FakeHost] => {
      const host = new FakeHost({ maxQueuedMessages: 2, queueFullPolicy: policy, queueQoS0Offline: true });
      return [new Session('c', host), host];
    };
    const [a, ha] = mk('dropNew');
    a.deliver(msg('q0', 0), 0, false, undefined, null);
    a.deliver(msg('q1'), 1, false, undefined, null);
    a.deliver(msg('new0', 0), 0, false, undefined, null); // a new QoS 0 message is dropped
    a.deliver(msg('new1'), 1, false, undefined, null); // evicts the queued QoS 0
    a.deliver(msg('new2'), 1, false, undefined, null); // dropNew
    expect(ha.drops.map((d) => d[0])).toEqual(['new0', 'q0', 'new2']);
    const [b, hb] = mk('dropOldest');
    for (const p of ['1', '2', '3']) b.deliver(msg(p), 1, false, undefined, null);
    expect(hb.drops.map((d) => d[0])).toEqual(['1']);
    const link = new FakeLink();
    b.attach(link, true);
    expect(link.publishes().map((p) => p.payload.toString())).toEqual(['2', '3']);
  });

  it('counts as backed up once the queue of a connected session is half full, and releases held publishers when drained to a quarter', () => {
    const host = new FakeHost({ maxQueuedMessages: 4 });
    const s = new Session('c', host);
    const link = new FakeLink(1);
    s.attach(link, false);
    s.deliver(msg('1'), 1, false, undefined, null); // in flight
    s.deliver(msg('2'), 1, false, undefined, null); // queued: 1
    expect(s.backedUp).toBe(false);
    s.deliver(msg('3'), 1, false, undefined, null); // queued: 2 = half
    expect(s.backedUp).toBe(true);
    s.throttle = { publishers: new Set(), since: 0, slow: false };
    s.onPuback(1); // queue 1 ≤ a quarter of 4
    expect(host.released).toBe(1);
    expect(s.backedUp).toBe(false);
  });

  it('refuses (returns false) a QoS 1 message it cannot keep under dropNew, and reports it; QoS 0 is dropped, not refused', () => {
    const host = new FakeHost({ maxQueuedMessages: 2 });
    const s = new Session('c', host);
    s.attach(new FakeLink(1), false);
    expect(s.deliver(msg('1'), 1, false, undefined, null)).toBe(true); // in flight
    expect(s.deliver(msg('2'), 1, false, undefined, null)).toBe(true);
    expect(s.deliver(msg('3'), 1, false, undefined, null)).toBe(true);
    expect(s.deliver(msg('4'), 1, false, undefined, null)).toBe(false);
    expect(s.deliver(msg('z', 0), 0, false, undefined, null)).toBe(true);
    expect(host.drops).toEqual([
      ['4', 'queueFull'],
      ['z', 'queueFull'],
    ]);
  });

  it('bounds the queue by bytes (maxQueuedBytes), evicting queued QoS 0 only when that makes room, and keeps the broker-wide account', () => {
    // Each message is charged payload + topic ('t'): 10 + 1 = 11 bytes.
    const host = new FakeHost({ maxQueuedBytes: 25, queueQoS0Offline: true });
    const s = new Session('c', host);
    const m = (p: string, qos: QoS = 1): Message => msg(p.padEnd(10, '.'), qos);
    expect(s.deliver(m('a', 0), 0, false, undefined, null)).toBe(true);
    expect(s.deliver(m('b'), 1, false, undefined, null)).toBe(true);
    expect(host.queuedBytes).toBe(22);
    expect(s.deliver(m('c'), 1, false, undefined, null)).toBe(true); // evicts a
    expect(s.deliver(m('d'), 1, false, undefined, null)).toBe(false); // nothing to evict: refused
    expect(host.drops.map((d) => [d[0][0], d[1]])).toEqual([
      ['a', 'queueFull'],
      ['d', 'queueFull'],
    ]);
    expect(s.queuedBytes).toBe(22);
    const link = new FakeLink();
    s.attach(link, true);
    expect(link.publishes().map((p) => p.payload.toString()[0])).toEqual(['b', 'c']);
    expect(s.queuedBytes).toBe(0);
    expect(host.queuedBytes).toBe(0);
  });

  it('queues nothing while the broker-wide bound is reached (memoryLimit)', () => {
    const host = new FakeHost();
    const s = new Session('c', host);
    host.memoryFull = true;
    expect(s.deliver(msg('x'), 1, false, undefined, null)).toBe(false);
    expect(host.drops).toEqual([['x', 'memoryLimit']]);
  });

  it('hands back undelivered shared-subscription messages', () => {
    const s = new Session('c', new FakeHost());
    const link = new FakeLink(1);
    s.attach(link, false);
    const group = {} as never;
    s.deliver(msg('g1'), 1, false, undefined, group);
    s.deliver(msg('plain'), 1, false, undefined, null);
    s.deliver(msg('g2'), 1, false, undefined, group);
    const taken = s.takeShared(() => false);
    expect(taken.map((d) => d.message.payload.toString())).toEqual(['g1', 'g2']);
    expect(s.inflightCount).toBe(0);
    expect(s.queuedCount).toBe(1);
  });
});
