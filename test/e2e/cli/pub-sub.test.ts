/**
 * `nest-mqtt5 pub` and `nest-mqtt5 sub` as real processes against the embedded broker: plain,
 * verbose and JSON output, --count, retained messages, v5 properties, stdin and file payloads,
 * WebSocket, subscription options.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MessageReceiver, type MqttClient } from '../../../lib/client/index.js';
import { stopAllProcesses } from '../../helpers/run-process.js';
import { withTimeout } from '../../helpers/wait.js';
import { BUILD_TIMEOUT, buildCli, runCli, startBroker, startCli, subscribed, testClient, type TestBroker } from './support.js';

let b: TestBroker;
const clients: MqttClient[] = [];

beforeAll(() => buildCli(), BUILD_TIMEOUT);
beforeEach(async () => {
  b = await startBroker();
});
afterEach(async () => {
  await stopAllProcesses();
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  await b?.close();
});

async function client(): Promise<MqttClient> {
  const c = await testClient(b.url);
  clients.push(c);
  return c;
}

describe('pub', () => {
  it('publishes a message with retain, QoS and v5 properties, exits 0 after the ack', async () => {
    const c = await client();
    const receiver = new MessageReceiver();
    await c.subscribe({ subscriptions: [{ topicFilter: 'TEST/#', qos: 2 }] }, receiver);
    const r = await runCli([
      'pub', '-b', b.url, 'TEST/GREETING', '2', 'Willkommen',
      '--content-type', 'text/plain', '--message-expiry', '60', '--response-topic', 'TEST/REPLY',
      '--correlation-data', 'req-1', '--user-property', 'lang=de', '--user-property', 'lang=en', '--user-property', 'empty=', '--utf8',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const msg = await withTimeout(receiver.recv(), 5000, 'the published message');
    expect(msg.topic).toBe('TEST/GREETING');
    expect(msg.payload.toString()).toBe('Willkommen');
    expect(msg.qos).toBe(2);
    const p = msg.properties!;
    expect(p.contentType).toBe('text/plain');
    expect(p.messageExpiryInterval).toBeGreaterThan(55);
    expect(p.responseTopic).toBe('TEST/REPLY');
    expect(p.correlationData?.toString()).toBe('req-1');
    expect(p.userProperties).toEqual([['lang', 'de'], ['lang', 'en'], ['empty', '']]);
    expect(p.payloadFormatIndicator).toBe(true);
  });

  it('reads the payload from stdin and from a file (binary-safe)', async () => {
    const c = await client();
    const receiver = new MessageReceiver();
    await c.subscribe({ subscriptions: [{ topicFilter: 'in/+', qos: 1 }] }, receiver);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-cli-'));
    try {
      const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
      await writeFile(path.join(dir, 'payload.bin'), bytes);
      expect((await runCli(['pub', '-b', b.url, 'in/stdin', '1', '--stdin'], { input: 'line 1\nline 2\n' })).code).toBe(0);
      expect((await runCli(['pub', '-b', b.url, 'in/file', '1', '--file', path.join(dir, 'payload.bin')])).code).toBe(0);
      const first = await withTimeout(receiver.recv(), 5000, 'stdin message');
      const second = await withTimeout(receiver.recv(), 5000, 'file message');
      expect([first.topic, first.payload.toString()]).toEqual(['in/stdin', 'line 1\nline 2\n']);
      expect(second.topic).toBe('in/file');
      expect(Buffer.compare(second.payload, bytes)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints the acknowledgement with -v, including No matching subscribers', async () => {
    const r = await runCli(['pub', '-b', b.url, 'nobody/listens', '1', 'x', '-v']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/published 1 bytes to nobody\/listens: PUBACK: No matching subscribers \(0x10\)/);
  });
});

describe('sub', () => {
  it('prints "topic payload" per message and stops after --count (pub → sub over WebSocket)', async () => {
    const sub = startCli(['sub', '-b', b.wsUrl, 'TEST/GREETING/#', '1', '-C', '2']);
    await subscribed(b.broker, 'TEST/GREETING/#');
    expect((await runCli(['pub', '-b', b.url, 'TEST/GREETING', '1', 'Willkommen'])).code).toBe(0);
    expect((await runCli(['pub', '-b', b.url, 'TEST/GREETING/de', '1', 'Hallo Welt'])).code).toBe(0);
    const r = await sub.waitForExit();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('TEST/GREETING Willkommen\nTEST/GREETING/de Hallo Welt\n');
    expect(r.stderr).toBe('');
  });

  it('prints one JSON object per line with --json, properties included, binary payloads in base64', async () => {
    const sub = startCli(['sub', '-b', b.url, 'j/#', '2', '--json', '-C', '2']);
    await subscribed(b.broker, 'j/#');
    const c = await client();
    await c.publish({
      topic: 'j/a', payload: '{"t":21.5}', qos: 2,
      properties: { contentType: 'application/json', userProperties: [['unit', 'C']], correlationData: Buffer.from([0xff, 0xfe]) },
    });
    await c.publish({ topic: 'j/b', payload: Buffer.from([0xff, 0x00]), qos: 0 });
    const r = await sub.waitForExit();
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([
      {
        topic: 'j/a', payload: '{"t":21.5}', qos: 2, retain: false, dup: false,
        properties: { contentType: 'application/json', userProperties: [['unit', 'C']], correlationData: '//4=', correlationDataEncoding: 'base64' },
      },
      { topic: 'j/b', payload: '/wA=', payloadEncoding: 'base64', qos: 0, retain: false, dup: false },
    ]);
  });

  it('shows QoS, retain and properties with -v, and receives retained messages on subscribe', async () => {
    expect((await runCli(['pub', '-b', b.url, 'status/dev1', '1', 'online', '--retain', '--content-type', 'text/plain'])).code).toBe(0);
    const r = await runCli(['sub', '-b', b.url, 'status/+', '1', '-v', '-C', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('status/dev1 online\n  qos: 1, retain: yes, 6 bytes\n  content type: text/plain\n');
    expect(r.stderr).toMatch(/^connected to mqtt:\/\/127\.0\.0\.1:\d+ as \S+ \(session present: no/m);
    expect(r.stderr).toMatch(/^subscribed to status\/\+ \(granted QoS 1\)$/m);
  });

  it('skips retained messages with --retain-handling 2, and an empty retained message clears the topic', async () => {
    expect((await runCli(['pub', '-b', b.url, 'keep/a', '0', 'old', '--retain'])).code).toBe(0);
    const skip = startCli(['sub', '-b', b.url, 'keep/#', '0', '--retain-handling', '2', '-C', '1']);
    await subscribed(b.broker, 'keep/#');
    expect((await runCli(['pub', '-b', b.url, 'keep/a', '0', 'new'])).code).toBe(0);
    expect((await skip.waitForExit()).stdout).toBe('keep/a new\n');

    expect((await runCli(['pub', '-b', b.url, 'keep/a', '0', '', '--retain'])).code).toBe(0);
    expect(b.broker.metrics().retainedMessages).toBe(0);
  });

  it('subscribes with the No Local option with --no-local', async () => {
    // The sub process publishes nothing itself, so the flag is checked where it takes effect: in the broker's SUBSCRIBE.
    const events: boolean[] = [];
    b.broker.on('subscribe', (_c, subs) => events.push(...subs.map((s) => s.noLocal === true)));
    const sub = startCli(['sub', '-b', b.url, 'nl/#', '1', '--no-local', '-C', '1']);
    await subscribed(b.broker, 'nl/#');
    expect(events).toEqual([true]);
    expect((await runCli(['pub', '-b', b.url, 'nl/x', '1', 'from another client'])).code).toBe(0);
    expect((await sub.waitForExit()).stdout).toBe('nl/x from another client\n');
  });

  it('reconnects and resubscribes after losing the connection, then keeps printing', async () => {
    const sub = startCli(['sub', '-b', b.url, '-i', 'sub-re', 're/#', '1', '-C', '1', '--reconnect-delay', '0.02']);
    await subscribed(b.broker, 're/#');
    const again = subscribed(b.broker, 're/#');
    b.broker.disconnectClient('sub-re', 0x98);
    await again;
    await sub.waitForLine('resubscribed to re/# (granted QoS 1)', 10_000, 'stderr');
    expect((await runCli(['pub', '-b', b.url, 're/x', '1', 'after the reconnect'])).code).toBe(0);
    const r = await sub.waitForExit();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('re/x after the reconnect\n');
    expect(r.stderr.split('\n').filter((l) => l !== '').map((l) => l.replace(/\d+ ms/, 'N ms'))).toEqual([
      'disconnected by the broker: Administrative action (0x98)',
      'reconnecting: attempt 1 in N ms',
      'reconnected (session present: no)',
      'resubscribed to re/# (granted QoS 1)',
    ]);
  });

  it('exits 1 with the reason when the connection is lost and --no-reconnect is given', async () => {
    const sub = startCli(['sub', '-b', b.url, '-i', 'sub-once', 'once/#', '1', '--no-reconnect']);
    await subscribed(b.broker, 'once/#');
    b.broker.disconnectClient('sub-once', 0x98);
    const r = await sub.waitForExit();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'disconnected by the broker: Administrative action (0x98)\nerror: Server sent DISCONNECT: Administrative action (0x98)\n',
    );
  });

  it('exits 0 on SIGINT after a clean DISCONNECT', async () => {
    const sub = startCli(['sub', '-b', b.url, 'quiet/#', '1']);
    await subscribed(b.broker, 'quiet/#');
    const disconnect = new Promise((resolve) => b.broker.once('disconnect', (_c, info) => resolve(info)));
    sub.kill('SIGINT');
    const r = await sub.waitForExit();
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await withTimeout(disconnect, 5000, 'disconnect event')).toMatchObject({ initiator: 'client', reasonCode: 0 });
  });
});

afterAll(() => stopAllProcesses());
