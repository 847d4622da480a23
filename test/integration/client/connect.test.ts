import { describe, it, expect, afterEach } from '@jest/globals';
import net from 'node:net';
import {
  AuthenticationError,
  ConnackError,
  ConnectTimeoutError,
  ConnectFailedError,
  ConnectionLostError,
  MqttClient,
  TcpConnection,
  type Authenticator,
} from '../../../lib/client/index.js';
import { FakeServer } from '../../helpers/fake-server.js';
import { AUTH, CONNACK, CONNECT, FAST, PINGREQ, acceptReconnect, connected, type Harness } from './setup.js';

let h: Harness | undefined;
let server: FakeServer | undefined;
afterEach(async () => {
  await h?.close();
  await server?.close();
  h = server = undefined;
});

describe('connect', () => {
  it('sends every CONNECT field, will and properties included', async () => {
    const willCorrelation = Buffer.from([1, 2, 3]);
    h = await connected({}, {}, {
      clientId: 'all-fields',
      keepAlive: 17,
      cleanStart: false,
      username: 'user',
      password: 'secret',
      will: {
        topic: 'wills/all-fields',
        payload: 'gone',
        qos: 1,
        retain: true,
        properties: {
          willDelayInterval: 5,
          messageExpiryInterval: 60,
          contentType: 'text/plain',
          responseTopic: 'resp',
          correlationData: willCorrelation,
          payloadFormatIndicator: true,
          userProperties: [['w', '1']],
        },
      },
      properties: {
        sessionExpiryInterval: 3600,
        receiveMaximum: 50,
        maximumPacketSize: 100_000,
        topicAliasMaximum: 8,
        requestResponseInformation: true,
        requestProblemInformation: false,
        userProperties: [['a', 'b'], ['a', 'c']],
      },
    });
    const c = h.connect;
    expect(c).toMatchObject({
      clientId: 'all-fields',
      keepAlive: 17,
      cleanStart: false,
      username: 'user',
      properties: {
        sessionExpiryInterval: 3600,
        receiveMaximum: 50,
        maximumPacketSize: 100_000,
        topicAliasMaximum: 8,
        requestResponseInformation: true,
        requestProblemInformation: false,
        userProperties: [['a', 'b'], ['a', 'c']],
      },
    });
    expect(c.password?.toString()).toBe('secret');
    expect(c.will).toMatchObject({ topic: 'wills/all-fields', qos: 1, retain: true });
    expect(c.will!.payload.toString()).toBe('gone');
    expect(c.will!.properties).toMatchObject({
      willDelayInterval: 5,
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'resp',
      payloadFormatIndicator: true,
      userProperties: [['w', '1']],
    });
    expect(c.will!.properties!.correlationData).toEqual(willCorrelation);
    expect(h.client.connected).toBe(true);
    expect(h.client.state).toBe('connected');
  });

  it('rejects with ConnackError carrying the reason code when refused, and does not reconnect', async () => {
    server = await FakeServer.start();
    const client = new MqttClient(server.connection(), FAST);
    const reconnecting: unknown[] = [];
    client.on('reconnecting', (i) => reconnecting.push(i));
    const p = client.connect({ clientId: 'refused' });
    const conn = await server.accept();
    await conn.handshake({ reasonCode: 0x86, properties: { reasonString: 'nope' } });
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnackError);
    expect((err as ConnackError).reasonCode).toBe(0x86);
    expect((err as ConnackError).connack.properties?.reasonString).toBe('nope');
    expect((err as Error).message).toContain('nope');
    expect(client.state).toBe('idle');
    expect(client.connected).toBe(false);
    await conn.closed;
    expect(reconnecting).toEqual([]);
    // It can try again.
    const again = client.connect({ clientId: 'refused' });
    await (await server.accept()).handshake();
    await expect(again).resolves.toMatchObject({ reasonCode: 0 });
    await client.disconnect();
  });

  it('keeps the assigned client identifier and uses the server keepalive and session expiry', async () => {
    h = await connected(
      { properties: { assignedClientIdentifier: 'assigned-42', serverKeepAlive: 1, sessionExpiryInterval: 7 } },
      {},
      { clientId: '', keepAlive: 600, properties: { sessionExpiryInterval: 100 } },
    );
    expect(h.connect.clientId).toBe('');
    expect(h.client.clientId).toBe('assigned-42');
    expect(h.client.sessionExpiryInterval).toBe(7);
    // Server Keep Alive 1 s instead of our 600: a PINGREQ comes within about a second.
    h.conn.autoPingResp = false;
    const t0 = Date.now();
    await h.conn.expect(PINGREQ, 3000);
    expect(Date.now() - t0).toBeLessThan(2000);
    // A reconnect resumes the session under the assigned identifier.
    h.conn.destroy();
    const { connect } = await acceptReconnect(h.server);
    expect(connect.clientId).toBe('assigned-42');
    expect(connect.cleanStart).toBe(false);
  });

  it('fails with ConnectTimeoutError when no CONNACK comes', async () => {
    server = await FakeServer.start();
    const client = new MqttClient(server.connection(), { ...FAST, connectTimeout: 150 });
    const p = client.connect();
    const conn = await server.accept();
    await conn.expect(CONNECT);
    await expect(p).rejects.toBeInstanceOf(ConnectTimeoutError);
    await conn.closed;
  });

  it('fails with ConnectFailedError (not ConnectionLostError) when nothing listens', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), FAST);
    const err = await client.connect().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectFailedError);
    expect(err).not.toBeInstanceOf(ConnectionLostError);
    expect((err as ConnectFailedError).code).toBe('CONNECT_FAILED');
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  it('rejects connect() while already connected', async () => {
    h = await connected();
    await expect(h.client.connect()).rejects.toThrow(/connected/);
  });

  it('refuses a CONNACK that claims a session after a clean start (0x82)', async () => {
    server = await FakeServer.start();
    const client = new MqttClient(server.connection(), FAST);
    const p = client.connect({ cleanStart: true });
    const conn = await server.accept();
    await conn.handshake({ sessionPresent: true });
    await expect(p).rejects.toMatchObject({ reasonCode: 0x82 });
    expect(await conn.next()).toMatchObject({ type: 14, reasonCode: 0x82 });
  });

  it('refuses a server that sends something other than CONNACK first (0x82)', async () => {
    server = await FakeServer.start();
    const client = new MqttClient(server.connection(), FAST);
    const p = client.connect();
    const conn = await server.accept();
    await conn.expect(CONNECT);
    conn.send({ type: PINGREQ });
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect((err as ConnectionLostError).reasonCode).toBe(0x82);
    expect(await conn.next()).toMatchObject({ type: 14, reasonCode: 0x82 });
  });
});

