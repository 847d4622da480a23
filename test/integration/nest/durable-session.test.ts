/**
 * The `durableSession` option of ClientMqtt5 (issue 14): an event emitted at QoS 1 while the broker is
 * unreachable is kept in the DurableSessionStore, and a new ClientMqtt5 with the same client id and
 * directory (the restarted service) sends it once a broker is back — a transactional outbox.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttBroker } from '../../../lib/broker/index.js';
import { MqttClient, connectionFromUrl } from '../../../lib/client/index.js';
import { ClientMqtt5, Mqtt5OptionsError } from '../../../lib/nest/index.js';
import { withTimeout } from '../../helpers/wait.js';

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('ClientMqtt5 durableSession', () => {
  it('needs a fixed clientId', () => {
    expect(() => new ClientMqtt5({ durableSession: { dir: '/tmp/x' } })).toThrow(Mqtt5OptionsError);
  });

  it('an event the broker had not acknowledged survives the service and is re-sent by its successor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nest-mqtt5-outbox-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const brokerDir = join(dir, 'broker');
    // The first broker never answers the publish: it stays in flight in the service's store.
    let seen!: () => void;
    const published = new Promise<void>((resolve) => (seen = resolve));
    const first = new MqttBroker({
      persistence: { dir: brokerDir },
      authorizePublish: () => {
        seen();
        return new Promise<boolean>(() => undefined);
      },
    });
    const { tcp } = await first.listen({ tcp: { port: 0, host: '127.0.0.1' } });
    const url = tcp!.url;
    const options = { url, clientId: 'outbox-svc', durableSession: { dir: join(dir, 'client') }, clientOptions: { disconnectTimeout: 100 } };
    const svc = new ClientMqtt5(options);
    await svc.connect();
    svc.emit('orders/created', { id: 42 }).subscribe({ error: () => undefined });
    await withTimeout(published, 5000, 'the PUBLISH at the broker');
    await svc.close(); // the service ends before the event was acknowledged
    await first.close();

    const second = new MqttBroker({ persistence: { dir: brokerDir } });
    cleanup.push(() => second.close());
    await second.listen({ tcp: { port: tcp!.port, host: '127.0.0.1' } });
    const sub = new MqttClient(connectionFromUrl(url));
    cleanup.push(() => sub.disconnect().catch(() => undefined));
    await sub.connect({ clientId: 'outbox-sub' });
    let got!: (payload: string) => void;
    const received = new Promise<string>((resolve) => (got = resolve));
    await sub.subscribe({ subscriptions: [{ topicFilter: 'orders/#', qos: 1 }] }, (m) => got(m.payload.toString()));
    const successor = new ClientMqtt5(options);
    cleanup.push(() => successor.close());
    await successor.connect();
    expect(JSON.parse(await withTimeout(received, 5000, 'the outbox event'))).toEqual({ id: 42 });
  });
});
