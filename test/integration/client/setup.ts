/** Shared setup of the fake-server client tests: a FakeServer and an MqttClient connected to it. */
import { PacketType, type ConnackPacket, type ConnectPacket } from '../../../lib/codec/index.js';
import {
  MqttClient,
  TcpConnection,
  type ConnectOptions,
  type MqttClientOptions,
  type MqttStream,
} from '../../../lib/client/index.js';
import { FakeServer, type FakeServerConnection } from '../../helpers/fake-server.js';

/** A TcpConnection that lets the test see the client's current stream. */
export class SpyConnection extends TcpConnection {
  stream: MqttStream | undefined;
  override async connect(signal: AbortSignal): Promise<MqttStream> {
    this.stream = await super.connect(signal);
    return this.stream;
  }
}

export interface Harness {
  server: FakeServer;
  client: MqttClient;
  /** The client's connection (its `stream` is the client side of the socket). */
  connection: SpyConnection;
  conn: FakeServerConnection;
  connect: ConnectPacket;
  connack: ConnackPacket;
  /** Disconnects the client (if still open) and closes the server. */
  close(): Promise<void>;
}

/** Fast reconnects without jitter, so that tests run in milliseconds. */
export const FAST: MqttClientOptions = { initialReconnectDelay: 5, maxReconnectDelay: 40, reconnectJitter: 0 };

export async function connected(
  connack: Partial<Omit<ConnackPacket, 'type'>> = {},
  clientOptions: MqttClientOptions = {},
  connectOptions: ConnectOptions = {},
): Promise<Harness> {
  const server = await FakeServer.start();
  const connection = new SpyConnection({ host: '127.0.0.1', port: server.port });
  const client = new MqttClient(connection, { ...FAST, ...clientOptions });
  const connecting = client.connect({ clientId: 'test-client', ...connectOptions });
  const conn = await server.accept();
  const connect = await conn.handshake(connack);
  const ack = await connecting;
  return {
    server,
    client,
    connection,
    conn,
    connect,
    connack: ack,
    async close() {
      await client.disconnect();
      await server.close();
    },
  };
}

/** Accepts the client's next connection and answers its CONNECT. */
export async function acceptReconnect(
  server: FakeServer,
  connack: Partial<Omit<ConnackPacket, 'type'>> = {},
): Promise<{ conn: FakeServerConnection; connect: ConnectPacket }> {
  const conn = await server.accept();
  const connect = await conn.handshake(connack);
  return { conn, connect };
}

export const { PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH, CONNACK, CONNECT } =
  PacketType;
