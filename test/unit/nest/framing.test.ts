/**
 * The two wire protocols behind one interface: what the caller side frames, the responder side
 * reads, and back — natively (response topic + correlation data, reply kinds as a user property)
 * and in Nest's built-in `Transport.MQTT` envelope, byte for byte as the built-in transport writes it.
 */
import { describe, expect, it } from '@jest/globals';
import type { ReadPacket } from '@nestjs/microservices';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import { CompatProtocol } from '../../../lib/nest/compat-protocol.js';
import { createWireProtocol } from '../../../lib/nest/create-protocol.js';
import type { PublishArgs, WireProtocol } from '../../../lib/nest/framing.js';
import { NativeProtocol, type ProtocolSettings } from '../../../lib/nest/native-protocol.js';
import { REPLY_KIND } from '../../../lib/nest/protocol.js';
import { Mqtt5RecordBuilder } from '../../../lib/nest/record.js';
import { RequestPublisher } from '../../../lib/nest/request-publish.js';
import { JsonDeserializer, JsonSerializer } from '../../../lib/nest/serializers.js';

function settings(): ProtocolSettings {
  const serializer = new JsonSerializer();
  return {
    serializer,
    deserializer: new JsonDeserializer(),
    publisher: new RequestPublisher(serializer, 1, [['app', 'test']]),
    responseQos: 1,
    onReply: () => undefined,
  };
}

/** The PUBLISH a peer receives for publish arguments. */
function received(args: PublishArgs): PublishPacket {
  return { type: PacketType.PUBLISH, topic: args.topic, payload: args.payload as Buffer, qos: args.qos ?? 0, retain: false, dup: false, properties: args.properties };
}

/** The payload of publish arguments as text. */
const text = (args: PublishArgs): string => String(args.payload);

const request = (data: unknown): ReadPacket => ({ pattern: 'math/sum', data });

/** Opens the caller side without a broker (the native side only records the response topic). */
function openCaller(protocol: WireProtocol, responseTopic: string): void {
  const client = { subscribe: async () => ({ reasonCodes: [1] }) } as never;
  void protocol.open(client, responseTopic);
}

describe('createWireProtocol', () => {
  it('chooses once, from the compat option', () => {
    expect(createWireProtocol(false, settings())).toBeInstanceOf(NativeProtocol);
    expect(createWireProtocol(true, settings())).toBeInstanceOf(CompatProtocol);
  });
});

describe('native protocol', () => {
  const caller = new NativeProtocol(settings());
  const responder = new NativeProtocol(settings());
  openCaller(caller, 'replies/c1');

  it('frames a request with the response topic and correlation data, no envelope', () => {
    const id = caller.nextId();
    const args = caller.frameRequest('math/sum', request([1, 2]), id);
    expect(text(args)).toBe('[1,2]');
    expect(args.properties?.responseTopic).toBe('replies/c1');
    expect(args.properties?.correlationData?.readUIntBE(0, 6)).toBe(id);
    expect(args.properties?.userProperties).toEqual([['app', 'test']]);
    expect(caller.subscribeReplies()).toBeUndefined();
  });

  it('round-trips a request and each kind of reply', () => {
    const id = caller.nextId();
    const inbound = responder.readRequest(received(caller.frameRequest('math/sum', request({ a: 1 }), id)));
    expect(inbound.data).toEqual({ a: 1 });
    const reply = inbound.reply!;
    expect(reply.topic).toBe('replies/c1');
    expect(reply.failureAck).toBe(0x80);
    const read = (args: PublishArgs) => {
      const message = received(args);
      expect(caller.replyId(message)).toBe(id);
      return caller.readReply(message);
    };
    expect(read(reply.frame('value', 3, 1))).toEqual({ response: 3, isDisposed: true });
    expect(read(reply.frame('next', 1, 1))).toEqual({ response: 1 });
    expect(read(reply.frame('end', undefined, 1))).toEqual({ isDisposed: true });
    expect(read(reply.frame('error', { message: 'boom' }, 1))).toEqual({ err: { message: 'boom' } });
    expect(reply.frame('next', 1, 1).properties?.userProperties).toEqual([[REPLY_KIND, 'next']]);
  });

  it('reads an event (no response topic) without a reply address, and ignores foreign correlation data', () => {
    expect(responder.readRequest(received(caller.frameEvent('math/sum', request(5))))).toEqual({ data: 5, reply: undefined });
    expect(caller.replyId(received({ topic: 'replies/c1', payload: Buffer.from('1'), properties: { correlationData: Buffer.from('abc') } }))).toBeUndefined();
  });

  it('lets the deserializer’s error through for the transport to report', () => {
    const failing = new NativeProtocol({ ...settings(), deserializer: { deserialize: () => { throw new Error('bad payload'); } } });
    expect(() => failing.readRequest(received({ topic: 't', payload: Buffer.from('x') }))).toThrow('bad payload');
  });
});

