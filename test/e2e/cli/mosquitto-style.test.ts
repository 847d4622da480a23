/**
 * The mosquitto_pub/sub conventions of the CLI, as real processes against the embedded broker:
 * `-h host -p port -t topic -m message -q qos`, repeatable `-t` on sub, `-f`, `-s`, `-l`, `-n`,
 * `-V 5`, the 0x10 No matching subscribers warning, help text in the options' units, and usage
 * errors that name the option and exit 2.
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
let port: string;
const clients: MqttClient[] = [];

beforeAll(() => buildCli(), BUILD_TIMEOUT);
beforeEach(async () => {
  b = await startBroker();
  port = new URL(b.url).port;
});
afterEach(async () => {
  await stopAllProcesses();
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  await b?.close();
});
afterAll(() => stopAllProcesses());

/** A test-side subscriber on `filter`, its messages in a receiver. */
async function listen(filter: string): Promise<MessageReceiver> {
  const c = await testClient(b.url);
  clients.push(c);
  const receiver = new MessageReceiver();
  await c.subscribe({ subscriptions: [{ topicFilter: filter, qos: 2 }] }, receiver);
  return receiver;
}

describe('pub and sub with mosquitto-style flags', () => {
  it('nest-mqtt5 pub -h 127.0.0.1 -p PORT -t a/b -m hi -q 1 → nest-mqtt5 sub -h 127.0.0.1 -p PORT -t a/# -q 1', async () => {
    const sub = startCli(['sub', '-h', '127.0.0.1', '-p', port, '-t', 'a/#', '-q', '1', '-C', '1', '-v']);
    await subscribed(b.broker, 'a/#');
    const pub = await runCli(['pub', '-h', '127.0.0.1', '-p', port, '-t', 'a/b', '-m', 'hi', '-q', '1']);
    expect(pub).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const r = await sub.waitForExit();
    expect(r.code).toBe(0);
    // -v shows the QoS the message arrived with: 1, as published and subscribed.
    expect(r.stdout).toBe('a/b hi\n  qos: 1, retain: no, 2 bytes\n');
    expect(r.stderr).toMatch(/^subscribed to a\/# \(granted QoS 1\)$/m);
  });

  it('-p replaces the port of -b, -h its host; -V 5 and -V mqttv5 are accepted', async () => {
    const receiver = await listen('v/#');
    const ws = new URL(b.wsUrl);
    // A wrong port in -b, corrected by -p: the connection can only succeed through the replacement.
    const wrong = `ws://localhost:1${ws.pathname}`;
    expect(await runCli(['pub', '-b', wrong, '-h', '127.0.0.1', '-p', ws.port, '-t', 'v/ws', '-m', 'over ws', '-V', '5'])).toMatchObject({ code: 0, stderr: '' });
    expect(await runCli(['pub', '-p', port, '-t', 'v/tcp', '-m', 'default host', '-V', 'mqttv5', '-q', '2'])).toMatchObject({ code: 0, stderr: '' });
    const got = [await withTimeout(receiver.recv(), 5000, 'ws message'), await withTimeout(receiver.recv(), 5000, 'tcp message')];
    expect(got.map((m) => [m.topic, m.payload.toString(), m.qos])).toEqual([
      ['v/ws', 'over ws', 0], // -q defaults to 0, as in mosquitto_pub
      ['v/tcp', 'default host', 2],
    ]);
  });

  it('sub takes several -t filters in one SUBSCRIBE', async () => {
    const sub = startCli(['sub', '-p', port, '-t', 'x/1', '-t', 'y/+', '-q', '1', '-C', '2']);
    await subscribed(b.broker, 'y/+');
    expect((await runCli(['pub', '-p', port, '-t', 'x/1', '-m', 'one', '-q', '1'])).code).toBe(0);
    expect((await runCli(['pub', '-p', port, '-t', 'y/2', '-m', 'two', '-q', '1'])).code).toBe(0);
    expect(await sub.waitForExit()).toMatchObject({ code: 0, stdout: 'x/1 one\ny/2 two\n', stderr: '' });
  });

  it('-f sends a file (binary-safe), -s all of stdin as one message, -n an empty payload', async () => {
    const receiver = await listen('in/+');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-cli-'));
    try {
      const bytes = Buffer.from([0, 1, 0xff, 10, 13, 0xfe]);
      await writeFile(path.join(dir, 'payload.bin'), bytes);
      expect((await runCli(['pub', '-p', port, '-t', 'in/file', '-q', '1', '-f', path.join(dir, 'payload.bin')])).code).toBe(0);
      expect((await runCli(['pub', '-p', port, '-t', 'in/stdin', '-q', '1', '-s'], { input: 'a\nb\n' })).code).toBe(0);
      expect((await runCli(['pub', '-p', port, '-t', 'in/null', '-q', '1', '-n'])).code).toBe(0);
      const got = [];
      for (let i = 0; i < 3; i++) got.push(await withTimeout(receiver.recv(), 5000, `message ${i + 1}`));
      expect(got[0]!.topic).toBe('in/file');
      expect(Buffer.compare(got[0]!.payload, bytes)).toBe(0);
      expect([got[1]!.topic, got[1]!.payload.toString()]).toEqual(['in/stdin', 'a\nb\n']);
      expect([got[2]!.topic, got[2]!.payload.length]).toEqual(['in/null', 0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('-l publishes each line of stdin as its own message, in order, skipping blank lines', async () => {
    const receiver = await listen('lines/#');
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i + 1}`);
    const input = `${lines.slice(0, 100).join('\n')}\n\n\r\n${lines.slice(100).join('\r\n')}`; // blank lines, CRLF, no final newline
    const r = await runCli(['pub', '-p', port, '-t', 'lines/x', '-q', '1', '-l'], { input });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const got: string[] = [];
    for (let i = 0; i < lines.length; i++) got.push((await withTimeout(receiver.recv(), 5000, `line ${i + 1}`)).payload.toString());
    expect(got).toEqual(lines);
    // Nothing more arrived: a probe published after them is the next message.
    expect((await runCli(['pub', '-p', port, '-t', 'lines/probe', '-m', 'probe'])).code).toBe(0);
    expect((await withTimeout(receiver.recv(), 5000, 'the probe')).topic).toBe('lines/probe');
  });
});

describe('acknowledgements', () => {
  it('warns on stderr for 0x10 No matching subscribers and exits 0, as mosquitto_pub', async () => {
    const r = await runCli(['pub', '-p', port, '-t', 'nobody/listens', '-m', 'x', '-q', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('warning: No matching subscribers (0x10): nobody subscribes to nobody/listens, the message reached no one\n');
    // -l: one warning per message the broker had no subscriber for.
    const lines = await runCli(['pub', '-p', port, '-t', 'nobody/listens', '-q', '1', '-l'], { input: 'a\nb\n' });
    expect(lines.code).toBe(0);
    expect(lines.stderr.match(/^warning: No matching subscribers \(0x10\)/gm)).toHaveLength(2);
    // QoS 0 has no acknowledgement, hence no warning.
    expect(await runCli(['pub', '-p', port, '-t', 'nobody/listens', '-m', 'x'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('fails with the reason name for a refusal (≥ 0x80), exit 1', async () => {
    await b.close();
    b = await startBroker({ authorizePublish: () => 0x97 });
    port = new URL(b.url).port;
    const r = await runCli(['pub', '-p', port, '-t', 'a/b', '-m', 'x', '-q', '1']);
    const refused = /^error: The broker refused the message: Quota exceeded \(0x97\)( — .+)?\n$/;
    expect(r.stderr).toMatch(refused);
    expect(r.code).toBe(1);
    const lines = await runCli(['pub', '-p', port, '-t', 'a/b', '-q', '1', '-l'], { input: 'a\nb\n' });
    expect(lines.stderr).toMatch(refused);
    expect(lines.code).toBe(1);
  });
});

describe('help', () => {
  it('shows defaults in the unit each option takes, and -h/-p/-t/-m/-q/-V beside --help', async () => {
    for (const cmd of ['connect', 'sub']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      const oneLine = r.stdout.replace(/\s+/g, ' ');
      expect(oneLine).toMatch(/--reconnect-delay <seconds> first reconnect delay \(doubles per attempt, with jitter\) \(default: 1\)/);
      expect(oneLine).toMatch(/--max-reconnect-delay <seconds> longest reconnect delay \(default: 32\)/);
      expect(oneLine).not.toMatch(/\(default: (1000|32000)\)/);
      expect(oneLine).toMatch(/-h, --host <host>/);
      expect(oneLine).toMatch(/-p, --port <port>/);
      expect(oneLine).toMatch(/-V, --protocol-version <version>/);
      expect(oneLine).toMatch(/ --help display help for command/);
      expect(oneLine).not.toMatch(/-h, --help/);
    }
    const pub = (await runCli(['pub', '--help'])).stdout.replace(/\s+/g, ' ');
    for (const flag of ['-t, --topic <topic>', '-m, --message <text>', '-q, --qos <qos> QoS: 0, 1 or 2 (default: 0)', '-f, --file <path>', '-s, --stdin', '-l, --stdin-line', '-n, --null-message']) {
      expect(pub).toContain(flag);
    }
    // The broker listens where -h/-p say, like mosquitto's -p.
    const broker = (await runCli(['broker', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(broker).toContain('-h, --host <address> interface to listen on');
    expect(broker).toContain('-p, --port <port> MQTT over TCP port');
  });
});

describe('usage errors name the option and exit 2', () => {
  it.each([
    [['pub', '-V', '3.1.1', '-t', 'a', '-m', 'x'], /option '-V, --protocol-version <version>' argument '3\.1\.1' is invalid\. This client speaks MQTT v5 only: use 5 or mqttv5 \(MQTT 3\.1 and 3\.1\.1 are not supported\)/],
    [['sub', '-V', 'mqttv311', '-t', 'a'], /option '-V, --protocol-version <version>' argument 'mqttv311' is invalid/],
    [['pub', '-p', '0', '-t', 'a', '-m', 'x'], /option '-p, --port <port>' argument '0' is invalid\. Expected an integer from 1 to 65535/],
    [['sub', '-p', 'http', '-t', 'a'], /option '-p, --port <port>' argument 'http' is invalid/],
    [['pub', '-h', 'a b', '-t', 'a', '-m', 'x'], /option '-h, --host <host>' argument 'a b' is invalid\. Expected a host name or an IP address/],
    [['pub', '-q', '3', '-t', 'a', '-m', 'x'], /option '-q, --qos <qos>' argument '3' is invalid\. QoS must be 0, 1 or 2/],
    [['sub', '-q', '5', '-t', 'a'], /option '-q, --qos <qos>' argument '5' is invalid/],
    [['pub', '-t', 'a/+', '-m', 'x'], /option '-t, --topic <topic>' argument 'a\/\+' is invalid\. Not a valid topic name/],
    [['sub', '-t', 'a/#/b'], /option '-t, --topic <filter>' argument 'a\/#\/b' is invalid\. Not a valid topic filter/],
    [['pub', '-t', 'a'], /No message: give it with -m\/--message or as an argument, or use -f\/--file, -s\/--stdin, -l\/--stdin-line or -n\/--null-message/],
    [['pub', '-t', 'a', '-m', 'x', '-l'], /Give the message one way only: -m\/--message, a message argument/],
    [['pub', '-t', 'a', '-m', 'x', 'extra'], /-t\/--topic is given, so no arguments are expected \(got "extra"\)/],
    [['pub', 'a', '1', 'x', '-q', '1'], /-q\/--qos and a QoS argument: give the QoS one way only/],
    [['pub', '-m', 'x'], /No topic: give it with -t\/--topic or as the first argument/],
    [['sub', '-q', '1'], /No topic filter: give it with -t\/--topic \(repeatable\) or as the first argument/],
    [['sub', '-t', 'a', 'b'], /-t\/--topic is given, so no arguments are expected \(got "b"\)/],
    [['pub', '-t', 'a', '-m'], /option '-m, --message <text>' argument missing/],
    [['sub', '-h'], /option '-h, --host <host>' argument missing/],
  ])('nest-mqtt5 %j', async (args, message) => {
    const r = await runCli(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});
