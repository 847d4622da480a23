/**
 * Raw-socket load generator: pre-encoded frames written in batches, received frames counted by their
 * fixed headers (never decoded). Each scenario runs a short warm-up, then measures a fixed window.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  FrameScanner,
  connectFrame,
  packetIdOffset,
  payloadOffset,
  publishFrame,
  subscribeFrame,
  writePuback,
  type Dialect,
} from './frames.js';
import { cpuSeconds, rssBytes, type BrokerProcess } from './servers.js';

const TOPIC = 'bench/topic/0001';
const PAYLOAD = Buffer.alloc(64, 0x61);

/** A generator connection. */
export class GenConn {
  onPublish: ((buf: Buffer, start: number, end: number, first: number) => void) | null = null;
  onPuback: ((packetId: number, reasonCode: number) => void) | null = null;
  onDataEnd: (() => void) | null = null;
  blocked = false;
  /** The last awaited reply (CONNACK, SUBACK), a view into the read chunk: copy what is kept. */
  lastReply: Buffer | null = null;
  private waiting: { type: number; resolve: () => void } | null = null;
  private readonly scanner = new FrameScanner((buf, start, end, first) => {
    const type = first >> 4;
    if (type === 3) this.onPublish?.(buf, start, end, first);
    else if (type === 4) this.onPuback?.(buf.readUInt16BE(start + 2), end - start > 4 ? buf[start + 4]! : 0);
    else if (this.waiting !== null && this.waiting.type === type) {
      this.lastReply = Buffer.from(buf.subarray(start, end));
      const w = this.waiting;
      this.waiting = null;
      w.resolve();
    }
  });

