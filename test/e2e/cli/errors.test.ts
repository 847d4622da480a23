/**
 * How the CLI fails: usage errors (exit 2), refused connections with the reason code's name and
 * hex (exit 3), timeouts (exit 4), runtime failures (exit 1) — and `--help` on every command.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { stopAllProcesses } from '../../helpers/run-process.js';
import { BUILD_TIMEOUT, buildCli, runCli, startBroker, startCli, subscribed, testClient, type TestBroker } from './support.js';

let b: TestBroker | undefined;

beforeAll(() => buildCli(), BUILD_TIMEOUT);
afterEach(async () => {
  await stopAllProcesses();
  await b?.close();
  b = undefined;
});

describe('usage errors exit 2', () => {
  it.each([
    [['pub', '-b', 'foo://127.0.0.1:1883', 't', '1', 'x'], /argument 'foo:\/\/127\.0\.0\.1:1883' is invalid\. Unsupported scheme foo:/],
    [['sub', '-b', 'mqtt://not a host', 't', '1'], /argument 'mqtt:\/\/not a host' is invalid\. Not a URL/],
    [['sub', '-b', '127.0.0.1:1883', 't', '1'], /is invalid\. No scheme; did you mean mqtt:\/\/127\.0\.0\.1:1883\?/],
    [['pub', 't', '3', 'x'], /value '3' is invalid for argument 'qos'\. QoS must be 0, 1 or 2/],
    [['pub', 'a/+', '1', 'x'], /Not a valid topic name/],
    [['sub', 'a/#/b', '1'], /Not a valid topic filter/],
    [['pub', 't', '1'], /No message: give it with -m\/--message or as an argument, or use -f\/--file, -s\/--stdin/],
    [['pub', 't', '1', 'x', '--file', 'x.bin'], /Give the message one way only/],
    [['pub', 't', '1', '--file', '/nonexistent/x.bin'], /Cannot read --file \/nonexistent\/x\.bin: ENOENT/],
    [['pub', 't', '1', 'x', '--user-property', 'novalue'], /Expected name=value/],
    [['connect', '--will-qos', '1'], /need --will-topic/],
    [['connect', '--ca', 'ca.pem'], /need an mqtts:, tls: or wss: broker URL/],
    [['sub', 't', '1', '--json', '-v'], /--json and --verbose exclude each other/],
    [['broker', '--port', '70000'], /Expected an integer from 0 to 65535/],
    [['broker', '--tls-port', '0'], /TLS listeners need both --tls-cert and --tls-key/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['pub', '--bogus', 't', '1', 'x'], /unknown option '--bogus'/],
  ])('nest-mqtt5 %j', async (args, message) => {
    const r = await runCli(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});

describe('connection failures', () => {
  it('reports a refused CONNACK with the reason code name and hex, exit 3', async () => {
    b = await startBroker({ authenticate: ({ username }) => (username === 'admin' ? true : { reasonCode: 0x86, reasonString: 'try again' }) });
    const r = await runCli(['pub', '-b', b.url, '-u', 'guest', '-P', 'pw', 't', '1', 'x']);
    expect(r.stderr).toBe('error: Connection refused by the broker: Bad User Name or Password (0x86) — try again\n');
    expect(r.code).toBe(3);
    const ok = await runCli(['pub', '-b', b.url, 't', '1', 'x'], { env: { MQTT_USERNAME: 'admin', MQTT_PASSWORD: 'secret' } });
    expect(ok.code).toBe(0);
  });

  it('exits 1 when nothing listens', async () => {
    const port = await closedPort();
    const r = await runCli(['sub', '-b', `mqtt://127.0.0.1:${port}`, 't', '1']);
    expect(r.stderr).toBe(`error: Cannot connect to mqtt://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    expect(r.code).toBe(1);
  });

  it('times out with --timeout when the server never answers CONNECT, exit 4', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      for (const cmd of [['pub', 't', '1', 'x'], ['sub', 't', '1'], ['connect']]) {
        const r = await runCli([...cmd, '-b', `mqtt://127.0.0.1:${port}`, '--timeout', '0.3']);
        expect(r.stderr).toMatch(/^error: (Timed out after 0\.3 s waiting for CONNACK\.|No CONNACK within 300 ms)\n$/);
        expect(r.code).toBe(4);
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('sub --timeout exits 4 with the count of messages received', async () => {
    b = await startBroker();
    const sub = startCli(['sub', '-b', b.url, 'few/#', '0', '-C', '3', '--timeout', '2']);
    await subscribed(b.broker, 'few/#');
    // Published from this process, not a second CLI process: its start-up on a loaded machine could eat the 2 s.
    const publisher = await testClient(b.url);
    await publisher.publish({ topic: 'few/one', payload: 'only one', qos: 0 });
    await publisher.disconnect();
    const r = await sub.waitForExit();
    expect(r.stdout).toBe('few/one only one\n');
    expect(r.stderr).toBe('error: Timed out after 2 s waiting for 3 messages (received 1 of 3 messages).\n');
    expect(r.code).toBe(4);
  });

  it('reports a refused publish and a refused subscription with their reason codes, exit 1', async () => {
    b = await startBroker({
      authorizePublish: (_c, m) => (m.topic.startsWith('secret/') ? 0x87 : true),
      authorizeSubscribe: (_c, s) => (s.topicFilter.startsWith('secret/') ? false : true),
    });
    const pub = await runCli(['pub', '-b', b.url, 'secret/x', '1', 'x']);
    expect(pub.stderr).toBe('error: The broker refused the message: Not authorized (0x87)\n');
    expect(pub.code).toBe(1);
    const sub = await runCli(['sub', '-b', b.url, 'secret/#', '1']);
    expect(sub.stderr).toMatch(/^error: The broker refused the subscription to secret\/#: Not authorized \(0x87\)( — .+)?\n$/);
    expect(sub.code).toBe(1);
  });
});

describe('--help', () => {
  it.each([[[]], [['connect']], [['pub']], [['sub']], [['broker']]])('nest-mqtt5 %j --help prints usage and exits 0', async (cmd) => {
    const r = await runCli([...cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: nest-mqtt5 ${cmd.length === 0 ? '\\[options\\] \\[command\\]' : cmd[0]}`));
    // Help is --help only: -h is the host (mosquitto's convention).
    expect(r.stdout).toMatch(/^  --help +display help for command$/m);
    expect(r.stdout).not.toMatch(/-h, --help/);
    expect(r.stderr).toBe('');
  });

  it('lists the exit codes and every command at the top level', async () => {
    const r = await runCli(['--help']);
    for (const text of ['connect [options]', 'pub [options] [topic] [qos] [message]', 'sub [options] [filter] [qos]', 'broker [options]', 'Exit codes:']) {
      expect(r.stdout).toContain(text);
    }
  });

  it('prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});

/** A port with nothing listening: bound, then released. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

afterAll(() => stopAllProcesses());