describe('compat protocol (Nest built-in Transport.MQTT envelope)', () => {
  const caller = new CompatProtocol(settings());
  const responder = new CompatProtocol(settings());

  it('frames requests and events in the built-in envelope', () => {
    const args = caller.frameRequest('math/sum', request([1, 2]), 'id-1');
    expect(JSON.parse(text(args))).toEqual({ pattern: 'math/sum', data: [1, 2], id: 'id-1' });
    expect(args.properties?.responseTopic).toBeUndefined();
    expect(JSON.parse(text(caller.frameEvent('math/sum', request(7))))).toEqual({ pattern: 'math/sum', data: 7 });
    expect(caller.nextId()).not.toBe(caller.nextId());
  });

  it('round-trips a request and each kind of reply on <topic>/reply', () => {
    const inbound = responder.readRequest(received(caller.frameRequest('math/sum', request({ a: 1 }), 'id-2')));
    expect(inbound.data).toEqual({ a: 1 });
    const reply = inbound.reply!;
    expect(reply.topic).toBe('math/sum/reply');
    expect(reply.failureAck).toBe(0x00);
    const wire = (args: PublishArgs) => JSON.parse(text(args)) as unknown;
    const read = (args: PublishArgs) => {
      const message = received(args);
      expect(caller.replyId(message)).toBe('id-2');
      return caller.readReply(message);
    };
    expect(wire(reply.frame('value', 3, 1))).toEqual({ id: 'id-2', response: 3, isDisposed: true });
    expect(read(reply.frame('value', 3, 1))).toEqual({ response: 3, isDisposed: true });
    expect(wire(reply.frame('next', 1, 1))).toEqual({ id: 'id-2', response: 1 });
    expect(read(reply.frame('next', 1, 1))).toEqual({ response: 1 });
    expect(wire(reply.frame('end', undefined, 1))).toEqual({ id: 'id-2', isDisposed: true });
    expect(read(reply.frame('end', undefined, 1))).toEqual({ isDisposed: true });
    expect(wire(reply.frame('error', { message: 'boom' }, 1))).toEqual({ id: 'id-2', err: { message: 'boom' }, isDisposed: true });
    expect(read(reply.frame('error', { message: 'boom' }, 1))).toEqual({ err: { message: 'boom' } });
  });

  it('applies a record returned by the handler to the reply PUBLISH', () => {
    const reply = responder.readRequest(received(caller.frameRequest('math/sum', request(1), 'id-3'))).reply!;
    const args = reply.frame('value', new Mqtt5RecordBuilder(9).setQoS(2).build(), 1);
    expect(args.qos).toBe(2);
    expect(JSON.parse(text(args))).toEqual({ id: 'id-3', response: 9, isDisposed: true });
  });

  it('reads built-in events and plain payloads without a reply address, and answers v5 requests natively', () => {
    expect(responder.readRequest(received(caller.frameEvent('math/sum', request(5))))).toEqual({ data: 5, reply: undefined });
    expect(responder.readRequest(received({ topic: 't', payload: Buffer.from('42') }))).toEqual({ data: 42, reply: undefined });
    const native = new NativeProtocol(settings());
    openCaller(native, 'replies/c2');
    const reply = responder.readRequest(received(native.frameRequest('math/sum', request(1), native.nextId()))).reply!;
    expect(reply.topic).toBe('replies/c2');
    expect(reply.failureAck).toBe(0x80);
  });

  it('ignores what is not a reply envelope', () => {
    expect(caller.replyId(received({ topic: 'math/sum/reply', payload: Buffer.from('not json') }))).toBeUndefined();
    expect(caller.replyId(received({ topic: 'math/sum/reply', payload: Buffer.from('{"response":1}') }))).toBeUndefined();
  });
});
