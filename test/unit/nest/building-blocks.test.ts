import { describe, it, expect } from '@jest/globals';
import { MqttRecordBuilder } from '@nestjs/microservices';
import { PacketType, type PublishPacket } from '../../../lib/codec/index.js';
import {
  compatReplyTopic,
  decodeCompatIncoming,
  decodeCompatResponse,
  encodeCompatRequest,
  encodeCompatResponse,
} from '../../../lib/nest/compat.js';
import { Mqtt5Context } from '../../../lib/nest/context.js';
import { Mqtt5InvalidTopicError, Mqtt5NotConnectedError, Mqtt5OptionsError } from '../../../lib/nest/errors.js';
import { ServerMqtt5 } from '../../../lib/nest/server.js';
import { createMqttClient } from '../../../lib/nest/mqtt-client.js';
import { NEXT_PROPERTY, replyKind, REPLY_KIND } from '../../../lib/nest/protocol.js';
import { buildReply } from '../../../lib/nest/reply.js';
import { Mqtt5Record, Mqtt5RecordBuilder, toUserProperties, unwrapRecord } from '../../../lib/nest/record.js';
import { JsonDeserializer, JsonSerializer, OCTET_STREAM } from '../../../lib/nest/serializers.js';
import { buildSubscription, filtersOverlap, wildcardValues } from '../../../lib/nest/topic-pattern.js';

describe('buildSubscription', () => {
  it('subscribes a plain pattern with the default QoS 1', () => {
    expect(buildSubscription('a/b', undefined, undefined)).toEqual({
      pattern: 'a/b',
      group: undefined,
      subscription: { topicFilter: 'a/b', qos: 1 },
    });
  });

  it('turns the share extra into $share/<group>/<filter> and keeps the pattern for matching', () => {
    const s = buildSubscription('jobs/#', { qos: 2, share: 'workers' }, { qos: 0 });
    expect(s.pattern).toBe('jobs/#');
    expect(s.group).toBe('workers');
    expect(s.subscription).toEqual({ topicFilter: '$share/workers/jobs/#', qos: 2 });
  });

  it('applies the default group unless the handler opts out with share: false', () => {
    expect(buildSubscription('x/+', undefined, { share: 'g' }).subscription.topicFilter).toBe('$share/g/x/+');
    expect(buildSubscription('x/+', { share: false }, { share: 'g' }).subscription.topicFilter).toBe('x/+');
  });

  it('accepts a pattern that is already a shared subscription', () => {
    const s = buildSubscription('$share/g1/t/+', { share: 'ignored' }, undefined);
    expect(s).toMatchObject({ pattern: 't/+', group: 'g1', subscription: { topicFilter: '$share/g1/t/+' } });
  });

  it('passes subscription options through (noLocal, retainAsPublished, retainHandling)', () => {
    const s = buildSubscription('t', { noLocal: true, retainHandling: 2 }, { retainAsPublished: true });
    expect(s.subscription).toEqual({ topicFilter: 't', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 });
  });

  it('refuses invalid filters and noLocal on a shared subscription with reason code 0x8F', () => {
    for (const bad of ['a/#/b', 'a+', '', '$share//x', '$share/g']) {
      expect(() => buildSubscription(bad, undefined, undefined)).toThrow(Mqtt5InvalidTopicError);
    }
    try {
      buildSubscription('t', { share: 'g', noLocal: true }, undefined);
      throw new Error('expected a throw');
    } catch (err) {
      expect(err).toBeInstanceOf(Mqtt5InvalidTopicError);
      expect((err as Mqtt5InvalidTopicError).reasonCode).toBe(0x8f);
    }
  });
});

describe('wildcardValues', () => {
  it('returns one value per + and the remainder for #', () => {
    expect(wildcardValues('devices/+/telemetry', 'devices/d1/telemetry')).toEqual(['d1']);
    expect(wildcardValues('a/+/+/#', 'a/1/2/3/4')).toEqual(['1', '2', '3/4']);
    expect(wildcardValues('alerts/#', 'alerts')).toEqual(['']);
    expect(wildcardValues('#', 'x/y')).toEqual(['x/y']);
  });

  it('is empty for patterns without wildcards or topics that do not match', () => {
    expect(wildcardValues('a/b', 'a/b')).toEqual([]);
    expect(wildcardValues('a/+', 'b/c')).toEqual([]);
    expect(wildcardValues('a/+', 'a/b/c')).toEqual([]);
  });
});

