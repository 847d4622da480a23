/**
 * `nest-mqtt5 connect` (the seed's basic-client) and the will options (the seed's
 * client-will-msg) as real processes: connection events, reconnects with and without session,
 * clean exit on signals, wills fired when the process is killed.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { MessageReceiver, type MqttClient } from '../../../lib/client/index.js';
import type { DisconnectInfo, MqttBroker } from '../../../lib/broker/index.js';
import { stopAllProcesses } from '../../helpers/run-process.js';
import { waitForEvent, withTimeout } from '../../helpers/wait.js';
import { BUILD_TIMEOUT, buildCli, startBroker, startCli, subscribed, testClient, type TestBroker } from './support.js';

let b: TestBroker | undefined;
const clients: MqttClient[] = [];

beforeAll(() => buildCli(), BUILD_TIMEOUT);
afterEach(async () => {
  await stopAllProcesses();
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  await b?.close();
});

async function client(url: string): Promise<MqttClient> {
  const c = await testClient(url);
  clients.push(c);
  return c;
}

function nextDisconnect(broker: MqttBroker, clientId: string): Promise<DisconnectInfo> {
  return waitForEvent<[{ clientId: string }, DisconnectInfo]>(broker, 'disconnect', 10_000, (c) => c.clientId === clientId).then(
    ([, info]) => info,
  );
}

describe('connect', () => {
  it('prints connection events, reconnects with the session kept, and sends DISCONNECT on SIGINT', async () => {
    b = await startBroker();
    const p = startCli([
      'connect', '-b', b.url, '-k', '120', '--clean-start', '-i', 'cli-basic', '--session-expiry', '60',
      '--reconnect-delay', '0.02', '--will-topic', 'status/cli-basic', '--will-payload', 'gone',
    ]);
    expect(await p.waitForLine('connected to')).toBe(
      `connected to ${b.url} as cli-basic (session present: no, keep alive: 120 s, session expiry: 60 s)`,
    );

    expect(b.broker.disconnectClient('cli-basic', 0x98)).toBe(true);
    await p.waitForLine('disconnected by the broker: Administrative action (0x98)');
    expect(await p.waitForLine(/^reconnecting: attempt 1 in \d+ ms$/)).toBeTruthy();
    await p.waitForLine('reconnected (session present: yes)');

    const gone = nextDisconnect(b.broker, 'cli-basic');
    p.kill('SIGINT');
    const r = await p.waitForExit();
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('disconnected: sent Normal disconnection (0x00)');
    expect(r.stderr).toBe('');
    // A normal DISCONNECT discards the will.
    expect(await gone).toEqual({ initiator: 'client', reasonCode: 0, willPublished: false });
  });

  it('keeps retrying while the broker refuses with a transient reason, then reconnects without session', async () => {
    let busy = false;
    b = await startBroker({ authenticate: () => (busy ? { reasonCode: 0x89 } : true) });
    const p = startCli(['connect', '-b', b.url, '-i', 'cli-retry', '--reconnect-delay', '0.02', '--max-reconnect-delay', '0.1']);
    await p.waitForLine('connected to');
    busy = true;
    b.broker.disconnectClient('cli-retry', 0x8b);
    await p.waitForLine('disconnected by the broker: Server shutting down (0x8B)');
    await p.waitForLine(/^reconnecting: attempt 3 in \d+ ms \(attempt 2 failed: Connection refused: Server busy/);
    busy = false;
    await p.waitForLine('reconnected (session present: no)');
    p.kill('SIGTERM');
    expect((await p.waitForExit()).code).toBe(0);
  });

  it('exits 1 with the reason when the connection is lost and --no-reconnect is given', async () => {
    b = await startBroker();
    const p = startCli(['connect', '-b', b.url, '-i', 'cli-once', '--no-reconnect']);
    await p.waitForLine('connected to');
    b.broker.disconnectClient('cli-once', 0x98);
    const r = await p.waitForExit();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: Server sent DISCONNECT: Administrative action (0x98)\n');
  });

  it('stops instead of fighting another client for its id (Session taken over, 0x8E)', async () => {
    b = await startBroker();
    const p = startCli(['connect', '-b', b.url, '-i', 'twin', '--reconnect-delay', '0.01']);
    await p.waitForLine('connected to');
    const twin = await testClient(b.url, 'twin');
    clients.push(twin);
    const r = await p.waitForExit();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Session taken over \(0x8E\)/);
    expect(r.stdout).not.toMatch(/reconnecting/);
  });
});

describe('will message', () => {
  it('is published (and retained) when the connect process is killed', async () => {
    b = await startBroker();
    const watcher = await client(b.url);
    const receiver = new MessageReceiver();
    await watcher.subscribe({ subscriptions: [{ topicFilter: 'devices/+/status', qos: 1 }] }, receiver);
    const p = startCli([
      'connect', '-b', b.url, '-i', 'dev-7', '--will-topic', 'devices/7/status', '--will-payload', 'offline',
      '--will-qos', '1', '--will-retain',
    ]);
    await p.waitForLine('connected to');
    p.kill('SIGKILL');
    const will = await withTimeout(receiver.recv(), 5000, 'the will message');
    expect([will.topic, will.payload.toString(), will.qos]).toEqual(['devices/7/status', 'offline', 1]);
    expect(b.broker.metrics().retainedMessages).toBe(1);
  });

  it('waits for --will-delay-interval before publishing the will of a killed sub (the seed client-will-msg example)', async () => {
    b = await startBroker();
    const watcher = await client(b.url);
    const receiver = new MessageReceiver();
    await watcher.subscribe({ subscriptions: [{ topicFilter: 'TEST/GREETING/WILL', qos: 1 }] }, receiver);
    const p = startCli([
      'sub', '-b', b.url, '--will-delay-interval', '1', '--session-expiry', '10', '--will-topic', 'TEST/GREETING/WILL',
      '--will-qos', '1', '--will-payload', 'The Will message', 'TEST/GREETING/#', '1',
    ]);
    await subscribed(b.broker, 'TEST/GREETING/#');
    const killedAt = Date.now();
    p.kill('SIGKILL');
    const will = await withTimeout(receiver.recv(), 5000, 'the delayed will message');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(950);
    expect(will.payload.toString()).toBe('The Will message');
  });
});
