/**
 * A scripted MQTT "server" built on our codec, for what a real broker will not do on demand:
 * refuse a connection, claim a session, send an unknown topic alias, ignore PINGREQ, and so on.
 * Tests read the client's packets one by one with `next()`/`expect()` and answer with `send()`.
 */
import net from 'node:net';
import {
  PACKET_NAMES,
  PacketDecoder,
  PacketType,
  encodePacket,
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
} from '../../lib/codec/index.js';
import { TcpConnection } from '../../lib/client/index.js';
import { deferred, withTimeout, type Deferred } from './wait.js';

type PacketOf<T extends Packet['type']> = Extract<Packet, { type: T }>;

/** The server side of one client connection. */
export class FakeServerConnection {
  /** Answer PINGREQ with PINGRESP automatically (pings are then not queued). */
  autoPingResp = true;
  /** Close the socket after a DISCONNECT from the client, as a broker does (the packet is still queued). */
  closeOnDisconnect = true;
  /** Every packet received, in order (including auto-answered pings). */
  readonly received: Packet[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** Set if the client sent bytes our decoder rejects. */
  decodeError: Error | undefined;
  private readonly queue: Packet[] = [];
  private waiter: Deferred<Packet> | undefined;
  private readonly decoder = new PacketDecoder();

  constructor(readonly socket: net.Socket) {
    const closed = deferred<void>();
    this.closed = closed.promise;
    socket.on('close', () => {
      closed.resolve();
      this.waiter?.reject(new Error('Connection closed while waiting for a packet'));
      this.waiter = undefined;
    });
    socket.on('error', () => {
      /* reported through 'close' */
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.feed(chunk, (p) => this.onPacket(p));
      } catch (err) {
        this.decodeError = err as Error;
        socket.destroy();
      }
    });
  }

  private onPacket(p: Packet): void {
    this.received.push(p);
    if (p.type === PacketType.PINGREQ && this.autoPingResp) {
      this.send({ type: PacketType.PINGRESP });
      return;
    }
    if (p.type === PacketType.DISCONNECT && this.closeOnDisconnect) this.socket.end();
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(p);
    } else {
      this.queue.push(p);
    }
  }

  /** The next packet from the client (within `ms`). */
  next(ms = 5000): Promise<Packet> {
    const p = this.queue.shift();
    if (p !== undefined) return Promise.resolve(p);
    if (this.socket.destroyed) return Promise.reject(new Error('Connection is closed'));
    const d = deferred<Packet>();
    this.waiter = d;
    return withTimeout(d.promise, ms, 'a packet from the client').finally(() => {
      if (this.waiter === d) this.waiter = undefined;
    });
  }

  /** The next packet, which must be of `type`. */
  async expect<T extends Packet['type']>(type: T, ms = 5000): Promise<PacketOf<T>> {
    const p = await this.next(ms);
    if (p.type !== type) {
      throw new Error(`Expected ${PACKET_NAMES[type]}, got ${PACKET_NAMES[p.type]}: ${JSON.stringify(p)}`);
    }
    return p as PacketOf<T>;
  }

  /** Packets received and not yet consumed by next()/expect(). */
  get unread(): readonly Packet[] {
    return this.queue;
  }

  send(packet: Packet): void {
    this.socket.write(encodePacket(packet));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Reads CONNECT and answers CONNACK (success unless `connack` says otherwise). */
  async handshake(connack: Partial<Omit<ConnackPacket, 'type'>> = {}): Promise<ConnectPacket> {
    const connect = await this.expect(PacketType.CONNECT);
    this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0, ...connack });
    return connect;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A TCP listener on 127.0.0.1 (ephemeral port) handing out {@link FakeServerConnection}s. */
export class FakeServer {
  private readonly pending: FakeServerConnection[] = [];
  private waiter: Deferred<FakeServerConnection> | undefined;
  private readonly all = new Set<FakeServerConnection>();

  private constructor(private readonly server: net.Server) {
    server.on('connection', (socket) => {
      const c = new FakeServerConnection(socket);
      this.all.add(c);
      void c.closed.then(() => this.all.delete(c));
      if (this.waiter !== undefined) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(c);
      } else {
        this.pending.push(c);
      }
    });
  }

  static async start(): Promise<FakeServer> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeServer(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** A TcpConnection to this server. */
  connection(): TcpConnection {
    return new TcpConnection({ host: '127.0.0.1', port: this.port });
  }

  /** The next client connection (within `ms`). */
  accept(ms = 5000): Promise<FakeServerConnection> {
    const c = this.pending.shift();
    if (c !== undefined) return Promise.resolve(c);
    const d = deferred<FakeServerConnection>();
    this.waiter = d;
    return withTimeout(d.promise, ms, 'a client connection').finally(() => {
      if (this.waiter === d) this.waiter = undefined;
    });
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    for (const c of this.all) c.destroy();
    await Promise.all([...this.all].map((c) => c.closed));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
