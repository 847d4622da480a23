/**
 * One test per rejection rule of the decoder, asserting the reason code, through both `decodePacket` and
 * the streaming decoder fed one byte at a time (which then stays failed).
 */
import { describe, it, expect } from '@jest/globals';
import { MqttProtocolError, PacketDecoder, UnsupportedProtocolError, decodePacket, encodePacket } from '../../../lib/codec/index.js';

// ---- byte builders ----
const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const str = (s: string | number[]): number[] => {
  const b = typeof s === 'string' ? [...Buffer.from(s)] : s;
  return [...u16(b.length), ...b];
};
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
/** A property section from property bytes. */
const props = (...bytes: number[]): number[] => [...varint(bytes.length), ...bytes];
const raw = (first: number, body: number[]): Buffer => Buffer.from([first, ...varint(body.length), ...body]);

const connect = (o: { name?: string; level?: number; flags?: number; properties?: number[]; payload?: number[] } = {}): Buffer =>
  raw(0x10, [
    ...str(o.name ?? 'MQTT'),
    o.level ?? 5,
    o.flags ?? 0x02,
    ...u16(60),
    ...(o.properties ?? props()),
    ...(o.payload ?? str('client')),
  ]);
const publish = (o: { first?: number; topic?: string | number[]; packetId?: number; properties?: number[]; payload?: number[] } = {}): Buffer => {
  const first = o.first ?? 0x32;
  const qos = (first >> 1) & 3;
  return raw(first, [
    ...str(o.topic ?? 'a/b'),
    ...(qos > 0 ? u16(o.packetId ?? 1) : []),
    ...(o.properties ?? props()),
    ...(o.payload ?? [1, 2, 3]),
  ]);
};
const subscribe = (entries: number[], properties = props(), packetId = 1): Buffer => raw(0x82, [...u16(packetId), ...properties, ...entries]);

/** Titles the rows of a table with their expected reason code in hex. */
const cases = (rows: [string, Buffer, number][]): [string, Buffer, number][] =>
  rows.map(([name, bytes, code]) => [`${name} → 0x${code.toString(16)}`, bytes, code]);

function reasonOf(fn: () => unknown): number | string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return e instanceof MqttProtocolError ? e.reasonCode : `not an MqttProtocolError: ${String(e)}`;
  }
}

function expectRejected(bytes: Buffer, code: number, maximumPacketSize?: number): void {
  expect(reasonOf(() => decodePacket(bytes, { maximumPacketSize }))).toBe(code);
  const decoder = new PacketDecoder({ maximumPacketSize });
  expect(
    reasonOf(() => {
      for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1));
    }),
  ).toBe(code);
  // Failed for good: a valid packet now throws the same error.
  const error = decoder.error;
  expect(error).toBeInstanceOf(MqttProtocolError);
  expect(() => decoder.push(encodePacket({ type: 12 }))).toThrow(error!);
  expect(() => decoder.feed(encodePacket({ type: 12 }), () => undefined)).toThrow(error!);
}

describe('the valid baselines decode', () => {
  it.each([
    ['CONNECT', connect()],
    ['PUBLISH', publish()],
    ['SUBSCRIBE', subscribe([...str('a/+'), 0x01])],
  ])('%s', (_name, bytes) => {
    expect(() => decodePacket(bytes)).not.toThrow();
  });
});

