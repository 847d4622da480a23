/**
 * Hooks: authenticate (user name/password, enhanced AUTH with continue steps, re-authentication,
 * asynchronous answers) → CONNACK 0x86/0x87/0x8C; authorizePublish → PUBACK/PUBREC 0x87;
 * authorizeSubscribe → SUBACK 0x87 or a lower QoS; Request Problem Information.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { PacketType, type Packet } from '../../../lib/codec/index.js';
import type { AuthenticateRequest, ClientInfo } from '../../../lib/broker/index.js';
import { MessageReceiver, type Authenticator } from '../../../lib/client/index.js';
import { collectMessages, nextEvent, startBroker, uid, type TestBroker } from './support.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

const users: Record<string, string> = { alice: 'wonderland', bob: 'builder' };
const checkPassword = (r: AuthenticateRequest): boolean => r.username !== undefined && users[r.username] === r.password?.toString();

describe('authenticate: user name and password', () => {
  it('accepts good credentials and refuses bad ones with 0x86', async () => {
    tb = await startBroker({ authenticate: checkPassword });
    const good = await tb.raw({ clientId: uid(), username: 'alice', password: Buffer.from('wonderland') });
    expect(good.connack.reasonCode).toBe(0);
    const bad = await tb.raw({ clientId: uid(), username: 'alice', password: Buffer.from('supersecret') });
    expect(bad.connack.reasonCode).toBe(0x86);
    await bad.client.waitClosed();
  });

  it('refuses a client without credentials with 0x87 when the hook says false', async () => {
    tb = await startBroker({ authenticate: checkPassword });
    const { connack } = await tb.raw({ clientId: uid() });
    expect(connack.reasonCode).toBe(0x87);
  });

  it('MQTT.js and our client see the refusal', async () => {
    tb = await startBroker({ authenticate: checkPassword });
    await expect(tb.mqttjs({ username: 'bob', password: 'wrong' })).rejects.toMatchObject({ code: 0x86 });
    await expect(tb.ours({ username: 'bob', password: 'wrong' })).rejects.toThrow();
    const ok = await tb.ours({ username: 'bob', password: 'builder' });
    expect(ok.connected).toBe(true);
  });

  it('passes an explicit reason code, reason string and user properties of the hook to CONNACK', async () => {
    tb = await startBroker({ authenticate: () => ({ reasonCode: 0x8a, reasonString: 'banned until tomorrow', userProperties: [['retry', 'later']] }) });
    const { connack } = await tb.raw({ clientId: uid() });
    expect(connack.reasonCode).toBe(0x8a);
    expect(connack.properties).toMatchObject({ reasonString: 'banned until tomorrow', userProperties: [['retry', 'later']] });
  });

  it('accepts an asynchronous answer and keeps the packets sent meanwhile in order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    tb = await startBroker({
      authenticate: async (r) => {
        await gate;
        return checkPassword(r);
      },
    });
    const c = await tb.rawOpen();
    c.send({ type: PacketType.CONNECT, clientId: uid(), keepAlive: 0, cleanStart: true, username: 'alice', password: Buffer.from('wonderland') });
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'early', qos: 0 }] });
    c.send({ type: PacketType.PINGREQ });
    release();
    expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0);
    expect((await c.expect(PacketType.SUBACK)).reasonCodes).toEqual([0]);
    await c.expect(PacketType.PINGRESP);
  });

  it('refuses with 0x80 when the hook throws, reports a HookError and no secret', async () => {
    tb = await startBroker({
      authenticate: () => {
        throw new Error('directory down');
      },
    });
    const errors: Error[] = [];
    tb.broker.on('clientError', (_c, e) => errors.push(e));
    const { connack } = await tb.raw({ clientId: uid(), username: 'alice', password: Buffer.from('supersecret') });
    expect(connack.reasonCode).toBe(0x80);
    expect(errors.map((e) => e.name)).toContain('HookError');
    for (const e of errors) expect(e.message).not.toContain('supersecret');
    expect(JSON.stringify(connack)).not.toContain('supersecret');
  });

  it('shows the hook who connects', async () => {
    const seen: ClientInfo[] = [];
    tb = await startBroker({
      authenticate: (r) => {
        seen.push(r.client);
        return true;
      },
    });
    await tb.raw({ clientId: 'who', username: 'alice' });
    expect(seen[0]).toMatchObject({ clientId: 'who', username: 'alice', remoteAddress: '127.0.0.1', transport: 'tcp' });
  });

  it('refuses an authentication method with 0x8C when no hook handles it', async () => {
    tb = await startBroker();
    const { connack } = await tb.raw({ clientId: uid(), properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    expect(connack.reasonCode).toBe(0x8c);
  });
});

/** A toy challenge/response method: the server sends a nonce, the client answers it reversed. */
function challengeHook(r: AuthenticateRequest): { reasonCode: number; authenticationData?: Buffer } {
  if (r.authenticationMethod !== 'REVERSE') return { reasonCode: 0x8c };
  if (r.step === 0) return { reasonCode: 0x18, authenticationData: Buffer.from('nonce-123') };
  const answer = r.authenticationData?.toString();
  return answer === '321-ecnon' ? { reasonCode: 0, authenticationData: Buffer.from('welcome') } : { reasonCode: 0x87 };
}

