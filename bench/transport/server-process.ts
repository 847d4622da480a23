/**
 * The responder side of the transport benchmark, in its own process:
 *   ours    — a Nest microservice on ServerMqtt5
 *   builtin — the same microservice on Nest's built-in Transport.MQTT (MQTT.js)
 *   bare    — our MqttClient answering requests by hand (the bound: no Nest at all)
 * Handlers: `bench/<kind>/echo` answers its data; `bench/<kind>/event` counts. IPC: {type:'expect', n} arms the
 * counter and {type:'reached'} comes back when n events were handled.
 */
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { MqttClient, connectionFromUrl, type MqttMessage } from '../../lib/client/index.js';
import { ServerMqtt5 } from '../../lib/nest/index.js';
import { installSdk } from './telemetry.js';

const [kind, url, protocol] = process.argv.slice(2) as ['ours' | 'ours-off' | 'ours-sdk' | 'builtin' | 'bare', string, string | undefined];
/** `--tracing` runs (see telemetry.ts): a real SDK in this process for `ours-sdk`. */
const sdk = kind === 'ours-sdk' ? installSdk() : undefined;
/** Each kind has its own topics, so that all three responders can run side by side. */
const ECHO = `bench/${kind}/echo`;
const EVENT = `bench/${kind}/event`;

let count = 0;
let target = -1;

function counted(): void {
  if (++count === target) process.send!({ type: 'reached' });
}

process.on('message', (m: { type: string; n?: number }) => {
  if (m.type === 'expect') {
    count = 0;
    target = m.n!;
    process.send!({ type: 'armed' });
  } else if (m.type === 'count') {
    process.send!({ type: 'count', count, spans: sdk?.spans() });
  } else if (m.type === 'stop') {
    void stop().then(() => process.exit(0));
  }
});

@Controller()
class BenchController {
  @MessagePattern(ECHO)
  echo(@Payload() data: unknown): unknown {
    return data;
  }

  @EventPattern<string>(EVENT)
  event(): void {
    counted();
  }
}

@Module({ controllers: [BenchController] })
class BenchModule {}

let stop: () => Promise<void>;

if (kind === 'bare') {
  const client = new MqttClient(connectionFromUrl(url), {});
  await client.connect({ clientId: `bench-bare-responder-${process.pid}` });
  await client.subscribe({ subscriptions: [{ topicFilter: ECHO, qos: 1 }] }, (m: MqttMessage) => {
    const p = m.properties;
    if (p?.responseTopic === undefined) return;
    void client.publish({ topic: p.responseTopic, payload: m.payload, qos: m.qos, properties: { correlationData: p.correlationData } });
  });
  await client.subscribe({ subscriptions: [{ topicFilter: EVENT, qos: 1 }] }, counted);
  stop = () => client.disconnect();
} else {
  const options: MicroserviceOptions =
    kind.startsWith('ours')
      ? { strategy: new ServerMqtt5({ url, telemetry: kind !== 'ours-off' }) }
      : { transport: Transport.MQTT, options: { url, ...(protocol === '5' ? { protocolVersion: 5 } : {}) } };
  const app = await NestFactory.createMicroservice(BenchModule, { ...options, logger: ['error'] });
  await app.listen();
  stop = async () => {
    await app.close();
    await sdk?.uninstall();
  };
}
process.send!({ type: 'ready' });