describe('filtersOverlap', () => {
  it('finds filters some topic matches both ways', () => {
    const overlapping: [string, string][] = [
      ['a/b', 'a/b'],
      ['a/+', 'a/b'],
      ['a/#', 'a'],
      ['a/#', 'a/b/c'],
      ['+/b', 'a/+'],
      ['#', 'x/y'],
      ['sensors/+/temp', 'sensors/#'],
      ['$SYS/#', '$SYS/x'],
    ];
    for (const [x, y] of overlapping) {
      expect(filtersOverlap(x, y)).toBe(true);
      expect(filtersOverlap(y, x)).toBe(true);
    }
  });

  it('tells disjoint filters apart', () => {
    const disjoint: [string, string][] = [
      ['a/b', 'a/c'],
      ['a/+', 'a/b/c'],
      ['a/+/c', 'a/b/d'],
      ['a', 'a/b'],
      ['#', '$SYS/x'],
      ['+/x', '$SYS/x'],
      ['devices/+/telemetry', 'devices/+/commands/+'],
    ];
    for (const [x, y] of disjoint) {
      expect(filtersOverlap(x, y)).toBe(false);
      expect(filtersOverlap(y, x)).toBe(false);
    }
  });
});

describe('Mqtt5RecordBuilder', () => {
  it('builds a record with QoS, retain and v5 properties', () => {
    const record = new Mqtt5RecordBuilder({ v: 1 })
      .setQoS(2)
      .setRetain(true)
      .setContentType('application/json')
      .setMessageExpiryInterval(30)
      .setPayloadFormatIndicator(true)
      .addUserProperty('a', '1')
      .addUserProperty('a', '2')
      .build();
    expect(record).toBeInstanceOf(Mqtt5Record);
    expect(record.data).toEqual({ v: 1 });
    expect(record.options).toEqual({
      qos: 2,
      retain: true,
      properties: {
        contentType: 'application/json',
        messageExpiryInterval: 30,
        payloadFormatIndicator: true,
        userProperties: [
          ['a', '1'],
          ['a', '2'],
        ],
      },
    });
  });

  it('does not share state between the builder and built records', () => {
    const builder = new Mqtt5RecordBuilder('x').addUserProperty('k', 'v');
    const first = builder.build();
    builder.addUserProperty('k2', 'v2');
    expect(first.options.properties?.userProperties).toEqual([['k', 'v']]);
  });

  it('accepts user properties as an object with repeated values', () => {
    expect(toUserProperties({ a: '1', b: ['2', '3'] })).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['b', '3'],
    ]);
  });
});

describe('unwrapRecord', () => {
  it('leaves plain data alone', () => {
    expect(unwrapRecord(42)).toEqual({ data: 42, options: undefined });
  });

  it('understands Nest’s own MqttRecord (object user properties become pairs)', () => {
    const nest = new MqttRecordBuilder({ n: 1 })
      .setQoS(1)
      .setProperties({ userProperties: { tenant: 't1' }, contentType: 'text/x' })
      .build();
    expect(unwrapRecord(nest)).toEqual({
      data: { n: 1 },
      options: { qos: 1, properties: { userProperties: [['tenant', 't1']], contentType: 'text/x' } },
    });
  });
});

