/**
 * Mqtt5HealthIndicator in a real Nest application: a HealthController over @nestjs/platform-express
 * answers GET /health on an ephemeral port. Up while connected; 503 with the disconnect reason while
 * the broker is stopped; up again once it is back on the same port; a send() round trip to a paused
 * service (its connection blackholed) ends at its timeout with a clean 503.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Inject, Module, type INestApplication, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern } from '@nestjs/microservices';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MqttBroker } from '../../../lib/broker/index.js';
import type { MqttClient } from '../../../lib/client/index.js';
import { Mqtt5HealthIndicator } from '../../../lib/health/index.js';
import { ClientMqtt5, ServerMqtt5 } from '../../../lib/nest/index.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { waitForEvent } from '../../helpers/wait.js';

const logger = process.env.NEST_LOG === '1' ? undefined : (false as const);
const CALLER = 'CALLER';
const SERVICE = 'SERVICE';
const RT_TIMEOUT = 400;

/** Mutable test state the controller reads (the broker is replaced when it restarts). */
const world: { broker: MqttBroker; brokerUrl: string; clientUrl: string } = { broker: undefined!, brokerUrl: '', clientUrl: '' };

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly mqtt: Mqtt5HealthIndicator,
    @Inject(CALLER) private readonly client: ClientMqtt5,
    @Inject(SERVICE) private readonly server: ServerMqtt5,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.mqtt.checkClient('caller', this.client, { url: world.clientUrl }),
      () => this.mqtt.checkServer('service', this.server),
      () => this.mqtt.checkBroker('broker', world.broker, { url: world.brokerUrl, timeout: RT_TIMEOUT }),
    ]);
  }

  @Get('puback')
  @HealthCheck()
  puback() {
    return this.health.check([
      () => this.mqtt.checkClient('caller', this.client, { timeout: RT_TIMEOUT, roundTrip: { kind: 'puback' } }),
      () => this.mqtt.checkServer('service', this.server, { timeout: RT_TIMEOUT, roundTrip: { kind: 'puback', topic: 'health/service' } }),
    ]);
  }

  @Get('rt')
  @HealthCheck()
  roundTrip() {
    return this.health.check([() => this.mqtt.checkClient('ping', this.client, { timeout: RT_TIMEOUT, roundTrip: { kind: 'send', pattern: 'health.ping' } })]);
  }
}

@Controller()
class PingController {
  @MessagePattern('health.ping')
  ping(): string {
    return 'pong';
  }
}

@Module({ controllers: [PingController] })
class ServiceModule {}

interface Reply {
  status: number;
  body: any;
  ms: number;
}

/** GET over a fresh connection (no keep-alive pool left behind). */
function get(port: number, path: string): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

