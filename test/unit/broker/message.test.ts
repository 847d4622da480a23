import { describe, expect, it } from '@jest/globals';
import { decodePacket, type PublishPacket } from '../../../lib/codec/index.js';
import { Message } from '../../../lib/broker/message.js';

const decode = (b: Buffer): PublishPacket => decodePacket(b) as PublishPacket;

const decode311 = (b: Buffer): PublishPacket => decodePacket(b, { protocolVersion: 4 }) as PublishPacket;

describe('Message.encode311 (MQTT 3.1.1/3.1 subscribers)', () => {
  it('leaves every property out, patches packet identifiers and DUP into copies, shares QoS 0 bytes', () => {
    const props = { contentType: 'text/plain', messageExpiryInterval: 60, userProperties: [['k', 'v']] as [string, string][] };
    const m = new Message('t/old', Buffer.from('payload'), 2, false, props, null, 1000);
    const v5 = m.encode(1, false, undefined, 1, false, 2000);
    const a = m.encode311(1, false, 10, false);
    const b = m.encode311(1, false, 11, true);
    expect(decode311(a)).toEqual({ type: 3, topic: 't/old', payload: Buffer.from('payload'), qos: 1, retain: false, dup: false, packetId: 10 });
    expect(decode311(b)).toMatchObject({ packetId: 11, dup: true });
    expect(decode311(m.encode311(1, false, 12, false))).toMatchObject({ packetId: 12, dup: false });
    expect(decode(v5).properties).toMatchObject({ contentType: 'text/plain' });
    const q0 = m.encode311(0, true, 0, false);
    expect(m.encode311(0, true, 0, false)).toBe(q0);
    expect(decode311(q0)).toMatchObject({ qos: 0, retain: true, topic: 't/old' });
  });

  it('own() keeps the payload as a view of the 3.1.1 encoding when that is the only one', () => {
    const chunk = Buffer.alloc(4096, 1);
    const m = new Message('t', chunk.subarray(10, 20), 1, false, undefined, null, 0);
    const enc = m.encode311(1, false, 1, false);
    m.own();
    expect(m.payload.buffer).toBe(enc.buffer);
    expect(m.payload).toEqual(Buffer.alloc(10, 1));
  });
});

describe('Message', () => {
  it('encodes a QoS 0 variant once and shares the bytes', () => {
    const m = new Message('t/a', Buffer.from('x'), 0, false, undefined, null, 0);
    const a = m.encode(0, false, undefined, 0, false, 0);
    expect(m.encode(0, false, undefined, 0, false, 0)).toBe(a);
    expect(decode(a)).toMatchObject({ topic: 't/a', qos: 0, retain: false });
  });

  it('patches the packet identifier into a copy for further QoS 1/2 deliveries', () => {
    const m = new Message('topic/with/levels', Buffer.from('payload'), 2, true, { contentType: 'text/plain' }, null, 0);
    const a = m.encode(1, true, undefined, 10, false, 0);
    const b = m.encode(1, true, undefined, 65_000, false, 0);
    expect(b).not.toBe(a);
    expect(decode(a)).toMatchObject({ packetId: 10, qos: 1, retain: true, properties: { contentType: 'text/plain' } });
    expect(decode(b)).toMatchObject({ packetId: 65_000, qos: 1, retain: true, properties: { contentType: 'text/plain' } });
    expect(decode(m.encode(2, false, undefined, 5, false, 0))).toMatchObject({ packetId: 5, qos: 2, retain: false });
  });

  it('adds subscription identifiers and the DUP flag per delivery', () => {
    const m = new Message('t', Buffer.from('x'), 1, false, undefined, null, 0);
    expect(decode(m.encode(1, false, [3, 9], 1, false, 0)).properties?.subscriptionIdentifier).toEqual([3, 9]);
    expect(decode(m.encode(1, false, undefined, 1, true, 0)).dup).toBe(true);
    expect(decode(m.encode(1, false, undefined, 2, false, 0)).dup).toBe(false);
  });

  it('strips the sender topic alias and decrements the expiry interval', () => {
    const m = new Message('t', Buffer.from('x'), 0, false, { topicAlias: 4, messageExpiryInterval: 10, userProperties: [['a', 'b']] }, null, 1_000);
    expect(m.properties).toEqual({ messageExpiryInterval: 10, userProperties: [['a', 'b']] });
    expect(m.expiresAt).toBe(11_000);
    expect(decode(m.encode(0, false, undefined, 0, false, 4_500)).properties?.messageExpiryInterval).toBe(7);
    expect(m.isExpired(10_999)).toBe(false);
    expect(m.isExpired(11_000)).toBe(true);
    expect(new Message('t', Buffer.alloc(0), 0, false, { topicAlias: 1 }, null, 0).properties).toBeUndefined();
    // An interval of 0 means no expiry, as in Mosquitto.
    expect(new Message('t', Buffer.alloc(0), 0, false, { messageExpiryInterval: 0 }, null, 5).expiresAt).toBe(0);
  });

  it('copies a payload that is a view into a larger buffer before it is kept', () => {
    const chunk = Buffer.alloc(1024, 7);
    const view = chunk.subarray(10, 20);
    const m = new Message('t', view, 0, false, undefined, null, 0);
    m.own();
    expect(m.payload).not.toBe(view);
    expect(m.payload.buffer).not.toBe(chunk.buffer);
    expect(m.payload).toEqual(view);
    expect(m.own().payload).toBe(m.payload); // copied once
    const exact = Buffer.from(new ArrayBuffer(5)); // a view of a whole ArrayBuffer: nothing to copy
    const n = new Message('t', exact, 0, false, undefined, null, 0).own();
    expect(n.payload).toBe(exact);
  });
});
