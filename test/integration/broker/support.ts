/**
 * Shared helpers of the broker tests: start a broker on an ephemeral port, connect MQTT.js (v5) and
 * raw clients, and await events with a timeout (never sleep to synchronise).
 */
import type { EventEmitter } from 'node:events';
import { connect as mqttConnect, connectAsync, type IClientOptions, type MqttClient as MqttJsClient } from 'mqtt';
import { MqttBroker, type MqttBrokerOptions } from '../../../lib/broker/index.js';
import { MqttClient, connectionFromUrl, type ConnectOptions, type MqttClientOptions } from '../../../lib/client/index.js';
import { RawClient } from '../../helpers/raw-client.js';
import type { ConnackPacket, ConnectPacket } from '../../../lib/codec/index.js';

/** A broker listening on 127.0.0.1 with an ephemeral TCP port. */
export interface TestBroker {
  broker: MqttBroker;
  port: number;
  url: string;
  /** Every client opened through this helper is closed by {@link TestBroker.close} too. */
  mqttjs(options?: IClientOptions): Promise<MqttJsClient>;
  /** An MQTT.js client whose connection is under way (attach listeners, then await 'connect'). */
  mqttjsUnconnected(options?: IClientOptions): MqttJsClient;
  raw(connect?: Partial<ConnectPacket>): Promise<{ client: RawClient; connack: ConnackPacket }>;
  rawOpen(): Promise<RawClient>;
  /** Our MqttClient, connected (no reconnects unless `clientOptions` says so). */
  ours(connect?: ConnectOptions, clientOptions?: MqttClientOptions): Promise<MqttClient>;
  close(): Promise<void>;
}

let counter = 0;
/** A unique client id for a test. */
export function uid(prefix = 'c'): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/** Starts a broker (short close grace so that stuck raw sockets do not slow the tests). */
export async function startBroker(options: MqttBrokerOptions = {}): Promise<TestBroker> {
  const broker = new MqttBroker({ closeGracePeriod: 200, ...options });
  const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
  const port = tcp!.port;
  const url = tcp!.url;
  const mqttClients: MqttJsClient[] = [];
  const rawClients: RawClient[] = [];
  const ourClients: MqttClient[] = [];
  return {
    broker,
    port,
    url,
    async mqttjs(opts: IClientOptions = {}): Promise<MqttJsClient> {
      const c = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000, clientId: uid('mqttjs'), ...opts });
      mqttClients.push(c);
      return c;
    },
    mqttjsUnconnected(opts: IClientOptions = {}): MqttJsClient {
      const c = mqttConnect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000, clientId: uid('mqttjs'), ...opts });
      mqttClients.push(c);
      return c;
    },
    async raw(connect: Partial<ConnectPacket> = {}) {
      const r = await RawClient.connect(port, connect);
      rawClients.push(r.client);
      return r;
    },
    async rawOpen() {
      const c = await RawClient.open(port);
      rawClients.push(c);
      return c;
    },
    async ours(connect: ConnectOptions = {}, clientOptions: MqttClientOptions = {}): Promise<MqttClient> {
      const c = new MqttClient(connectionFromUrl(url), { reconnect: false, connectTimeout: 2000, disconnectTimeout: 500, ...clientOptions });
      ourClients.push(c);
      await c.connect({ clientId: uid('ours'), keepAlive: 0, ...connect });
      return c;
    },
    async close(): Promise<void> {
      await Promise.all(mqttClients.map((c) => c.endAsync(true).catch(() => undefined)));
      await Promise.all(ourClients.map((c) => (c.state === 'closed' ? undefined : c.disconnect().catch(() => undefined))));
      for (const r of rawClients) r.destroy();
      await Promise.all(rawClients.map((r) => r.closed));
      await broker.close();
    },
  };
}

/** Resolves with the arguments of the next `event` of `emitter`; rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[] = unknown[]>(source: object, event: string, timeoutMs = 2000): Promise<T> {
  // Any emitter (node's, MQTT.js's typed one, our client's): only once/off are used.
  const emitter = source as EventEmitter;
  return new Promise<T>((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timed out waiting for '${event}'`));
    }, timeoutMs);
    emitter.once(event, onEvent);
  });
}

/** Collects `count` messages of an MQTT.js client; rejects after `timeoutMs` with what arrived. */
export function collectMessages(client: MqttJsClient, count: number, timeoutMs = 2000): Promise<{ topic: string; payload: Buffer; packet: import('mqtt').IPublishPacket }[]> {
  return new Promise((resolve, reject) => {
    const got: { topic: string; payload: Buffer; packet: import('mqtt').IPublishPacket }[] = [];
    const onMessage = (topic: string, payload: Buffer, packet: import('mqtt').IPublishPacket): void => {
      got.push({ topic, payload, packet });
      if (got.length === count) {
        clearTimeout(timer);
        client.off('message', onMessage);
        resolve(got);
      }
    };
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`timed out: ${got.length}/${count} messages (${got.map((m) => m.topic).join(', ')})`));
    }, timeoutMs);
    client.on('message', onMessage);
  });
}

/** Resolves when `pred` holds, checking after each event of `emitter`; rejects after `timeoutMs`. */
export function until(emitter: EventEmitter, events: string[], pred: () => boolean, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pred()) {
      resolve();
      return;
    }
    const check = (): void => {
      if (!pred()) return;
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      for (const e of events) emitter.off(e, check);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for a condition on ${events.join('/')}`));
    }, timeoutMs);
    for (const e of events) emitter.on(e, check);
  });
}
