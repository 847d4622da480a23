/**
 * The client fuzzer: one MqttClient, reconnecting with millisecond delays, against a fake server
 * (our codec on a loopback TCP listener) whose every connection is a fuzz episode: a CONNACK (valid,
 * refusing or mutated), then a burst of server packets — valid ones in any order (acks of the
 * client's real packet identifiers, unknown ones, SUBACKs with the wrong count, PUBLISHes with
 * aliases, DISCONNECTs, AUTH, client-only packet types) and mutated or random bytes — then the server
 * closes, resets or waits for the client to give up.
 *
 * Meanwhile the application side keeps publishing (QoS 0/1/2), subscribing (callback and
 * MessageReceiver) and unsubscribing. Invariants:
 * - every promise the client returns settles, and every rejection, every `disconnected` reason and
 *   every `reconnecting` error is an MqttClientError (typed, with a reason code);
 * - no `error` event (our callbacks never throw), no uncaught exception, no unhandled rejection;
 * - every byte the client sends decodes, and its DISCONNECTs carry reason codes DISCONNECT allows;
 * - the client keeps reconnecting: after the fuzz, a well-behaved episode must see it connect and
 *   complete a QoS 1 publish; after `disconnect()` nothing is left pending and the heap is back.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import {
  MessageReceiver,
  MqttClient,
  MqttClientError,
  TcpConnection,
  WebSocketConnection,
  type MqttMessage,
} from '../../lib/client/index.js';
import {
  PacketDecoder,
  PacketType,
  encodePacket,
  isReasonCodeAllowed,
  type ConnackPacket,
  type Packet,
  type Properties,
  type QoS,
  type UserProperty,
} from '../../lib/codec/index.js';
import { Random } from '../helpers/prng.js';
import { settledHeapUsed } from '../helpers/memory.js';
import { caseSeed } from './broker-fuzz.js';
import { mutate, randomBytes } from './mutate.js';

/** A user property in the CONNACKs of the well-behaved server after the fuzz. */
const FINAL_MARK: UserProperty = ['fuzz-phase', 'final'];

/** How long the fuzz may go without a new input before the client counts as stuck. */
const STALL_MS = 5000;

/** Options of {@link runClientFuzz}. */
export interface ClientFuzzOptions {
  seed: number;
  /** Stop after this many fuzzed server inputs. */
  inputs: number;
  /** The fake server's transport: TCP (default) or WebSocket (path /mqtt, subprotocol mqtt, one frame per write). */
  transport?: 'tcp' | 'ws';
  /** Replay one episode only. */
  caseIndex?: number;
  log?: (line: string) => void;
}

/** Outcome of a client fuzz run. */
export interface ClientFuzzReport {
  seed: number;
  inputs: number;
  connections: number;
  reconnects: number;
  /** Errors the client surfaced, by class name. */
  errorTypes: Record<string, number>;
  /** Operations issued and settled by the application loop. */
  operations: number;
  heapBefore: number;
  heapAfter: number;
  violations: string[];
  elapsedMs: number;
}

/** What the server learnt of the client on one connection (to answer with real identifiers). */
interface ClientView {
  publishIds: number[];
  qos2Ids: number[];
  requestIds: { id: number; type: number; count: number }[];
  /** PUBLISH QoS 2 we sent, awaiting the client's PUBREC → our PUBREL. */
  pubrecIds: number[];
  topicAliasMaximum: number;
}

const SERVER_DISCONNECT_CODES = [0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x93, 0x94, 0x95, 0x97, 0x98, 0x9c];

function connack(rnd: Random, valid: boolean): ConnackPacket {
  if (!valid) return { type: PacketType.CONNACK, sessionPresent: false, reasonCode: rnd.pick([0x80, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x95, 0x9c]) };
  const p: Properties = {};
  if (rnd.chance(0.4)) p.receiveMaximum = rnd.range(1, 20);
  if (rnd.chance(0.3)) p.topicAliasMaximum = rnd.range(0, 5);
  if (rnd.chance(0.3)) p.maximumPacketSize = rnd.pick([64, 200, 4096]);
  if (rnd.chance(0.2)) p.serverKeepAlive = rnd.pick([0, 1, 30]);
  if (rnd.chance(0.2)) p.maximumQoS = rnd.int(2) as 0 | 1;
  if (rnd.chance(0.1)) p.retainAvailable = false;
  if (rnd.chance(0.1)) p.wildcardSubscriptionAvailable = false;
  if (rnd.chance(0.1)) p.subscriptionIdentifiersAvailable = false;
  if (rnd.chance(0.1)) p.sharedSubscriptionAvailable = false;
  if (rnd.chance(0.2)) p.sessionExpiryInterval = rnd.pick([0, 60]);
  if (rnd.chance(0.1)) p.assignedClientIdentifier = `assigned-${rnd.int(100)}`;
  return { type: PacketType.CONNACK, sessionPresent: rnd.chance(0.5), reasonCode: 0, properties: Object.keys(p).length === 0 ? undefined : p };
}

