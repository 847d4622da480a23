/**
 * `$SYS/broker/…` statistics (options.sysInterval): published retained, updated every interval with
 * correct values, not matched by `#` or `+/…` (spec 4.7.2), off by default; clients may not publish to
 * `$SYS` (PUBACK 0x87, as Mosquitto answers); the byte counters count socket bytes exactly.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { connect as netConnect } from 'node:net';
import type { MqttClient as MqttJsClient } from 'mqtt';
import { encodePacket, PacketType } from '../../../lib/codec/index.js';
import { withTimeout } from '../../helpers/wait.js';
import { startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

/** Resolves with the payload of the first message on `topic` whose payload satisfies `pred`. */
function valueOf(c: MqttJsClient, topic: string, pred: (v: string) => boolean = () => true, ms = 5000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      const on = (t: string, payload: Buffer): void => {
        if (t !== topic || !pred(payload.toString())) return;
        c.off('message', on);
        resolve(payload.toString());
      };
      c.on('message', on);
    }),
    ms,
    `${topic}`,
  );
}

describe('$SYS topics', () => {
  it('publishes Mosquitto-named statistics, retained, and updates them every interval', async () => {
    tb = await startBroker({ sysInterval: 1 });
    const c = await tb.mqttjs();
    const retained = new Map<string, string>();
    c.on('message', (t, p, packet) => {
      if (packet.retain) retained.set(t, p.toString());
    });
    const first = valueOf(c, '$SYS/broker/uptime');
    await c.subscribeAsync('$SYS/#', { qos: 0 });
    const up0 = await first;
    expect(up0).toMatch(/^\d+ seconds$/);
    for (const t of [
      'version',
      'clients/connected',
      'clients/total',
      'clients/disconnected',
      'clients/maximum',
      'messages/received',
      'messages/sent',
      'messages/dropped',
      'publish/messages/received',
      'publish/messages/sent',
      'publish/messages/dropped',
      'subscriptions/count',
      'retained messages/count',
      'bytes/received',
      'bytes/sent',
      'load/bytes/received/1min',
      'load/bytes/received/5min',
      'load/bytes/received/15min',
      'load/bytes/sent/1min',
      'load/bytes/sent/15min',
    ]) {
      expect({ t, present: retained.has(`$SYS/broker/${t}`) }).toEqual({ t, present: true });
    }
    expect(retained.get('$SYS/broker/version')).toMatch(/^nest-mqtt5 version \d+\.\d+\.\d+/);
    expect(retained.get('$SYS/broker/load/bytes/sent/1min')).toMatch(/^\d+\.\d\d$/);
    // Updated: the uptime moves on with the next intervals (live, not retained, messages now).
    const later = await valueOf(c, '$SYS/broker/uptime', (v) => Number.parseInt(v, 10) > Number.parseInt(up0, 10), 4000);
    expect(Number.parseInt(later, 10)).toBeGreaterThan(Number.parseInt(up0, 10));
  }, 15_000);

  it('counts connected clients and received messages correctly', async () => {
    tb = await startBroker({ sysInterval: 1 });
    const watcher = await tb.mqttjs();
    await watcher.subscribeAsync('$SYS/broker/#', { qos: 0 });
    const n = 4;
    const m = 7;
    const connectedSeen = valueOf(watcher, '$SYS/broker/clients/connected', (v) => v === String(n + 1), 4000);
    const receivedSeen = valueOf(watcher, '$SYS/broker/messages/received', (v) => v === String(m), 4000);
    const others: MqttJsClient[] = [];
    for (let i = 0; i < n; i++) others.push(await tb.mqttjs());
    for (let i = 0; i < m; i++) await others[0]!.publishAsync(`data/${i}`, 'x', { qos: 1 });
    // The watcher and n others are connected; exactly m messages were published (the $SYS ones are not counted).
    // Both are watched at once: one update carries both values.
    await Promise.all([connectedSeen, receivedSeen]);
    await others[1]!.endAsync();
    await valueOf(watcher, '$SYS/broker/clients/connected', (v) => v === String(n), 4000);
    expect(tb.broker.metrics().messagesReceived).toBe(m);
  }, 15_000);

  it('is not matched by # or +/… at the first level (spec 4.7.2)', async () => {
    tb = await startBroker({ sysInterval: 1 });
    const sys = await tb.mqttjs();
    const all = await tb.mqttjs();
    const got: string[] = [];
    all.on('message', (t) => got.push(t));
    await all.subscribeAsync(['#', '+/broker/uptime', '+/#'], { qos: 0 });
    const next = valueOf(sys, '$SYS/broker/uptime', () => true, 4000);
    await sys.subscribeAsync('$SYS/broker/uptime', { qos: 0 });
    await next; // retained at once
    await valueOf(sys, '$SYS/broker/uptime', () => true, 4000); // and one live update, routed to every match
    const sentinel = valueOf(all, 'sentinel');
    await sys.publishAsync('sentinel', 'end', { qos: 1 });
    await sentinel;
    expect(got.filter((t) => t.startsWith('$'))).toEqual([]);
  }, 15_000);

  it('is off with sysInterval 0 (the default)', async () => {
    tb = await startBroker();
    const c = await tb.mqttjs();
    const got: string[] = [];
    c.on('message', (t) => got.push(t));
    await c.subscribeAsync(['$SYS/#', 'sentinel'], { qos: 1 });
    const sentinel = valueOf(c, 'sentinel');
    await c.publishAsync('sentinel', 'end', { qos: 1 });
    await sentinel;
    expect(got).toEqual(['sentinel']);
    expect(tb.broker.metrics().retainedMessages).toBe(0);
  });

  it('refuses client publishes to $SYS with 0x87, counted and reported', async () => {
    tb = await startBroker({ sysInterval: 1 });
    const denied: unknown[] = [];
    tb.broker.on('denied', (client, info) => denied.push({ id: client.clientId, ...info }));
    const id = uid();
    const c = await tb.mqttjs({ clientId: id });
    const err = await c.publishAsync('$SYS/broker/uptime', 'forever', { qos: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 0x87 });
    expect(denied).toEqual([{ id, action: 'publish', topic: '$SYS/broker/uptime', reasonCode: 0x87 }]);
    expect(tb.broker.metrics().deniedPublishes).toBe(1);
    // Other $ topics are not the broker's: allowed.
    await c.publishAsync('$other/x', 'ok', { qos: 1 });
  });

  it('leaves $SYS to the application when the broker does not publish there (sysInterval 0)', async () => {
    tb = await startBroker();
    const c = await tb.mqttjs();
    await c.publishAsync('$SYS/app/x', 'mine', { qos: 1 });
    expect(tb.broker.metrics().deniedPublishes).toBe(0);
  });

  it('counts socket bytes exactly', async () => {
    tb = await startBroker();
    const connect = encodePacket({ type: PacketType.CONNECT, clientId: uid(), cleanStart: true, keepAlive: 0 });
    const socket = netConnect(tb.port, '127.0.0.1');
    const connack = await withTimeout(
      new Promise<Buffer>((resolve, reject) => {
        socket.once('error', reject);
        socket.write(connect);
        socket.once('data', resolve);
      }),
      2000,
      'CONNACK',
    );
    const m = tb.broker.metrics();
    expect(connack[0]).toBe(0x20);
    expect(m.bytesReceived).toBe(connect.length);
    expect(m.bytesSent).toBe(connack.length);
    socket.destroy();
  });
});
