/**
 * aclFileAuthorizer: Mosquitto's ACL rules as a matrix of clients × topics × access, subscribe decisions
 * on wildcard filters, the parser's rules (and its errors naming the line), and reload.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthFileError, aclFileAuthorizer, type AclFileAuthorizer } from '../../../../lib/broker/auth-files/index.js';
import type { PublishedMessage } from '../../../../lib/broker/auth.js';
import { client } from './client.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aclfile-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function aclFrom(text: string, name = 'acl'): AclFileAuthorizer {
  const file = join(dir, name);
  writeFileSync(file, text);
  return aclFileAuthorizer(file);
}

const ACL = `# anonymous section: before any user line
topic read public/#
topic readwrite anon/+/data

user alice
topic readwrite home/#
topic deny home/secret
topic write logs/alice
topic read $SYS/#

user bob
topic read home/+/temp
# bob appears again below: rules add up

user bob with space
topic readwrite spaced/topic name

user bob
topic write home/bob/cmd

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/locked
pattern write users/%u/%c/status
`;

const msg = (topic: string): PublishedMessage => ({ topic, payload: Buffer.alloc(0), qos: 0, retain: false, properties: undefined });

describe('aclFileAuthorizer: the Mosquitto decision matrix', () => {
  const acl = (): AclFileAuthorizer => aclFrom(ACL);
  // [who, clientId, username, topic, canRead, canWrite]
  const matrix: Array<[string, string, string | undefined, string, boolean, boolean]> = [
    // anonymous section
    ['anonymous reads public', 'anon1', undefined, 'public/news', true, false],
    ['anonymous: # matches the parent level', 'anon1', undefined, 'public', true, false],
    ['anonymous readwrite with +', 'anon1', undefined, 'anon/x/data', true, true],
    ['anonymous: + is one level', 'anon1', undefined, 'anon/x/y/data', false, false],
    ['anonymous outside its rules', 'anon1', undefined, 'home/a', false, false],
    // users
    ['alice readwrite', 'c-alice', 'alice', 'home/kitchen/temp', true, true],
    ['alice: deny wins whatever the order', 'c-alice', 'alice', 'home/secret', false, false],
    ['alice: deny is exact, children still allowed', 'c-alice', 'alice', 'home/secret/x', true, true],
    ['alice write-only', 'c-alice', 'alice', 'logs/alice', false, true],
    ['alice: no anonymous rules for a named user', 'c-alice', 'alice', 'public/news', false, false],
    ['alice: $SYS only through a $ rule', 'c-alice', 'alice', '$SYS/broker/uptime', true, false],
    ['bob: + level', 'c-bob', 'bob', 'home/kitchen/temp', true, false],
    ['bob: rules of both sections add up', 'c-bob', 'bob', 'home/bob/cmd', false, true],
    ['bob: not deeper than +', 'c-bob', 'bob', 'home/kitchen/temp/x', false, false],
    ['user name with a space, topic with a space', 'c-bs', 'bob with space', 'spaced/topic name', true, true],
    ['a user without section: patterns only', 'carol', 'carol', 'home/kitchen/temp', false, false],
    // patterns
    ['pattern %c', 'carol', 'carol', 'devices/carol/temp', true, true],
    ['pattern %c is the client id, not the user name', 'dev-7', 'carol', 'devices/carol/temp', false, false],
    ['pattern deny %c', 'carol', 'carol', 'devices/carol/locked', false, false],
    ['pattern %u', 'x', 'carol', 'users/carol/inbox', true, false],
    ['pattern %u does not apply without user name', 'x', undefined, 'users//inbox', false, false],
    ['pattern %u and %c in one filter', 'phone', 'carol', 'users/carol/phone/status', false, true],
    ['patterns apply to anonymous clients via %c', 'anon9', undefined, 'devices/anon9/temp', true, true],
    ['patterns apply after the user list', 'c-alice', 'alice', 'devices/c-alice/x', true, true],
    ['a client id with + gets nothing from patterns', 'a+b', 'carol', 'devices/a+b/x', false, false],
    ['a user name with # gets nothing from patterns', 'c9', 'ca#rol', 'devices/c9/x', false, false],
    ['# in a rule does not match $ topics', 'c-alice', 'alice', '$SYS/x', true, false],
    ['…and an anonymous public/# rule does not give $ topics', 'anon1', undefined, '$public/x', false, false],
  ];

  it.each(matrix)('%s', (_name, clientId, username, topic, read, write) => {
    const a = acl();
    const c = client(clientId, username);
    expect([a.canRead(c, topic), a.canWrite(c, topic)]).toEqual([read, write]);
    expect(a.authorizePublish(c, msg(topic), false)).toBe(write);
    // A filter without wildcards is decided exactly like a message on that topic.
    expect(a.authorizeSubscribe(c, { topicFilter: topic, qos: 1 })).toBe(read);
  });

  it('denies everyone when the file has no rule for them and no patterns', () => {
    const a = aclFrom('user alice\ntopic readwrite #\n', 'only-alice');
    expect(a.canRead(client('x', undefined), 'a')).toBe(false);
    expect(a.canRead(client('x', 'bob'), 'a')).toBe(false);
    expect(a.canRead(client('x', 'alice'), 'a')).toBe(true);
    expect(a.canRead(client('x', 'alice'), '$SYS/a')).toBe(false);
  });

  it('an empty file denies everything', () => {
    const a = aclFrom('# nothing\n\n', 'empty');
    expect(a.canWrite(client('x', 'alice'), 'a')).toBe(false);
  });
});

describe('aclFileAuthorizer: subscribing to wildcard filters', () => {
  it.each([
    // [clientId, username, filter, granted]
    ['c-alice', 'alice', 'home/#', false], // overlaps the deny on home/secret
    ['c-alice', 'alice', 'home/kitchen/#', true],
    ['c-alice', 'alice', 'home/+/temp', true], // home/secret/temp is not home/secret
    ['c-alice', 'alice', 'home/+', false], // includes home/secret
    ['c-alice', 'alice', '#', false],
    ['c-alice', 'alice', '$SYS/#', true],
    ['c-alice', 'alice', '$share/g/home/kitchen/#', true],
    ['c-alice', 'alice', '$share/g/home/#', false],
    ['c-bob', 'bob', 'home/+/temp', true],
    ['c-bob', 'bob', 'home/#', false], // only partly readable: refused (Mosquitto 2.0 would grant and filter)
    ['anon1', undefined, 'public/#', true],
    ['anon1', undefined, 'public/+/x', true],
    ['anon1', undefined, '+/news', false],
    ['carol', 'carol', 'devices/carol/#', false], // overlaps the deny pattern devices/carol/locked
    ['carol', 'carol', 'devices/carol/+/x', true],
    ['carol', 'carol', 'users/carol/inbox', true],
  ] as Array<[string, string | undefined, string, boolean]>)('%s (%s) subscribes %s → %s', (clientId, username, filter, granted) => {
    const a = aclFrom(ACL, 'wild');
    expect(a.authorizeSubscribe(client(clientId, username), { topicFilter: filter, qos: 0 })).toBe(granted);
  });
});

describe('aclFileAuthorizer: brokerOptions (Mosquitto outcomes: grant if anything is readable, check per message)', () => {
  it.each([
    // [clientId, username, filter, granted, checked per message]
    ['c-alice', 'alice', 'home/#', true, true], // home/secret is filtered out on delivery
    ['c-alice', 'alice', 'home/kitchen/#', true, false], // fully readable: no per-message cost
    ['c-alice', 'alice', 'home/secret', false, false], // nothing readable
    ['c-alice', 'alice', 'home/secret/#', true, true], // home/secret/x is readable, home/secret is not
    ['c-alice', 'alice', '#', true, true],
    ['c-alice', 'alice', 'elsewhere/#', false, false],
    ['c-alice', 'alice', '$share/g/home/#', false, false], // shared: decided at SUBSCRIBE, strictly
    ['c-alice', 'alice', '$share/g/home/kitchen/#', true, false],
    ['c-bob', 'bob', 'home/#', true, true],
    ['anon1', undefined, '+/news', true, true],
    ['anon1', undefined, 'private/#', false, false],
    ['carol', 'carol', 'devices/carol/#', true, true],
    ['carol', 'carol', 'devices/carol/locked', false, false],
  ] as Array<[string, string | undefined, string, boolean, boolean]>)('%s (%s) subscribes %s → granted %s, checked %s', (clientId, username, filter, granted, checked) => {
    const a = aclFrom(ACL, 'broker-options');
    const info = client(clientId, username);
    const sub = { topicFilter: filter, qos: 0 as const };
    expect(a.brokerOptions.authorizeSubscribe(info, sub)).toBe(granted);
    if (!granted) return;
    const check = filter.startsWith('$share/') ? undefined : a.brokerOptions.deliveryFilter(info, sub);
    expect(check !== undefined).toBe(checked);
  });

  it('the per-message check is canRead with the rules in force (it follows reloads)', () => {
    const file = join(dir, 'broker-options-reload');
    writeFileSync(file, 'user alice\ntopic read a/#\ntopic deny a/secret\n');
    const a = aclFileAuthorizer(file);
    const info = client('c-alice', 'alice');
    const check = a.brokerOptions.deliveryFilter(info, { topicFilter: '#', qos: 0 })!;
    expect([check('a/x'), check('a/secret'), check('b/x')]).toEqual([true, false, false]);
    writeFileSync(file, 'user alice\ntopic read b/#\n');
    a.reload();
    expect([check('a/x'), check('a/secret'), check('b/x')]).toEqual([false, false, true]);
  });
});

describe('aclFileAuthorizer: parsing', () => {
  it('"topic read" alone is the topic "read" with readwrite access, as in Mosquitto', () => {
    const a = aclFrom('topic read\n', 'read-topic');
    expect(a.canWrite(client('x', undefined), 'read')).toBe(true);
  });

  it('trailing blanks and \\r\\n line ends are ignored; leading spaces before a directive too', () => {
    const a = aclFrom('user alice   \r\n   topic write a/b  \r\n', 'blanks');
    expect(a.canWrite(client('x', 'alice'), 'a/b')).toBe(true);
  });

  it.each([
    ['an unknown directive', 'topik read a', 2],
    ['an unknown access type', 'topic reed a/b', 2],
    ['an empty topic', 'topic', 2],
    ['a misplaced #', 'topic read a/#/b', 2],
    ['a + inside a level', 'pattern read a/b+', 2],
    ['a user line without a name', 'user', 2],
    ['a comment not in the first column', '  # indented comment', 2],
    ['a tab between words', 'topic\tread a', 2],
  ])('%s: AuthFileError naming file and line', (_name, line, at) => {
    const file = join(dir, 'bad');
    writeFileSync(file, `topic read ok\n${line}\n`);
    let err: unknown;
    try {
      aclFileAuthorizer(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AuthFileError);
    expect(err).toMatchObject({ code: 'AUTH_FILE_INVALID', file, line: at });
    expect((err as Error).message.startsWith(`${file}:${at}: `)).toBe(true);
  });

  it('reload swaps the rules atomically and keeps them when the new file is malformed', () => {
    const file = join(dir, 'reload');
    writeFileSync(file, 'user alice\ntopic read a\n');
    const a = aclFileAuthorizer(file);
    const alice = client('c', 'alice');
    expect([a.canRead(alice, 'a'), a.canRead(alice, 'b')]).toEqual([true, false]);
    writeFileSync(file, 'user alice\ntopic read b\n');
    a.reload();
    expect([a.canRead(alice, 'a'), a.canRead(alice, 'b')]).toEqual([false, true]);
    writeFileSync(file, 'user alice\ntopic read c\nbogus\n');
    expect(() => a.reload()).toThrow(expect.objectContaining({ code: 'AUTH_FILE_INVALID', line: 3 }));
    expect([a.canRead(alice, 'b'), a.canRead(alice, 'c')]).toEqual([true, false]);
    rmSync(file);
    expect(() => a.reload()).toThrow(expect.objectContaining({ code: 'AUTH_FILE_UNREADABLE' }));
    expect(a.canRead(alice, 'b')).toBe(true);
  });
});
