import { describe, it, expect, beforeEach } from '@jest/globals';
import { InboundFlow } from '../../../lib/client/inbound.js';
import type { Link } from '../../../lib/client/link.js';
import { MemorySessionStore } from '../../../lib/client/index.js';
import { PacketDecoder, PacketType, encodePacket, type Packet, type PublishPacket } from '../../../lib/codec/index.js';

const { PUBLISH, PUBACK, PUBREC, PUBCOMP } = PacketType;

/** A stand-in for a Link that decodes what the flow writes. */
function fakeLink(): { link: Link; sent: Packet[] } {
  const sent: Packet[] = [];
  const decoder = new PacketDecoder();
  const write = (buf: Buffer) => decoder.feed(buf, (p) => void sent.push(p));
  const writeAck = (type: number, packetId: number, reasonCode: number) => write(encodePacket({ type, packetId, reasonCode } as Packet));
  const link = { write, writeAck } as unknown as Link;
  return { link, sent };
}

const pub = (qos: 1 | 2, packetId: number, dup = false): PublishPacket => ({
  type: PUBLISH, topic: 't', payload: Buffer.alloc(0), qos, retain: false, dup, packetId,
});

/** Admits and tracks a message, as the client does in manual mode. */
function deliver(flow: InboundFlow, qos: 1 | 2, id: number) {
  const message = pub(qos, id);
  expect(flow.admit(message)).toBe(true);
  return flow.track(message);
}

const acks = (sent: Packet[]) => sent.map((p) => [p.type, (p as { packetId: number }).packetId, (p as { reasonCode?: number }).reasonCode]);

describe('InboundFlow', () => {
  let store: MemorySessionStore;
  beforeEach(() => {
    store = new MemorySessionStore();
  });

  it('holds acks until every earlier message is acked, then sends them in receive order', () => {
    const { link, sent } = fakeLink();
    const flow = new InboundFlow(link, store);
    const [a, b, c] = [deliver(flow, 1, 1), deliver(flow, 2, 2), deliver(flow, 1, 3)];
    expect(flow.settle(c, 0)).toBe(true);
    expect(flow.settle(b, 0x80)).toBe(true);
    expect(sent).toEqual([]);
    expect(flow.pendingCount).toBe(3);
    flow.settle(a, 0);
    expect(acks(sent)).toEqual([[PUBACK, 1, 0], [PUBREC, 2, 0x80], [PUBACK, 3, 0]]);
    expect(flow.pendingCount).toBe(0);
    // The error PUBREC ended flow 2: nothing awaits PUBREL.
    expect(store.incomingCount).toBe(0);
  });

  it('treats a PUBLISH whose id awaits its ack as a duplicate, and a QoS 2 id as free again after PUBREL', () => {
    const { link, sent } = fakeLink();
    const flow = new InboundFlow(link, store);
    const q1 = deliver(flow, 1, 1);
    const q2 = deliver(flow, 2, 2);
    expect(flow.admit(pub(1, 1, true))).toBe(false);
    expect(flow.admit(pub(2, 2, true))).toBe(false);
    expect(flow.pendingCount).toBe(2);
    flow.settle(q1, 0);
    flow.settle(q2, 0);
    // QoS 1 is done with its PUBACK: the id may carry a new message at once.
    expect(flow.admit(pub(1, 1))).toBe(true);
    // QoS 2 past PUBREC: a re-send is answered, not delivered, until PUBREL ends the flow.
    expect(flow.admit(pub(2, 2, true))).toBe(false);
    flow.onPubrel(2);
    expect(store.incomingCount).toBe(0);
    expect(flow.admit(pub(2, 2))).toBe(true);
    expect(acks(sent)).toEqual([[PUBACK, 1, 0], [PUBREC, 2, 0], [PUBREC, 2, 0], [PUBCOMP, 2, 0]]);
  });

  it('answers a re-sent QoS 2 PUBLISH past PUBREC with PUBREC, in order behind earlier acks', () => {
    store.addIncoming(7);
    const { link, sent } = fakeLink();
    const flow = new InboundFlow(link, store);
    const first = deliver(flow, 1, 1);
    expect(flow.admit(pub(2, 7, true))).toBe(false);
    expect(sent).toEqual([]);
    flow.settle(first, 0);
    expect(acks(sent)).toEqual([[PUBACK, 1, 0], [PUBREC, 7, 0]]);
  });

  it('on close sends nothing more; with the session kept it records QoS 2 messages accepted with success', () => {
    const { link, sent } = fakeLink();
    const flow = new InboundFlow(link, store);
    const [first, held, late, failed, q1] = [deliver(flow, 1, 1), deliver(flow, 2, 2), deliver(flow, 2, 3), deliver(flow, 2, 4), deliver(flow, 1, 5)];
    flow.settle(held, 0); // held behind `first`
    flow.close(true);
    expect(flow.settle(first, 0)).toBe(false);
    expect(flow.settle(late, 0)).toBe(false);
    expect(flow.settle(failed, 0x80)).toBe(false);
    expect(flow.settle(q1, 0)).toBe(false);
    expect(sent).toEqual([]);
    expect([2, 3, 4, 5].filter((id) => store.hasIncoming(id))).toEqual([2, 3]);
  });

  it('records nothing when the session is not kept, nor after a new connection superseded it', () => {
    const { link } = fakeLink();
    const lost = new InboundFlow(link, store);
    const a = deliver(lost, 2, 1);
    lost.settle(deliver(lost, 2, 2), 0);
    lost.close(false);
    lost.settle(a, 0);
    expect(store.incomingCount).toBe(0);

    const kept = new InboundFlow(fakeLink().link, store);
    const b = deliver(kept, 2, 3);
    kept.close(true);
    kept.supersede();
    kept.settle(b, 0);
    expect(store.incomingCount).toBe(0);
  });

  it('finds a pending ack by message identity, only while it can still mean something', () => {
    const flow = new InboundFlow(fakeLink().link, store);
    const m = pub(2, 1);
    const p = flow.track(m);
    expect(flow.find(m)).toBe(p);
    expect(flow.find(pub(2, 1))).toBeUndefined(); // same id, another message
    flow.close(true);
    expect(flow.find(m)).toBe(p); // its late ack can still be recorded
    flow.supersede();
    expect(flow.find(m)).toBeUndefined();

    const other = new InboundFlow(fakeLink().link, store);
    const n = pub(1, 2);
    other.track(n);
    other.close(false);
    expect(other.find(n)).toBeUndefined();
  });

  it('in automatic mode acks at once and records QoS 2 ids until PUBREL', () => {
    const { link, sent } = fakeLink();
    const flow = new InboundFlow(link, store);
    flow.ackNow(1, 1);
    flow.ackNow(2, 2);
    expect(store.hasIncoming(2)).toBe(true);
    expect(flow.admit(pub(2, 2, true))).toBe(false);
    flow.onPubrel(2);
    flow.onPubrel(9);
    expect(acks(sent)).toEqual([[PUBACK, 1, 0], [PUBREC, 2, 0], [PUBREC, 2, 0], [PUBCOMP, 2, 0], [PUBCOMP, 9, 0x92]]);
  });
});
