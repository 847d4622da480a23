/**
 * Known-malformed and out-of-order inputs, byte for byte, each with the exact answer the spec dictates,
 * over TCP and over WebSocket: CONNACK ≥ 0x80 before the connection is accepted (no DISCONNECT may
 * precede CONNACK, MQTT-3.14.0-1), DISCONNECT with the reason code after, then the connection closes,
 * and the broker keeps serving a well-behaved client. The fuzzer checks the same rules statistically;
 * this table pins them down.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MqttBroker, type MqttBrokerOptions } from '../../lib/broker/index.js';
import { PacketType, encodePacket } from '../../lib/codec/index.js';
import { Wire, describe as describePacket, type Transport, type WireTarget } from '../helpers/wire.js';

/** CONNECT v5, client id `c1`, keep alive 60, clean start, no properties. */
const CONNECT = '10 0f 00 04 4d515454 05 02 003c 00 0002 6331';

interface Case {
  name: string;
  /** Sent before CONNECT (answer: CONNACK) or after a successful CONNECT (answer: DISCONNECT). */
  when: 'before' | 'after';
  bytes: string;
  code: number;
  /** Broker options other than the shared broker's. */
  broker?: 'limited' | 'qos1';
}

const CASES: Case[] = [
  // Before CONNACK.
  { name: 'PUBLISH before CONNECT (MQTT-3.1.0-1)', when: 'before', bytes: '30 05 0001 61 00 78', code: 0x82 },
  { name: 'PINGREQ before CONNECT', when: 'before', bytes: 'c0 00', code: 0x82 },
  { name: 'AUTH before CONNECT', when: 'before', bytes: 'f0 00', code: 0x82 },
  { name: 'CONNECT reserved flag set (MQTT-3.1.2-3)', when: 'before', bytes: '10 0f 00 04 4d515454 05 03 003c 00 0002 6331', code: 0x81 },
  { name: 'CONNECT will QoS 3 (MQTT-3.1.2-12)', when: 'before', bytes: '10 0f 00 04 4d515454 05 1e 003c 00 0002 6331', code: 0x81 },
  { name: 'CONNECT client id not UTF-8 (MQTT-1.5.4-1)', when: 'before', bytes: '10 11 00 04 4d515454 05 02 003c 00 0004 6331 c080', code: 0x81 },
  { name: 'CONNECT five-byte remaining length (1.5.5)', when: 'before', bytes: '10 ffffffff7f', code: 0x81 },
  { name: 'CONNECT protocol name wrong', when: 'before', bytes: '10 0f 00 04 4d515458 05 02 003c 00 0002 6331', code: 0x84 },
  { name: 'CONNECT larger than maximumPacketSize', when: 'before', bytes: '10 ffff03', code: 0x95 },
  { name: 'CONNECT property duplicated (2.2.2.2)', when: 'before', bytes: '10 15 0004 4d515454 05 02 003c 06 21000a 21000a 0002 6331', code: 0x82 },
  // After CONNACK.
  { name: 'second CONNECT (MQTT-3.1.0-2)', when: 'after', bytes: CONNECT, code: 0x82 },
  { name: 'PUBLISH QoS 3 (MQTT-3.3.1-4)', when: 'after', bytes: '36 07 0001 61 0001 00 78', code: 0x81 },
  { name: 'PUBLISH QoS 0 with DUP (MQTT-3.3.1-2)', when: 'after', bytes: '38 04 0001 61 00', code: 0x81 },
  { name: 'PUBLISH topic with a wildcard (MQTT-3.3.2-2)', when: 'after', bytes: '30 06 0003 612f2b 00', code: 0x90 },
  { name: 'PUBLISH topic with U+0000 (MQTT-1.5.4-2)', when: 'after', bytes: '30 06 0003 610062 00', code: 0x81 },
  { name: 'PUBLISH QoS 1 packet identifier 0 (MQTT-2.2.1-3)', when: 'after', bytes: '32 06 0001 61 0000 00', code: 0x82 },
  { name: 'PUBLISH unknown property id (2.2.2.2)', when: 'after', bytes: '30 07 0001 61 02 7f00 78', code: 0x81 },
  { name: 'PUBLISH property of another packet (2.2.2.2)', when: 'after', bytes: '30 09 0001 61 05 1100000001', code: 0x81 },
  { name: 'PUBLISH property duplicated (2.2.2.2)', when: 'after', bytes: '30 08 0001 61 04 0100 0100', code: 0x82 },
  { name: 'PUBLISH property length past the end', when: 'after', bytes: '30 03 0001 61', code: 0x81 },
  { name: 'PUBLISH topic alias above the maximum (3.3.2.3.4)', when: 'after', bytes: '30 08 0001 61 03 230100 78', code: 0x94 },
  { name: 'PUBLISH unknown topic alias, empty topic', when: 'after', bytes: '30 07 0000 03 230001 78', code: 0x94 },
  { name: 'PUBLISH with a subscription identifier from a client (MQTT-3.3.4-6)', when: 'after', bytes: '30 06 0001 61 02 0b01', code: 0x82 },
  { name: 'PUBLISH larger than maximumPacketSize', when: 'after', bytes: '30 ffff03', code: 0x95 },
  { name: 'PUBREL reserved flags 0000 (MQTT-3.6.1-1)', when: 'after', bytes: '60 02 0001', code: 0x81 },
  { name: 'PUBACK reason code not allowed', when: 'after', bytes: '40 03 0001 05', code: 0x82 },
  { name: 'SUBSCRIBE reserved flags 0000 (MQTT-3.8.1-1)', when: 'after', bytes: '80 07 0001 00 0001 61 00', code: 0x81 },
  { name: 'SUBSCRIBE without subscriptions (MQTT-3.8.3-2)', when: 'after', bytes: '82 03 0001 00', code: 0x82 },
  { name: 'SUBSCRIBE options reserved bits (MQTT-3.8.3-5)', when: 'after', bytes: '82 07 0001 00 0001 61 c0', code: 0x81 },
  { name: 'SUBSCRIBE maximum QoS 3 (3.8.3.1)', when: 'after', bytes: '82 07 0001 00 0001 61 03', code: 0x82 },
  { name: 'UNSUBSCRIBE without filters (MQTT-3.10.3-2)', when: 'after', bytes: 'a2 03 0001 00', code: 0x82 },
  { name: 'PINGREQ with a body', when: 'after', bytes: 'c0 01 00', code: 0x81 },
  { name: 'CONNACK from a client', when: 'after', bytes: '20 03 00 00 00', code: 0x82 },
  { name: 'SUBACK from a client', when: 'after', bytes: '90 04 0001 00 00', code: 0x82 },
  { name: 'PINGRESP from a client', when: 'after', bytes: 'd0 00', code: 0x82 },
  { name: 'reserved packet type 0', when: 'after', bytes: '00 00', code: 0x81 },
  { name: 'AUTH without enhanced authentication (4.12)', when: 'after', bytes: 'f0 06 18 04 150001 4d', code: 0x82 },
  { name: 'DISCONNECT raising session expiry from 0 (MQTT-3.14.2-2)', when: 'after', bytes: 'e0 07 00 05 110000003c', code: 0x82 },
  // Limits and features switched off (broker `limited`).
  { name: 'PUBLISH QoS 2 above maximumQoS 1 (MQTT-3.2.2-11)', when: 'after', bytes: '34 06 0001 61 0001 00', code: 0x9b, broker: 'qos1' },
  { name: 'PUBLISH retained, retain not available (MQTT-3.2.2-14)', when: 'after', bytes: '31 04 0001 61 00', code: 0x9a, broker: 'limited' },
  { name: 'SUBSCRIBE with a subscription identifier, not available (3.2.2.3.12)', when: 'after', bytes: '82 09 0001 02 0b01 0001 61 00', code: 0xa1, broker: 'limited' },
  {
    name: 'three QoS 2 publishes without PUBREL past receiveMaximum 2 (3.3.4, MQTT-3.3.4-7)',
    when: 'after',
    bytes: '34 06 0001 61 0001 00' + '34 06 0001 61 0002 00' + '34 06 0001 61 0003 00',
    code: 0x93,
    broker: 'limited',
  },
];