describe('enhanced authentication', () => {
  it('runs continue steps with AUTH 0x18 and ends with CONNACK 0x00 carrying method and data', async () => {
    tb = await startBroker({ authenticate: challengeHook });
    const c = await tb.rawOpen();
    c.send({ type: PacketType.CONNECT, clientId: uid(), keepAlive: 0, cleanStart: true, properties: { authenticationMethod: 'REVERSE', authenticationData: Buffer.from('hi') } });
    const challenge = await c.expect(PacketType.AUTH);
    expect(challenge.reasonCode).toBe(0x18);
    expect(challenge.properties?.authenticationMethod).toBe('REVERSE');
    const nonce = challenge.properties!.authenticationData!.toString();
    c.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'REVERSE', authenticationData: Buffer.from([...nonce].reverse().join('')) } });
    const connack = await c.expect(PacketType.CONNACK);
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties).toMatchObject({ authenticationMethod: 'REVERSE', authenticationData: Buffer.from('welcome') });
    c.destroy();
  });

  it('refuses a wrong answer (0x87) and an unknown method (0x8C)', async () => {
    tb = await startBroker({ authenticate: challengeHook });
    const c = await tb.rawOpen();
    c.send({ type: PacketType.CONNECT, clientId: uid(), keepAlive: 0, cleanStart: true, properties: { authenticationMethod: 'REVERSE' } });
    await c.expect(PacketType.AUTH);
    c.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'REVERSE', authenticationData: Buffer.from('wrong') } });
    expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0x87);
    const d = await tb.raw({ clientId: uid(), properties: { authenticationMethod: 'OTHER' } });
    expect(d.connack.reasonCode).toBe(0x8c);
  });

  it('refuses an AUTH with another method during the exchange (CONNACK 0x82)', async () => {
    tb = await startBroker({ authenticate: challengeHook });
    const c = await tb.rawOpen();
    c.send({ type: PacketType.CONNECT, clientId: uid(), keepAlive: 0, cleanStart: true, properties: { authenticationMethod: 'REVERSE' } });
    await c.expect(PacketType.AUTH);
    c.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'OTHER' } });
    expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0x82);
  });

  it('works with our client and its Authenticator, re-authentication included', async () => {
    const steps: [number, boolean][] = [];
    tb = await startBroker({
      authenticate: (r) => {
        steps.push([r.step, r.reauthenticate]);
        return challengeHook(r);
      },
    });
    const completed: string[] = [];
    const authenticator: Authenticator = {
      method: 'REVERSE',
      challenge: (data) => Buffer.from([...(data?.toString() ?? '')].reverse().join('')),
      complete: (data) => {
        completed.push(data?.toString() ?? '');
      },
    };
    const client = await tb.ours({ authenticator });
    expect(completed).toEqual(['welcome']);
    const auth = await client.reauthenticate();
    expect(auth.reasonCode).toBe(0);
    expect(completed).toEqual(['welcome', 'welcome']);
    expect(steps).toEqual([[0, false], [1, false], [0, true], [1, true]]);
  });

  it('disconnects with 0x87 when re-authentication fails', async () => {
    let reauthOk = true;
    tb = await startBroker({ authenticate: (r) => (r.reauthenticate ? reauthOk : { reasonCode: 0 }) });
    const c = await tb.rawOpen();
    c.send({ type: PacketType.CONNECT, clientId: uid(), keepAlive: 0, cleanStart: true, properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('t1') } });
    expect((await c.expect(PacketType.CONNACK)).reasonCode).toBe(0);
    c.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('t2') } });
    expect((await c.expect(PacketType.AUTH)).reasonCode).toBe(0);
    reauthOk = false;
    c.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('t3') } });
    expect((await c.expect(PacketType.DISCONNECT)).reasonCode).toBe(0x87);
  });
});

