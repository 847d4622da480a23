/**
 * `nest-mqtt5 broker --password-file F --acl-file F` as a real process: a malformed file refuses the start
 * (exit 2, file and line named); SIGHUP reloads both files for new connections and subscriptions while
 * connected clients stay up; a malformed file on reload keeps the rules in force and is reported.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient as MqttJsClient } from 'mqtt';
import { stopAllProcesses, type RunningProcess } from '../../helpers/run-process.js';
import { BUILD_TIMEOUT, buildCli, runCli, startCli } from './support.js';

let dir: string;
const open: MqttJsClient[] = [];
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nest-mqtt5-cli-auth-'));
  return buildCli();
}, BUILD_TIMEOUT);
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.endAsync(true)));
  await stopAllProcesses();
});
afterAll(async () => {
  await stopAllProcesses();
  rmSync(dir, { recursive: true, force: true });
});

function passwd(file: string, user: string, password: string, create = false): void {
  execFileSync('/usr/bin/mosquitto_passwd', [...(create ? ['-c'] : []), '-b', file, user, password], { timeout: 10_000 });
}

async function startCliBroker(args: string[]): Promise<{ p: RunningProcess; url: string }> {
  const p = startCli(['broker', '--port', '0', ...args]);
  await p.waitForLine('broker ready');
  const url = p.stdoutLines().map((l) => /^listening on (\S+) \(tcp\)$/.exec(l)?.[1]).find((u) => u !== undefined)!;
  return { p, url };
}

async function connect(url: string, username?: string, password?: string): Promise<MqttJsClient> {
  const c = mqtt.connect(url, { protocolVersion: 5, username, password, reconnectPeriod: 0, connectTimeout: 5000 });
  open.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

/** The SUBACK codes for `filters` (MQTT.js rejects a SUBACK with failures; its packet has them). */
function subscribeCodes(c: MqttJsClient, filters: string[]): Promise<number[]> {
  return c.subscribeAsync(filters, { qos: 1 }).then(
    (granted) => granted.map((g) => g.qos),
    (e: { packet?: { granted?: number[] } }) => e.packet?.granted ?? [],
  );
}

describe('broker --password-file --acl-file', () => {
  it('refuses to start on a malformed file, naming the file and line (exit 2)', async () => {
    const pw = path.join(dir, 'bad-passwords');
    passwd(pw, 'alice', 'secret', true);
    writeFileSync(pw, `# users\n${readFileSync(pw, 'utf8').trim()}\nbob:plaintext\n`);
    const r = await runCli(['broker', '--port', '0', '--password-file', pw]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: --password-file ${escape(pw)}:3: .*\\n$`));

    const acl = path.join(dir, 'bad-acl');
    writeFileSync(acl, 'user alice\ntopic readwrite a/#\ntopic sometimes b\n');
    const r2 = await runCli(['broker', '--port', '0', '--acl-file', acl]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(new RegExp(`^error: --acl-file ${escape(acl)}:3: invalid access type "sometimes".*\\n$`));

    const missing = await runCli(['broker', '--port', '0', '--acl-file', path.join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: --acl-file .*nope: cannot read/);
  });

  it('reloads both files on SIGHUP: new connections and subscriptions follow them, connected clients stay', async () => {
    const pw = path.join(dir, 'passwords');
    const acl = path.join(dir, 'acl');
    passwd(pw, 'alice', 'secret', true);
    writeFileSync(acl, 'user alice\ntopic readwrite a/#\n');
    const { p, url } = await startCliBroker(['--password-file', pw, '--acl-file', acl, '-v']);

    const alice = await connect(url, 'alice', 'secret');
    let aliceClosed = false;
    alice.on('close', () => {
      aliceClosed = true;
    });
    expect(await subscribeCodes(alice, ['a/#', 'b/#'])).toEqual([1, 0x87]);
    await expect(connect(url, 'bob', 'builder')).rejects.toMatchObject({ code: 0x86 });
    await p.waitForLine(/^client \S+ denied subscribe b\/#: Not authorized \(0x87\)$/);

    passwd(pw, 'bob', 'builder');
    writeFileSync(acl, 'user alice\ntopic readwrite b/#\n\nuser bob\ntopic read b/#\n');
    p.kill('SIGHUP');
    await p.waitForLine('SIGHUP: reloaded the password file (2 users) and ACL file');

    // New connection and new subscriptions follow the new files; alice's connection stayed up.
    const bob = await connect(url, 'bob', 'builder');
    expect(await subscribeCodes(bob, ['b/#'])).toEqual([1]);
    expect(await subscribeCodes(alice, ['b/#', 'a/x'])).toEqual([1, 0x87]);
    const got = new Promise<string>((resolve) => bob.once('message', (t) => resolve(t)));
    await alice.publishAsync('b/1', 'hello', { qos: 1 });
    expect(await got).toBe('b/1');
    expect(aliceClosed).toBe(false);

    // A malformed file on reload: reported with file and line; the rules in force stay (both files).
    writeFileSync(acl, 'user alice\ntopic readwrite c/#\nbogus line\n');
    passwd(pw, 'carol', 'carol-pw');
    p.kill('SIGHUP');
    const err = await p.waitForLine(/SIGHUP: reload failed/, 10_000, 'stderr');
    expect(err).toBe(`SIGHUP: reload failed, keeping the previous rules: ${acl}:3: invalid line (expected user, topic or pattern): "bogus line"`);
    expect(await subscribeCodes(alice, ['b/2', 'c/#'])).toEqual([1, 0x87]);
    await expect(connect(url, 'carol', 'carol-pw')).rejects.toMatchObject({ code: 0x86 });
    expect(aliceClosed).toBe(false);

    p.kill('SIGTERM');
    expect((await p.waitForExit()).code).toBe(0);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

