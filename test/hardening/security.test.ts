/**
 * Security end to end, beyond the broker's own hook and listener tests (test/integration/broker/auth,
 * listeners), with our client and MQTT.js:
 * - isolation by hooks: a client cannot read another client's response topic, nor `$SYS/#`, when the
 *   authorizeSubscribe hook says no (SUBACK 0x87, wildcards included), nor publish into it
 *   (authorizePublish: PUBACK 0x87); `#` never matches `$` topics anyway;
 * - TLS with certificates made by openssl for this test: our TlsConnection verifies the server (an
 *   unknown CA is a typed error, not a hang), mutual TLS with our client and over WSS, a plain client
 *   refused on the TLS port;
 * - secrets (password, authentication data) never appear in error messages, in `util.inspect` of
 *   errors and of event arguments, nor in what the Nest logger prints.
 */
import net from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { connectAsync } from 'mqtt';
import { MqttBroker, type ClientInfo } from '../../lib/broker/index.js';
import {
  ConnackError,
  MessageReceiver,
  MqttClient,
  MqttClientError,
  PublishError,
  TcpConnection,
  TlsConnection,
  WebSocketConnection,
  connectionFromUrl,
  type Authenticator,
} from '../../lib/client/index.js';
import { Mqtt5ConnectionRefusedError, ServerMqtt5 } from '../../lib/nest/index.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { withTimeout } from '../helpers/wait.js';

const PASSWORD = 'Pa55-w0rd-Zebra-7781';
const AUTH_DATA = Buffer.from('auth-data-Quokka-4412');

/** Every rendering of a secret a log line could contain: text, hex, and Node's `<Buffer 50 61 …>` bytes. */
function secretForms(secret: Buffer): string[] {
  const hex = secret.toString('hex');
  return [secret.toString('utf8'), hex, hex.match(/../g)!.join(' '), secret.toString('base64')];
}

/** Asserts that none of `secrets` shows in `util.inspect(value)` at default depth and fully expanded. */
function expectNoSecret(what: string, value: unknown, secrets: Buffer[]): void {
  for (const depth of [2, 8]) {
    const text = inspect(value, { depth, showHidden: false, maxArrayLength: 1000, maxStringLength: Infinity });
    for (const s of secrets) {
      for (const form of secretForms(s)) {
        if (text.includes(form)) throw new Error(`${what} shows a secret at inspect depth ${depth}: …${text.slice(Math.max(0, text.indexOf(form) - 200), text.indexOf(form) + 40)}…`);
      }
    }
  }
}