describe('authorizePublish', () => {
  const onlyOwnTopics = (client: ClientInfo, m: { topic: string }): boolean => m.topic.startsWith(`users/${client.username}/`);

  it('answers PUBACK/PUBREC 0x87 to a refused message and does not route it', async () => {
    tb = await startBroker({ authorizePublish: onlyOwnTopics });
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('users/#', { qos: 2 });
    const got = collectMessages(sub, 1);
    const { client } = await tb.raw({ clientId: uid(), username: 'alice' });
    const send = (topic: string, qos: 0 | 1 | 2, packetId?: number): void =>
      client.send({ type: PacketType.PUBLISH, topic, payload: Buffer.from(topic), qos, retain: false, dup: false, packetId });
    send('users/bob/x', 1, 1);
    const ack = await client.expect(PacketType.PUBACK);
    expect(ack.reasonCode).toBe(0x87);
    expect(ack.properties?.reasonString).toBe('not authorized');
    send('users/bob/x', 2, 2);
    expect((await client.expect(PacketType.PUBREC)).reasonCode).toBe(0x87);
    send('users/bob/x', 0);
    send('users/alice/x', 1, 3);
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0);
    expect((await got).map((m) => m.topic)).toEqual(['users/alice/x']);
  });

  it('MQTT.js sees the 0x87; our client too', async () => {
    tb = await startBroker({ authorizePublish: onlyOwnTopics });
    const js = await tb.mqttjs({ username: 'bob' });
    await expect(js.publishAsync('users/alice/x', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    const ours = await tb.ours({ username: 'bob' });
    await expect(ours.publish({ topic: 'users/alice/x', payload: 'x', qos: 1 })).rejects.toThrow();
    await ours.publish({ topic: 'users/bob/x', payload: 'x', qos: 1 });
  });

  it('omits the reason string when the client asks for no problem information', async () => {
    tb = await startBroker({ authorizePublish: () => false, authorizeSubscribe: () => false });
    const { client } = await tb.raw({ clientId: uid(), properties: { requestProblemInformation: false } });
    client.send({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 1 });
    const ack = await client.expect(PacketType.PUBACK);
    expect(ack.reasonCode).toBe(0x87);
    expect(ack.properties).toBeUndefined();
    client.send({ type: PacketType.SUBSCRIBE, packetId: 2, subscriptions: [{ topicFilter: 't', qos: 0 }] });
    const suback = await client.expect(PacketType.SUBACK);
    expect(suback.reasonCodes).toEqual([0x87]);
    expect(suback.properties).toBeUndefined();
  });

  it('keeps a client publishes in order when the hook answers asynchronously', async () => {
    tb = await startBroker({
      authorizePublish: async (_c, m) => {
        // Slow down every other message: order must hold anyway.
        if (Number(m.payload.toString()) % 2 === 0) await new Promise((r) => setImmediate(r));
        return true;
      },
    });
    const sub = await tb.mqttjs();
    await sub.subscribeAsync('ord', { qos: 1 });
    const got = collectMessages(sub, 20);
    const { client } = await tb.raw({ clientId: uid() });
    for (let i = 0; i < 20; i++) {
      client.send({ type: PacketType.PUBLISH, topic: 'ord', payload: Buffer.from(String(i)), qos: (i % 2) as 0 | 1, retain: false, dup: false, packetId: i % 2 ? i : undefined });
    }
    expect((await got).map((m) => m.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('answers 0x80 and reports a HookError when the hook rejects', async () => {
    tb = await startBroker({ authorizePublish: () => Promise.reject(new Error('acl store down')) });
    const errors = nextEvent<[unknown, Error]>(tb.broker, 'clientError');
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 1 });
    expect((await client.expect(PacketType.PUBACK)).reasonCode).toBe(0x80);
    expect((await errors)[1].name).toBe('HookError');
  });
});

describe('authorizeSubscribe', () => {
  it('refuses with 0x87, lowers the granted QoS, or passes a reason code, per filter', async () => {
    tb = await startBroker({
      authorizeSubscribe: (_c, s) => {
        if (s.topicFilter.startsWith('secret')) return false;
        if (s.topicFilter === 'cheap') return 0;
        if (s.topicFilter === 'quota') return 0x97;
        return true;
      },
    });
    const { client } = await tb.raw({ clientId: uid() });
    client.send({
      type: PacketType.SUBSCRIBE,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'secret/#', qos: 1 },
        { topicFilter: 'cheap', qos: 2 },
        { topicFilter: 'quota', qos: 1 },
        { topicFilter: 'open', qos: 2 },
      ],
    });
    const suback = await client.expect(PacketType.SUBACK);
    expect(suback.reasonCodes).toEqual([0x87, 0, 0x97, 2]);
    expect(suback.properties?.reasonString).toEqual(expect.any(String));
    expect(tb.broker.metrics().subscriptions).toBe(2);
  });

  it('MQTT.js and our client see a refused subscription', async () => {
    tb = await startBroker({ authorizeSubscribe: async (_c, s) => !s.topicFilter.startsWith('$SYS') });
    const js = await tb.mqttjs();
    await expect(js.subscribeAsync('$SYS/#', { qos: 1 })).rejects.toThrow(/Not authorized/);
    const ours = await tb.ours();
    const suback = await ours.subscribe({ subscriptions: [{ topicFilter: '$SYS/x', qos: 0 }, { topicFilter: 'ok', qos: 1 }] }, new MessageReceiver());
    expect(suback.reasonCodes).toEqual([0x87, 1]);
  });

  it('keeps packets after an asynchronous SUBSCRIBE in order', async () => {
    tb = await startBroker({ authorizeSubscribe: () => new Promise((r) => setTimeout(() => r(true), 20)) });
    const { client } = await tb.raw({ clientId: uid() });
    client.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 1 }, { topicFilter: 'b', qos: 1 }] });
    client.send({ type: PacketType.PUBLISH, topic: 'a', payload: Buffer.from('self'), qos: 0, retain: false, dup: false });
    client.send({ type: PacketType.PINGREQ });
    const order: Packet[] = [await client.next(), await client.next(), await client.next()];
    expect(order.map((p) => p.type)).toEqual([PacketType.SUBACK, PacketType.PUBLISH, PacketType.PINGRESP]);
  });
});
