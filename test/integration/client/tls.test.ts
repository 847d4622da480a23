/**
 * TlsConnection options against a TLS server of our own (node:tls in front of the fake MQTT server):
 * `ca`, mutual TLS with `cert` + a `key` encrypted under `passphrase`, `servername` (SNI and the
 * name the certificate is checked against) and `rejectUnauthorized`. Certificates are made by
 * `openssl` in a temporary directory for this file.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import {
  ConnectFailedError,
  MqttClient,
  TlsConnection,
  connectionFromUrl,
  type Connection,
  type TlsConnectionOptions,
} from '../../../lib/client/index.js';
import { FakeServerConnection } from '../../helpers/fake-server.js';
import { withTimeout } from '../../helpers/wait.js';
import { FAST } from './setup.js';

const run = promisify(execFile);
const PASSPHRASE = 'correct horse';
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

let dir: string;
let ca: Buffer;
let clientCert: Buffer;
let clientKey: Buffer;
let server: tls.Server;
let port: number;
/** What the server saw of each TLS connection: the SNI name and the client certificate's CN. */
const seen: { servername: string | false | null | undefined; clientCN: unknown }[] = [];
const conns = new Set<FakeServerConnection>();
const clients: MqttClient[] = [];

/** Signs a new certificate for `cn` with the test CA; the key is encrypted when `passphrase` is given. */
async function issue(name: string, cn: string, ext: string, serial: number, passphrase?: string): Promise<void> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  await writeFile(extFile, `${ext}\n`);
  await run('openssl', ['req', ...EC, ...(passphrase === undefined ? ['-nodes'] : ['-passout', `pass:${passphrase}`]), '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await run('openssl', [
    'x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.pem'), '-CAkey', path.join(dir, 'ca.key'),
    '-set_serial', String(serial), '-days', '1', '-out', path.join(dir, `${name}.pem`), '-extfile', extFile,
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nest-mqtt5-tls-'));
  await run('openssl', ['req', '-x509', ...EC, '-nodes', '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=nest-mqtt5 test CA']);
  // The server certificate names only mqtt.test: connecting to 127.0.0.1 verifies only with servername.
  await issue('server', 'mqtt.test', 'subjectAltName=DNS:mqtt.test', 1);
  await issue('client', 'client-1', 'extendedKeyUsage=clientAuth', 2, PASSPHRASE);
  ca = await readFile(path.join(dir, 'ca.pem'));
  clientCert = await readFile(path.join(dir, 'client.pem'));
  clientKey = await readFile(path.join(dir, 'client.key'));
  server = tls.createServer({
    key: await readFile(path.join(dir, 'server.key')),
    cert: await readFile(path.join(dir, 'server.pem')),
    ca,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    seen.push({ servername: socket.servername, clientCN: socket.getPeerCertificate().subject?.CN });
    const conn = new FakeServerConnection(socket as net.Socket);
    conns.add(conn);
    void conn.handshake().catch(() => undefined);
  });
  // Handshakes the server refuses (no client certificate) surface here; the client test checks them.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  for (const c of conns) c.destroy();
  await Promise.all([...conns].map((c) => c.closed));
  conns.clear();
  seen.length = 0;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

function client(connection: Connection): MqttClient {
  const c = new MqttClient(connection, { ...FAST, connectTimeout: 5000 });
  clients.push(c);
  return c;
}

const mutual = (extra: Partial<TlsConnectionOptions> = {}): TlsConnectionOptions => ({
  host: '127.0.0.1',
  port,
  ca,
  cert: clientCert,
  key: clientKey,
  passphrase: PASSPHRASE,
  servername: 'mqtt.test',
  ...extra,
});

async function failure(c: MqttClient): Promise<Error> {
  const err = await withTimeout(c.connect({ clientId: 'tls' }), 5000, 'connect').then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectFailedError);
  return err as Error;
}

describe('TlsConnection', () => {
  it('mutual TLS: client certificate with an encrypted key and its passphrase; servername sent as SNI and verified', async () => {
    const c = client(new TlsConnection(mutual()));
    await expect(c.connect({ clientId: 'tls' })).resolves.toMatchObject({ reasonCode: 0 });
    expect(c.connection.brokerUrl).toBe(`mqtts://127.0.0.1:${port}`);
    expect(seen).toEqual([{ servername: 'mqtt.test', clientCN: 'client-1' }]);
  });

  it('connectionFromUrl passes the TLS options through (mqtts: and tls:)', async () => {
    const { host: _h, port: _p, ...options } = mutual();
    for (const scheme of ['mqtts', 'tls']) {
      const c = client(connectionFromUrl(`${scheme}://127.0.0.1:${port}`, { tls: options }));
      await expect(c.connect({ clientId: scheme })).resolves.toMatchObject({ reasonCode: 0 });
    }
    expect(seen.map((s) => s.servername)).toEqual(['mqtt.test', 'mqtt.test']);
  });

  it('verifies the certificate against the host when no servername is given (here: a mismatch)', async () => {
    const err = await failure(client(new TlsConnection(mutual({ servername: undefined }))));
    expect(err.message).toMatch(/altnames|does not match|127\.0\.0\.1/i);
  });

  it('refuses a server whose CA it was not given, unless rejectUnauthorized is false', async () => {
    const err = await failure(client(new TlsConnection(mutual({ ca: undefined }))));
    expect(err.message).toMatch(/certificate/i);
    const lax = client(new TlsConnection(mutual({ ca: undefined, servername: undefined, rejectUnauthorized: false })));
    await expect(lax.connect({ clientId: 'lax' })).resolves.toMatchObject({ reasonCode: 0 });
  });

  it('fails to connect with a wrong passphrase, and without a client certificate when the server requires one', async () => {
    const wrong = await failure(client(new TlsConnection(mutual({ passphrase: 'wrong' }))));
    expect(wrong.message).toMatch(/decrypt|passphrase|bad/i);
    await failure(client(new TlsConnection(mutual({ cert: undefined, key: undefined, passphrase: undefined }))));
    expect(seen).toEqual([]);
  });
});
