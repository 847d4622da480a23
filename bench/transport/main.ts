/**
 * Transport benchmark: our Nest transport (ServerMqtt5 + ClientMqtt5) against Nest's built-in
 * Transport.MQTT (over MQTT.js), both on the same broker in the same run, with our bare MqttClient
 * doing the same publish → reply round trip as the bound.
 *
 *   npm run build && node dist/bench/transport/main.js [--broker=embedded|mosquitto] [--duration=3000] [--events=50000] [--rounds=3]
 *   node dist/bench/transport/main.js --tracing   # the cost of OpenTelemetry (see telemetry.ts)
 *
 * Broker, responder and caller each run in their own process. Measured: send() requests/s at
 * concurrency 1 and 64 with p50/p99 latency, and emit() events/s counted at the handler.
 * Every phase is bounded: a transport that stalls is reported as such, not waited for.
 *
 * `--tracing` compares our transport with itself: telemetry turned off, `@opentelemetry/api` installed
 * but no SDK registered (the target: ≥ 0.95× of off), and a real SDK with in-memory exporters; it
 * prints rate and CPU-per-operation ratios (CPU is the steadier figure on a loaded machine).
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { MqttClient, connectionFromUrl, type MqttMessage } from '../../lib/client/index.js';
import { ClientMqtt5 } from '../../lib/nest/index.js';
import { cpuSeconds, startEmbedded, startMosquitto, type BenchBroker } from './brokers.js';
import { Latencies, fmt, quantile } from './stats.js';
import { installSdk, type InstalledSdk, type TelemetryKind } from './telemetry.js';

type Kind = 'bare' | 'ours' | 'builtin' | TelemetryKind;

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'] as const;
  }),
);
const brokerKind = args.get('broker') ?? 'embedded';
const duration = Number(args.get('duration') ?? 3000);
const eventCount = Number(args.get('events') ?? 50_000);
/** A phase that has not finished this long after its duration counts as stalled. */
const STALL_GRACE = 5000;
const EMIT_WINDOW = 1000;
/** Diagnostics: `--only=ours`, `--phases=c1,c64,emit`, `--prof` (CPU profiles of the responders in ./prof). */
const only = args.get('only')?.split(',') as Kind[] | undefined;
const phases = new Set((args.get('phases') ?? 'c1,c64,emit').split(','));
const profile = args.has('prof');
const rounds = Number(args.get('rounds') ?? 3);
const tracingRun = args.has('tracing');
/** Spans the caller's SDK exported over all `ours-sdk` phases (a check that it recorded). */
let callerSpans = 0;
const PAYLOAD = { device: 'd-42', reading: 21.5, ok: true };
const PAYLOAD_BYTES = Buffer.from(JSON.stringify(PAYLOAD));

// ---------------------------------------------------------------- responder process

interface Responder {
  readonly pid: number;
  expect(n: number): Promise<void>;
  reached(): Promise<void>;
  count(): Promise<number>;
  stop(): Promise<void>;
}

