/**
 * Hooks and events get a frozen ClientInfo snapshot, not the live connection: no socket or session is
 * reachable from it, assigning to it throws (ESM is strict mode) and changes nothing in the broker, it
 * is taken once (the same object for every publish), and on a mutual-TLS listener it carries the
 * client certificate's names, fingerprints and validity.
 */
import { EventEmitter } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { MqttBroker, type ClientInfo } from '../../../lib/broker/index.js';
import { MqttClient, TlsConnection } from '../../../lib/client/index.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { nextEvent, startBroker, uid, type TestBroker } from './support.js';

const FIELDS = ['clientId', 'peerCertificate', 'protocolVersion', 'remoteAddress', 'remotePort', 'transport', 'username'];

/** Every object reachable from `root` through own properties (the snapshot is plain data). */
function reachable(root: unknown): unknown[] {
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v)) return;
    seen.add(v);
    for (const k of Reflect.ownKeys(v)) walk((v as Record<PropertyKey, unknown>)[k]);
  };
  walk(root);
  return [...seen];
}

function expectPlainFrozenData(info: ClientInfo): void {
  expect(Object.keys(info).sort()).toEqual(FIELDS);
  for (const v of reachable(info)) {
    expect(typeof v).toBe('object');
    expect(Object.isFrozen(v)).toBe(true);
    expect(v).not.toBeInstanceOf(EventEmitter);
    expect([Object.prototype, Array.prototype, null]).toContain(Object.getPrototypeOf(v));
  }
}

describe('ClientInfo snapshot (TCP)', () => {
  let b: TestBroker;
  afterEach(async () => {
    await b.close();
  });

  it('is frozen plain data shared by hooks and events; mutating it throws and changes nothing', async () => {
    const seen: { where: string; info: ClientInfo }[] = [];
    const mutations: unknown[] = [];
    b = await startBroker({
      authenticate: (r) => (seen.push({ where: 'authenticate', info: r.client }), true),
      authorizeSubscribe: (c) => (seen.push({ where: 'authorizeSubscribe', info: c }), true),
      authorizePublish: (c) => {
        seen.push({ where: 'authorizePublish', info: c });
        try {
          (c as { clientId: string }).clientId = 'hijacked';
        } catch (err) {
          mutations.push(err);
        }
        try {
          (c as { socket?: unknown }).socket = null;
        } catch (err) {
          mutations.push(err);
        }
        return true;
      },
    });
    for (const e of ['connect', 'subscribe', 'publish'] as const) b.broker.on(e, (...args: unknown[]) => seen.push({ where: e, info: (e === 'publish' ? args[1] : args[0]) as ClientInfo }));
    const id = uid('snap');
    const c = await b.mqttjs({ clientId: id, username: 'alice', password: Buffer.from('pw') });
    await c.subscribeAsync('snap/#', { qos: 1 });
    await c.publishAsync('snap/1', 'a', { qos: 1 });
    await c.publishAsync('snap/2', 'b', { qos: 1 });

    expect(seen.map((s) => s.where)).toEqual(['authenticate', 'connect', 'authorizeSubscribe', 'subscribe', 'authorizePublish', 'publish', 'authorizePublish', 'publish']);
    // One snapshot per connection: the very same object everywhere, not one per publish.
    const info = seen[0]!.info;
    for (const s of seen) expect(s.info).toBe(info);
    expectPlainFrozenData(info);
    expect(info).toMatchObject({ clientId: id, username: 'alice', transport: 'tcp', protocolVersion: 5, remoteAddress: '127.0.0.1', peerCertificate: undefined });
    expect(typeof info.remotePort).toBe('number');
    // Strict mode: assignments throw; the live connection keeps its id.
    expect(mutations).toHaveLength(4);
    for (const err of mutations) expect(err).toBeInstanceOf(TypeError);
    expect(info.clientId).toBe(id);
    expect(b.broker.isConnected(id)).toBe(true);
    expect(b.broker.isConnected('hijacked')).toBe(false);
    expect(b.broker.disconnectClient(id)).toBe(true);
  });

  it('carries the identifier the broker assigned', async () => {
    b = await startBroker();
    const connected = nextEvent<[ClientInfo]>(b.broker, 'connect');
    const raw = await b.raw({ clientId: '' });
    const [info] = await connected;
    expect(raw.connack.properties?.assignedClientIdentifier).toBe(info.clientId);
    expect(info.clientId).toMatch(/^auto-/);
    expectPlainFrozenData(info);
  });
});

describe('ClientInfo snapshot (mutual TLS)', () => {
  let certs: TestCerts;
  beforeAll(async () => {
    certs = await makeCerts();
  });
  afterAll(async () => {
    await certs.remove();
  });

  it('carries the verified client certificate: names, fingerprints, validity — copied and frozen', async () => {
    const seen: ClientInfo[] = [];
    const broker = new MqttBroker({ authenticate: (r) => (seen.push(r.client), true) });
    const { tls } = await broker.listen({ tls: { port: 0, host: '127.0.0.1', ...certs.server, ca: certs.ca, requireClientCertificate: true } });
    const client = new MqttClient(new TlsConnection({ host: '127.0.0.1', port: tls!.port, ca: certs.ca, ...certs.client }), { reconnect: false });
    try {
      await client.connect({ clientId: 'mtls-snapshot', keepAlive: 0 });
      const info = seen[0]!;
      expectPlainFrozenData(info);
      expect(info.transport).toBe('tls');
      const cert = info.peerCertificate!;
      expect(Object.keys(cert).sort()).toEqual(['fingerprint', 'fingerprint256', 'issuer', 'serialNumber', 'subject', 'subjectAltName', 'validFrom', 'validTo']);
      expect(cert.subject.CN).toBe(certs.clientCommonName);
      expect(typeof cert.issuer.CN).toBe('string');
      expect(cert.issuer.CN).not.toBe(certs.clientCommonName);
      expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(cert.fingerprint).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
      const from = Date.parse(cert.validFrom);
      const to = Date.parse(cert.validTo);
      expect(from).toBeLessThanOrEqual(Date.now());
      expect(to).toBeGreaterThan(Date.now());
    } finally {
      await client.disconnect();
      await broker.close();
    }
  });
});
