/**
 * Client benchmark: nest-mqtt5's MqttClient vs MQTT.js (v5, protocolVersion 5) through the same
 * harness, in one run, against a minimal fake server in its own process (fake-server.ts: pre-encoded
 * answers, frames counted, not decoded), so that the figures measure the clients, not a broker.
 *
 *   npm run build && node dist/bench/client/main.js [--scale 1] [--runs 3]
 *
 * Scenarios (16-byte payloads):
 * - QoS 0 publish rate: bursts of 1000, each awaited; timed until the server counted every frame;
 * - QoS 1 publish rate with 64 in flight;
 * - receive rate of a QoS 0 stream to a callback, and to a MessageReceiver (MQTT.js has no pull
 *   model: its figure is its callback rate).
 * Each figure is the median of `runs` timed runs after a warm-up run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { MessageReceiver, MqttClient, TcpConnection } from '../../lib/client/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1]!;
}

const scale = Number(arg('scale', '1'));
const runs = Number(arg('runs', '3'));
const only = arg('only', 'ours,mqtt.js').split(',');
const TOPIC = 'bench/topic';
const PAYLOAD = Buffer.alloc(16, 0x61);
const N = {
  qos0: Math.round(200_000 * scale),
  qos1: Math.round(100_000 * scale),
  recv: Math.round(500_000 * scale),
};

// ---------------------------------------------------------------- the server process

interface ServerEvent {
  event: string;
  port?: number;
  count?: number;
  ms?: number;
}

class Server {
  private listeners: ((m: ServerEvent) => void)[] = [];
  port = 0;
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: ServerEvent) => {
      for (const l of this.listeners.splice(0)) l(m);
    });
  }
  static async start(): Promise<Server> {
    const child = fork(fileURLToPath(new URL('./fake-server.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const s = new Server(child);
    s.port = (await s.next('listening')).port!;
    return s;
  }
  next(event: string): Promise<ServerEvent> {
    return new Promise((resolve) => {
      const l = (m: ServerEvent): void => {
        if (m.event === event) resolve(m);
        else this.listeners.push(l);
      };
      this.listeners.push(l);
    });
  }
  send(m: object): void {
    this.child.send(m);
  }
}

// ---------------------------------------------------------------- the two clients behind one interface

interface Driver {
  connect(port: number): Promise<void>;
  /** Publishes n QoS 0 messages in awaited bursts of 1000. */
  publish0(n: number): Promise<void>;
  /** Publishes n QoS 1 messages keeping `window` in flight; resolves when all are acknowledged. */
  publish1(n: number, window: number): Promise<void>;
  /** Subscribes and resolves once n messages reached the callback. */
  receiveCallback(n: number): Promise<void>;
  /** Subscribes and resolves once n messages were read from a pull-model receiver (if the client has one). */
  receivePull?(n: number): Promise<void>;
  close(): Promise<void>;
}

class Ours implements Driver {
  private client!: MqttClient;
  async connect(port: number): Promise<void> {
    this.client = new MqttClient(new TcpConnection({ host: '127.0.0.1', port }), { reconnect: false });
    await this.client.connect({ clientId: 'bench-ours', keepAlive: 60 });
  }
  async publish0(n: number): Promise<void> {
    const c = this.client;
    const opts = { topic: TOPIC, payload: PAYLOAD, qos: 0 as const };
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + 1000);
      let last: Promise<unknown> | undefined;
      for (; i < end; i++) last = c.publish(opts);
      await last;
    }
  }
  publish1(n: number, window: number): Promise<void> {
    const c = this.client;
    const opts = { topic: TOPIC, payload: PAYLOAD, qos: 1 as const };
    return new Promise((resolve, reject) => {
      let issued = 0;
      let done = 0;
      const next = (): void => {
        done++;
        if (done === n) resolve();
        else if (issued < n) {
          issued++;
          c.publish(opts).then(next, reject);
        }
      };
      for (; issued < Math.min(window, n); ) {
        issued++;
        c.publish(opts).then(next, reject);
      }
    });
  }
  receiveCallback(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let count = 0;
      this.client
        .subscribe({ subscriptions: [{ topicFilter: 'bench/#', qos: 0 }] }, () => {
          if (++count === n) resolve();
        })
        .catch(reject);
    });
  }
  async receivePull(n: number): Promise<void> {
    const r = new MessageReceiver({ capacity: 4096 });
    await this.client.subscribe({ subscriptions: [{ topicFilter: 'bench/#', qos: 0 }] }, r);
    let count = 0;
    for await (const m of r) {
      void m;
      if (++count === n) break;
    }
  }
  async close(): Promise<void> {
    await this.client.disconnect();
  }
}