function startResponder(kind: Kind, broker: BenchBroker): Promise<Responder> {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('./server-process.js', import.meta.url)),
    [kind, broker.url, broker.v5Only ? '5' : '4'],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: profile ? ['--cpu-prof', '--cpu-prof-dir=prof'] : [] },
  );
  const next = (type: string) =>
    new Promise<any>((resolve) => {
      const on = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
    });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${kind} responder exited with ${code}`)));
    void next('ready').then(() => {
      child.removeAllListeners('exit');
      resolve({
        pid: child.pid!,
        async expect(n) {
          const armed = next('armed');
          child.send({ type: 'expect', n });
          await armed;
        },
        reached: () => next('reached').then(() => undefined),
        async count() {
          const reply = next('count');
          child.send({ type: 'count' });
          return ((await reply) as { count: number }).count;
        },
        async stop() {
          const gone = new Promise<void>((r) => child.once('exit', () => r()));
          child.send({ type: 'stop' });
          const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(kill);
        },
      });
    });
  });
}

// ---------------------------------------------------------------- callers

interface Caller {
  request(): Promise<unknown>;
  emit(): Promise<unknown>;
  close(): Promise<void>;
}

async function ourCaller(url: string, qos: 0 | 1 = 1, kind: Kind = 'ours'): Promise<Caller> {
  // `ours-sdk`: this process records too, for the length of the phase.
  const sdk: InstalledSdk | undefined = kind === 'ours-sdk' ? installSdk() : undefined;
  const client = new ClientMqtt5({ url, qos, telemetry: kind !== 'ours-off' });
  await client.connect();
  const echo = `bench/${kind}/echo`;
  const event = `bench/${kind}/event`;
  return {
    request: () => lastValueFrom(client.send(echo, PAYLOAD)),
    emit: () => lastValueFrom(client.emit(event, PAYLOAD), { defaultValue: undefined }),
    close: async () => {
      await client.close();
      if (sdk !== undefined) {
        await sdk.uninstall();
        callerSpans += sdk.spans();
      }
    },
  };
}

async function builtinCaller(broker: BenchBroker): Promise<Caller> {
  const client = ClientProxyFactory.create({
    transport: Transport.MQTT,
    options: { url: broker.url, ...(broker.v5Only ? { protocolVersion: 5 as const } : {}) },
  }) as ClientProxy;
  await client.connect();
  return {
    request: () => lastValueFrom(client.send('bench/builtin/echo', PAYLOAD)),
    emit: () => lastValueFrom(client.emit('bench/builtin/event', PAYLOAD), { defaultValue: undefined }),
    close: async () => {
      await client.close();
    },
  };
}

/** Our MqttClient doing the request/response by hand: what the transport adds nothing to. */
async function bareCaller(url: string): Promise<Caller> {
  const client = new MqttClient(connectionFromUrl(url), {});
  await client.connect({ clientId: `bench-bare-caller-${process.pid}` });
  const responseTopic = `bench/bare-responses/${process.pid}`;
  const pending = new Map<number, () => void>();
  await client.subscribe({ subscriptions: [{ topicFilter: responseTopic, qos: 1 }] }, (m: MqttMessage) => {
    const id = m.properties!.correlationData!.readUInt32BE(0);
    const done = pending.get(id);
    pending.delete(id);
    done?.();
  });
  let seq = 0;
  return {
    request() {
      const id = (seq = (seq + 1) >>> 0);
      const correlationData = Buffer.allocUnsafe(4);
      correlationData.writeUInt32BE(id);
      const answered = new Promise<void>((resolve) => pending.set(id, resolve));
      void client.publish({ topic: 'bench/bare/echo', payload: PAYLOAD_BYTES, qos: 1, properties: { responseTopic, correlationData } });
      return answered;
    },
    emit: () => client.publish({ topic: 'bench/bare/event', payload: PAYLOAD_BYTES, qos: 1 }),
    close: () => client.disconnect(),
  };
}

function makeCaller(kind: Kind, broker: BenchBroker, qos0 = false): Promise<Caller> {
  if (kind.startsWith('ours')) return ourCaller(broker.url, qos0 ? 0 : 1, kind);
  if (kind === 'builtin') return builtinCaller(broker);
  return bareCaller(broker.url);
}

// ---------------------------------------------------------------- phases

/** CPU µs per request (or event) of each process, over a phase. */
interface CpuCost {
  caller: number;
  broker: number;
  responder: number;
}

/** Starts CPU accounting of the three processes; `per(n)` gives µs per operation since the start. */
function cpuMeter(broker: BenchBroker, responder: Responder): { per(n: number): CpuCost } {
  const self0 = process.cpuUsage();
  const broker0 = cpuSeconds(broker.pid);
  const responder0 = cpuSeconds(responder.pid);
  return {
    per(n) {
      const self = process.cpuUsage(self0);
      return {
        caller: (self.user + self.system) / n,
        broker: ((cpuSeconds(broker.pid) - broker0) * 1e6) / n,
        responder: ((cpuSeconds(responder.pid) - responder0) * 1e6) / n,
      };
    },
  };
}

interface SendResult {
  cpu?: CpuCost;
  rps: number;
  p50: number;
  p99: number;
  completed: number;
  stalled: boolean;
}

function deadline(ms: number): { promise: Promise<'deadline'>; cancel(): void } {
  let timer: NodeJS.Timeout;
  const promise = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

async function measureSend(kind: Kind, broker: BenchBroker, responder: Responder, concurrency: number): Promise<SendResult> {
  const caller = await makeCaller(kind, broker);
  try {
    // Warm-up: JIT, subscriptions, connection buffers.
    await Promise.race([Promise.all(Array.from({ length: 200 }, () => caller.request())), deadline(2000).promise]);
    const latencies = new Latencies();
    const meter = cpuMeter(broker, responder);
    const start = performance.now();
    const end = start + duration;
    let stop = false;
    const worker = async () => {
      while (!stop && performance.now() < end) {
        const t0 = performance.now();
        await caller.request();
        latencies.add(performance.now() - t0);
      }
    };
    const limit = deadline(duration + STALL_GRACE);
    const outcome = await Promise.race([Promise.all(Array.from({ length: concurrency }, worker)), limit.promise]);
    limit.cancel();
    stop = true;
    const elapsed = (Math.min(performance.now(), end + STALL_GRACE) - start) / 1000;
    const sorted = latencies.sorted();
    return {
      cpu: meter.per(latencies.count),
      rps: latencies.count / elapsed,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      completed: latencies.count,
      stalled: outcome === 'deadline',
    };
  } finally {
    await caller.close().catch(() => undefined);
  }
}

interface EmitResult {
  cpu?: CpuCost;
  eps: number;
  counted: number;
  stalled: boolean;
}

async function measureEmit(kind: Kind, broker: BenchBroker, responder: Responder, qos0 = false): Promise<EmitResult> {
  const caller = await makeCaller(kind, broker, qos0);
  try {
    await responder.expect(eventCount);
    const reached = responder.reached();
    const meter = cpuMeter(broker, responder);
    const start = performance.now();
    let inflight = 0;
    let wake: (() => void) | undefined;
    const settled = () => {
      inflight--;
      if (wake !== undefined) {
        const w = wake;
        wake = undefined;
        w();
      }
    };
    const limit = deadline(30_000);
    const sending = (async () => {
      for (let i = 0; i < eventCount; i++) {
        while (inflight >= EMIT_WINDOW) await new Promise<void>((r) => (wake = r));
        inflight++;
        caller.emit().then(settled, settled);
      }
    })();
    const outcome = await Promise.race([Promise.all([sending, reached]), limit.promise]);
    limit.cancel();
    const elapsed = (performance.now() - start) / 1000;
    const counted = outcome === 'deadline' ? await responder.count() : eventCount;
    return { cpu: meter.per(counted), eps: counted / elapsed, counted, stalled: outcome === 'deadline' };
  } finally {
    await caller.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- run

interface Row {
  kind: Kind;
  c1: SendResult;
  c64: SendResult;
  emit: EmitResult;
}

const LABEL: Record<Kind, string> = {
  bare: 'bare MqttClient (bound)',
  ours: 'nest-mqtt5 ServerMqtt5/ClientMqtt5',
  builtin: 'Nest built-in Transport.MQTT',
  'ours-off': 'nest-mqtt5, telemetry: false',
  'ours-sdk': 'nest-mqtt5, OTel SDK (in-memory exporters)',
};

/** The run with the median rate (so its latencies and CPU figures belong together). */
function median<T>(runs: T[], rate: (r: T) => number): T {
  const sorted = [...runs].sort((a, b) => rate(a) - rate(b));
  return sorted[Math.floor(sorted.length / 2)]!;
}

const SKIPPED_SEND: SendResult = { rps: NaN, p50: NaN, p99: NaN, completed: 0, stalled: false };
const SKIPPED_EMIT: EmitResult = { eps: NaN, counted: 0, stalled: false };

async function run(): Promise<void> {
  // The built-in client logs every connection; keep the table readable.
  Logger.overrideLogger(['error']);
  const broker = brokerKind === 'mosquitto' ? await startMosquitto() : await startEmbedded();
  const kinds = only ?? ((tracingRun ? ['ours-off', 'ours', 'ours-sdk'] : ['bare', 'ours', 'builtin']) as Kind[]);
  if (tracingRun) LABEL.ours = 'nest-mqtt5, OTel API without SDK';
  console.log(`broker: ${broker.name} at ${broker.url}`);
  console.log(`${duration} ms per send phase, ${eventCount} events per emit phase, ${rounds} interleaved rounds (median shown)`);
  console.log('QoS: ours and bare 1 (their default), built-in 0 (its default); all three responders run side by side');
  let emitQos0: EmitResult | undefined;
  const rows = new Map<Kind, Row>(kinds.map((k) => [k, { kind: k, c1: SKIPPED_SEND, c64: SKIPPED_SEND, emit: SKIPPED_EMIT }]));
  const responders = new Map<Kind, Responder>();
  try {
    for (const kind of kinds) responders.set(kind, await startResponder(kind, broker));
    const responderOf = (kind: Kind) => responders.get((args.get('responder') as Kind | undefined) ?? kind)!;
    // Rounds interleave the transports, so that load from elsewhere on the machine hits them alike.
    const c1: Map<Kind, SendResult[]> = new Map(kinds.map((k) => [k, []]));
    const c64: Map<Kind, SendResult[]> = new Map(kinds.map((k) => [k, []]));
    const emits: Map<Kind, EmitResult[]> = new Map(kinds.map((k) => [k, []]));
    const oursQos0: EmitResult[] = [];
    // With --tracing the SDK variant runs after the others' rounds: its processes keep exporting and
    // collecting garbage for a while after a phase, which would tax whichever phase followed it.
    const groups = tracingRun ? [kinds.filter((k) => k !== 'ours-sdk'), kinds.filter((k) => k === 'ours-sdk')] : [kinds];
    for (const group of groups) {
      for (let round = 0; round < rounds && group.length > 0; round++) {
        // Alternate the order each round: the phase after another transport's emit flood starts on a busier broker.
        for (const kind of round % 2 === 0 ? group : [...group].reverse()) {
          if (phases.has('c1')) c1.get(kind)!.push(await measureSend(kind, broker, responderOf(kind), 1));
          // The built-in transport stalls at any concurrency: once is enough to show it.
          if (phases.has('c64') && (kind !== 'builtin' || round === 0)) {
            c64.get(kind)!.push(await measureSend(kind, broker, responderOf(kind), 64));
          }
          if (phases.has('emit')) emits.get(kind)!.push(await measureEmit(kind, broker, responderOf(kind)));
          // Also at the built-in's QoS 0, for a like-for-like comparison.
          if (phases.has('emit') && kind === 'ours' && !tracingRun) oursQos0.push(await measureEmit(kind, broker, responderOf(kind), true));
        }
        console.log(`  round ${round + 1}/${rounds} of ${group.join(', ')} done`);
      }
    }
    for (const kind of kinds) {
      const row = rows.get(kind)!;
      if (c1.get(kind)!.length) row.c1 = median(c1.get(kind)!, (r) => r.rps);
      if (c64.get(kind)!.length) row.c64 = median(c64.get(kind)!, (r) => r.rps);
      if (emits.get(kind)!.length) row.emit = median(emits.get(kind)!, (r) => r.eps);
    }
    if (oursQos0.length) emitQos0 = median(oursQos0, (r) => r.eps);
  } finally {
    for (const responder of responders.values()) await responder.stop();
    await broker.stop();
  }

  const send = (r: SendResult) =>
    Number.isNaN(r.rps)
      ? '—'
      : r.stalled && r.completed === 0
        ? 'stalled (0 done)'
        : `${fmt(r.rps)} req/s, p50 ${fmt(r.p50, 3)} ms, p99 ${fmt(r.p99, 3)} ms${r.stalled ? ` (stalled after ${r.completed})` : ''}`;
  console.log('\n| transport | send() c=1 | send() c=64 | emit() events/s at handler |');
  console.log('|---|---|---|---|');
  for (const r of rows.values()) {
    const emit = Number.isNaN(r.emit.eps)
      ? '—'
      : `${fmt(r.emit.eps)}${r.emit.stalled ? ` (stalled: ${r.emit.counted} of ${eventCount} counted)` : ''}`;
    console.log(`| ${LABEL[r.kind]} | ${send(r.c1)} | ${send(r.c64)} | ${emit} |`);
  }
  if (emitQos0) console.log(`| nest-mqtt5 with qos: 0 (the built-in's QoS) | — | — | ${fmt(emitQos0.eps)} |`);
  const cpu = (c: CpuCost | undefined) =>
    c === undefined || !Number.isFinite(c.broker)
      ? '—'
      : `${fmt(c.caller, 1)} / ${fmt(c.broker, 1)} / ${fmt(c.responder, 1)}`;
  console.log('\nCPU µs per request or event (caller / broker / responder):');
  console.log('| transport | send() c=1 | send() c=64 | emit() |');
  console.log('|---|---|---|---|');
  for (const r of rows.values()) console.log(`| ${LABEL[r.kind]} | ${cpu(r.c1.cpu)} | ${cpu(r.c64.cpu)} | ${cpu(r.emit.cpu)} |`);
  if (emitQos0) console.log(`| nest-mqtt5 with qos: 0 | — | — | ${cpu(emitQos0.cpu)} |`);
  if (tracingRun) printTelemetryCost(rows);
  const ours = rows.get('ours');
  const bare = rows.get('bare');
  const builtin = rows.get('builtin');
  if (!ours || !bare || !builtin) return;
  const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log('\nTargets:');
  console.log(`  send() p50 at c=1: ${fmt(ours.c1.p50, 3)} ms (target < 1 ms) — ${check(ours.c1.p50 < 1)}`);
  const c64Ratio = ours.c64.rps / bare.c64.rps;
  console.log(`  send() c=64 vs bare round trip: ${fmt(c64Ratio, 2)}× (target ≥ 0.5×) — ${check(c64Ratio >= 0.5)}`);
  const emitRatio = ours.emit.eps / builtin.emit.eps;
  console.log(`  emit() vs built-in, each at its default QoS (1 vs 0): ${fmt(emitRatio, 2)}× (target ≥ 3×) — ${check(emitRatio >= 3)}`);
  if (emitQos0) {
    const same = emitQos0.eps / builtin.emit.eps;
    console.log(`  emit() vs built-in, both QoS 0: ${fmt(same, 2)}× (target ≥ 3×) — ${check(same >= 3)}`);
  }
  console.log(
    `  send() vs built-in: c=1 ${fmt(ours.c1.rps / builtin.c1.rps, 1)}×, c=64 ${
      builtin.c64.rps > 0 ? `${fmt(ours.c64.rps / builtin.c64.rps, 1)}×` : 'built-in stalled'
    }`,
  );
}

