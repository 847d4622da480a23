/**
 * Differential test of the auth-file hooks against real Mosquitto: the same password file (written by the
 * real mosquitto_passwd) and the same ACL file are given to Mosquitto and to passwordFileAuthenticator /
 * aclFileAuthorizer; a matrix of users × passwords (connect) and users × topics × actions (publish, receive)
 * must give the same allow/deny. Outcomes, not packets, are compared: Mosquitto 2.0 grants every SUBSCRIBE
 * and checks read access when it delivers, so "receive" is observed as delivered / not delivered and
 * compared with `canRead` (the per-message decision); for a filter without wildcards `authorizeSubscribe`
 * decides the same (checked too). A dropped message is detected without sleeping: each probe is followed
 * by a sentinel on the same path, and Mosquitto keeps a publisher's order.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { aclFileAuthorizer, passwordFileAuthenticator, type AclFileAuthorizer, type PasswordFileAuthenticator } from '../../lib/broker/auth-files/index.js';
import { mosquittoTestsEnabled, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { withTimeout } from '../helpers/wait.js';
import { client as clientInfo, connectRequest } from '../unit/broker/auth-files/client.js';

const ACL = `topic read public/#
topic readwrite anon/+/data
pattern readwrite sentinel/%c

user alice
topic readwrite home/#
topic deny home/secret
topic write logs/alice

user bob
topic read home/+/temp
topic write home/bob/cmd

user admin
topic readwrite #

pattern read users/%u/inbox
pattern deny devices/%c/locked
pattern readwrite devices/%c/#
`;

const USERS: Array<[string | undefined, string | undefined]> = [
  ['alice', 'secret'],
  ['bob', 'hunter2'],
  ['carol', 'carol-pw'],
  [undefined, undefined],
];

const idOf = (user: string | undefined): string => `c-${user ?? 'anon'}`;

function topicsFor(user: string | undefined): string[] {
  const id = idOf(user);
  return [
    'public/news',
    'anon/x/data',
    'home/kitchen/temp',
    'home/secret',
    'home/secret/x',
    'logs/alice',
    'home/bob/cmd',
    `devices/${id}/temp`,
    `devices/${id}/locked`,
    `devices/c-other/temp`,
    `users/${user ?? 'nobody'}/inbox`,
    'elsewhere',
  ];
}

(mosquittoTestsEnabled() ? describe : describe.skip)('auth files: same decisions as Mosquitto', () => {
  let dir: string;
  let broker: Mosquitto;
  let auth: PasswordFileAuthenticator;
  let acl: AclFileAuthorizer;
  const open: MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'authfiles-'));
    const pw = join(dir, 'passwords');
    const aclFile = join(dir, 'acl');
    execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', pw, 'alice', 'secret'], { timeout: 10_000 });
    execFileSync('/usr/bin/mosquitto_passwd', ['-H', 'sha512', '-b', pw, 'bob', 'hunter2'], { timeout: 10_000 });
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', pw, 'carol', 'carol-pw'], { timeout: 10_000 });
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', pw, 'admin', 'admin-pw'], { timeout: 10_000 });
    writeFileSync(aclFile, ACL);
    broker = await startMosquitto({
      // The helper's `max_queued_messages 0` makes Mosquitto 2.0.11 stop acknowledging a client's QoS 1
      // publishes after it denied one of them (seen here: the PUBACK of the next publish never comes), so
      // this suite queues normally.
      extraConfig: [`password_file ${pw}`, `acl_file ${aclFile}`, 'allow_anonymous true', 'max_queued_messages 1000'],
    });
    auth = passwordFileAuthenticator(pw, { allowAnonymous: true });
    acl = aclFileAuthorizer(aclFile);
  }, 30_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.endAsync(true)));
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Connects with MQTT.js at 3.1.1; rejects if refused. Every client, refused or not, is ended in afterAll. */
  async function connect(username: string | undefined, password: string | undefined, clientId: string): Promise<MqttClient> {
    const c = mqtt.connect(broker.tcpUrl, { clientId, username, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    open.push(c);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
        c.once('close', () => reject(new Error('closed before CONNACK')));
      }),
      6000,
      `CONNACK for ${clientId}`,
    );
    return c;
  }

  /** Resolves with the topics `c` receives, in order, until one equals `sentinel`. */
  function receiveUntil(c: MqttClient, sentinel: string): Promise<string[]> {
    return withTimeout(
      new Promise<string[]>((resolve) => {
        const got: string[] = [];
        const onMessage = (topic: string): void => {
          got.push(topic);
          if (topic === sentinel) {
            c.off('message', onMessage);
            resolve(got);
          }
        };
        c.on('message', onMessage);
      }),
      5000,
      `sentinel ${sentinel}`,
    );
  }

  it('connect: the same users are accepted', async () => {
    const attempts: Array<[string | undefined, string | undefined]> = [
      ...USERS,
      ['alice', 'wrong'],
      ['alice', undefined],
      ['bob', 'secret'],
      ['mallory', 'secret'],
      ['Alice', 'secret'],
    ];
    let n = 0;
    const outcomes: boolean[] = [];
    for (const [user, password] of attempts) {
      const clientId = `conn-${++n}`;
      let mosquitto: boolean;
      try {
        const c = await connect(user, password, clientId);
        mosquitto = true;
        await c.endAsync();
      } catch {
        mosquitto = false;
      }
      const ours = await auth(connectRequest(user, password, clientId));
      expect({ user, password, ours }).toEqual({ user, password, ours: mosquitto });
      outcomes.push(mosquitto);
    }
    expect(outcomes.filter(Boolean)).toHaveLength(USERS.length);
  }, 30_000);

  it('publish and receive: the same allow/deny for every user × topic', async () => {
    const admin = await connect('admin', 'admin-pw', 'c-admin');
    await admin.subscribeAsync('#', { qos: 1 });
    const tally = { write: [0, 0], read: [0, 0] };
    for (const [user, password] of USERS) {
      const id = idOf(user);
      const c = await connect(user, password, id);
      const info = clientInfo(id, user);
      const sentinel = `sentinel/${id}`;
      await c.subscribeAsync(sentinel, { qos: 1 });
      for (const topic of topicsFor(user)) {
        // Write: the user publishes the probe then the sentinel; the admin sees the probe iff it was allowed.
        const seenByAdmin = receiveUntil(admin, sentinel);
        await c.publishAsync(topic, 'probe', { qos: 1 });
        await c.publishAsync(sentinel, 'end', { qos: 1 });
        const written = (await seenByAdmin).includes(topic);
        tally.write[written ? 1 : 0]!++;
        expect({ user, topic, write: acl.canWrite(info, topic) }).toEqual({ user, topic, write: written });

        // Read: the user subscribes (Mosquitto 2.0 grants it), the admin publishes probe then sentinel.
        await c.subscribeAsync(topic, { qos: 1 });
        const seenByUser = receiveUntil(c, sentinel);
        await admin.publishAsync(topic, 'probe', { qos: 1 });
        await admin.publishAsync(sentinel, 'end', { qos: 1 });
        const read = (await seenByUser).includes(topic);
        tally.read[read ? 1 : 0]!++;
        expect({ user, topic, read: acl.canRead(info, topic) }).toEqual({ user, topic, read });
        expect({ user, topic, subscribe: acl.authorizeSubscribe(info, { topicFilter: topic, qos: 1 }) }).toEqual({ user, topic, subscribe: read });
        await c.unsubscribeAsync(topic);
      }
      await c.endAsync();
    }
    // The matrix exercises both outcomes of both actions (it cannot pass by denying, or allowing, everything).
    expect(Math.min(...tally.write, ...tally.read)).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