/** One server packet, valid in itself, in whatever order. */
function serverPacket(rnd: Random, view: ClientView): Packet {
  const takeId = (ids: number[]): number => (ids.length !== 0 && rnd.chance(0.8) ? ids.splice(rnd.int(ids.length), 1)[0]! : rnd.range(1, 0xffff));
  switch (rnd.int(14)) {
    case 0:
    case 1:
    case 2: {
      const qos = rnd.int(3) as QoS;
      const props: Properties = {};
      const useAlias = rnd.chance(0.2);
      if (useAlias) props.topicAlias = rnd.range(1, Math.max(1, view.topicAliasMaximum + 1));
      if (rnd.chance(0.2)) props.subscriptionIdentifier = rnd.range(1, 5);
      if (rnd.chance(0.1)) props.messageExpiryInterval = 5;
      const id = rnd.range(1, 0xffff);
      if (qos === 2) view.pubrecIds.push(id);
      return {
        type: PacketType.PUBLISH,
        topic: useAlias && rnd.chance(0.5) ? '' : rnd.pick(['fz/a', 'fz/b/c', 'other', 'fz']),
        payload: rnd.bytes(rnd.pick([0, 4, 100])),
        qos,
        retain: rnd.chance(0.1),
        dup: qos !== 0 && rnd.chance(0.3),
        packetId: qos === 0 ? undefined : id,
        properties: Object.keys(props).length === 0 ? undefined : props,
      };
    }
    case 3:
      return { type: PacketType.PUBACK, packetId: takeId(view.publishIds), reasonCode: rnd.pick([0, 0, 0x10, 0x80, 0x87, 0x97]) };
    case 4:
      return { type: PacketType.PUBREC, packetId: takeId(view.qos2Ids), reasonCode: rnd.pick([0, 0, 0x10, 0x80, 0x91]) };
    case 5:
      return { type: PacketType.PUBCOMP, packetId: takeId(view.qos2Ids), reasonCode: rnd.pick([0, 0x92]) };
    case 6:
      return { type: PacketType.PUBREL, packetId: takeId(view.pubrecIds), reasonCode: rnd.pick([0, 0x92]) };
    case 7: {
      const req = view.requestIds.length !== 0 && rnd.chance(0.8) ? view.requestIds.splice(rnd.int(view.requestIds.length), 1)[0]! : { id: rnd.range(1, 0xffff), type: PacketType.SUBSCRIBE, count: 1 };
      // Sometimes the wrong number of reason codes, or the other ack type.
      const count = rnd.chance(0.8) ? req.count : rnd.range(1, 4);
      const ackType = (req.type === PacketType.SUBSCRIBE) !== rnd.chance(0.1) ? PacketType.SUBACK : PacketType.UNSUBACK;
      const codes = Array.from({ length: count }, () => (ackType === PacketType.SUBACK ? rnd.pick([0, 1, 2, 0x80, 0x87, 0x8f, 0xa2]) : rnd.pick([0, 0x11, 0x80, 0x87])));
      return ackType === PacketType.SUBACK
        ? { type: PacketType.SUBACK, packetId: req.id, reasonCodes: codes }
        : { type: PacketType.UNSUBACK, packetId: req.id, reasonCodes: codes };
    }
    case 8:
      return { type: PacketType.PINGRESP };
    case 9:
      return { type: PacketType.DISCONNECT, reasonCode: rnd.pick(SERVER_DISCONNECT_CODES), properties: rnd.chance(0.3) ? { reasonString: 'fuzz', serverReference: 'elsewhere' } : undefined };
    case 10:
      return { type: PacketType.AUTH, reasonCode: rnd.pick([0, 0x18, 0x19]), properties: { authenticationMethod: 'FUZZ', authenticationData: rnd.bytes(4) } };
    case 11:
      return connack(rnd, rnd.chance(0.8));
    case 12:
      return rnd.pick<Packet>([
        { type: PacketType.PINGREQ },
        { type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0 }] },
        { type: PacketType.CONNECT, clientId: 'x', keepAlive: 0, cleanStart: true },
      ]);
    default:
      return { type: PacketType.PUBLISH, topic: 'fz/a', payload: Buffer.alloc(1), qos: 1, retain: false, dup: false, packetId: rnd.range(1, 0xffff) };
  }
}

