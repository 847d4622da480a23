/** Listeners (TCP, TLS with optional client certificates, WebSocket, secure WebSocket) and shutdown. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient as MqttJsClient } from 'mqtt';
import WebSocket from 'ws';
import { BrokerClosedError, MqttBroker, type ClientInfo } from '../../../lib/broker/index.js';
import { MessageReceiver, MqttClient, connectionFromUrl } from '../../../lib/client/index.js';
import { PacketType, encodePacket } from '../../../lib/codec/index.js';
import { RawClient } from '../../helpers/raw-client.js';
import { collectMessages, nextEvent, uid } from './support.js';

const fixture = (name: string): Buffer => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)));
const ca = fixture('ca.crt');
const serverTls = { key: fixture('server.key'), cert: fixture('server.crt') };

let broker: MqttBroker | undefined;
const clients: MqttJsClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await broker?.close();
  broker = undefined;
});

async function js(url: string, opts: Record<string, unknown> = {}): Promise<MqttJsClient> {
  const c = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000, clientId: uid('js'), ...opts });
  clients.push(c);
  return c;
}

/** Round trip through the broker: `sub` receives what `pub` publishes. */
async function roundTrip(sub: MqttJsClient, pub: MqttJsClient, topic: string): Promise<void> {
  await sub.subscribeAsync(topic, { qos: 1 });
  const got = collectMessages(sub, 1);
  await pub.publishAsync(topic, 'hello', { qos: 1 });
  expect((await got)[0]!.payload.toString()).toBe('hello');
}