describe('enhanced authentication', () => {
  function scram(): Authenticator & { challenges: string[]; completed: string[] } {
    const a = {
      method: 'TEST-CHALLENGE',
      challenges: [] as string[],
      completed: [] as string[],
      initialData: () => Buffer.from('hello'),
      challenge: async (data: Buffer | undefined) => {
        a.challenges.push(data?.toString() ?? '');
        return Buffer.from(`answer:${data?.toString()}`);
      },
      complete: (data: Buffer | undefined) => {
        a.completed.push(data?.toString() ?? '');
      },
    };
    return a;
  }

  it('runs the AUTH exchange during connect and re-authentication', async () => {
    server = await FakeServer.start();
    const client = new MqttClient(server.connection(), FAST);
    const auth = scram();
    const p = client.connect({ clientId: 'auth', authenticator: auth });
    const conn = await server.accept();
    const connect = await conn.expect(CONNECT);
    expect(connect.properties?.authenticationMethod).toBe('TEST-CHALLENGE');
    expect(connect.properties?.authenticationData?.toString()).toBe('hello');
    conn.send({ type: AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('nonce') } });
    const reply = await conn.expect(AUTH);
    expect(reply.reasonCode).toBe(0x18);
    expect(reply.properties?.authenticationData?.toString()).toBe('answer:nonce');
    conn.send({
      type: CONNACK, sessionPresent: false, reasonCode: 0,
      properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('server-final') },
    });
    await p;
    expect(auth.challenges).toEqual(['nonce']);
    expect(auth.completed).toEqual(['server-final']);

    const re = client.reauthenticate();
    const start = await conn.expect(AUTH);
    expect(start.reasonCode).toBe(0x19);
    expect(start.properties?.authenticationData?.toString()).toBe('hello');
    conn.send({ type: AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('n2') } });
    expect((await conn.expect(AUTH)).properties?.authenticationData?.toString()).toBe('answer:n2');
    conn.send({ type: AUTH, reasonCode: 0, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('ok2') } });
    await expect(re).resolves.toMatchObject({ reasonCode: 0 });
    expect(auth.completed).toEqual(['server-final', 'ok2']);
    await client.disconnect();
  });

  it('aborts the connection when the authenticator throws', async () => {
    server = await FakeServer.start();
    const client = new MqttClient(server.connection(), FAST);
    const p = client.connect({
      authenticator: { method: 'M', challenge: () => { throw new Error('bad challenge'); } },
    });
    const conn = await server.accept();
    await conn.expect(CONNECT);
    conn.send({ type: AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'M' } });
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toContain('bad challenge');
  });
});