describe('JSON serializer / deserializer', () => {
  const ser = new JsonSerializer();
  const de = new JsonDeserializer();

  it('round-trips JSON values, strings included', () => {
    for (const v of [{ a: [1, 2] }, 'hello', 0, false, null, [1, 'x']]) {
      const out = ser.serialize(v);
      expect(Buffer.isBuffer(out)).toBe(true);
      expect(de.deserialize(out as Buffer, undefined)).toEqual(v);
    }
  });

  it('maps undefined to an empty payload and back', () => {
    const out = ser.serialize(undefined) as Buffer;
    expect(out.length).toBe(0);
    expect(de.deserialize(out, undefined)).toBeUndefined();
  });

  it('sends Buffers raw, tagged application/octet-stream, and gives a copy back', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x7b]);
    const out = ser.serialize(bytes);
    expect(out).toEqual({ payload: bytes, contentType: OCTET_STREAM });
    const back = de.deserialize(bytes, { contentType: OCTET_STREAM }) as Buffer;
    expect(back).toEqual(bytes);
    back[0] = 0;
    expect(bytes[0]).toBe(0xff);
  });

  it('hands plain-MQTT payloads over sensibly: text stays text, binary stays bytes', () => {
    expect(de.deserialize(Buffer.from('21.5'), undefined)).toBe(21.5);
    expect(de.deserialize(Buffer.from('on'), undefined)).toBe('on');
    expect(de.deserialize(Buffer.from([0xc3, 0x28]), undefined)).toEqual(Buffer.from([0xc3, 0x28]));
  });
});

describe('compatibility envelope (Nest built-in MQTT transport)', () => {
  it('encodes requests and events as the built-in client does', () => {
    expect(JSON.parse(encodeCompatRequest('sum', [1, 2], 'id-1').toString())).toEqual({ pattern: 'sum', data: [1, 2], id: 'id-1' });
    expect(JSON.parse(encodeCompatRequest({ cmd: 'x' }, 5).toString())).toEqual({ pattern: { cmd: 'x' }, data: 5 });
    expect(compatReplyTopic('a/b')).toBe('a/b/reply');
  });

  it('decodes incoming envelopes and refuses what is not one', () => {
    expect(decodeCompatIncoming(Buffer.from('{"pattern":"p","data":{"x":1},"id":"7"}'))).toEqual({
      pattern: 'p',
      data: { x: 1 },
      id: '7',
    });
    expect(decodeCompatIncoming(Buffer.from('{"pattern":"p","data":3}'))).toEqual({ pattern: 'p', data: 3 });
    expect(decodeCompatIncoming(Buffer.from('{"x":1}'))).toBeUndefined();
    expect(decodeCompatIncoming(Buffer.from('not json'))).toBeUndefined();
    expect(decodeCompatIncoming(Buffer.alloc(0))).toBeUndefined();
  });

  it('round-trips responses; an absent response stays absent', () => {
    const bytes = encodeCompatResponse({ id: 'a', response: { ok: true }, isDisposed: true });
    expect(decodeCompatResponse(bytes)).toEqual({ id: 'a', response: { ok: true }, isDisposed: true });
    expect(decodeCompatResponse(Buffer.from('{"id":"b","isDisposed":true}'))).toEqual({ id: 'b', isDisposed: true });
    expect(decodeCompatResponse(Buffer.from('{"id":"c","err":{"message":"x"},"isDisposed":true}'))).toEqual({
      id: 'c',
      err: { message: 'x' },
      isDisposed: true,
    });
    expect(decodeCompatResponse(Buffer.from('{"response":1}'))).toBeUndefined();
  });
});

describe('Mqtt5Context', () => {
  const packet: PublishPacket = {
    type: PacketType.PUBLISH,
    topic: 'devices/d7/telemetry',
    payload: Buffer.from('{}'),
    qos: 1,
    retain: true,
    dup: false,
    packetId: 3,
    properties: {
      contentType: 'application/json',
      userProperties: [
        ['trace', 't1'],
        ['trace', 't2'],
        ['__proto__', 'x'],
      ],
      responseTopic: 'r/1',
      correlationData: Buffer.from([1]),
    },
  };
  const ctx = new Mqtt5Context([packet.topic, packet, 'devices/+/telemetry', '$share/g/devices/+/telemetry']);

  it('exposes topic, packet, pattern, subscription and wildcard values', () => {
    expect(ctx.getTopic()).toBe('devices/d7/telemetry');
    expect(ctx.getPacket()).toBe(packet);
    expect(ctx.getPattern()).toBe('devices/+/telemetry');
    expect(ctx.getSubscription()).toBe('$share/g/devices/+/telemetry');
    expect(ctx.getWildcards()).toEqual(['d7']);
    expect(ctx.getArgs()[0]).toBe(packet.topic);
  });

  it('exposes properties and user properties (first value wins in getMetadata)', () => {
    expect(ctx.getQoS()).toBe(1);
    expect(ctx.isRetained()).toBe(true);
    expect(ctx.getContentType()).toBe('application/json');
    expect(ctx.getResponseTopic()).toBe('r/1');
    expect(ctx.getCorrelationData()).toEqual(Buffer.from([1]));
    expect(ctx.getUserProperty('trace')).toBe('t1');
    expect(ctx.getUserProperties()).toHaveLength(3);
    const metadata = ctx.getMetadata();
    expect(metadata.trace).toBe('t1');
    expect(Object.getPrototypeOf(metadata)).toBeNull();
    expect(Object.hasOwn(metadata, '__proto__')).toBe(true);
  });
});