/** One fuzz input: valid packet (55 %), mutated packet (35 %) or random bytes (10 %). */
function serverInput(rnd: Random, view: ClientView): Buffer {
  const r = rnd.next();
  if (r < 0.1) return randomBytes(rnd);
  const p = encodePacket(serverPacket(rnd, view));
  if (r < 0.65) return p;
  return mutate(p, encodePacket(serverPacket(rnd, view)), rnd, 4096).bytes;
}

/** Follows the client's packets on one connection. */
class ServerSide {
  readonly view: ClientView = { publishIds: [], qos2Ids: [], requestIds: [], pubrecIds: [], topicAliasMaximum: 0 };
  connectSeen = false;
  private readonly decoder = new PacketDecoder();
  private onConnect: (() => void) | undefined;

  constructor(
    readonly socket: Duplex,
    private readonly violation: (v: string) => void,
    private readonly echoAcks: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.feed(chunk, (p) => this.onPacket(p));
      } catch (err) {
        this.violation(`the client sent bytes our decoder rejects: ${(err as Error).message}`);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  }

  /** Resolves when CONNECT arrived (or never, if the connection closes first: the caller races 'close'). */
  connected(): Promise<void> {
    if (this.connectSeen) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.onConnect = resolve;
    });
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  private onPacket(p: Packet): void {
    switch (p.type) {
      case PacketType.CONNECT:
        if (this.connectSeen) this.violation('the client sent a second CONNECT on one connection');
        this.connectSeen = true;
        this.view.topicAliasMaximum = p.properties?.topicAliasMaximum ?? 0;
        this.onConnect?.();
        return;
      case PacketType.PUBLISH:
        if (p.qos === 1) this.view.publishIds.push(p.packetId!);
        if (p.qos === 2) this.view.qos2Ids.push(p.packetId!);
        if (this.echoAcks) {
          if (p.qos === 1) this.send(encodePacket({ type: PacketType.PUBACK, packetId: p.packetId! }));
          if (p.qos === 2) this.send(encodePacket({ type: PacketType.PUBREC, packetId: p.packetId! }));
        }
        return;
      case PacketType.PUBREL:
        if (this.echoAcks) this.send(encodePacket({ type: PacketType.PUBCOMP, packetId: p.packetId }));
        return;
      case PacketType.SUBSCRIBE:
        this.view.requestIds.push({ id: p.packetId, type: p.type, count: p.subscriptions.length });
        if (this.echoAcks) this.send(encodePacket({ type: PacketType.SUBACK, packetId: p.packetId, reasonCodes: p.subscriptions.map((s) => s.qos) }));
        return;
      case PacketType.UNSUBSCRIBE:
        this.view.requestIds.push({ id: p.packetId, type: p.type, count: p.topicFilters.length });
        if (this.echoAcks) this.send(encodePacket({ type: PacketType.UNSUBACK, packetId: p.packetId, reasonCodes: p.topicFilters.map(() => 0) }));
        return;
      case PacketType.PINGREQ:
        if (this.echoAcks) this.send(encodePacket({ type: PacketType.PINGRESP }));
        return;
      case PacketType.DISCONNECT: {
        const code = p.reasonCode ?? 0;
        if (!isReasonCodeAllowed(PacketType.DISCONNECT, code)) this.violation(`the client sent DISCONNECT with reason code 0x${code.toString(16)}`);
        return;
      }
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBCOMP:
      case PacketType.AUTH:
        return;
      default:
        this.violation(`the client sent packet type ${p.type}, which only servers send`);
    }
  }
}

