/**
 * `nest-mqtt5 broker` as a real process: bound addresses printed, TCP/WebSocket/TLS listeners,
 * limits given as flags, verbose logging, clean shutdown on SIGTERM/SIGINT.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stopAllProcesses, type RunningProcess } from '../../helpers/run-process.js';
import { BUILD_TIMEOUT, buildCli, runCli, startCli } from './support.js';

const run = promisify(execFile);

beforeAll(() => buildCli(), BUILD_TIMEOUT);
afterEach(() => stopAllProcesses());
afterAll(() => stopAllProcesses());

/** Starts `nest-mqtt5 broker <args>` and returns the URLs it printed, by listener kind. */
async function startCliBroker(args: string[]): Promise<{ p: RunningProcess; urls: Record<string, string> }> {
  const p = startCli(['broker', ...args]);
  await p.waitForLine('broker ready');
  const urls: Record<string, string> = {};
  for (const line of p.stdoutLines()) {
    const m = /^listening on (\S+) \((\w+)\)$/.exec(line);
    if (m) urls[m[2]!] = m[1]!;
  }
  return { p, urls };
}

describe('broker', () => {
  it('listens on TCP and WebSocket, logs clients with -v, and closes cleanly on SIGTERM', async () => {
    const { p, urls } = await startCliBroker(['--port', '0', '--ws-port', '0', '-v']);
    expect(urls.tcp).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(urls.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);

    const sub = startCli(['sub', '-b', urls.ws!, 'hello/#', '1', '-C', '1']);
    await p.waitForLine(/^client \S+ subscribed: hello\/# → Granted QoS 1 \(0x01\)$/);
    expect((await runCli(['pub', '-b', urls.tcp!, 'hello/world', '1', 'hi'])).code).toBe(0);
    expect((await sub.waitForExit()).stdout).toBe('hello/world hi\n');

    const watcher = startCli(['connect', '-b', urls.tcp!, '-i', 'watcher', '--no-reconnect']);
    await p.waitForLine(/^client watcher \(tcp 127\.0\.0\.1:\d+\) connected$/);
    p.kill('SIGTERM');
    const r = await p.waitForExit();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SIGTERM: closing/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('broker closed');
    const w = await watcher.waitForExit();
    expect(w.stdout).toMatch(/disconnected by the broker: Server shutting down \(0x8B\)/);
    expect(w.code).toBe(1);
  });

  it('applies limits given as flags: --max-connections, --max-packet-size', async () => {
    const { p, urls } = await startCliBroker(['--port', '0', '--max-connections', '1', '--max-packet-size', '128']);
    const first = startCli(['connect', '-b', urls.tcp!]);
    await first.waitForLine('connected to');
    const busy = await runCli(['pub', '-b', urls.tcp!, 't', '1', 'x']);
    expect(busy.stderr).toMatch(/^error: Connection refused by the broker: Server busy \(0x89\)( — .+)?\n$/);
    expect(busy.code).toBe(3);
    first.kill('SIGINT');
    await first.waitForExit();

    const tooLarge = await runCli(['pub', '-b', urls.tcp!, 't', '1', 'x'.repeat(200)]);
    expect(tooLarge.stderr).toMatch(/Packet too large \(0x95\)/);
    expect(tooLarge.code).toBe(1);
    p.kill('SIGINT');
    expect((await p.waitForExit()).code).toBe(0);
  });

  it('serves MQTT over TLS with --tls-cert/--tls-key; clients verify it with --ca', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-cli-tls-'));
    try {
      const cert = path.join(dir, 'cert.pem');
      const key = path.join(dir, 'key.pem');
      await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      ]);
      const { p, urls } = await startCliBroker(['--port', '0', '--tls-port', '0', '--tls-cert', cert, '--tls-key', key]);
      expect(urls.tls).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
      const sub = startCli(['sub', '-b', urls.tls!, '--ca', cert, 'secure/#', '1', '-C', '1', '-v']);
      await sub.waitForLine('subscribed to secure/#', 10_000, 'stderr');
      expect((await runCli(['pub', '-b', urls.tls!, '--ca', cert, 'secure/x', '1', 'over TLS'])).code).toBe(0);
      expect((await sub.waitForExit()).stdout).toMatch(/^secure\/x over TLS\n/);

      const untrusted = await runCli(['pub', '-b', urls.tls!, 'secure/x', '1', 'x']);
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/self[- ]signed certificate/i);
      expect((await runCli(['pub', '-b', urls.tls!, '--insecure', 'secure/x', '1', 'x'])).code).toBe(0);
      p.kill('SIGINT');
      expect((await p.waitForExit()).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('publishes $SYS/broker/... statistics every --sys-interval seconds (retained)', async () => {
    const { p, urls } = await startCliBroker(['--port', '0', '--sys-interval', '1']);
    // The retained values arrive at once, then one live update of the uptime: 2 messages.
    const sub = await runCli(['sub', '-b', urls.tcp!, '$SYS/broker/uptime', '0', '-C', '2', '--timeout', '10']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/^\$SYS\/broker\/uptime \d+ seconds\n\$SYS\/broker\/uptime \d+ seconds\n$/);
    const version = await runCli(['sub', '-b', urls.tcp!, '$SYS/broker/version', '0', '-C', '1', '--timeout', '10']);
    expect(version.stdout).toMatch(/^\$SYS\/broker\/version nest-mqtt5 version \d+\.\d+\.\d+/);
    p.kill('SIGINT');
    expect((await p.waitForExit()).code).toBe(0);
  });

  it('exits 1 with the reason when the port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const r = await runCli(['broker', '--port', String(port)]);
      expect(r.stderr).toMatch(new RegExp(`^error: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\\n$`));
      expect(r.code).toBe(1);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('--data-dir: a retained message survives a kill -9; the restore is reported', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-cli-data-'));
    try {
      let { p, urls } = await startCliBroker(['--port', '0', '--data-dir', dir, '--sync', 'periodic']);
      expect(p.stdoutLines()[0]).toMatch(/^restored from \S+ in \d+ ms: 0 sessions, 0 subscriptions, 0 queued\/in-flight messages, 0 retained messages$/);
      expect((await runCli(['pub', '-b', urls.tcp!, '-r', 'keep/me', '1', 'kept'])).code).toBe(0);
      p.kill('SIGKILL');
      await p.waitForExit();
      ({ p, urls } = await startCliBroker(['--port', '0', '--data-dir', dir]));
      expect(p.stdoutLines()[0]).toMatch(/: 0 sessions, 0 subscriptions, 0 queued\/in-flight messages, 1 retained messages$/);
      const sub = await runCli(['sub', '-b', urls.tcp!, 'keep/#', '1', '-C', '1']);
      expect(sub.stdout).toBe('keep/me kept\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--data-dir: refuses to start on a corrupt store, naming the file (exit 1)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-cli-data-'));
    try {
      await import('node:fs/promises').then((fs) => fs.writeFile(path.join(dir, 'store.mdb'), Buffer.alloc(65536, 0x5a)));
      const r = await runCli(['broker', '--port', '0', '--data-dir', dir]);
      expect(r.stderr).toContain(path.join(dir, 'store.mdb'));
      expect(r.code).toBe(1);
      const bad = await runCli(['broker', '--port', '0', '--sync', 'never']);
      expect(bad.code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