describe('isolation by hooks: response topics and $SYS', () => {
  let broker: MqttBroker;
  let port: number;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    // The policy of a request/response deployment: each client owns `resp/<clientId>/#`; `$SYS/#` and
    // wildcards that reach into other clients' response topics are refused.
    const ownsOnly = (client: ClientInfo, filter: string): boolean => {
      if (filter.startsWith('$')) return false;
      const levels = filter.split('/');
      if (levels[0] === '#' || levels[0] === '+') return false;
      if (levels[0] !== 'resp') return true;
      return levels[1] === client.clientId;
    };
    broker = new MqttBroker({
      responseInformation: 'resp',
      authorizeSubscribe: (client, sub) => ownsOnly(client, sub.topicFilter),
      authorizePublish: (client, msg) => !msg.topic.startsWith('$') && !(msg.topic.startsWith('resp/') && msg.topic.split('/')[1] !== client.clientId && client.clientId !== 'responder'),
    });
    port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await broker.close();
  });
  const client = async (id: string): Promise<MqttClient> => {
    const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    clients.push(c);
    await c.connect({ clientId: id, keepAlive: 0, properties: { requestResponseInformation: true } });
    return c;
  };

  it('only the requester reads its responses; others are refused (0x87) and read nothing', async () => {
    const alice = await client('alice');
    const mallory = await client('mallory');
    const responder = await client('responder');
    expect(alice.connack?.properties?.responseInformation).toBe('resp');

    const aliceGets = new MessageReceiver();
    expect((await alice.subscribe({ subscriptions: [{ topicFilter: 'resp/alice/#', qos: 1 }] }, aliceGets)).reasonCodes).toEqual([1]);
    const malloryGets = new MessageReceiver();
    // Directly, by single-level wildcard, by multi-level wildcard at the root, and $SYS.
    const suback = await mallory.subscribe(
      {
        subscriptions: [
          { topicFilter: 'resp/alice/#', qos: 1 },
          { topicFilter: 'resp/+/#', qos: 1 },
          { topicFilter: '#', qos: 1 },
          { topicFilter: '$SYS/#', qos: 1 },
          { topicFilter: 'resp/mallory/#', qos: 1 },
        ],
      },
      malloryGets,
    );
    expect(suback.reasonCodes).toEqual([0x87, 0x87, 0x87, 0x87, 1]);

    // The responder answers alice on her response topic.
    await responder.subscribe({ subscriptions: [{ topicFilter: 'svc/req', qos: 1 }] }, (m) => {
      void responder.publish({ topic: m.properties!.responseTopic!, payload: 'answer', qos: 1, properties: { correlationData: m.properties!.correlationData } });
    });
    await alice.publish({ topic: 'svc/req', payload: 'question', qos: 1, properties: { responseTopic: 'resp/alice/1', correlationData: Buffer.from('c1') } });
    const answer = await withTimeout(aliceGets.recv(), 2000, 'the response');
    expect(answer.payload.toString()).toBe('answer');

    // Mallory cannot spoof a response into alice's topic either.
    await expect(mallory.publish({ topic: 'resp/alice/1', payload: 'spoof', qos: 1 })).rejects.toMatchObject({ reasonCode: 0x87 });
    await expect(mallory.publish({ topic: '$SYS/broker/uptime', payload: '1', qos: 1 })).rejects.toBeInstanceOf(PublishError);

    // A barrier: mallory's own response topic works, so anything for alice would have arrived before.
    await responder.publish({ topic: 'resp/mallory/x', payload: 'yours', qos: 1 });
    expect((await withTimeout(malloryGets.recv(), 2000, 'mallory message')).topic).toBe('resp/mallory/x');
    expect(malloryGets.size).toBe(0);
    expect(aliceGets.size).toBe(0);
  });

  it('a permitted `#` still never matches $SYS topics (spec 4.7.2)', async () => {
    const open = new MqttBroker();
    const p = (await open.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const c = new MqttClient(new TcpConnection({ host: '127.0.0.1', port: p }), { reconnect: false });
    try {
      await c.connect({ clientId: 'all', keepAlive: 0 });
      const r = new MessageReceiver();
      await c.subscribe({ subscriptions: [{ topicFilter: '#', qos: 1 }, { topicFilter: '+/uptime', qos: 1 }] }, r);
      open.publish({ topic: '$SYS/uptime', payload: 'secret-ish', qos: 1 });
      open.publish({ topic: 'visible/uptime', payload: 'ok', qos: 1 });
      expect((await withTimeout(r.recv(), 2000, 'a message')).topic).toBe('visible/uptime');
      expect(r.size).toBe(0);
    } finally {
      await c.disconnect();
      await open.close();
    }
  });
});