const BROKERS = {
  shared: {},
  limited: { retainAvailable: false, subscriptionIdentifiersAvailable: false, receiveMaximum: 2 },
  qos1: { maximumQoS: 1 },
} satisfies Record<string, MqttBrokerOptions>;

describe.each<Transport>(['tcp', 'ws'])('malformed input over %s', (transport) => {
  const brokers: MqttBroker[] = [];
  const targets: Record<keyof typeof BROKERS, WireTarget> = { shared: {}, limited: {}, qos1: {} };
  beforeAll(async () => {
    for (const [key, opts] of Object.entries(BROKERS) as [keyof typeof BROKERS, MqttBrokerOptions][]) {
      // maximumPacketSize 65536 makes the 3-byte lengths `ffff03` (65535 + …) too large.
      const broker = new MqttBroker({ maximumPacketSize: 65_536, closeGracePeriod: 200, ...opts });
      const a = await broker.listen(transport === 'tcp' ? { tcp: { port: 0, host: '127.0.0.1' } } : { ws: { port: 0, host: '127.0.0.1' } });
      targets[key] = { tcpPort: a.tcp?.port, wsUrl: a.ws?.url };
      brokers.push(broker);
    }
  });
  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.close()));
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const target = targets[c.broker ?? 'shared'];
    const wire = await Wire.open(transport, target);
    try {
      if (c.when === 'after') {
        wire.sendRaw(CONNECT.replace('6331', '6332'));
        const connack = await wire.expect(PacketType.CONNACK);
        expect(connack.reasonCode).toBe(0);
      }
      wire.sendRaw(c.bytes);
      let answer = await wire.next();
      // Acknowledgements of the valid publishes before the offending one.
      while (answer.type === PacketType.PUBREC || answer.type === PacketType.PUBACK) answer = await wire.next();
      const want = c.when === 'before' ? PacketType.CONNACK : PacketType.DISCONNECT;
      expect(describePacket(answer)).toBe(describePacket({ type: want, reasonCode: c.code, sessionPresent: false } as never));
      // The broker closes the connection after its answer, without anything more.
      await wire.waitClosed();
      expect(wire.packets[wire.packets.length - 1]).toBe(answer);
      expect(wire.decodeError).toBeUndefined();
    } finally {
      wire.destroy();
    }
    // And keeps serving others.
    const { wire: ok, connack } = await Wire.connect(transport, target);
    try {
      expect(connack.reasonCode).toBe(0);
      ok.send({ type: PacketType.PINGREQ });
      await ok.expect(PacketType.PINGRESP);
    } finally {
      ok.destroy();
    }
  });

  if (transport === 'ws') {
    it('a text frame closes the connection (MQTT-6.0.0-1)', async () => {
      const { wire, connack } = await Wire.connect('ws', targets.shared);
      try {
        expect(connack.reasonCode).toBe(0);
        wire.sendTextFrame('hello');
        await wire.waitClosed();
        expect(wire.closeCode).toBe(1003);
      } finally {
        wire.destroy();
      }
    });
  }
});