  private constructor(
    readonly socket: Socket,
    readonly dialect: Dialect,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.scanner.push(chunk);
      this.onDataEnd?.();
    });
    socket.on('drain', () => {
      this.blocked = false;
      this.onDrain?.();
    });
    socket.on('error', () => undefined);
  }

  onDrain: (() => void) | null = null;

  static open(b: BrokerProcess, clientId: string): Promise<GenConn> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port: b.port, host: '127.0.0.1' });
      socket.once('error', reject);
      socket.once('connect', () => {
        const c = new GenConn(socket, b.dialect);
        c.request(2, connectFrame(b.dialect, clientId)).then(() => resolve(c), reject);
      });
    });
  }

  request(type: number, frame: Buffer, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply of type ${type}`)), timeoutMs);
      this.waiting = {
        type,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
      this.socket.write(frame);
    });
  }

  subscribe(topic: string, qos: 0 | 1): Promise<void> {
    return this.request(9, subscribeFrame(this.dialect, 1, topic, qos));
  }

  write(buf: Buffer): void {
    if (!this.socket.write(buf)) this.blocked = true;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }
}

/** Result of a throughput scenario. */
export interface Throughput {
  /** Deliveries per second at the subscribers. */
  rate: number;
  /** Broker CPU (user + system) per delivery, microseconds. */
  cpuPerMessageUs: number;
  /** Broker CPU use during the window, % of one core. */
  cpuPercent: number;
  /** Deliveries the flow control gave up waiting for (lost by the broker). */
  lost: number;
  /** CPU use of the load generator during the window, % of one core (near 100: the generator limits). */
  generatorCpuPercent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Measured {
  rate: number;
  cpu: number;
  count: number;
  seconds: number;
  generatorCpuPercent: number;
}

async function measure(b: BrokerProcess, delivered: () => number, warmupMs: number, windowMs: number): Promise<Measured> {
  await sleep(warmupMs);
  const d0 = delivered();
  const c0 = cpuSeconds(b.pid);
  const g0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(windowMs);
  const d1 = delivered();
  const c1 = cpuSeconds(b.pid);
  const g = process.cpuUsage(g0);
  const seconds = (performance.now() - t0) / 1000;
  const generatorCpuPercent = ((g.user + g.system) / 1e6 / seconds) * 100;
  return { rate: (d1 - d0) / seconds, cpu: c1 - c0, count: d1 - d0, seconds, generatorCpuPercent };
}

function throughput(m: Measured, lost: number): Throughput {
  return { rate: m.rate, cpuPerMessageUs: (m.cpu * 1e6) / m.count, cpuPercent: (m.cpu / m.seconds) * 100, lost, generatorCpuPercent: m.generatorCpuPercent };
}

function batchOf(frame: Buffer, n: number): Buffer {
  return Buffer.concat(Array.from({ length: n }, () => frame));
}

/**
 * QoS 0 throughput, `pubs` publishers → `subs` subscribers of one topic. Publishers write batches of
 * pre-encoded frames while fewer than `window` messages per subscriber are outstanding; a stall of
 * 100 ms counts the outstanding ones as lost and carries on.
 */
export async function qos0Throughput(b: BrokerProcess, pubs: number, subs: number, windowMs: number): Promise<Throughput> {
  const tag = `${pubs}x${subs}-${Date.now()}`;
  const subscribers = await Promise.all(Array.from({ length: subs }, (_, i) => GenConn.open(b, `s-${tag}-${i}`)));
  await Promise.all(subscribers.map((s) => s.subscribe(TOPIC, 0)));
  const publishers = await Promise.all(Array.from({ length: pubs }, (_, i) => GenConn.open(b, `p-${tag}-${i}`)));
  const batchSize = pubs > 10 ? 16 : 64;
  const batch = batchOf(publishFrame(b.dialect, TOPIC, PAYLOAD, 0), batchSize);
  const window = Number(process.env.BENCH_WINDOW ?? 4000);
  let delivered = 0;
  let sent = 0;
  let lost = 0;
  let running = true;
  let lastProgress = performance.now();
  let next = 0;
  const pump = (): void => {
    while (running && sent * subs - (delivered + lost) < window * subs) {
      let wrote = false;
      for (let k = 0; k < publishers.length; k++) {
        const p = publishers[(next + k) % publishers.length]!;
        if (p.blocked) continue;
        next = (next + k + 1) % publishers.length;
        p.write(batch);
        sent += batchSize;
        wrote = true;
        break;
      }
      if (!wrote) return;
    }
  };
  for (const s of subscribers) {
    s.onPublish = () => {
      delivered++;
    };
    s.onDataEnd = () => {
      lastProgress = performance.now();
      pump();
    };
  }
  for (const p of publishers) p.onDrain = pump;
  const watchdog = setInterval(() => {
    if (performance.now() - lastProgress > 100) {
      lost = sent * subs - delivered;
      lastProgress = performance.now();
      pump();
    }
  }, 50);
  pump();
  const m = await measure(b, () => delivered, 500, windowMs);
  running = false;
  clearInterval(watchdog);
  await Promise.all([...publishers, ...subscribers].map((c) => c.close()));
  return throughput(m, lost);
}

/** QoS 1 throughput 1 → 1 with `inflight` unacknowledged PUBLISHes at most; the subscriber acks every message. */
export async function qos1Throughput(b: BrokerProcess, inflight: number, windowMs: number): Promise<Throughput> {
  const tag = `q1-${Date.now()}`;
  const sub = await GenConn.open(b, `s-${tag}`);
  await sub.subscribe(TOPIC, 1);
  const pub = await GenConn.open(b, `p-${tag}`);
  const template = publishFrame(b.dialect, TOPIC, PAYLOAD, 1, 1);
  const pidOffset = packetIdOffset(template);
  let delivered = 0;
  let unacked = 0;
  let nextId = 1;
  let running = true;
  const send = (): void => {
    const n = inflight - unacked;
    if (!running || n <= 0) return;
    const buf = Buffer.allocUnsafe(template.length * n);
    for (let i = 0; i < n; i++) {
      const off = i * template.length;
      template.copy(buf, off);
      buf.writeUInt16BE(nextId, off + pidOffset);
      nextId = nextId === 0xffff ? 1 : nextId + 1;
    }
    unacked += n;
    pub.write(buf);
  };
  pub.onPuback = () => {
    unacked--;
  };
  pub.onDataEnd = send;
  // The subscriber acknowledges each PUBLISH; acks of one chunk go out in one write.
  let acks = Buffer.allocUnsafe(4096);
  let ackLen = 0;
  sub.onPublish = (buf, start) => {
    delivered++;
    if (ackLen + 4 > acks.length) {
      const bigger = Buffer.allocUnsafe(acks.length * 2);
      acks.copy(bigger, 0, 0, ackLen);
      acks = bigger;
    }
    ackLen = writePuback(acks, ackLen, buf.readUInt16BE(packetIdOffset(buf, start)));
  };
  sub.onDataEnd = () => {
    if (ackLen === 0) return;
    sub.write(Buffer.from(acks.subarray(0, ackLen)));
    ackLen = 0;
  };
  send();
  const m = await measure(b, () => delivered, 500, windowMs);
  running = false;
  await Promise.all([pub.close(), sub.close()]);
  return throughput(m, 0);
}

/** Latency percentiles (ms) at a fixed publish rate, QoS 0, 1 → 1. */
export interface Latency {
  p50: number;
  p99: number;
  samples: number;
}

/** Publishes `rate` messages/s (a batch per millisecond tick) carrying their send time; the subscriber computes each latency. */
export async function latencyAtRate(b: BrokerProcess, rate: number, windowMs: number): Promise<Latency> {
  const tag = `lat-${Date.now()}`;
  const sub = await GenConn.open(b, `s-${tag}`);
  await sub.subscribe(TOPIC, 0);
  const pub = await GenConn.open(b, `p-${tag}`);
  const template = publishFrame(b.dialect, TOPIC, PAYLOAD, 0);
  const stampOffset = payloadOffset(b.dialect, template);
  const samples: number[] = [];
  let recording = false;
  sub.onPublish = (buf, start) => {
    if (!recording) return;
    const sentAt = buf.readDoubleLE(payloadOffset(b.dialect, buf, start));
    samples.push(performance.now() - sentAt);
  };
  const start = performance.now();
  let sent = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    const due = Math.floor(((now - start) * rate) / 1000) - sent;
    if (due <= 0) return;
    const buf = Buffer.allocUnsafe(template.length * due);
    for (let i = 0; i < due; i++) {
      template.copy(buf, i * template.length);
      buf.writeDoubleLE(now, i * template.length + stampOffset);
    }
    sent += due;
    pub.write(buf);
  }, 1);
  await sleep(500);
  recording = true;
  await sleep(windowMs);
  recording = false;
  clearInterval(tick);
  await Promise.all([pub.close(), sub.close()]);
  samples.sort((x, y) => x - y);
  const q = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), samples: samples.length };
}

/** Memory per idle connection: RSS growth of the broker for `count` connected clients, after GC. */
export interface IdleMemory {
  /** RSS growth per connection, bytes. */
  rssPerConnection: number;
  /** V8 heap growth per connection (Node brokers only), bytes. */
  heapPerConnection: number | undefined;
}

/**
 * RSS growth of the broker per idle connected client, `count` clients, after GC. With `warm`, a second
 * of traffic runs first, as in a broker that has been serving: a Node process's young generation
 * (up to ~48 MB, whatever the number of clients) is then already in memory and not charged to the
 * connections. A fresh process (`warm` false) charges it to them.
 */
export async function idleMemory(b: BrokerProcess, count: number, warm: boolean): Promise<IdleMemory> {
  if (warm) await qos0Throughput(b, 1, 1, 1000);
  const tag = `idle-${Date.now()}`;
  const open = async (n: number, prefix: string): Promise<GenConn[]> => {
    const conns: GenConn[] = [];
    for (let i = 0; i < n; i += 250) {
      const part = await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, k) => GenConn.open(b, `${prefix}-${i + k}`)));
      conns.push(...part);
    }
    return conns;
  };
  const first = await open(200, `w-${tag}`);
  const m0 = await b.gc();
  await sleep(200);
  const before = rssBytes(b.pid);
  const conns = await open(count, `i-${tag}`);
  const m1 = await b.gc();
  await sleep(200);
  const after = rssBytes(b.pid);
  await Promise.all([...first, ...conns].map((c) => c.close()));
  return {
    rssPerConnection: (after - before) / count,
    heapPerConnection: m0 === undefined || m1 === undefined ? undefined : (m1.heapUsed - m0.heapUsed) / count,
  };
}