class MqttJs implements Driver {
  private client!: mqtt.MqttClient;
  async connect(port: number): Promise<void> {
    this.client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, clientId: 'bench-mqttjs', keepalive: 60, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      this.client.once('connect', () => resolve());
      this.client.once('error', reject);
    });
  }
  async publish0(n: number): Promise<void> {
    const c = this.client;
    const opts = { qos: 0 as const };
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + 1000);
      await new Promise<void>((resolve, reject) => {
        for (; i < end; i++) {
          if (i === end - 1) c.publish(TOPIC, PAYLOAD, opts, (err) => (err ? reject(err) : resolve()));
          else c.publish(TOPIC, PAYLOAD, opts);
        }
      });
    }
  }
  publish1(n: number, window: number): Promise<void> {
    const c = this.client;
    const opts = { qos: 1 as const };
    return new Promise((resolve, reject) => {
      let issued = 0;
      let done = 0;
      const next = (err?: Error): void => {
        if (err) return reject(err);
        done++;
        if (done === n) resolve();
        else if (issued < n) {
          issued++;
          c.publish(TOPIC, PAYLOAD, opts, next);
        }
      };
      for (; issued < Math.min(window, n); ) {
        issued++;
        c.publish(TOPIC, PAYLOAD, opts, next);
      }
    });
  }
  receiveCallback(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let count = 0;
      const onMessage = (): void => {
        if (++count === n) {
          this.client.removeListener('message', onMessage);
          resolve();
        }
      };
      this.client.on('message', onMessage);
      this.client.subscribe('bench/#', { qos: 0 }, (err) => err && reject(err));
    });
  }
  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

// ---------------------------------------------------------------- timing

type Scenario = 'qos0' | 'qos1' | 'recvCallback' | 'recvPull';

async function once(server: Server, make: () => Driver, scenario: Scenario, n: number): Promise<number | undefined> {
  const d = make();
  if (scenario === 'recvPull' && d.receivePull === undefined) return undefined;
  await d.connect(server.port);
  try {
    let t0: number;
    if (scenario === 'qos0') {
      const set = server.next('target-set');
      server.send({ cmd: 'target', count: n });
      await set;
      const all = server.next('received');
      t0 = performance.now();
      await d.publish0(n);
      await all;
    } else if (scenario === 'qos1') {
      t0 = performance.now();
      await d.publish1(n, 64);
    } else {
      server.send({ cmd: 'stream', count: n, topic: TOPIC, size: PAYLOAD.length });
      await server.next('stream-ready');
      t0 = performance.now();
      if (scenario === 'recvCallback') await d.receiveCallback(n);
      else await d.receivePull!(n);
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await d.close();
  }
}

async function measure(server: Server, make: () => Driver, scenario: Scenario, n: number): Promise<number | undefined> {
  if ((await once(server, make, scenario, Math.ceil(n / 5))) === undefined) return undefined; // warm-up
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) rates.push((await once(server, make, scenario, n))!);
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

const server = await Server.start();
const scenarios: [Scenario, string, number][] = [
  ['qos0', 'QoS 0 publish', N.qos0],
  ['qos1', 'QoS 1 publish (64 in flight)', N.qos1],
  ['recvCallback', 'receive → callback', N.recv],
  ['recvPull', 'receive → MessageReceiver', N.recv],
];
const rows: string[][] = [];
let belowTarget = 0;
try {
  for (const [scenario, label, n] of scenarios) {
    process.stderr.write(`${label}…\n`);
    const ours = only.includes('ours') ? await measure(server, () => new Ours(), scenario, n) : undefined;
    // MQTT.js has no pull model: the MessageReceiver row compares with its callback rate.
    const peerScenario = scenario === 'recvPull' ? 'recvCallback' : scenario;
    const peer = only.includes('mqtt.js') ? await measure(server, () => new MqttJs(), peerScenario, n) : undefined;
    const ratio = ours !== undefined && peer !== undefined ? ours / peer : undefined;
    if (ratio !== undefined && ratio < 2) belowTarget++;
    rows.push([
      label,
      ours === undefined ? '—' : Math.round(ours).toLocaleString('en-US'),
      peer === undefined ? '—' : Math.round(peer).toLocaleString('en-US'),
      ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
    ]);
  }
} finally {
  server.send({ cmd: 'stop' });
}

const header = ['scenario', 'nest-mqtt5 msgs/s', 'MQTT.js msgs/s', 'ours / MQTT.js'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log(`\ntarget: ≥ 2× MQTT.js on each row${belowTarget === 0 ? ' — met' : ` — ${belowTarget} row(s) below`}`);