describe('Mqtt5HealthIndicator over HTTP', () => {
  let port: number;
  let proxy: TcpProxy;
  let service: INestMicroservice;
  let server: ServerMqtt5;
  let client: ClientMqtt5;
  let app: INestApplication;
  let httpPort: number;
  const reconnectFast = { initialReconnectDelay: 20, maxReconnectDelay: 100, reconnectJitter: 0 };

  beforeAll(async () => {
    world.broker = new MqttBroker();
    const { tcp } = await world.broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    port = tcp!.port;
    world.brokerUrl = `mqtt://127.0.0.1:${port}`;
    world.clientUrl = `mqtt://health-user:s3cret@127.0.0.1:${port}`;
    // The service reaches the broker through a proxy, so that it can be "paused" (traffic blackholed).
    proxy = await TcpProxy.start(port);
    server = new ServerMqtt5({ url: `mqtt://127.0.0.1:${proxy.port}`, clientOptions: reconnectFast });
    service = await NestFactory.createMicroservice(ServiceModule, { strategy: server, logger });
    await service.listen();
    client = new ClientMqtt5({ url: world.clientUrl, clientOptions: reconnectFast });
    await client.connect();

    @Module({
      imports: [TerminusModule],
      controllers: [HealthController],
      providers: [Mqtt5HealthIndicator, { provide: CALLER, useValue: client }, { provide: SERVICE, useValue: server }],
    })
    class HttpModule {}
    app = await NestFactory.create(HttpModule, { logger });
    await app.listen(0, '127.0.0.1');
    httpPort = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await proxy?.close();
    await app?.close();
    await client?.close();
    await service?.close();
    await world.broker?.close();
  });

  it('is up while connected: status, client id, URL without credentials, broker round trip', async () => {
    const res = await get(httpPort, '/health');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    const caller = res.body.info.caller;
    expect(caller).toMatchObject({ status: 'up', connection: 'connected', url: `mqtt://127.0.0.1:${port}` });
    expect(caller.clientId).toMatch(/^nest-mqtt5-client-/);
    expect(JSON.stringify(res.body)).not.toContain('s3cret');
    expect(res.body.info.service).toMatchObject({ status: 'up', connection: 'connected' });
    expect(res.body.info.broker).toMatchObject({ status: 'up', url: world.brokerUrl });
    expect(res.body.info.broker.clients).toBeGreaterThanOrEqual(2);
    expect(typeof res.body.info.broker.roundTripMs).toBe('number');
  });

  it('PUBACK round trips of the client and of the server are up', async () => {
    const res = await get(httpPort, '/health/puback');
    expect(res.status).toBe(200);
    expect(typeof res.body.info.caller.roundTripMs).toBe('number');
    expect(typeof res.body.info.service.roundTripMs).toBe('number');
  });

  it('is down (503) with the reason while the broker is stopped, and up again once it is back', async () => {
    const callerClient = client.unwrap<MqttClient>();
    const serviceClient = server.unwrap<MqttClient>();
    const lost = Promise.all([waitForEvent(callerClient, 'disconnected', 5000), waitForEvent(serviceClient, 'disconnected', 5000)]);
    await world.broker.close();
    await lost;

    const down = await get(httpPort, '/health');
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('error');
    const caller = down.body.error.caller;
    expect(caller.status).toBe('down');
    expect(caller.connection).not.toBe('connected');
    expect(caller.lastDisconnect).toMatchObject({ error: 'DisconnectedError', reasonCode: 0x8b });
    expect(caller.message).toContain('Server shutting down');
    expect(down.body.error.service.status).toBe('down');
    expect(down.body.error.broker.status).toBe('down');
    // The broker check's connect attempt failed fast (refused) or at its timeout, never later.
    expect(down.ms).toBeLessThan(RT_TIMEOUT + 2000);

    // A new broker has no sessions: both resubscribe (the service its pattern, the caller its response topic).
    const back = Promise.all([waitForEvent(callerClient, 'resubscribed', 10_000), waitForEvent(serviceClient, 'resubscribed', 10_000)]);
    world.broker = new MqttBroker();
    await world.broker.listen({ tcp: { port, host: '127.0.0.1' } });
    await back;

    const up = await get(httpPort, '/health');
    expect(up.status).toBe(200);
    expect(up.body.info.caller).toMatchObject({ status: 'up', connection: 'connected' });
    // The last disconnect stays visible after recovery.
    expect(up.body.info.caller.lastDisconnect.reasonCode).toBe(0x8b);
    expect(up.body.info.service.status).toBe('up');
  });

  it('a send() round trip is up while the service answers, and times out cleanly when it is paused', async () => {
    const ok = await get(httpPort, '/health/rt');
    expect(ok.status).toBe(200);
    expect(typeof ok.body.info.ping.roundTripMs).toBe('number');

    proxy.blackhole = true;
    const paused = await get(httpPort, '/health/rt');
    expect(paused.status).toBe(503);
    expect(paused.body.error.ping).toMatchObject({ status: 'down', connection: 'connected', code: 'HEALTH_TIMEOUT' });
    expect(paused.body.error.ping.message).toBe(`a response to "health.ping" did not complete within ${RT_TIMEOUT} ms`);
    expect(paused.ms).toBeGreaterThanOrEqual(RT_TIMEOUT - 5);
    expect(paused.ms).toBeLessThan(RT_TIMEOUT + 1000);
    // The abandoned request left nothing pending behind.
    expect(client.pendingRequests).toBe(0);

    // The paused service's own PUBACK round trip times out too; the caller's path is fine.
    const puback = await get(httpPort, '/health/puback');
    expect(puback.status).toBe(503);
    expect(puback.body.info.caller.status).toBe('up');
    expect(puback.body.error.service.message).toBe(`PUBACK for the health message on "health/service" did not complete within ${RT_TIMEOUT} ms`);
    expect(puback.ms).toBeLessThan(RT_TIMEOUT + 1000);
  });
});
