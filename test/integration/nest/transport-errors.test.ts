/**
 * What `send()`, `emit()`, `connect()` and `listen()` reject with, against real brokers: every
 * error is an `Mqtt5TransportError` from the package root with a stable `code` (and the reason
 * code when the broker gave one); "could not connect" is CONNECT_FAILED, not CONNECTION_LOST.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import { ConnectFailedError, MqttClient } from '../../../lib/client/index.js';
import {
  ClientMqtt5,
  Mqtt5ClosedError,
  Mqtt5ConnectFailedError,
  Mqtt5ConnectionRefusedError,
  Mqtt5NoRespondersError,
  Mqtt5RequestTimeoutError,
  Mqtt5TransportError,
  ServerMqtt5,
} from '../../../lib/index.js';
import { deferred, withTimeout } from '../../helpers/wait.js';
import { rawClient, startEmbeddedBroker, type TestBroker } from './helpers.js';
import { freePort } from '../../helpers/free-port.js';

const failure = (p: Promise<unknown>): Promise<unknown> => withTimeout(p, 10_000, 'the call to fail').then(() => undefined, (e: unknown) => e);

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  cleanup = [];
});

function caller(url: string, extra: ConstructorParameters<typeof ClientMqtt5>[0] = {}): ClientMqtt5 {
  // connectAttempts: 1 keeps these tests about the error, not about startup retries.
  const client = new ClientMqtt5({ url, connectAttempts: 1, clientOptions: { connectTimeout: 2000 }, ...extra });
  cleanup.push(() => client.close());
  return client;
}

describe('errors of send() / emit() / connect() / listen()', () => {
  it('unreachable broker: CONNECT_FAILED (not CONNECTION_LOST), the client error as cause', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    for (const call of [
      (c: ClientMqtt5) => c.connect(),
      (c: ClientMqtt5) => firstValueFrom(c.send('svc/echo', 1)),
      (c: ClientMqtt5) => lastValueFrom(c.emit('svc/event', 1), { defaultValue: undefined }),
    ]) {
      const error = await failure(call(caller(url)));
      expect(error).toBeInstanceOf(Mqtt5TransportError);
      expect(error).toBeInstanceOf(Mqtt5ConnectFailedError);
      expect(error).toMatchObject({ code: 'CONNECT_FAILED', url });
      expect((error as Error).cause).toBeInstanceOf(ConnectFailedError);
      expect((error as Error).message).toContain('ECONNREFUSED');
    }
  });

  it('unreachable broker at app.listen(): Mqtt5ConnectFailedError', async () => {
    @Controller()
    class Nothing {}
    @Module({ controllers: [Nothing] })
    class M {}
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const app = await NestFactory.createMicroservice(M, { strategy: new ServerMqtt5({ url, connectAttempts: 1 }), logger: false });
    cleanup.push(() => app.close());
    const error = await failure(app.listen());
    expect(error).toBeInstanceOf(Mqtt5ConnectFailedError);
    expect(error).toMatchObject({ code: 'CONNECT_FAILED' });
  });

  describe('with a broker', () => {
    let broker: TestBroker;
    afterEach(async () => broker?.stop());

    it('refused CONNACK: CONNECTION_REFUSED with the reason code and name', async () => {
      broker = await startEmbeddedBroker({ authenticate: () => ({ reasonCode: 0x87, reasonString: 'no entry' }) });
      const error = await failure(firstValueFrom(caller(broker.url).send('svc/echo', 1)));
      expect(error).toBeInstanceOf(Mqtt5ConnectionRefusedError);
      expect(error).toMatchObject({ code: 'CONNECTION_REFUSED', reasonCode: 0x87, reasonName: 'Not authorized' });
      expect((error as Error).message).toBe('Connection refused by the broker: Not authorized (no entry)');
    });

    it('nobody subscribes: NO_RESPONDERS (0x10); nobody answers: REQUEST_TIMEOUT; close(): CLOSED', async () => {
      broker = await startEmbeddedBroker();
      // noRespondersGrace 0: 0x10 is final at once (inside the grace window it is published again).
      const client = caller(broker.url, { requestTimeout: 300, noRespondersGrace: 0 });
      const none = await failure(firstValueFrom(client.send('svc/nobody', 1)));
      expect(none).toBeInstanceOf(Mqtt5NoRespondersError);
      expect(none).toMatchObject({ code: 'NO_RESPONDERS', reasonCode: 0x10, reasonName: 'No matching subscribers' });

      const silent: MqttClient = await rawClient(broker.url, 'silent-responder');
      cleanup.push(() => silent.disconnect());
      const arrived = deferred<void>();
      let seen = 0;
      await silent.subscribe({ subscriptions: [{ topicFilter: 'svc/silent', qos: 1 }] }, () => {
        if (++seen === 2) arrived.resolve();
      });
      const timedOut = await failure(firstValueFrom(client.send('svc/silent', 1)));
      expect(timedOut).toBeInstanceOf(Mqtt5RequestTimeoutError);
      expect(timedOut).toMatchObject({ code: 'REQUEST_TIMEOUT', timeoutMs: 300 });

      const other = caller(broker.url, { requestTimeout: 0 });
      const pending = failure(firstValueFrom(other.send('svc/silent', 2)));
      await withTimeout(arrived.promise, 5000, 'the second request at the silent responder');
      expect(other.pendingRequests).toBe(1);
      await other.close();
      const closed = await pending;
      expect(closed).toBeInstanceOf(Mqtt5ClosedError);
      expect(closed).toMatchObject({ code: 'CLOSED' });
    });
  });
});