describe('protocol helpers', () => {
  it('reads the reply kind from user properties', () => {
    expect(replyKind(undefined)).toBeUndefined();
    expect(replyKind([['x', 'y']])).toBeUndefined();
    expect(replyKind([['x', 'y'], [REPLY_KIND, 'next']])).toBe('next');
  });
});

describe('ServerMqtt5 options', () => {
  it('refuses a concurrency above the receive maximum, and out-of-range values', () => {
    expect(() => new ServerMqtt5({ concurrency: 10, receiveMaximum: 5 })).toThrow(Mqtt5OptionsError);
    expect(() => new ServerMqtt5({ concurrency: 0 })).toThrow(Mqtt5OptionsError);
    expect(() => new ServerMqtt5({ receiveMaximum: 70_000 })).toThrow(Mqtt5OptionsError);
    expect(() => new ServerMqtt5({ concurrency: 2000 })).not.toThrow();
  });

  it('unwrap() before listen() says what to do', () => {
    expect(() => new ServerMqtt5().unwrap()).toThrow(Mqtt5NotConnectedError);
  });
});

describe('buildReply', () => {
  const ser = new JsonSerializer();
  const cd = Buffer.from([1, 2, 3]);

  it('answers a plain value with the correlation data only', () => {
    expect(buildReply(ser, 'r/1', cd, 1, undefined, { a: 1 })).toEqual({
      topic: 'r/1',
      payload: Buffer.from('{"a":1}'),
      qos: 1,
      properties: { correlationData: cd },
    });
  });

  it('marks stream values and keeps a record’s QoS and properties, but not its routing properties', () => {
    const record = new Mqtt5RecordBuilder('v')
      .setQoS(0)
      .setContentType('text/plain')
      .setResponseTopic('not/yours')
      .setCorrelationData(Buffer.from('nope'))
      .addUserProperty('x', '1')
      .build();
    expect(buildReply(ser, 'r/1', cd, 2, NEXT_PROPERTY, record)).toEqual({
      topic: 'r/1',
      payload: Buffer.from('"v"'),
      qos: 0,
      properties: {
        contentType: 'text/plain',
        correlationData: cd,
        userProperties: [
          ['x', '1'],
          [REPLY_KIND, 'next'],
        ],
      },
    });
  });

  it('tags binary replies so the caller gets a Buffer back', () => {
    const reply = buildReply(ser, 'r', undefined, 1, undefined, Buffer.from([9]));
    expect(reply.properties).toEqual({ contentType: OCTET_STREAM });
  });
});

describe('createMqttClient', () => {
  it('builds the CONNECT from the options, with credentials from the URL unless given', () => {
    const { connectOptions, clientId } = createMqttClient(
      { url: 'mqtt://svc%40x:p%3Ass@127.0.0.1:1', sessionExpiryInterval: 30, keepAlive: 10, cleanStart: false },
      'server',
      { receiveMaximum: 64 },
    );
    expect(clientId).toMatch(/^nest-mqtt5-server-[0-9a-f]{12}$/);
    expect(connectOptions).toEqual({
      clientId,
      keepAlive: 10,
      cleanStart: false,
      username: 'svc@x',
      password: 'p:ss',
      properties: { sessionExpiryInterval: 30, receiveMaximum: 64 },
    });
    const explicit = createMqttClient({ url: 'mqtt://a:b@127.0.0.1:1', username: 'u', clientId: 'c1' }, 'client', {});
    expect(explicit.connectOptions).toMatchObject({ clientId: 'c1', username: 'u', password: 'b', cleanStart: true, keepAlive: 60 });
  });
});
