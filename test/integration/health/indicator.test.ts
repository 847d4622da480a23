/**
 * Mqtt5HealthIndicator without HTTP: a transport not started yet, a disconnect recorded by
 * observe() before the first probe, and round trips into a blackhole that end at their timeout.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import { MqttBroker } from '../../../lib/broker/index.js';
import type { MqttClient } from '../../../lib/client/index.js';
import { Mqtt5HealthIndicator, withoutCredentials } from '../../../lib/health/index.js';
import { ClientMqtt5, ServerMqtt5 } from '../../../lib/nest/index.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { waitForEvent } from '../../helpers/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startBroker(): Promise<{ broker: MqttBroker; port: number }> {
  const broker = new MqttBroker();
  const { tcp } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' } });
  cleanups.push(() => broker.close());
  return { broker, port: tcp!.port };
}

const indicator = () => new Mqtt5HealthIndicator(new HealthIndicatorService());

describe('Mqtt5HealthIndicator', () => {
  it('reports a transport that never connected as down, "not started"', async () => {
    const result = await indicator().checkClient('mqtt', new ClientMqtt5({ url: 'mqtt://127.0.0.1:1' }));
    expect(result).toEqual({ mqtt: { status: 'down', connection: 'not started', message: 'not connected' } });
    const server = await indicator().checkServer('srv', new ServerMqtt5());
    expect(server.srv.status).toBe('down');
  });

  it('observe() records a disconnect that happens before the first check', async () => {
    const { broker, port } = await startBroker();
    const client = new ClientMqtt5({ url: `mqtt://127.0.0.1:${port}`, clientId: 'observed', clientOptions: { initialReconnectDelay: 10_000 } });
    cleanups.push(() => client.close());
    await client.connect();
    const health = indicator();
    health.observe(client);
    const lost = waitForEvent(client.unwrap<MqttClient>(), 'disconnected');
    expect(broker.disconnectClient('observed', 0x98)).toBe(true);
    await lost;
    const result = await health.checkClient('mqtt', client);
    expect(result.mqtt).toMatchObject({ status: 'down', connection: 'reconnecting', clientId: 'observed', lastDisconnect: { reasonCode: 0x98 } });
    expect(result.mqtt.message).toContain('Administrative action');
  });

  it('a PUBACK round trip into a blackhole is down at its timeout; a broker connect probe too', async () => {
    const { port } = await startBroker();
    const proxy = await TcpProxy.start(port);
    cleanups.push(() => proxy.close());
    const client = new ClientMqtt5({ url: `mqtt://127.0.0.1:${proxy.port}` });
    cleanups.push(() => client.close());
    await client.connect();
    const health = indicator();
    expect((await health.checkClient('mqtt', client, { timeout: 200, roundTrip: { kind: 'puback' } })).mqtt.status).toBe('up');

    proxy.blackhole = true;
    let started = performance.now();
    const rt = await health.checkClient('mqtt', client, { timeout: 200, roundTrip: { kind: 'puback', topic: 'hc' } });
    let elapsed = performance.now() - started;
    expect(rt.mqtt).toMatchObject({
      status: 'down',
      connection: 'connected',
      code: 'HEALTH_TIMEOUT',
      message: 'PUBACK for the health message on "hc" did not complete within 200 ms',
    });
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(1000);

    // The broker's listener behind the blackholed proxy accepts TCP but never answers CONNECT.
    const idle = new MqttBroker();
    cleanups.push(() => idle.close());
    started = performance.now();
    const b = await health.checkBroker('broker', idle, { url: `mqtt://probe:pw@127.0.0.1:${proxy.port}`, timeout: 200 });
    elapsed = performance.now() - started;
    expect(b.broker).toMatchObject({ status: 'down', url: `mqtt://127.0.0.1:${proxy.port}`, code: 'HEALTH_TIMEOUT' });
    expect(String(b.broker.message)).toMatch(/200 ms/);
    expect(elapsed).toBeLessThan(1000);
  });

  it('withoutCredentials drops user and password only', () => {
    expect(withoutCredentials('mqtts://u:p@h:8883/x')).toBe('mqtts://h:8883/x');
    expect(withoutCredentials('mqtt://h:1883')).toBe('mqtt://h:1883');
    expect(withoutCredentials('::')).toBe('(invalid URL)');
  });
});