/** `--tracing`: each variant against `telemetry: false`, by rate and by CPU per operation (caller + responder). */
function printTelemetryCost(rows: Map<Kind, Row>): void {
  const off = rows.get('ours-off');
  if (off === undefined) return;
  const cpuOf = (c: CpuCost | undefined) => (c === undefined ? NaN : c.caller + c.responder);
  console.log('\nTelemetry cost against telemetry: false (rate ratio ↑ better; CPU ratio ↓ better, caller + responder µs/op):');
  console.log('| variant | emit() events/s | emit() CPU | send() c=64 req/s | send() c=64 CPU |');
  console.log('|---|---|---|---|---|');
  for (const kind of ['ours', 'ours-sdk'] as const) {
    const r = rows.get(kind);
    if (r === undefined) continue;
    console.log(
      `| ${LABEL[kind]} | ${fmt(r.emit.eps / off.emit.eps, 3)}× | ${fmt(cpuOf(r.emit.cpu) / cpuOf(off.emit.cpu), 3)}× | ${fmt(r.c64.rps / off.c64.rps, 3)}× | ${fmt(
        cpuOf(r.c64.cpu) / cpuOf(off.c64.cpu),
        3,
      )}× |`,
    );
  }
  const noSdk = rows.get('ours');
  if (noSdk !== undefined) {
    const worst = Math.min(noSdk.emit.eps / off.emit.eps, noSdk.c64.rps / off.c64.rps);
    console.log(`  API without SDK vs off, worst rate ratio: ${fmt(worst, 3)}× (target ≥ 0.95×) — ${worst >= 0.95 ? 'met' : 'MISSED'}`);
  }
  if (rows.has('ours-sdk')) console.log(`  spans the caller's SDK exported: ${callerSpans} (the responder's are not counted here)`);
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