describe('listen', () => {
  it('starts TCP, TLS, WebSocket and secure WebSocket listeners on ephemeral ports and returns their addresses', async () => {
    broker = new MqttBroker();
    const a = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' }, tls: { port: 0, host: '127.0.0.1', ...serverTls }, ws: { port: 0, host: '127.0.0.1' }, wss: { port: 0, host: '127.0.0.1', ...serverTls } });
    expect(a.tcp!.url).toBe(`mqtt://127.0.0.1:${a.tcp!.port}`);
    expect(a.tls!.url).toBe(`mqtts://127.0.0.1:${a.tls!.port}`);
    expect(a.ws!.url).toBe(`ws://127.0.0.1:${a.ws!.port}/mqtt`);
    expect(a.wss!.url).toBe(`wss://127.0.0.1:${a.wss!.port}/mqtt`);
    expect(new Set([a.tcp!.port, a.tls!.port, a.ws!.port, a.wss!.port]).size).toBe(4);
    // Clients on every transport talk to each other.
    const tcp = await js(a.tcp!.url);
    const tls = await js(a.tls!.url, { ca });
    const ws = await js(a.ws!.url);
    const wss = await js(a.wss!.url, { ca });
    await roundTrip(tcp, ws, 'x/1');
    await roundTrip(ws, tls, 'x/2');
    await roundTrip(tls, wss, 'x/3');
    await roundTrip(wss, tcp, 'x/4');
  });

  it('rejects when the port is taken', async () => {
    broker = new MqttBroker();
    const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const other = new MqttBroker();
    await expect(other.listen({ tcp: { port: tcp!.port, host: '127.0.0.1' } })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await other.close();
  });
});

describe('TLS', () => {
  it('refuses a plain MQTT client on the TLS port', async () => {
    broker = new MqttBroker();
    const { tls } = await broker.listen({ tls: { port: 0, host: '127.0.0.1', ...serverTls } });
    const errors = nextEvent<[ClientInfo | null, Error]>(broker, 'clientError');
    const c = await RawClient.open(tls!.port);
    c.send({ type: PacketType.CONNECT, clientId: 'plain', keepAlive: 0, cleanStart: true });
    await c.waitClosed();
    expect(c.received.some((p) => p.type === PacketType.CONNACK)).toBe(false);
    expect((await errors)[0]).toBeNull();
  });

  it('requires a client certificate signed by the CA when asked, and shows it to the hooks', async () => {
    const seen: ClientInfo[] = [];
    broker = new MqttBroker({
      authenticate: (r) => {
        seen.push(r.client);
        return true;
      },
    });
    const { tls } = await broker.listen({ tls: { port: 0, host: '127.0.0.1', ...serverTls, ca, requireClientCertificate: true } });
    const good = await js(tls!.url, { ca, key: fixture('client.key'), cert: fixture('client.crt') });
    expect(good.connected).toBe(true);
    expect(seen[0]!.transport).toBe('tls');
    expect(seen[0]!.peerCertificate?.subject.CN).toBe('device-42');
    await expect(js(tls!.url, { ca })).rejects.toThrow();
    // A certificate the CA did not sign: the broker ends the TLS session before any MQTT. (MQTT.js does
    // not settle connectAsync() when a TLS 1.3 server rejects the certificate after the handshake, so a
    // raw TLS socket checks this.)
    const rogue = tlsConnect({ port: tls!.port, host: '127.0.0.1', ca, servername: 'localhost', key: fixture('rogue.key'), cert: fixture('rogue.crt') });
    const received: Buffer[] = [];
    rogue.on('data', (d: Buffer) => received.push(d));
    rogue.on('error', () => undefined);
    rogue.once('secureConnect', () => rogue.write(encodePacket({ type: PacketType.CONNECT, clientId: 'rogue', keepAlive: 0, cleanStart: true })));
    await new Promise((r) => rogue.once('close', r));
    expect(received).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it('our client over TLS', async () => {
    broker = new MqttBroker();
    const { tls } = await broker.listen({ tls: { port: 0, host: '127.0.0.1', ...serverTls } });
    const client = new MqttClient(connectionFromUrl(tls!.url, { tls: { ca } } as never), { reconnect: false });
    try {
      const connack = await client.connect({ clientId: uid(), keepAlive: 0 });
      expect(connack.reasonCode).toBe(0);
    } finally {
      await client.disconnect();
    }
  });

  it('a TLS session without a required certificate has no peer certificate', async () => {
    broker = new MqttBroker();
    const { tls } = await broker.listen({ tls: { port: 0, host: '127.0.0.1', ...serverTls } });
    const connected = nextEvent<[ClientInfo]>(broker, 'connect');
    const socket = tlsConnect({ port: tls!.port, host: '127.0.0.1', ca, servername: 'localhost' });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write(encodePacket({ type: PacketType.CONNECT, clientId: 'tls-raw', keepAlive: 0, cleanStart: true }));
    const [client] = await connected;
    expect(client.peerCertificate).toBeUndefined();
    const closed = new Promise((r) => socket.once('close', r));
    socket.destroy();
    await closed;
  });
});

describe('WebSocket', () => {
  it('MQTT.js and our client over WebSocket with the mqtt subprotocol', async () => {
    broker = new MqttBroker();
    const { ws, tcp } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' }, tcp: { port: 0, host: '127.0.0.1' } });
    const viaWs = await js(ws!.url);
    const ours = new MqttClient(connectionFromUrl(ws!.url), { reconnect: false });
    await ours.connect({ clientId: uid(), keepAlive: 0 });
    const r = new MessageReceiver();
    await ours.subscribe({ subscriptions: [{ topicFilter: 'w', qos: 1 }] }, r);
    const viaTcp = await js(tcp!.url);
    await viaTcp.publishAsync('w', 'over ws', { qos: 1 });
    expect((await r.recv()).payload.toString()).toBe('over ws');
    await roundTrip(viaWs, viaTcp, 'w2');
    await ours.disconnect();
  });

  it('negotiates the mqtt subprotocol and closes on a text frame', async () => {
    broker = new MqttBroker();
    const { ws } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' } });
    const sock = new WebSocket(ws!.url, ['mqtt']);
    await new Promise<void>((resolve, reject) => {
      sock.once('open', () => resolve());
      sock.once('error', reject);
    });
    expect(sock.protocol).toBe('mqtt');
    const closed = new Promise<number>((resolve) => sock.once('close', (code: number) => resolve(code)));
    sock.send('not binary');
    expect(await closed).toBe(1003);
  });

  it('serves MQTT split across frames and several packets in one frame', async () => {
    broker = new MqttBroker();
    const { ws } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' } });
    const sock = new WebSocket(ws!.url, ['mqtt']);
    await new Promise<void>((resolve) => sock.once('open', () => resolve()));
    const frames: Buffer[] = [];
    const gotTwo = new Promise<void>((resolve) =>
      sock.on('message', (d: Buffer) => {
        frames.push(d);
        if (Buffer.concat(frames).length >= 4 + 2) resolve();
      }),
    );
    const connect = encodePacket({ type: PacketType.CONNECT, clientId: 'frames', keepAlive: 0, cleanStart: true });
    sock.send(connect.subarray(0, 5));
    sock.send(Buffer.concat([connect.subarray(5), encodePacket({ type: PacketType.PINGREQ })]));
    await gotTwo;
    const bytes = Buffer.concat(frames);
    expect(bytes[0]).toBe(0x20); // CONNACK
    expect(bytes.subarray(bytes.length - 2)).toEqual(Buffer.from([0xd0, 0x00])); // PINGRESP
    const closed = new Promise((r) => sock.once('close', r));
    sock.close();
    await closed;
  });

  it('answers plain HTTP requests with 426', async () => {
    broker = new MqttBroker();
    const { ws } = await broker.listen({ ws: { port: 0, host: '127.0.0.1' } });
    const res = await fetch(`http://127.0.0.1:${ws!.port}/mqtt`);
    expect(res.status).toBe(426);
    await res.text();
  });
});

describe('close', () => {
  it('sends DISCONNECT 0x8B to every client, closes every socket and listener, and resolves', async () => {
    broker = new MqttBroker({ closeGracePeriod: 100 });
    const { tcp, ws } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' }, ws: { port: 0, host: '127.0.0.1' } });
    const raw = await RawClient.connect(tcp!.port, { clientId: 'raw', properties: { sessionExpiryInterval: 60 }, will: { topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false } });
    const pending = await RawClient.open(tcp!.port); // no CONNECT yet
    const viaWs = await js(ws!.url);
    const jsDisconnect = nextEvent<[{ reasonCode?: number }]>(viaWs, 'disconnect');
    const b = broker;
    broker = undefined;
    await b.close();
    expect((await raw.client.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x8b);
    expect((await jsDisconnect)[0].reasonCode).toBe(0x8b);
    await raw.client.waitClosed();
    await pending.waitClosed();
    expect(b.metrics()).toMatchObject({ connections: 0, clients: 0, pendingWills: 0 });
    // The listeners are gone.
    await expect(
      new Promise((resolve, reject) => {
        const s = netConnect(tcp!.port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(b.listen({ tcp: { port: 0 } })).rejects.toBeInstanceOf(BrokerClosedError);
    expect(() => b.publish({ topic: 't', payload: 'x' })).toThrow(BrokerClosedError);
    await b.close(); // idempotent
  });
});
