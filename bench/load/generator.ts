/**
 * A raw-socket load generator for the broker: many MQTT v5 connections, each subscribed to its own
 * topic `load/<i>`, and a fixed-rate soak in which random connections publish QoS 1 messages to random
 * other connections' topics. Frames are encoded with our codec once per message (no client library in
 * the way); every delivery is timed (a `process.hrtime` stamp in the payload) and acknowledged.
 * Used by the long mode (`bench/load/main.ts`, broker in its own process) and by the CI-short test.
 */
import net from 'node:net';
import { PacketDecoder, PacketType, encodePacket, type Packet } from '../../lib/codec/index.js';

/** Options of {@link LoadClients.open}. */
export interface LoadOptions {
  port: number;
  host?: string;
  connections: number;
  /** Connections opened in parallel; default 200 (the listen backlog is 511). */
  concurrency?: number;
  /** Keep alive of every connection (s); the generator pings at half of it. Default 60. */
  keepAlive?: number;
  /** Client id prefix; default `load`. */
  prefix?: string;
  /** Give up when a connection is not accepted in this time (ms); default 20,000. */
  timeoutMs?: number;
}

/** Results of a soak. */
export interface SoakResult {
  sent: number;
  received: number;
  /** Delivery latency (publish written → PUBLISH read), milliseconds. */
  p50: number;
  p99: number;
  max: number;
  durationMs: number;
}

/** A latency histogram in 10 µs buckets up to 10 s (fixed memory whatever the number of samples). */
class Histogram {
  private readonly buckets = new Uint32Array(1_000_001);
  count = 0;
  max = 0;
  add(ms: number): void {
    const i = Math.min(this.buckets.length - 1, Math.round(ms * 100));
    this.buckets[i]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(this.count * p);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= target) return i / 100;
    }
    return this.max;
  }
}

const PINGREQ = Buffer.from([0xc0, 0x00]);
const PAYLOAD_SIZE = 64;

/** One generator connection. */
class LoadConnection {
  private readonly decoder = new PacketDecoder();
  private nextId = 1;
  private waiter: { resolve(p: Packet): void; reject(e: Error): void } | undefined;

