/**
 * Shared fixtures of the Nest transport's end-to-end tests: brokers (embedded and Mosquitto),
 * microservices on ServerMqtt5, callers on ClientMqtt5, and a raw MqttClient for inspection.
 * Everything started here is stopped by the returned handle.
 */
import type { INestMicroservice, ModuleMetadata, Type } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientsModule } from '@nestjs/microservices';
import { Test, type TestingModule } from '@nestjs/testing';
import { MqttBroker, type MqttBrokerOptions } from '../../../lib/broker/index.js';
import { MqttClient, connectionFromUrl, type MqttClientOptions } from '../../../lib/client/index.js';
import { ClientMqtt5, ServerMqtt5, type Mqtt5ClientOptions, type Mqtt5ServerOptions } from '../../../lib/nest/index.js';
import { startMosquitto } from '../../helpers/mosquitto.js';

/** A broker the tests run against. */
export interface TestBroker {
  readonly kind: 'embedded' | 'mosquitto';
  readonly url: string;
  readonly port: number;
  /** The embedded broker (undefined for Mosquitto). */
  readonly broker: MqttBroker | undefined;
  stop(): Promise<void>;
}

export async function startEmbeddedBroker(options: MqttBrokerOptions = {}): Promise<TestBroker> {
  const broker = new MqttBroker(options);
  const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
  return { kind: 'embedded', url: tcp!.url, port: tcp!.port, broker, stop: () => broker.close() };
}

export async function startMosquittoBroker(): Promise<TestBroker> {
  // Generous queue: tests put up to a few thousand messages in flight.
  const m = await startMosquitto({ extraConfig: ['max_inflight_messages 0', 'max_queued_messages 100000'] });
  return { kind: 'mosquitto', url: m.tcpUrl, port: m.tcpPort, broker: undefined, stop: () => m.stop() };
}

/** Both brokers, for `describe.each`. */
export const BROKERS: [string, () => Promise<TestBroker>][] = [
  ['embedded broker', () => startEmbeddedBroker({ maxQueuedMessages: 100_000 })],
  ['Mosquitto', startMosquittoBroker],
];

/** Nest logs are silenced unless NEST_LOG=1. */
const logger = process.env.NEST_LOG === '1' ? undefined : (false as const);

/** A running microservice on ServerMqtt5. */
export interface TestMicroservice {
  app: INestMicroservice;
  server: ServerMqtt5;
  close(): Promise<void>;
}

export async function startMicroservice(
  controllers: Type[],
  options: Mqtt5ServerOptions,
  metadata: ModuleMetadata = {},
): Promise<TestMicroservice> {
  @Module({ ...metadata, controllers })
  class ServiceModule {}
  const server = new ServerMqtt5(options);
  const app = await NestFactory.createMicroservice(ServiceModule, { strategy: server, logger });
  try {
    await app.listen();
  } catch (err) {
    await app.close();
    throw err;
  }
  return { app, server, close: () => app.close() };
}

/** A testing module holding a ClientMqtt5 registered the Nest way (ClientsModule). */
export interface TestCaller {
  module: TestingModule;
  client: ClientMqtt5;
  close(): Promise<void>;
}

export const CALLER = 'MQTT5_CALLER';

export async function startCaller(options: Mqtt5ClientOptions): Promise<TestCaller> {
  const builder = Test.createTestingModule({
    imports: [ClientsModule.register([{ name: CALLER, customClass: ClientMqtt5, options }])],
  });
  if (logger === false) builder.setLogger(silentLogger);
  const module = await builder.compile();
  await module.init();
  const client = module.get<ClientMqtt5>(CALLER);
  await client.connect();
  return { module, client, close: () => module.close() };
}

/** A raw client of ours, connected, for publishing and inspecting what the transport sends. */
export async function rawClient(url: string, clientId: string, options: MqttClientOptions = {}): Promise<MqttClient> {
  const client = new MqttClient(connectionFromUrl(url), { initialReconnectDelay: 10, maxReconnectDelay: 50, ...options });
  await client.connect({ clientId, keepAlive: 30 });
  return client;
}

const silentLogger = {
  log() {},
  error() {},
  warn() {},
  debug() {},
  verbose() {},
  fatal() {},
};

/** Closes everything, in order, even when one fails; rethrows the first failure. */
export async function closeAll(...closers: (undefined | { close(): Promise<unknown> } | (() => Promise<unknown>))[]): Promise<void> {
  let first: unknown;
  for (const c of closers) {
    if (c === undefined) continue;
    try {
      await (typeof c === 'function' ? c() : c.close());
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
