/**
 * A raw MQTT v5 test client over a plain socket, built on our codec: sends any packet or any bytes
 * (malformed, out of order), and reads the server's packets one by one with timeouts. For broker tests.
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  PacketDecoder,
  PacketType,
  encodePacket,
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  type ProtocolVersion,
} from '../../lib/codec/index.js';

/** The packet of type `T`. */
export type PacketOf<T extends number> = Extract<Packet, { type: T }>;

/** Thrown when an awaited packet or event does not come in time. */
export class RawClientTimeoutError extends Error {
  override readonly name = 'RawClientTimeoutError';
}

/** A raw test client. Every wait has a timeout; `destroy()` frees the socket. */
export class RawClient {
  /** Every packet received, in order. */
  readonly received: Packet[] = [];
  /** Set when the stream from the server could not be decoded. */
  decodeError: Error | undefined;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  private readIndex = 0;
  private waiter: (() => void) | null = null;
  private isClosed = false;
  private decoder = new PacketDecoder();
  /** The protocol level packets are encoded and decoded at (set from the CONNECT by {@link connect}). */
  private level: ProtocolVersion = 5;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.feed(chunk, (p) => this.received.push(p));
      } catch (err) {
        this.decodeError = err as Error;
      }
      this.wake();
    });
    // Errors (e.g. ECONNRESET after the server closed) end in 'close'; tests look at `closed`.
    socket.on('error', () => undefined);
    this.closed = new Promise<void>((resolve) => {
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
  }

  /** Opens a TCP connection to the broker (no MQTT traffic yet). */
  static open(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<RawClient> {
    return new Promise<RawClient>((resolve, reject) => {
      const socket = netConnect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RawClientTimeoutError(`could not connect to ${host}:${port} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Opens a connection and completes CONNECT; resolves with the CONNACK. */
  static async connect(port: number, connect: Partial<ConnectPacket> = {}, timeoutMs = 2000): Promise<{ client: RawClient; connack: ConnackPacket }> {
    const client = await RawClient.open(port, '127.0.0.1', timeoutMs);
    if (connect.protocolVersion === 3 || connect.protocolVersion === 4) client.useProtocolVersion(connect.protocolVersion);
    client.send({ type: PacketType.CONNECT, clientId: `raw-${Math.random().toString(36).slice(2)}`, keepAlive: 0, cleanStart: true, ...connect });
    const connack = await client.expect(PacketType.CONNACK, timeoutMs);
    return { client, connack };
  }

  /** Whether the socket has closed. */
  get isSocketClosed(): boolean {
    return this.isClosed;
  }

  /** Speaks MQTT 3.1.1 (4) or 3.1 (3) from now on, in both directions (before any packet is sent). */
  useProtocolVersion(level: ProtocolVersion): void {
    this.level = level;
    this.decoder = new PacketDecoder({ protocolVersion: level });
  }

  /** Encodes and writes a packet (at the client's protocol level). */
  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, { protocolVersion: this.level }));
  }

  /** Writes raw bytes. */
  sendRaw(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** The next packet not read yet; rejects on timeout or when the connection closes first. */
  async next(timeoutMs = 2000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.readIndex < this.received.length) return this.received[this.readIndex++]!;
      if (this.isClosed) throw new Error(`connection closed; no packet after ${this.received.map(describe).join(', ') || 'nothing'}`);
      if (this.decodeError !== undefined) throw this.decodeError;
      await this.wait(deadline, 'a packet');
    }
  }

  /** The next packet, which must be of type `type`. */
  async expect<T extends number>(type: T, timeoutMs = 2000): Promise<PacketOf<T>> {
    const p = await this.next(timeoutMs);
    if (p.type !== type) throw new Error(`expected packet type ${type}, got ${describe(p)}`);
    return p as PacketOf<T>;
  }

  /** Skips packets until one satisfies `pred` (e.g. ignoring PUBLISHes while waiting for an ack). */
  async nextMatching<P extends Packet>(pred: (p: Packet) => p is P, timeoutMs = 2000): Promise<P> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.next(Math.max(1, deadline - Date.now()));
      if (pred(p)) return p;
    }
  }

  /** Resolves when the socket closes; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isClosed) await this.wait(deadline, 'the connection to close');
  }

  /** Asserts that no packet arrives within `ms` (for "nothing is sent" checks; bounded). */
  async expectSilence(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.readIndex < this.received.length) throw new Error(`unexpected ${describe(this.received[this.readIndex]!)}`);
      try {
        await this.wait(deadline, '');
      } catch (err) {
        if (err instanceof RawClientTimeoutError) break;
        throw err;
      }
    }
    if (this.readIndex < this.received.length) throw new Error(`unexpected ${describe(this.received[this.readIndex]!)}`);
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private wait(deadline: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const ms = deadline - Date.now();
      if (ms <= 0) {
        reject(new RawClientTimeoutError(`timed out waiting for ${what}`));
        return;
      }
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new RawClientTimeoutError(`timed out waiting for ${what}`));
      }, ms);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** A short description of a packet for error messages. */
export function describe(p: Packet): string {
  const rc = (p as { reasonCode?: number }).reasonCode;
  const name = Object.keys(PacketType).find((k) => PacketType[k as keyof typeof PacketType] === p.type) ?? String(p.type);
  return rc === undefined ? name : `${name}(0x${rc.toString(16)})`;
}