describe('fixed header', () => {
  it.each(cases([
    ['Remaining Length over 4 bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0x81],
    ['Remaining Length not in its shortest form', Buffer.from([0xc0, 0x80, 0x00]), 0x81],
    ['reserved packet type 0', Buffer.from([0x00, 0x00]), 0x81],
    ['reserved flags on PUBACK', raw(0x41, u16(1)), 0x81],
    ['reserved flags on PINGREQ', raw(0xc1, []), 0x81],
    ['PUBREL without its 0010 flags', raw(0x60, u16(1)), 0x81],
    ['SUBSCRIBE without its 0010 flags', raw(0x80, [...u16(1), 0, ...str('a'), 0]), 0x81],
    ['UNSUBSCRIBE without its 0010 flags', raw(0xa0, [...u16(1), 0, ...str('a')]), 0x81],
    ['PUBLISH with QoS 3', publish({ first: 0x36 }), 0x81],
    ['PUBLISH with QoS 0 and DUP', publish({ first: 0x38 }), 0x81],
  ]))('%s', (_name, bytes, code) => expectRejected(bytes, code));

  it('a packet over the maximum packet size → 0x95', () => {
    const bytes = publish({ payload: new Array<number>(100).fill(7) });
    expectRejected(bytes, 0x95, bytes.length - 1);
    expect(() => decodePacket(bytes, { maximumPacketSize: bytes.length })).not.toThrow();
  });
});

describe('lengths', () => {
  it.each(cases([
    ['string overrunning the packet', raw(0x30, [0, 10, 0x61]), 0x81],
    ['property length overrunning the packet', publish({ properties: [20, 0x02, ...u32(1)], payload: [] }), 0x81],
    ['property value overrunning the property length', publish({ properties: [3, 0x02, ...u32(1)] }), 0x81],
    ['PUBACK without packet identifier', raw(0x40, [0]), 0x81],
    ['CONNACK without property length', raw(0x20, [0, 0]), 0x81],
    ['trailing bytes after PINGREQ', raw(0xc0, [0]), 0x81],
    ['trailing bytes after CONNACK', raw(0x20, [0, 0, 0, 0xff]), 0x81],
    ['trailing bytes after CONNECT', raw(0x10, [...connect().subarray(2), 0]), 0x81],
    ['trailing bytes after DISCONNECT properties', raw(0xe0, [0, 0, 0]), 0x81],
    ['variable byte integer property over 4 bytes', publish({ properties: props(0x0b, 0xff, 0xff, 0xff, 0xff, 0x01) }), 0x81],
    ['variable byte integer property not shortest', publish({ properties: props(0x0b, 0x81, 0x00) }), 0x81],
    ['property length not shortest', publish({ properties: [0x80, 0x00] }), 0x81],
  ]))('%s', (_name, bytes, code) => expectRejected(bytes, code));

  it('decodePacket refuses incomplete input and more than one packet', () => {
    const ping = encodePacket({ type: 12 });
    expect(reasonOf(() => decodePacket(Buffer.alloc(0)))).toBe(0x81);
    expect(reasonOf(() => decodePacket(ping.subarray(0, 1)))).toBe(0x81);
    expect(reasonOf(() => decodePacket(publish().subarray(0, 5)))).toBe(0x81);
    expect(reasonOf(() => decodePacket(Buffer.concat([ping, ping])))).toBe(0x81);
  });
});

describe('strings', () => {
  it.each<[string, number[]]>([
    ['invalid UTF-8 sequence', [0x61, 0xc3, 0x28]],
    ['lone continuation byte', [0x80]],
    ['truncated sequence', [0xe2, 0x82]],
    ['overlong encoding', [0xc0, 0xaf]],
    ['encoded surrogate', [0xed, 0xa0, 0x80]],
    ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['U+0000', [0x61, 0x00, 0x62]],
  ])('%s in a topic name → 0x81', (_name, bytes) => expectRejected(publish({ topic: bytes }), 0x81));

  it('invalid UTF-8 in a user property, client id, user name → 0x81', () => {
    expectRejected(publish({ properties: props(0x26, ...str('k'), ...str([0xff])) }), 0x81);
    expectRejected(connect({ payload: str([0xc3]) }), 0x81);
    expectRejected(connect({ flags: 0x82, payload: [...str('c'), ...str([0x00])] }), 0x81);
  });
});

describe('properties', () => {
  it.each(cases([
    ['unknown property identifier', publish({ properties: props(0x7f, 0) }), 0x81],
    ['unassigned identifier 0x04', publish({ properties: props(0x04, 0) }), 0x81],
    ['property not allowed in the packet (Topic Alias in PUBACK)', raw(0x40, [...u16(1), 0, ...props(0x23, ...u16(1))]), 0x81],
    ['will-only property in CONNECT properties', connect({ properties: props(0x18, ...u32(5)) }), 0x81],
    ['CONNECT-only property in will properties', connect({ flags: 0x06, payload: [...str('c'), ...props(0x11, ...u32(5)), ...str('w'), ...str('x')] }), 0x81],
    ['single property repeated (Message Expiry Interval)', publish({ properties: props(0x02, ...u32(1), 0x02, ...u32(2)) }), 0x82],
    ['Subscription Identifier repeated in SUBSCRIBE', subscribe([...str('a'), 0], props(0x0b, 1, 0x0b, 2)), 0x82],
    ['bool property other than 0/1 (Request Problem Information 2)', connect({ properties: props(0x17, 2) }), 0x82],
    ['Payload Format Indicator 2', publish({ properties: props(0x01, 2) }), 0x82],
    ['Maximum QoS 2', raw(0x20, [0, 0, ...props(0x24, 2)]), 0x82],
    ['Topic Alias 0', publish({ properties: props(0x23, ...u16(0)) }), 0x94],
    ['Receive Maximum 0', connect({ properties: props(0x21, ...u16(0)) }), 0x82],
    ['Maximum Packet Size 0', connect({ properties: props(0x27, ...u32(0)) }), 0x82],
    ['Subscription Identifier 0', publish({ properties: props(0x0b, 0) }), 0x82],
    ['Authentication Data without Authentication Method', connect({ properties: props(0x16, ...str('x')) }), 0x82],
  ]))('%s', (_name, bytes, code) => expectRejected(bytes, code));

  it('repeatable ones may repeat: user properties everywhere, Subscription Identifier in PUBLISH', () => {
    const p = decodePacket(publish({ properties: props(0x0b, 1, 0x0b, 2, 0x26, ...str('k'), ...str('1'), 0x26, ...str('k'), ...str('2')) }));
    expect(p).toMatchObject({ properties: { subscriptionIdentifier: [1, 2], userProperties: [['k', '1'], ['k', '2']] } });
  });
});

describe('packet rules', () => {
  it.each(cases([
    ['wildcard + in a PUBLISH topic name', publish({ topic: 'a/+' }), 0x90],
    ['wildcard # in a PUBLISH topic name', publish({ topic: '#' }), 0x90],
    ['empty topic name without Topic Alias', publish({ topic: '' }), 0x82],
    ['PUBLISH QoS 1 with packet identifier 0', publish({ packetId: 0 }), 0x82],
    ['PUBACK with packet identifier 0', raw(0x40, u16(0)), 0x82],
    ['SUBSCRIBE with packet identifier 0', subscribe([...str('a'), 0], props(), 0), 0x82],
    ['UNSUBACK with packet identifier 0', raw(0xb0, [...u16(0), 0, 0]), 0x82],
    ['PUBACK with a reason code it may not carry (0x04)', raw(0x40, [...u16(1), 0x04]), 0x82],
    ['PUBREL with a reason code it may not carry (0x10)', raw(0x62, [...u16(1), 0x10]), 0x82],
    ['CONNACK with a reason code it may not carry (0x8e)', raw(0x20, [0, 0x8e, 0]), 0x82],
    ['SUBACK with a reason code it may not carry (0x11)', raw(0x90, [...u16(1), 0, 0x11]), 0x82],
    ['UNSUBACK with a reason code it may not carry (0x01)', raw(0xb0, [...u16(1), 0, 0x01]), 0x82],
    ['DISCONNECT with a reason code it may not carry (0x01)', raw(0xe0, [0x01]), 0x82],
    ['AUTH with a reason code it may not carry (0x80)', raw(0xf0, [0x80]), 0x82],
    ['CONNACK reserved flag bits', raw(0x20, [0x02, 0, 0]), 0x81],
    ['CONNACK session present with a failure', raw(0x20, [0x01, 0x80, 0]), 0x82],
    ['empty SUBSCRIBE', subscribe([]), 0x82],
    ['empty UNSUBSCRIBE', raw(0xa2, [...u16(1), 0]), 0x82],
    ['empty SUBACK', raw(0x90, [...u16(1), 0]), 0x82],
    ['empty UNSUBACK', raw(0xb0, [...u16(1), 0]), 0x82],
    ['subscription options reserved bits', subscribe([...str('a'), 0x40]), 0x81],
    ['subscription with QoS 3', subscribe([...str('a'), 0x03]), 0x82],
    ['subscription with Retain Handling 3', subscribe([...str('a'), 0x30]), 0x82],
    ['No Local on a shared subscription', subscribe([...str('$share/g/a'), 0x04]), 0x82],
    ['subscription without options byte', subscribe([...str('a')]), 0x81],
    ['topic filter with # not last', subscribe([...str('a/#/b'), 0]), 0x8f],
    ['topic filter with + inside a level', subscribe([...str('a+'), 0]), 0x8f],
    ['shared subscription without filter', subscribe([...str('$share/g'), 0]), 0x8f],
    ['invalid topic filter in UNSUBSCRIBE', raw(0xa2, [...u16(1), 0, ...str('#/a')]), 0x8f],
  ]))('%s', (_name, bytes, code) => expectRejected(bytes, code));
});

describe('CONNECT', () => {
  it.each(cases([
    ['protocol name MQIsdp (MQTT 3.1)', connect({ name: 'MQIsdp', level: 3 }), 0x84],
    ['another protocol name', connect({ name: 'HTTP' }), 0x84],
    ['protocol level 4 (MQTT 3.1.1)', raw(0x10, [...str('MQTT'), 4, 0x02, ...u16(60), ...str('c')]), 0x84],
    ['protocol level 6', connect({ level: 6 }), 0x84],
    ['reserved connect flag', connect({ flags: 0x03 }), 0x81],
    ['will QoS without will flag', connect({ flags: 0x0a }), 0x81],
    ['will retain without will flag', connect({ flags: 0x22 }), 0x81],
    ['will QoS 3', connect({ flags: 0x1e, payload: [...str('c'), 0, ...str('w'), ...str('x')] }), 0x81],
    ['wildcard in will topic', connect({ flags: 0x06, payload: [...str('c'), 0, ...str('w/#'), ...str('x')] }), 0x90],
    ['empty will topic', connect({ flags: 0x06, payload: [...str('c'), 0, ...str(''), ...str('x')] }), 0x90],
    ['will flag without will', connect({ flags: 0x06 }), 0x81],
    ['user name flag without user name', connect({ flags: 0x82 }), 0x81],
    ['password flag without password', connect({ flags: 0x42 }), 0x81],
  ]))('%s', (_name, bytes, code) => expectRejected(bytes, code));

  it('says which protocol an unsupported CONNECT asked for', () => {
    const asked = (bytes: Buffer): unknown => {
      try {
        decodePacket(bytes);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const v311 = asked(raw(0x10, [...str('MQTT'), 4, 0x02, ...u16(60), ...str('c')]));
    expect(v311).toBeInstanceOf(UnsupportedProtocolError);
    expect(v311).toMatchObject({ reasonCode: 0x84, protocolName: 'MQTT', protocolVersion: 4 });
    expect(asked(connect({ name: 'MQIsdp', level: 3 }))).toMatchObject({ protocolName: 'MQIsdp', protocolVersion: 3 });
  });
});
