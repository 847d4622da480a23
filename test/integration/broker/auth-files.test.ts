/**
 * The auth-file hooks on a running broker: `passwordFileAuthenticator` → CONNACK 0x86 for a wrong password or
 * unknown user; `aclFileAuthorizer(...).brokerOptions` → SUBACK 0x87 for a filter with nothing readable,
 * PUBACK 0x87 for a denied publish (both counted and reported by the `denied` event), and a wildcard filter
 * only partly readable granted with per-message checks (live and retained messages), as Mosquitto delivers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient as MqttJsClient } from 'mqtt';
import { aclFileAuthorizer, passwordFileAuthenticator } from '../../../lib/broker/index.js';
import { withTimeout } from '../../helpers/wait.js';
import { startBroker, uid, type TestBroker } from './support.js';

const ACL = `user alice
topic readwrite home/#
topic deny home/secret
topic read other/+/temp

user admin
topic readwrite #
`;

let dir: string;
let pwFile: string;
let aclFile: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'acl-int-'));
  pwFile = join(dir, 'passwords');
  aclFile = join(dir, 'acl');
  execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', pwFile, 'alice', 'secret'], { timeout: 10_000 });
  execFileSync('/usr/bin/mosquitto_passwd', ['-b', pwFile, 'admin', 'admin-pw'], { timeout: 10_000 });
  writeFileSync(aclFile, ACL);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

async function start(): Promise<TestBroker> {
  const acl = aclFileAuthorizer(aclFile);
  return startBroker({ authenticate: passwordFileAuthenticator(pwFile), ...acl.brokerOptions });
}

/** The topics `c` receives until `sentinel` (inclusive). */
function receiveUntil(c: MqttJsClient, sentinel: string): Promise<string[]> {
  return withTimeout(
    new Promise<string[]>((resolve) => {
      const got: string[] = [];
      const on = (t: string): void => {
        got.push(t);
        if (t === sentinel) {
          c.off('message', on);
          resolve(got);
        }
      };
      c.on('message', on);
    }),
    3000,
    sentinel,
  );
}

describe('auth files on the broker', () => {
  it('refuses a wrong password or an unknown user with CONNACK 0x86, and anonymous clients with 0x87', async () => {
    tb = await start();
    await expect(tb.mqttjs({ username: 'alice', password: 'wrong' })).rejects.toMatchObject({ code: 0x86 });
    await expect(tb.mqttjs({ username: 'mallory', password: 'secret' })).rejects.toMatchObject({ code: 0x86 });
    await expect(tb.mqttjs({})).rejects.toMatchObject({ code: 0x87 });
    await tb.mqttjs({ username: 'alice', password: 'secret' });
  });

  it('denies subscriptions and publishes with 0x87, counted and reported', async () => {
    tb = await start();
    const denied: unknown[] = [];
    tb.broker.on('denied', (c, d) => denied.push({ user: c.username, ...d }));
    const alice = await tb.mqttjs({ username: 'alice', password: 'secret' });
    // MQTT.js rejects a SUBACK holding a failure; its packet has the codes.
    const suback = await alice.subscribeAsync(['elsewhere/#', 'home/secret', 'home/kitchen'], { qos: 1 }).then(
      () => undefined,
      (e: { packet?: { granted?: unknown } }) => e.packet?.granted,
    );
    expect(suback).toEqual([0x87, 0x87, 1]);
    const err = await alice.publishAsync('other/x/temp', 'no write', { qos: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 0x87 });
    expect(denied).toEqual([
      { user: 'alice', action: 'subscribe', topic: 'elsewhere/#', reasonCode: 0x87 },
      { user: 'alice', action: 'subscribe', topic: 'home/secret', reasonCode: 0x87 },
      { user: 'alice', action: 'publish', topic: 'other/x/temp', reasonCode: 0x87 },
    ]);
    expect(tb.broker.metrics()).toMatchObject({ deniedPublishes: 1, deniedSubscriptions: 2 });
  });

  it('grants a partly readable wildcard filter and delivers only the readable topics, live and retained', async () => {
    tb = await start();
    const admin = await tb.mqttjs({ username: 'admin', password: 'admin-pw' });
    await admin.publishAsync('home/secret', 'r1', { qos: 1, retain: true });
    await admin.publishAsync('home/kitchen', 'r2', { qos: 1, retain: true });
    const alice = await tb.mqttjs({ username: 'alice', password: 'secret', clientId: uid('alice') });
    const retained = receiveUntil(alice, 'home/sentinel');
    // `#` overlaps home/# and other/+/temp: granted, checked per message.
    const granted = await alice.subscribeAsync(['#'], { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    await admin.publishAsync('home/sentinel', 'end', { qos: 1 });
    expect(await retained).toEqual(['home/kitchen', 'home/sentinel']);
    const live = receiveUntil(alice, 'home/sentinel');
    for (const t of ['home/secret', 'home/a/b', 'other/x/temp', 'other/x/hum', 'elsewhere', 'home/sentinel']) {
      await admin.publishAsync(t, 'x', { qos: 1 });
    }
    expect(await live).toEqual(['home/a/b', 'other/x/temp', 'home/sentinel']);
    // The strict hook of the same file refuses that filter at SUBSCRIBE instead (for brokers without deliveryFilter).
    const acl = aclFileAuthorizer(aclFile);
    const info = { clientId: 'x', username: 'alice', remoteAddress: undefined, remotePort: undefined, transport: 'tcp', protocolVersion: 5, peerCertificate: undefined } as const;
    expect(acl.authorizeSubscribe(info, { topicFilter: '#', qos: 1 })).toBe(false);
    expect(acl.brokerOptions.authorizeSubscribe(info, { topicFilter: '#', qos: 1 })).toBe(true);
    expect(acl.brokerOptions.deliveryFilter(info, { topicFilter: 'home/kitchen/#', qos: 1 })).toBeUndefined();
    // A shared subscription is decided at SUBSCRIBE (no per-message check for a group).
    expect(acl.brokerOptions.authorizeSubscribe(info, { topicFilter: '$share/g/#', qos: 1 })).toBe(false);
  });
});
