/**
 * Starting and stopping the sample's Nest applications: the embedded broker, the microservices
 * on ServerMqtt5, and the caller.
 */
import type { INestApplicationContext, INestMicroservice, LoggerService } from '@nestjs/common';
import { Logger, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MqttBrokerAddress, ServerMqtt5, type Mqtt5ServerOptions } from '../lib/index.js';
import { BrokerAppModule } from './broker/broker-app.module.js';
import type { SampleConfig } from './config.js';

/** Something to close at the end, with a name for the log. */
export interface Closable {
  readonly name: string;
  close(): Promise<void>;
}

/**
 * Starts the embedded broker (on `config.port`; when the default port 1883 is taken — e.g. a
 * local Mosquitto — on a free port instead). Returns the app and the broker URL.
 */
export async function startBroker(config: SampleConfig, logger: LoggerService): Promise<{ app: INestApplicationContext; url: string }> {
  let app: INestApplicationContext;
  try {
    app = await NestFactory.createApplicationContext(BrokerAppModule.forRoot(config.port), { logger, abortOnError: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || config.portExplicit) throw err;
    new Logger('Sample').warn(`port ${config.port} is taken (another broker?); using a free port instead — set MQTT_PORT to choose one`);
    app = await NestFactory.createApplicationContext(BrokerAppModule.forRoot(0), { logger, abortOnError: false });
  }
  await app.init();
  return { app, url: app.get(MqttBrokerAddress).url };
}

/** Starts a microservice on ServerMqtt5. */
export async function startMicroservice(module: DynamicModule, options: Mqtt5ServerOptions, logger: LoggerService): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(module, { strategy: new ServerMqtt5(options), logger, abortOnError: false });
  try {
    await app.listen();
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

/** Starts a plain application context (the caller). */
export async function startContext(module: DynamicModule, logger: LoggerService): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(module, { logger, abortOnError: false });
  await app.init();
  return app;
}

/** Closes in reverse start order; reports (and returns) the first failure without skipping the rest. */
export async function closeAll(apps: Closable[]): Promise<unknown> {
  let first: unknown;
  for (const app of apps.reverse()) {
    try {
      await app.close();
    } catch (err) {
      first ??= err;
      new Logger('Sample').error(`closing ${app.name} failed: ${(err as Error).message}`);
    }
  }
  return first;
}