  constructor(
    readonly index: number,
    readonly socket: net.Socket,
    private readonly owner: LoadClients,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.feed(chunk, this.onPacket);
      } catch (err) {
        owner.errors.push(`connection ${index}: ${(err as Error).message}`);
        socket.destroy();
      }
    });
    socket.on('close', () => {
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(new Error(`connection ${index} closed`));
    });
  }

  /** The next packet (only used during setup, before the soak); rejects if the connection closes first. */
  next(): Promise<Packet> {
    if (this.socket.destroyed) return Promise.reject(new Error(`connection ${this.index} closed`));
    return new Promise<Packet>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  packetId(): number {
    const id = this.nextId;
    this.nextId = id === 0xffff ? 1 : id + 1;
    return id;
  }

  private readonly onPacket = (p: Packet): void => {
    if (p.type === PacketType.PUBLISH) {
      this.owner.onDelivery(p.payload);
      if (p.qos === 1) this.socket.write(encodePacket({ type: PacketType.PUBACK, packetId: p.packetId! }));
      return;
    }
    if (p.type === PacketType.DISCONNECT) {
      this.owner.errors.push(`connection ${this.index}: DISCONNECT 0x${(p.reasonCode ?? 0).toString(16)}`);
      return;
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(p);
  };
}

/** N connections to a broker, each subscribed to `load/<i>`. */
export class LoadClients {
  readonly connections: LoadConnection[] = [];
  /** Problems seen (refused connections, DISCONNECTs, decode errors). */
  readonly errors: string[] = [];
  private readonly histogram = new Histogram();
  private received = 0;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Resolved once `received` reaches `drainTarget`. */
  private drainTarget = Infinity;
  private drained: (() => void) | undefined;

  private constructor(private readonly options: LoadOptions) {}

  /** Opens and subscribes every connection; resolves when all have their SUBACK. */
  static async open(options: LoadOptions): Promise<LoadClients> {
    const lc = new LoadClients(options);
    const concurrency = options.concurrency ?? 200;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < options.connections) await lc.openOne(next++);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, options.connections) }, worker));
    const keepAlive = options.keepAlive ?? 60;
    if (keepAlive > 0) {
      // Ping at half the keep alive, a slice of the connections per second (spreads the load).
      let cursor = 0;
      const slice = Math.max(1, Math.ceil(lc.connections.length / ((keepAlive / 2) * 10)));
      lc.pingTimer = setInterval(() => {
        for (let k = 0; k < slice; k++) {
          const c = lc.connections[cursor++ % lc.connections.length];
          if (c !== undefined && !c.socket.destroyed) c.socket.write(PINGREQ);
        }
      }, 100);
    }
    return lc;
  }

  private async openOne(i: number): Promise<void> {
    const { port, host = '127.0.0.1', prefix = 'load', keepAlive = 60, timeoutMs = 20_000 } = this.options;
    const socket = net.connect({ port, host, noDelay: true });
    const conn = new LoadConnection(i, socket, this);
    socket.on('error', (err) => this.errors.push(`connection ${i}: ${err.message}`));
    const timer = setTimeout(() => socket.destroy(new Error(`not accepted within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        const onClose = (): void => reject(new Error(`connection ${i} closed during setup`));
        socket.once('close', onClose);
        socket.once('connect', () => {
          socket.off('close', onClose);
          resolve();
        });
      });
      const connack = conn.next();
      socket.write(encodePacket({ type: PacketType.CONNECT, clientId: `${prefix}-${i}`, keepAlive, cleanStart: true }));
      const ca = await connack;
      if (ca.type !== PacketType.CONNACK || ca.reasonCode !== 0) throw new Error(`connection ${i} refused: ${JSON.stringify(ca)}`);
      const suback = conn.next();
      socket.write(encodePacket({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: `load/${i}`, qos: 1 }] }));
      const sa = await suback;
      if (sa.type !== PacketType.SUBACK || sa.reasonCodes[0] !== 1) throw new Error(`connection ${i} not subscribed: ${JSON.stringify(sa)}`);
      this.connections.push(conn);
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** @internal A PUBLISH reached a connection. */
  onDelivery(payload: Buffer): void {
    if (++this.received >= this.drainTarget) this.drained?.();
    if (payload.length >= 8) {
      const sentAt = payload.readBigUInt64BE(0);
      this.histogram.add(Number(process.hrtime.bigint() - sentAt) / 1e6);
    }
  }

  /**
   * Publishes QoS 1 messages at `rate` per second for `durationMs` (random publisher → random
   * subscriber), then waits up to `drainMs` for the last deliveries. `onTick` runs about every second.
   */
  async soak(rate: number, durationMs: number, onTick?: (elapsedMs: number, sent: number, received: number) => void | Promise<void>, drainMs = 10_000): Promise<SoakResult> {
    const n = this.connections.length;
    const payload = Buffer.alloc(PAYLOAD_SIZE, 0x2e);
    let sent = 0;
    const receivedAtStart = this.received;
    const started = Date.now();
    let lastTick = started;
    let seed = 0x2545f491;
    const rand = (m: number): number => {
      // xorshift32: cheap and allocation-free.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % m;
    };
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = Date.now();
        const elapsed = now - started;
        const due = Math.min(Math.floor((elapsed * rate) / 1000), Math.floor((durationMs * rate) / 1000));
        while (sent < due) {
          const from = this.connections[rand(n)]!;
          const to = rand(n);
          payload.writeBigUInt64BE(process.hrtime.bigint(), 0);
          from.socket.write(encodePacket({ type: PacketType.PUBLISH, topic: `load/${to}`, payload, qos: 1, retain: false, dup: false, packetId: from.packetId() }));
          sent++;
        }
        if (now - lastTick >= 1000) {
          lastTick = now;
          void onTick?.(elapsed, sent, this.received - receivedAtStart);
        }
        if (elapsed >= durationMs) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    const durationReal = Date.now() - started;
    // Drain: the last messages are on their way (bounded by drainMs).
    if (this.received - receivedAtStart < sent) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drainTarget = receivedAtStart + sent;
        this.drained = resolve;
        timer = setTimeout(resolve, drainMs);
      });
      clearTimeout(timer);
      this.drainTarget = Infinity;
      this.drained = undefined;
    }
    return {
      sent,
      received: this.received - receivedAtStart,
      p50: this.histogram.percentile(0.5),
      p99: this.histogram.percentile(0.99),
      max: this.histogram.max,
      durationMs: durationReal,
    };
  }

  /** Closes every connection (DISCONNECT, then FIN) and resolves when all are closed. */
  async close(): Promise<void> {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    const disconnect = encodePacket({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await Promise.all(
      this.connections.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.socket.destroyed) return resolve();
            c.socket.once('close', () => resolve());
            c.socket.end(disconnect);
          }),
      ),
    );
  }
}