describe('TLS with certificates made by openssl', () => {
  let certs: TestCerts;
  beforeAll(async () => {
    certs = await makeCerts();
  }, 30_000);
  afterAll(() => certs.remove());

  it('our client verifies the server: the right CA connects, an unknown CA fails with a typed error', async () => {
    const broker = new MqttBroker();
    const { tls } = await broker.listen({ tls: { port: 0, host: '127.0.0.1', ...certs.server } });
    try {
      const good = new MqttClient(new TlsConnection({ host: '127.0.0.1', port: tls!.port, ca: certs.ca }), { reconnect: false });
      expect((await good.connect({ clientId: 'tls-good', keepAlive: 0 })).reasonCode).toBe(0);
      await good.disconnect();
      // No `ca`: the system store does not know our CA.
      const bad = new MqttClient(new TlsConnection({ host: '127.0.0.1', port: tls!.port }), { reconnect: false, connectTimeout: 3000 });
      const err = await bad.connect({ clientId: 'tls-bad', keepAlive: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MqttClientError);
      expect(String((err as Error).message)).toMatch(/certificate|self.signed|issuer/i);
    } finally {
      await broker.close();
    }
  });

  it('mutual TLS: our client with a certificate from the CA gets in and the hooks see it; without one, or a rogue one, it does not; a plain client is refused', async () => {
    const seen: ClientInfo[] = [];
    const broker = new MqttBroker({ authenticate: (r) => (seen.push(r.client), true) });
    const { tls, wss } = await broker.listen({
      tls: { port: 0, host: '127.0.0.1', ...certs.server, ca: certs.ca, requireClientCertificate: true },
      wss: { port: 0, host: '127.0.0.1', ...certs.server, ca: certs.ca, requireClientCertificate: true },
    });
    const opts = { reconnect: false as const, connectTimeout: 3000 };
    try {
      const ok = new MqttClient(new TlsConnection({ host: '127.0.0.1', port: tls!.port, ca: certs.ca, ...certs.client }), opts);
      expect((await ok.connect({ clientId: 'mtls-ok', keepAlive: 0 })).reasonCode).toBe(0);
      expect(seen.at(-1)?.peerCertificate?.subject.CN).toBe(certs.clientCommonName);
      await ok.disconnect();

      const viaWss = new MqttClient(
        new WebSocketConnection({ url: wss!.url, wsOptions: { ca: certs.ca, key: certs.client.key, cert: certs.client.cert } }),
        opts,
      );
      expect((await viaWss.connect({ clientId: 'mwss-ok', keepAlive: 0 })).reasonCode).toBe(0);
      expect(seen.at(-1)?.transport).toBe('wss');
      await viaWss.disconnect();

      const before = seen.length;
      for (const [name, conn] of [
        ['no certificate', new TlsConnection({ host: '127.0.0.1', port: tls!.port, ca: certs.ca })],
        ['rogue certificate', new TlsConnection({ host: '127.0.0.1', port: tls!.port, ca: certs.ca, ...certs.rogue })],
        ['plain TCP on the TLS port', new TcpConnection({ host: '127.0.0.1', port: tls!.port })],
      ] as const) {
        const c = new MqttClient(conn, opts);
        const err = await c.connect({ clientId: `refused-${name}`, keepAlive: 0 }).then(
          () => new Error(`${name}: connected`),
          (e: unknown) => e,
        );
        expect([name, err instanceof MqttClientError]).toEqual([name, true]);
        await c.disconnect();
      }
      // None of them reached MQTT authentication.
      expect(seen.length).toBe(before);
    } finally {
      await broker.close();
    }
  }, 30_000);
});

describe('secrets stay secret', () => {
  it('a refused password: not in the ConnackError, its message, nor in any event or error of client and broker', async () => {
    const brokerEvents: unknown[] = [];
    const broker = new MqttBroker({
      authenticate: (r) => (r.password?.toString() === 'right' ? true : { reasonCode: 0x86, reasonString: 'bad user name or password' }),
    });
    for (const e of ['connect', 'disconnect', 'clientError', 'publish', 'subscribe'] as const) broker.on(e, (...args: unknown[]) => brokerEvents.push([e, ...args]));
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    const clientEvents: unknown[] = [];
    for (const e of ['connected', 'disconnected', 'reconnecting', 'error'] as const) client.on(e, (...args: unknown[]) => clientEvents.push([e, ...args]));
    try {
      const err = await client.connect({ clientId: 'secret-1', username: 'bob', password: PASSWORD, keepAlive: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnackError);
      expect((err as ConnackError).reasonCode).toBe(0x86);
      expectNoSecret('the ConnackError', err, [Buffer.from(PASSWORD)]);
      expect(String((err as Error).stack)).not.toContain(PASSWORD);
      expectNoSecret('client events', clientEvents, [Buffer.from(PASSWORD)]);
      expectNoSecret('broker events', brokerEvents, [Buffer.from(PASSWORD)]);
    } finally {
      await broker.close();
    }
  });

  it('an accepted client: its password is not reachable from broker events (ClientInfo) nor client events', async () => {
    const broker = new MqttBroker({ authenticate: (r) => r.password?.toString() === PASSWORD });
    const brokerEvents: unknown[] = [];
    for (const e of ['connect', 'disconnect', 'clientError', 'publish', 'subscribe'] as const) broker.on(e, (...args: unknown[]) => brokerEvents.push([e, ...args]));
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    const clientEvents: unknown[] = [];
    for (const e of ['connected', 'disconnected'] as const) client.on(e, (...args: unknown[]) => clientEvents.push([e, ...args]));
    try {
      await client.connect({ clientId: 'secret-2', username: 'bob', password: PASSWORD, keepAlive: 0 });
      await client.subscribe({ subscriptions: [{ topicFilter: 's/#', qos: 1 }] }, () => undefined);
      await client.publish({ topic: 's/x', payload: 'hello', qos: 1 });
      expectNoSecret('broker events of an accepted client', brokerEvents, [Buffer.from(PASSWORD)]);
      expectNoSecret('client events', clientEvents, [Buffer.from(PASSWORD)]);
    } finally {
      await client.disconnect();
      await broker.close();
    }
  });

  it('while another client is still authenticating: events of others do not lead to its password', async () => {
    // A slow directory: bob's authentication hangs until released; meanwhile alice connects.
    let release!: () => void;
    const pending = new Promise<boolean>((resolve) => (release = () => resolve(false)));
    const broker = new MqttBroker({ authenticate: (r) => (r.clientId === 'bob' ? pending : true) });
    const brokerEvents: unknown[] = [];
    broker.on('connect', (...args: unknown[]) => brokerEvents.push(['connect', ...args]));
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const bob = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    const alice = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    try {
      const bobConnecting = bob.connect({ clientId: 'bob', username: 'bob', password: PASSWORD, keepAlive: 0 }).catch((e: unknown) => e);
      await alice.connect({ clientId: 'alice', keepAlive: 0 });
      expectNoSecret("alice's connect event", brokerEvents, [Buffer.from(PASSWORD)]);
      release();
      expect(await bobConnecting).toBeInstanceOf(ConnackError);
    } finally {
      await alice.disconnect();
      await broker.close();
    }
  });

  it('enhanced authentication data: not in errors or events when the exchange fails', async () => {
    const broker = new MqttBroker({ authenticate: () => ({ reasonCode: 0x87, reasonString: 'no' }) });
    const brokerEvents: unknown[] = [];
    for (const e of ['connect', 'disconnect', 'clientError'] as const) broker.on(e, (...args: unknown[]) => brokerEvents.push([e, ...args]));
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const authenticator: Authenticator = { method: 'SCRAM-TEST', initialData: () => AUTH_DATA, challenge: () => AUTH_DATA };
    const client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    try {
      const err = await client.connect({ clientId: 'enh', keepAlive: 0, authenticator }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnackError);
      expectNoSecret('the ConnackError', err, [AUTH_DATA]);
      expectNoSecret('broker events', brokerEvents, [AUTH_DATA]);
    } finally {
      await broker.close();
    }
  });

  it('MQTT.js with a wrong password: the broker events carry no password', async () => {
    const broker = new MqttBroker({ authenticate: () => false });
    const brokerEvents: unknown[] = [];
    for (const e of ['connect', 'disconnect', 'clientError'] as const) broker.on(e, (...args: unknown[]) => brokerEvents.push([e, ...args]));
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    try {
      const err = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'js', username: 'u', password: PASSWORD }).then(
        (c) => c.endAsync(true).then(() => undefined),
        (e: unknown) => e,
      );
      expect((err as { code?: number }).code).toBe(0x86);
      expectNoSecret('broker events', brokerEvents, [Buffer.from(PASSWORD)]);
    } finally {
      await broker.close();
    }
  });

  it('credentials in a broker URL (ws://user:pass@host) show neither in brokerUrl nor in connection errors', async () => {
    // A port nobody listens on: take a free one and close it.
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const deadPort = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    for (const url of [`ws://bob:${PASSWORD}@127.0.0.1:${deadPort}/mqtt`, `mqtt://bob:${PASSWORD}@127.0.0.1:${deadPort}`]) {
      const connection = connectionFromUrl(url);
      expect(connection.brokerUrl).not.toContain(PASSWORD);
      const client = new MqttClient(connection, { reconnect: false, connectTimeout: 2000 });
      const err = await client.connect({ clientId: 'url-creds', keepAlive: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MqttClientError);
      expectNoSecret(`the connection error for ${url.replace(PASSWORD, '***')}`, err, [Buffer.from(PASSWORD)]);
    }
  });

  it('Nest transport: a refused password (given in the URL) shows in no log line and not in the error', async () => {
    const lines: string[] = [];
    const capture: LoggerService = {
      log: (...a: unknown[]) => lines.push(inspect(a, { depth: 8 })),
      error: (...a: unknown[]) => lines.push(inspect(a, { depth: 8 })),
      warn: (...a: unknown[]) => lines.push(inspect(a, { depth: 8 })),
      debug: (...a: unknown[]) => lines.push(inspect(a, { depth: 8 })),
      verbose: (...a: unknown[]) => lines.push(inspect(a, { depth: 8 })),
    };
    Logger.overrideLogger(capture);
    const broker = new MqttBroker({ authenticate: () => false });
    const port = (await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } })).tcp!.port;
    const server = new ServerMqtt5({ url: `mqtt://svc:${PASSWORD}@127.0.0.1:${port}`, clientOptions: { reconnect: false } });
    try {
      const err = await new Promise<unknown>((resolve) => void server.listen((e?: unknown) => resolve(e)));
      // The transport's own error (one scheme from the root), the client's refusal as its cause.
      expect(err).toBeInstanceOf(Mqtt5ConnectionRefusedError);
      expect((err as Mqtt5ConnectionRefusedError).reasonCode).toBe(0x86);
      expect((err as Mqtt5ConnectionRefusedError).code).toBe('CONNECTION_REFUSED');
      expect((err as Error).cause).toBeInstanceOf(ConnackError);
      expectNoSecret('the listen() error', err, [Buffer.from(PASSWORD)]);
      expectNoSecret('the Nest log', lines, [Buffer.from(PASSWORD)]);
    } finally {
      await server.close();
      await broker.close();
    }
  });
});