/** Runs the client fuzzer (never throws on findings: they are in `violations`). */
export async function runClientFuzz(o: ClientFuzzOptions): Promise<ClientFuzzReport> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const report: ClientFuzzReport = {
    seed: o.seed,
    inputs: 0,
    connections: 0,
    reconnects: 0,
    errorTypes: {},
    operations: 0,
    heapBefore: 0,
    heapAfter: 0,
    violations: [],
    elapsedMs: 0,
  };
  const violation = (v: string): void => {
    if (report.violations.length < 20) report.violations.push(`[client ${o.transport ?? 'tcp'} seed=${o.seed} episode=${report.connections - 1}] ${v}`);
  };
  const noteError = (where: string, err: unknown): void => {
    if (!(err instanceof MqttClientError)) {
      violation(`${where}: untyped error ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      return;
    }
    if (!Number.isInteger(err.reasonCode)) violation(`${where}: ${err.name} without a reason code`);
    report.errorTypes[err.name] = (report.errorTypes[err.name] ?? 0) + 1;
  };

  // The fake server. Episodes run one at a time: the client has one connection at a time. Connection 0
  // (so that connect() succeeds) and the ones after the fuzz are well behaved; the others are episodes.
  const firstEpisode = o.caseIndex ?? 0;
  let fuzzing = true;
  const sockets = new Set<Duplex>();
  const onConnection = (socket: Duplex): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const index = report.connections++;
    if (index === 0 || !fuzzing) {
      const side = new ServerSide(socket, violation, true);
      // The CONNACKs after the fuzz carry a marker, so that the test can tell them from an episode's.
      const properties = index === 0 ? undefined : { userProperties: [FINAL_MARK] };
      void side.connected().then(() => side.send(encodePacket({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0, properties })));
      return;
    }
    void runEpisode(socket, firstEpisode + index - 1);
  };
  const runEpisode = async (socket: Duplex, index: number): Promise<void> => {
    const rnd = new Random(caseSeed(o.seed ^ 0xc1e7, index));
    const side = new ServerSide(socket, violation, rnd.chance(0.5));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await Promise.race([side.connected(), closed]);
    if (socket.destroyed) return;
    const first = rnd.next();
    if (first < 0.05) {
      side.send(encodePacket(connack(rnd, false)));
    } else if (first < 0.15) {
      side.send(mutate(encodePacket(connack(rnd, true)), encodePacket(serverPacket(rnd, side.view)), rnd, 4096).bytes);
      report.inputs++;
    } else {
      side.send(encodePacket(connack(rnd, true)));
    }
    const burst = rnd.range(1, 8);
    for (let i = 0; i < burst && !socket.destroyed; i++) {
      side.send(serverInput(rnd, side.view));
      report.inputs++;
      // Let the client act between inputs (its publishes and acks give later inputs real identifiers).
      if (rnd.chance(0.5)) await new Promise<void>((r) => setImmediate(r));
    }
    switch (rnd.int(3)) {
      case 0:
        socket.destroy();
        break;
      case 1:
        socket.end();
        break;
      default:
        // Leave it to the client (it fails the connection on a protocol error) or to the short deadline.
        break;
    }
    const deadline = setTimeout(() => socket.destroy(), 50);
    await closed;
    clearTimeout(deadline);
  };
  // The listener: plain TCP, or WebSocket with the `ws` package (its stream adapter is a Duplex too).
  const transport = o.transport ?? 'tcp';
  const httpServer = transport === 'ws' ? http.createServer() : undefined;
  const server: net.Server = httpServer ?? net.createServer(onConnection);
  const wss =
    httpServer === undefined
      ? undefined
      : new WebSocketServer({ server: httpServer, path: '/mqtt', handleProtocols: (p: Set<string>) => (p.has('mqtt') ? 'mqtt' : false) });
  wss?.on('connection', (ws) => {
    const stream = createWebSocketStream(ws);
    stream.on('error', () => undefined);
    onConnection(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  const connection = transport === 'tcp' ? new TcpConnection({ host: '127.0.0.1', port }) : new WebSocketConnection({ url: `ws://127.0.0.1:${port}/mqtt` });
  const client = new MqttClient(connection, {
    initialReconnectDelay: 1,
    maxReconnectDelay: 5,
    reconnectJitter: 0,
    connectTimeout: 1000,
    pingTimeout: 200,
    maxPendingPublishes: 100,
  });
  client.on('error', (err) => violation(`'error' event: ${err.name}: ${err.message}`));
  client.on('disconnected', (err) => noteError('disconnected', err));
  client.on('reconnecting', (info) => noteError('reconnecting', info.error));
  client.on('reconnected', () => report.reconnects++);
  client.on('resubscribed', (r) => {
    if (r.error !== undefined) noteError('resubscribed', r.error);
  });

  const pending = new Set<Promise<unknown>>();
  const track = (where: string, p: Promise<unknown>): void => {
    report.operations++;
    const q = p.then(
      () => undefined,
      (err: unknown) => noteError(where, err),
    );
    pending.add(q);
    void q.finally(() => pending.delete(q));
  };
  const receiver = new MessageReceiver({ capacity: 16 });
  // Drain the receiver as an application would; ends when the receiver closes.
  const reading = (async () => {
    for await (const m of receiver) void (m satisfies MqttMessage);
  })();
  let heapBefore = 0;
  let heapAfter = 0;
  try {
    await client.connect({ clientId: `fuzz-client-${o.seed}`, keepAlive: 1, cleanStart: true, properties: { sessionExpiryInterval: 60, topicAliasMaximum: 4, receiveMaximum: 10 } });
    // Cut the well-behaved first connection: from now on every connection is a fuzz episode.
    for (const s of sockets) s.destroy();
    const rnd = new Random(o.seed ^ 0xa11ce);
    let n = 0;
    let nextLog = 5000;
    const target = o.caseIndex === undefined ? o.inputs : 1;
    // The heap baseline is taken once the code paths are warm (JIT code lives on the heap too).
    const warmUp = o.caseIndex === undefined ? Math.min(1000, Math.floor(target / 5)) : 0;
    if (warmUp === 0) heapBefore = await settledHeapUsed();
    // Watchdog: the fuzz must keep moving (every episode ends within its deadline and the client
    // reconnects within milliseconds). A client that stops reconnecting is a finding, not a hang.
    let lastInputs = -1;
    let lastProgress = Date.now();
    // The application loop: a bounded number of operations outstanding, one batch per turn.
    while (report.inputs < target && (o.caseIndex === undefined || report.connections < 3)) {
      if (report.inputs !== lastInputs) {
        lastInputs = report.inputs;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > STALL_MS) {
        violation(`no progress for ${STALL_MS} ms: the client is stuck in state '${client.state}' after ${report.connections} connections`);
        break;
      }
      if (pending.size < 24) {
        const r = rnd.next();
        if (r < 0.7) track('publish', client.publish({ topic: `fz/${n % 5}`, payload: rnd.bytes(rnd.pick([0, 10, 300])), qos: rnd.int(3) as QoS, retain: rnd.chance(0.05) }));
        else if (r < 0.8) track('subscribe', client.subscribe({ subscriptions: [{ topicFilter: rnd.pick(['fz/#', 'fz/+', '$share/g/fz/a']), qos: rnd.int(3) as QoS }], properties: rnd.chance(0.3) ? { subscriptionIdentifier: rnd.range(1, 5) } : undefined }, rnd.chance(0.5) ? receiver : () => undefined));
        else if (r < 0.85) track('unsubscribe', client.unsubscribe({ topicFilters: [rnd.pick(['fz/#', 'fz/+'])] }));
        n++;
      }
      // Yield to I/O: wait for the next operation to settle (bounded by the client's own timeouts) or a timer turn.
      await Promise.race([...pending, new Promise<void>((r) => setTimeout(r, 1))]);
      if (heapBefore === 0 && report.inputs >= warmUp) heapBefore = await settledHeapUsed();
      if (report.inputs >= nextLog) {
        log(`  client: ${report.inputs} inputs, ${report.connections} connections`);
        nextLog += 5000;
      }
    }
    // The fuzz is over: the next connection is well behaved. The client must reconnect and work.
    fuzzing = false;
    let onFinal: ((ack: ConnackPacket) => void) | undefined;
    const reconnected = new Promise<void>((resolve) => {
      onFinal = (ack) => {
        if (ack.properties?.userProperties?.some(([k, v]) => k === FINAL_MARK[0] && v === FINAL_MARK[1])) resolve();
      };
      client.on('connected', onFinal);
    });
    for (const s of sockets) s.destroy();
    await withDeadline(reconnected, 5000, 'the client to reconnect to the well-behaved server after the fuzz');
    client.off('connected', onFinal!);
    await withDeadline(client.publish({ topic: 'fz/final', payload: 'ok', qos: 1 }), 5000, 'a QoS 1 publish after the fuzz');
    await client.disconnect();
    // A receiver whose subscriptions all ended is not closed by the client: close it (idempotent).
    receiver.close();
    // Everything the client returned must have settled (rejections are typed: checked as they come).
    await withDeadline(Promise.all([...pending]), 5000, 'every client promise to settle');
    await withDeadline(reading, 5000, 'the receiver iteration to end');
    if (client.state !== 'closed') violation(`client state ${client.state} after disconnect()`);
    if (client.pendingCount !== 0) violation(`${client.pendingCount} publishes still pending after disconnect()`);
    heapAfter = await settledHeapUsed();
  } catch (err) {
    violation(`run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await client.disconnect().catch(() => undefined);
  } finally {
    for (const s of sockets) s.destroy();
    if (wss !== undefined) await new Promise<void>((resolve) => wss.close(() => resolve()));
    httpServer?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  report.heapBefore = heapBefore;
  report.heapAfter = heapAfter;
  report.elapsedMs = Date.now() - started;
  return report;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
