/**
 * A raw MQTT connection over TCP or WebSocket (subprotocol `mqtt`, binary frames) for broker tests that
 * must run the same bytes over both transports: send any bytes, read the broker's packets with
 * timeouts, observe the close. (RawClient in raw-client.ts is the TCP-only equivalent with more helpers.)
 */
import net from 'node:net';
import { WebSocket } from 'ws';
import { PacketDecoder, PacketType, encodePacket, type ConnackPacket, type ConnectPacket, type Packet } from '../../lib/codec/index.js';
import { deferred, withTimeout, type Deferred } from './wait.js';

export type Transport = 'tcp' | 'ws';

/** Where a broker listens. */
export interface WireTarget {
  tcpPort?: number;
  wsUrl?: string;
}

/** A raw connection. Every wait is bounded; `destroy()` frees it. */
export class Wire {
  /** Every packet received, in order. */
  readonly packets: Packet[] = [];
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>;
  /** Set when the broker's bytes do not decode. */
  decodeError: Error | undefined;
  /** WebSocket close code, when the transport is WebSocket. */
  closeCode: number | undefined;
  private read = 0;
  private waiter: Deferred<void> | undefined;
  private isClosed = false;
  private readonly decoder = new PacketDecoder();

  private constructor(
    readonly transport: Transport,
    private readonly sendBytes: (b: Buffer) => void,
    private readonly sendText: (s: string) => void,
    private readonly ender: () => void,
    private readonly destroyer: () => void,
    closed: Promise<void>,
  ) {
    this.closed = closed.then(() => {
      this.isClosed = true;
      this.wake();
    });
  }

  /** Opens a connection (no MQTT traffic yet). */
  static open(transport: Transport, target: WireTarget, timeoutMs = 2000): Promise<Wire> {
    const opened = deferred<Wire>();
    const closed = deferred<void>();
    let wire: Wire;
    if (transport === 'tcp') {
      const socket = net.connect({ port: target.tcpPort!, host: '127.0.0.1', noDelay: true });
      wire = new Wire('tcp', (b) => socket.write(b), () => undefined, () => socket.end(), () => socket.destroy(), closed.promise);
      socket.on('connect', () => opened.resolve(wire));
      socket.on('data', (c: Buffer) => wire.onBytes(c));
      socket.on('error', (err) => opened.reject(err));
      socket.on('close', () => closed.resolve());
    } else {
      const ws = new WebSocket(target.wsUrl!, 'mqtt');
      wire = new Wire(
        'ws',
        (b) => ws.send(b, { binary: true }),
        (s) => ws.send(s, { binary: false }),
        () => ws.close(1000),
        () => ws.terminate(),
        closed.promise,
      );
      ws.on('open', () => opened.resolve(wire));
      ws.on('message', (data: Buffer) => wire.onBytes(data));
      ws.on('error', (err) => opened.reject(err));
      ws.on('close', (code: number) => {
        wire.closeCode = code;
        closed.resolve();
      });
    }
    return withTimeout(opened.promise, timeoutMs, `a ${transport} connection`);
  }

  /** Opens a connection and completes CONNECT; resolves with the CONNACK (of any reason code). */
  static async connect(transport: Transport, target: WireTarget, connect: Partial<ConnectPacket> = {}): Promise<{ wire: Wire; connack: ConnackPacket }> {
    const wire = await Wire.open(transport, target);
    wire.send({ type: PacketType.CONNECT, clientId: `wire-${Math.random().toString(36).slice(2)}`, keepAlive: 0, cleanStart: true, ...connect });
    const connack = await wire.expect(PacketType.CONNACK);
    return { wire, connack };
  }

  get isSocketClosed(): boolean {
    return this.isClosed;
  }

  send(packet: Packet): void {
    this.sendBytes(encodePacket(packet));
  }

  sendRaw(bytes: Buffer | string): void {
    this.sendBytes(typeof bytes === 'string' ? Buffer.from(bytes.replace(/\s+/g, ''), 'hex') : bytes);
  }

  /** Sends a text frame (WebSocket only). */
  sendTextFrame(s: string): void {
    this.sendText(s);
  }

  /** The next packet; rejects on timeout, or when the connection closes first. */
  async next(timeoutMs = 2000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.read < this.packets.length) return this.packets[this.read++]!;
      if (this.decodeError !== undefined) throw this.decodeError;
      if (this.isClosed) throw new Error(`connection closed; packets so far: ${this.packets.map(describe).join(', ') || 'none'}`);
      const d = deferred<void>();
      this.waiter = d;
      await withTimeout(d.promise, Math.max(1, deadline - Date.now()), 'a packet from the broker');
    }
  }

  /** The next packet, which must be of `type`. */
  async expect<T extends Packet['type']>(type: T, timeoutMs = 2000): Promise<Extract<Packet, { type: T }>> {
    const p = await this.next(timeoutMs);
    if (p.type !== type) throw new Error(`expected packet type ${type}, got ${describe(p)}`);
    return p as Extract<Packet, { type: T }>;
  }

  /** Resolves when the connection has closed; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 2000): Promise<void> {
    return withTimeout(this.closed, timeoutMs, 'the broker to close the connection');
  }

  /** Half-closes (TCP FIN / WebSocket close frame). */
  end(): void {
    this.ender();
  }

  destroy(): void {
    this.destroyer();
  }

  private onBytes(chunk: Buffer): void {
    try {
      this.decoder.feed(chunk, (p) => this.packets.push(p));
    } catch (err) {
      this.decodeError = err as Error;
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }
}

/** A short description of a packet, e.g. `DISCONNECT(0x81)`. */
export function describe(p: Packet): string {
  const rc = (p as { reasonCode?: number }).reasonCode;
  const name = Object.keys(PacketType).find((k) => PacketType[k as keyof typeof PacketType] === p.type) ?? String(p.type);
  return rc === undefined ? name : `${name}(0x${rc.toString(16)})`;
}
