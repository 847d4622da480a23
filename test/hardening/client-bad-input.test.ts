/**
 * The client's rejection paths for server misbehaviour not covered by the client's own tests, byte for
 * byte: the client must answer with DISCONNECT and a reason code DISCONNECT may carry, surface a typed
 * ConnectionLostError with that code, never throw out of a socket callback, and reconnect.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { ConnectionLostError, MqttClient, TcpConnection } from '../../lib/client/index.js';
import { PacketType, isReasonCodeAllowed } from '../../lib/codec/index.js';
import { FakeServer, type FakeServerConnection } from '../helpers/fake-server.js';
import { waitForEvent } from '../helpers/wait.js';

interface Case {
  name: string;
  /** Server bytes after a successful CONNACK. */
  bytes: string;
  /** Reason code of the client's DISCONNECT and of the surfaced error. */
  code: number;
}

const CASES: Case[] = [
  // A CONNECT with protocol level 4 decodes as UnsupportedProtocolError 0x84, a code DISCONNECT
  // cannot carry: the client must send 0x82 (a server sending CONNECT is a protocol error).
  { name: 'a CONNECT (protocol level 4) from the server', bytes: '10 0e 0004 4d515454 04 02 003c 0002 6331', code: 0x82 },
  { name: 'a CONNECT (protocol level 5) from the server', bytes: '10 0f 0004 4d515454 05 02 003c 00 0002 6331', code: 0x82 },
  { name: 'a SUBSCRIBE from the server', bytes: '82 07 0001 00 0001 61 00', code: 0x82 },
  { name: 'a PINGREQ from the server', bytes: 'c0 00', code: 0x82 },
  { name: 'a second CONNACK', bytes: '20 03 00 00 00', code: 0x82 },
  { name: 'reserved packet type 0', bytes: '00 00', code: 0x81 },
  { name: 'a PUBLISH with QoS 3', bytes: '36 07 0001 61 0001 00 78', code: 0x81 },
  { name: 'a five-byte remaining length', bytes: '30 ffffffff7f', code: 0x81 },
  { name: 'a SUBACK with a reason code SUBACK cannot carry', bytes: '90 04 0001 00 05', code: 0x82 },
];

describe('client against a misbehaving server', () => {
  let server: FakeServer | undefined;
  let client: MqttClient | undefined;
  afterEach(async () => {
    await client?.disconnect();
    await server?.close();
    client = server = undefined;
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    server = await FakeServer.start();
    client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port: server.port }), { initialReconnectDelay: 1, maxReconnectDelay: 10, reconnectJitter: 0 });
    const connecting = client.connect({ clientId: 'bad-input', keepAlive: 0 });
    const conn: FakeServerConnection = await server.accept();
    await conn.handshake();
    await connecting;
    const lost = waitForEvent<[Error]>(client, 'disconnected');
    conn.sendRaw(Buffer.from(c.bytes.replace(/\s+/g, ''), 'hex'));
    const disconnect = await conn.expect(PacketType.DISCONNECT, 2000);
    expect(isReasonCodeAllowed(PacketType.DISCONNECT, disconnect.reasonCode ?? 0)).toBe(true);
    expect(disconnect.reasonCode).toBe(c.code);
    const [err] = await lost;
    expect(err).toBeInstanceOf(ConnectionLostError);
    // And it comes back.
    const again = await server.accept();
    await again.handshake();
    await waitForEvent(client, 'reconnected');
  });
});
