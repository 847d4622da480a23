/**
 * MqttBrokerModule: the broker starts with the application (port 0 readable through
 * MqttBrokerAddress), serves a microservice and a ClientsModule client registered from
 * ConfigService, and closes on shutdown.
 */
import { describe, expect, it } from '@jest/globals';
import { Controller, Inject, Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { ClientsModule, MessagePattern, Payload, type AsyncMicroserviceOptions } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { lastValueFrom } from 'rxjs';
import { MqttBroker } from '../../../lib/broker/index.js';
import { MqttClient, connectionFromUrl } from '../../../lib/client/index.js';
import {
  ClientMqtt5,
  MqttBrokerAddress,
  MqttBrokerModule,
  ServerMqtt5,
  type MqttBrokerModuleOptions,
  type MqttBrokerOptionsFactory,
} from '../../../lib/nest/index.js';
import { waitForEvent } from '../../helpers/wait.js';

const logger = process.env.NEST_LOG === '1' ? undefined : (false as const);

@Controller()
class GreetingController {
  @MessagePattern('greet')
  greet(@Payload() name: string): string {
    return `hello ${name}`;
  }
}

describe('MqttBrokerModule', () => {
  it('forRoot starts the broker with the module, exposes it and its port, and closes it on shutdown', async () => {
    const module = await Test.createTestingModule({
      imports: [MqttBrokerModule.forRoot({ listen: { tcp: { port: 0, host: '127.0.0.1' } }, broker: { maxConnections: 10 } })],
    }).compile();
    await module.init();
    const broker = module.get(MqttBroker);
    const address = module.get(MqttBrokerAddress);
    expect(broker).toBeInstanceOf(MqttBroker);
    expect(address.port).toBeGreaterThan(0);
    expect(address.url).toBe(`mqtt://127.0.0.1:${address.port}`);
    expect(address.listeners.tcp?.port).toBe(address.port);

    const client = new MqttClient(connectionFromUrl(address.url), { reconnect: false });
    await client.connect({ clientId: 'module-probe' });
    expect(broker.isConnected('module-probe')).toBe(true);
    const disconnected = waitForEvent<[Error & { reasonCode: number }]>(client, 'disconnected', 5000);
    await module.close();
    const [reason] = await disconnected;
    expect(reason.reasonCode).toBe(0x8b); // Server shutting down
    const retry = new MqttClient(connectionFromUrl(address.url), { reconnect: false, connectTimeout: 2000 });
    await expect(retry.connect({ clientId: 'too-late' })).rejects.toThrow();
    await retry.disconnect();
    await client.disconnect();
  });

  it('runs a microservice on the embedded broker of its own application; a ClientsModule client built from ConfigService calls it', async () => {
    @Module({
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ MQTT_PORT: 0, REQUEST_TIMEOUT: 4000 })] }),
        MqttBrokerModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService): MqttBrokerModuleOptions => ({
            listen: { tcp: { port: config.get<number>('MQTT_PORT')!, host: '127.0.0.1' } },
          }),
        }),
      ],
      controllers: [GreetingController],
    })
    class ServiceModule {}

    const app = await NestFactory.createMicroservice<AsyncMicroserviceOptions>(ServiceModule, {
      inject: [MqttBrokerAddress],
      useFactory: (broker: MqttBrokerAddress) => ({ strategy: new ServerMqtt5({ url: broker.url }) }),
      logger,
    });
    await app.listen();

    @Injectable()
    class Greeter {
      constructor(@Inject('GREETER') readonly client: ClientMqtt5) {}
    }
    const address = app.get(MqttBrokerAddress);
    const callerModule = await Test.createTestingModule({
      imports: [
        ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ MQTT_URL: address.url, REQUEST_TIMEOUT: 4000 })] }),
        ClientsModule.registerAsync([
          {
            name: 'GREETER',
            imports: [ConfigModule],
            inject: [ConfigService],
            useFactory: (config: ConfigService) => ({
              customClass: ClientMqtt5,
              options: { url: config.get<string>('MQTT_URL'), requestTimeout: config.get<number>('REQUEST_TIMEOUT') },
            }),
          },
        ]),
      ],
      providers: [Greeter],
    }).compile();
    await callerModule.init();
    try {
      const greeter = callerModule.get(Greeter);
      expect(greeter.client).toBeInstanceOf(ClientMqtt5);
      await expect(lastValueFrom(greeter.client.send('greet', 'nest'))).resolves.toBe('hello nest');
    } finally {
      await callerModule.close();
      await app.close();
    }
    // app.close() closed the server, then the broker.
    const probe = new MqttClient(connectionFromUrl(address.url), { reconnect: false, connectTimeout: 2000 });
    await expect(probe.connect({ clientId: 'after-close' })).rejects.toThrow();
    await probe.disconnect();
  });

  it('works with Test.createTestingModule: the testing module runs the broker and the microservice', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [MqttBrokerModule.forRoot({ listen: { tcp: { port: 0, host: '127.0.0.1' } } })],
      controllers: [GreetingController],
    }).compile();
    const address = moduleRef.get(MqttBrokerAddress);
    const app = moduleRef.createNestMicroservice({ strategy: new ServerMqtt5({ url: address.url }), logger });
    await app.listen();
    const client = new ClientMqtt5({ url: address.url });
    try {
      await expect(lastValueFrom(client.send('greet', 'test'))).resolves.toBe('hello test');
    } finally {
      await client.close();
      await app.close();
    }
  });

  it('forRootAsync accepts an options class', async () => {
    @Injectable()
    class BrokerConfig implements MqttBrokerOptionsFactory {
      createMqttBrokerOptions(): MqttBrokerModuleOptions {
        return { listen: { tcp: { port: 0, host: '127.0.0.1' } }, broker: { maxKeepAlive: 30 } };
      }
    }
    const module = await Test.createTestingModule({
      imports: [MqttBrokerModule.forRootAsync({ useClass: BrokerConfig })],
    }).compile();
    await module.init();
    try {
      const address = module.get(MqttBrokerAddress);
      const client = new MqttClient(connectionFromUrl(address.url), { reconnect: false });
      const connack = await client.connect({ clientId: 'keepalive-probe', keepAlive: 120 });
      expect(connack.properties?.serverKeepAlive).toBe(30);
      await client.disconnect();
    } finally {
      await module.close();
    }
  });
});
