/**
 * Cross-check against mqtt-packet 9 (a devDependency, never used at run time) on a generated corpus:
 * our decoder reads mqtt-packet's bytes into the same packet, and mqtt-packet's parser reads ours back
 * into the same packet.
 */
import { describe, it, expect } from '@jest/globals';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import {
  PacketType,
  decodePacket,
  encodePacket,
  type Packet,
  type Properties,
  type Subscription,
  type UserProperty,
} from '../../../lib/codec/index.js';
import { anyPacket } from './arbitraries.js';

type Loose = Record<string, unknown>;
const CMD = ['', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'] as const;

// ---- property sections: ours have user properties as ordered pairs, mqtt-packet as { name: value | value[] } ----

function propsToTheirs(props: Properties): Loose {
  const out: Loose = { ...props };
  if (props.userProperties !== undefined) {
    const users: Record<string, string | string[]> = {};
    for (const [name, value] of props.userProperties) {
      const prev = users[name];
      users[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
    out.userProperties = users;
  }
  return out;
}

function propsToOurs(props: Loose): Properties {
  const out: Loose = {};
  for (const [key, value] of Object.entries(props)) {
    if (key !== 'userProperties') out[key] = value;
  }
  if (props.userProperties !== undefined) {
    const pairs: UserProperty[] = [];
    for (const [name, v] of Object.entries(props.userProperties as Record<string, string | string[]>)) {
      for (const value of Array.isArray(v) ? v : [v]) pairs.push([name, value]);
    }
    out.userProperties = pairs;
  }
  return out as Properties;
}

function withTheirProps(o: Loose, props: Properties | undefined): Loose {
  if (props !== undefined) o.properties = propsToTheirs(props);
  return o;
}

function withOurProps<T extends object>(o: T, props: unknown): T {
  return props === undefined ? o : { ...o, properties: propsToOurs(props as Loose) };
}

// ---- packets ----

function toTheirs(p: Packet): Loose {
  const cmd = CMD[p.type];
  switch (p.type) {
    case PacketType.CONNECT: {
      const o: Loose = { cmd, protocolId: 'MQTT', protocolVersion: 5, clientId: p.clientId, keepalive: p.keepAlive, clean: p.cleanStart };
      if (p.will !== undefined) {
        o.will = withTheirProps({ topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain }, p.will.properties);
      }
      if (p.username !== undefined) o.username = p.username;
      if (p.password !== undefined) o.password = p.password;
      return withTheirProps(o, p.properties);
    }
    case PacketType.CONNACK:
      return withTheirProps({ cmd, sessionPresent: p.sessionPresent, reasonCode: p.reasonCode }, p.properties);
    case PacketType.PUBLISH: {
      const o: Loose = { cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
      if (p.qos !== 0) o.messageId = p.packetId;
      return withTheirProps(o, p.properties);
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return withTheirProps({ cmd, messageId: p.packetId, reasonCode: p.reasonCode ?? 0 }, p.properties);
    case PacketType.SUBSCRIBE:
      return withTheirProps(
        {
          cmd,
          messageId: p.packetId,
          subscriptions: p.subscriptions.map((s) => ({ topic: s.topicFilter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling })),
        },
        p.properties,
      );
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return withTheirProps({ cmd, messageId: p.packetId, granted: p.reasonCodes }, p.properties);
    case PacketType.UNSUBSCRIBE:
      return withTheirProps({ cmd, messageId: p.packetId, unsubscriptions: p.topicFilters }, p.properties);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return { cmd };
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return withTheirProps({ cmd, reasonCode: p.reasonCode ?? 0 }, p.properties);
  }
}

function toOurs(o: Loose): Packet {
  const type = CMD.indexOf(o.cmd as (typeof CMD)[number]);
  switch (type) {
    case PacketType.CONNECT: {
      const p: Packet = withOurProps(
        {
          type,
          protocolName: o.protocolId as string,
          protocolVersion: o.protocolVersion as number,
          clientId: o.clientId as string,
          keepAlive: o.keepalive as number,
          cleanStart: o.clean as boolean,
        },
        o.properties,
      );
      const will = o.will as Loose | undefined;
      if (will !== undefined) {
        p.will = withOurProps(
          { topic: will.topic as string, payload: will.payload as Buffer, qos: will.qos as 0 | 1 | 2, retain: will.retain as boolean },
          will.properties,
        );
      }
      if (o.username !== undefined) p.username = o.username as string;
      if (o.password !== undefined) p.password = o.password as Buffer;
      return p;
    }
    case PacketType.CONNACK:
      return withOurProps({ type, sessionPresent: o.sessionPresent as boolean, reasonCode: o.reasonCode as number }, o.properties);
    case PacketType.PUBLISH: {
      const p: Packet = { type, topic: o.topic as string, payload: o.payload as Buffer, qos: o.qos as 0 | 1 | 2, retain: o.retain as boolean, dup: o.dup as boolean };
      if (p.qos !== 0) p.packetId = o.messageId as number;
      return withOurProps(p, o.properties);
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return withOurProps({ type, packetId: o.messageId as number, reasonCode: o.reasonCode as number }, o.properties) as Packet;
    case PacketType.SUBSCRIBE:
      return withOurProps(
        {
          type,
          packetId: o.messageId as number,
          subscriptions: (o.subscriptions as Loose[]).map(
            (s): Subscription => ({
              topicFilter: s.topic as string,
              qos: s.qos as 0 | 1 | 2,
              noLocal: s.nl as boolean,
              retainAsPublished: s.rap as boolean,
              retainHandling: s.rh as 0 | 1 | 2,
            }),
          ),
        },
        o.properties,
      );
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return withOurProps({ type, packetId: o.messageId as number, reasonCodes: o.granted as number[] }, o.properties) as Packet;
    case PacketType.UNSUBSCRIBE:
      return withOurProps({ type, packetId: o.messageId as number, topicFilters: o.unsubscriptions as string[] }, o.properties);
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      return { type } as Packet;
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return withOurProps({ type, reasonCode: o.reasonCode as number }, o.properties) as Packet;
    default:
      throw new Error(`unexpected mqtt-packet cmd ${String(o.cmd)}`);
  }
}

/**
 * Steers a generated packet around mqtt-packet's own limits (not ours), so that the corpus tests the
 * common ground: it drops a repeated user property whose earlier value is '' (it then overwrites instead
 * of collecting), does not know DISCONNECT 0x8C (Bad authentication method, table 2-6), and cannot parse
 * an AUTH without reason code (the short form of 3.15.2.1).
 */
function commonGround(p: Packet): Packet {
  const fix = (props: Properties | undefined): Properties | undefined =>
    props?.userProperties === undefined
      ? props
      : { ...props, userProperties: props.userProperties.map(([k, v]): UserProperty => [k, v === '' ? '-' : v]) };
  let q: Packet = { ...p };
  if ('properties' in q && q.properties !== undefined) q = { ...q, properties: fix(q.properties)! } as Packet;
  if (q.type === PacketType.CONNECT && q.will?.properties !== undefined) q.will = { ...q.will, properties: fix(q.will.properties)! };
  if (q.type === PacketType.DISCONNECT && q.reasonCode === 0x8c) q.reasonCode = 0x80;
  if (q.type === PacketType.AUTH && (q.reasonCode ?? 0) === 0 && q.properties === undefined) q.properties = { reasonString: 'r' };
  return q;
}

/** Parses one packet with a fresh mqtt-packet parser (protocol version 5). */
function theirParse(bytes: Buffer): Loose {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: Loose[] = [];
  let error: Error | undefined;
  parser.on('packet', (packet: unknown) => packets.push(packet as Loose));
  parser.on('error', (err: Error) => {
    error = err;
  });
  parser.parse(bytes);
  if (error !== undefined) throw error;
  expect(packets).toHaveLength(1);
  return packets[0]!;
}

describe('cross-check with mqtt-packet 9', () => {
  it('our decoder reads what mqtt-packet generates', () => {
    fc.assert(
      fc.property(anyPacket.map(commonGround), (p) => {
        const theirBytes = mqttPacket.generate(toTheirs(p) as unknown as mqttPacket.Packet, { protocolVersion: 5 });
        expect(decodePacket(theirBytes)).toStrictEqual(p);
      }),
      { numRuns: 3000 },
    );
  });

  it("mqtt-packet's parser reads what we encode", () => {
    fc.assert(
      fc.property(anyPacket.map(commonGround), (p) => {
        expect(toOurs(theirParse(encodePacket(p)))).toStrictEqual(p);
      }),
      { numRuns: 3000 },
    );
  });

  it('produces the same bytes as mqtt-packet for a plain PUBLISH', () => {
    const p: Packet = { type: 3, topic: 'sensors/room-42/temp', payload: Buffer.alloc(64, 1), qos: 1, retain: false, dup: false, packetId: 9 };
    expect(encodePacket(p).equals(mqttPacket.generate(toTheirs(p) as unknown as mqttPacket.Packet, { protocolVersion: 5 }))).toBe(true);
  });
});