describe('older protocol versions', () => {
  let broker: MqttBroker;
  let port: number;
  beforeAll(async () => {
    broker = new MqttBroker({ closeGracePeriod: 200 });
    port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
  });
  afterAll(() => broker.close());

  /** Sends `hex` on a fresh socket and resolves with every byte received until the broker closes. */
  function exchange(hex: string): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(Buffer.from(hex.replace(/\s+/g, ''), 'hex')));
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no close within 2 s; got ${Buffer.concat(chunks).toString('hex')}`));
      }, 2000);
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
    });
  }

  // The broker serves 3.1.1 and 3.1 clients in their own format: a 4-byte CONNACK, never a v5 one (with
  // properties), which they could not parse. A CONNECT whose protocol name does not match its level gets
  // return code 0x01 "unacceptable protocol version" (3.1.1 §3.2.2.3), as Mosquitto answers.
  it('an MQTT 3.1.1 CONNECT gets the 3.1.1 CONNACK 0x00 (20 02 00 00); its DISCONNECT closes', async () => {
    const answer = await exchange('10 0e 0004 4d515454 04 02 003c 0002 6331  e0 00');
    expect(answer.toString('hex')).toBe('20020000');
  });

  it('an MQTT 3.1 (MQIsdp) CONNECT gets CONNACK 0x00 (20 02 00 00); its DISCONNECT closes', async () => {
    const answer = await exchange('10 10 0006 4d5149736470 03 02 003c 0002 6331  e0 00');
    expect(answer.toString('hex')).toBe('20020000');
  });

  it('a CONNECT naming MQIsdp at level 4 gets CONNACK 0x01 (20 02 00 01), then close', async () => {
    const answer = await exchange('10 10 0006 4d5149736470 04 02 003c 0002 6331');
    expect(answer.toString('hex')).toBe('20020001');
  });

  it('a malformed packet after a 3.1.1 CONNECT closes the connection without a DISCONNECT', async () => {
    // PUBLISH QoS 1 whose topic length overruns the packet.
    const answer = await exchange('10 0e 0004 4d515454 04 02 003c 0002 6331  32 03 00 09 61');
    expect(answer.toString('hex')).toBe('20020000');
  });
});

// Found by the fuzzer (seed 2576737786, case 59042). A client may announce a Maximum Packet Size
// smaller than the CONNACK the broker would send. The broker must not send it a larger packet
// (MQTT-3.1.2-24) — but neither may it send anything before a CONNACK: refusing with a bare CONNACK
// 0x95 (5 bytes) when that fits, else closing, are the spec-abiding ways out.
describe('a client Maximum Packet Size smaller than the CONNACK', () => {
  let broker: MqttBroker;
  let port: number;
  beforeAll(async () => {
    broker = new MqttBroker({ closeGracePeriod: 200 });
    port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
  });
  afterAll(() => broker.close());

  it.each([11, 3])('maximumPacketSize %i: no packet before a CONNACK, none larger than the maximum', async (max) => {
    const wire = await Wire.open('tcp', { tcpPort: port });
    try {
      wire.send({ type: PacketType.CONNECT, clientId: `tiny-${max}`, keepAlive: 60, cleanStart: true, properties: { maximumPacketSize: max } });
      wire.send({ type: PacketType.PINGREQ });
      // Either the connection is accepted (CONNACK, then PINGRESP) or refused (CONNACK ≥ 0x80, or a close).
      const first = await wire.next().catch(() => undefined);
      if (first === undefined) {
        expect(wire.isSocketClosed).toBe(true);
      } else {
        expect(describePacket(first)).toMatch(/^CONNACK/);
        if ((first as { reasonCode: number }).reasonCode < 0x80) await wire.expect(PacketType.PINGRESP);
        else await wire.waitClosed();
      }
      for (const p of wire.packets) expect(encodePacket(p).length).toBeLessThanOrEqual(max);
    } finally {
      wire.destroy();
    }
  });
});
