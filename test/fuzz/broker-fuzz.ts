/**
 * The broker fuzzer: each case opens a connection (TCP or WebSocket), writes a crafted byte stream in
 * random splits, and checks the broker's answer:
 *
 * - every byte the broker sends decodes, and is a packet a server may send, in a legal order
 *   (CONNACK first; nothing after a refusing CONNACK; DISCONNECT reason codes ≥ 0x80 and allowed);
 * - the connection ends (no hang) once the case is over;
 * - where the verdict is known, it is exact: bytes our (separately tested) decoder rejects with code X
 *   get CONNACK X before acceptance or DISCONNECT X after (0x82 where the packet type cannot carry X);
 *   a packet other than CONNECT first gets CONNACK 0x82; out-of-order sequences get the reason code
 *   the spec dictates; and a stream of benign packets keeps the connection open (a PINGREQ sentinel
 *   at the end must be answered).
 *
 * Case kinds: a mutated packet after a valid CONNECT (and benign packets), a mutated CONNECT, random
 * bytes, valid packets out of order, and (WebSocket only) a text frame. A quarter of the mutated and
 * random cases speak MQTT 3.1.1 or 3.1 (`…311` kinds): there the broker's bytes are decoded at that
 * level, a malformed packet must close the connection without a word (3.1.1 has no DISCONNECT from the
 * server, and a CONNACK return code only for a rejected identifier: 0x02), and nothing v5-only may come. Every case draws from its own
 * seeded generator derived from (seed, case index): `--seed S --case I` replays one case.
 */
import net from 'node:net';
import { WebSocket } from 'ws';
import {
  PacketDecoder,
  PacketType,
  UnsupportedProtocolError,
  isReasonCodeAllowed,
  type Packet,
} from '../../lib/codec/index.js';
import { Random } from '../helpers/prng.js';
import { anyPacket, benignPacket, connectPacket, connectPacket311, encode, encode311, outOfOrderSequence, type BrokerShape } from './corpus.js';
import { mutate, randomBytes } from './mutate.js';

/** Where the broker listens and what it allows. */
export interface BrokerTarget {
  tcpPort?: number;
  wsUrl?: string;
  shape: BrokerShape;
}

/** Options of one fuzz run. */
export interface BrokerFuzzOptions {
  target: BrokerTarget;
  transport: 'tcp' | 'ws';
  seed: number;
  /** Stop after this many inputs (fuzzed packets) … */
  inputs: number;
  /** … or after this case index when replaying (`firstCase`..`lastCase`). */
  firstCase?: number;
  lastCase?: number;
  /** Connections in parallel; default 32. */
  concurrency?: number;
  /** How long a case may wait for the broker (answer, close); default 5000 ms. */
  caseTimeoutMs?: number;
  /** Stop at the first violation (default false: collect up to 20). */
  failFast?: boolean;
  /** Called every 1000 cases. */
  onProgress?: (report: BrokerFuzzReport) => void;
}

/** Outcome of a run. */
export interface BrokerFuzzReport {
  transport: 'tcp' | 'ws';
  seed: number;
  cases: number;
  inputs: number;
  /** Cases whose reason code was known in advance and checked exactly. */
  exactChecked: number;
  /** Cases that had to stay open and did (sentinel answered). */
  openChecked: number;
  /** Cases cut short by a session takeover (0x8E) from another fuzz connection. */
  preempted: number;
  /** Reason codes of the broker's refusals and DISCONNECTs, by `CONNACK 0x81`-style label. */
  answers: Record<string, number>;
  /** Violations (with seed and case index for replay). At most 20 are kept. */
  violations: string[];
  elapsedMs: number;
}

/** The MQTT 3.1/3.1.1 CONNACK "unacceptable protocol version", the answer to a 3.x CONNECT. */
const CONNACK_V3_REFUSAL = '20020001';

type Expectation =
  | { kind: 'exact'; packet: typeof PacketType.CONNACK | typeof PacketType.DISCONNECT; code: number; why: string }
  /** A 3.1/3.1.1 CONNECT: exactly the 3.x CONNACK refusing the version (a v5 CONNACK would not parse there). */
  | { kind: 'v3refusal' }
  /** MQTT 3.1.1/3.1: the connection is closed without anything more from the broker (no DISCONNECT in 3.1.1). */
  | { kind: 'silentClose'; why: string }
  /** MQTT 3.1.1/3.1: exactly CONNACK return code 0x02 (identifier rejected), then the close. */
  | { kind: 'v3identifier' }
  | { kind: 'open' }
  | { kind: 'any' };

interface FuzzCase {
  index: number;
  kind: string;
  chunks: Buffer[];
  /** A text frame after the chunks (WebSocket only). */
  textFrame: boolean;
  inputs: number;
  expect: Expectation;
  /** The stream ends with a complete packet (so that the sentinel can be answered or the broker acts). */
  complete: boolean;
  /** The protocol level the broker speaks to this connection (from the CONNECT it will decode). */
  level: 3 | 4 | 5;
}

const SENTINEL = encode({ type: PacketType.PINGREQ });

/** Derives the seed of case `index` from the run seed (splitmix-style), so that any case replays alone. */
export function caseSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function mapCode(packet: number, code: number): number {
  return isReasonCodeAllowed(packet, code) ? code : 0x82;
}

/**
 * The verdict our decoder gives on the whole client stream, when only `prefix` packets (valid and benign)
 * precede the fuzzed part: the exact reason code the broker must answer with, or 'any'.
 */
function oracle(stream: Buffer, prefix: number, connected: boolean, maxPacketSize: number): { expect: Expectation; complete: boolean; level: 3 | 4 | 5 } {
  // The broker detects the level from the CONNECT: so does the oracle.
  const decoder = new PacketDecoder({ maximumPacketSize: maxPacketSize, protocolVersion: 'detect' });
  const packets: Packet[] = [];
  let error: number | undefined;
  let v3 = false;
  try {
    decoder.feed(stream, (p) => packets.push(p));
  } catch (err) {
    error = (err as { reasonCode?: number }).reasonCode ?? 0x81;
    v3 = err instanceof UnsupportedProtocolError && (err.protocolVersion === 3 || err.protocolVersion === 4);
  }
  const level = decoder.protocolVersion ?? 5;
  // The sentinel PINGREQ can be answered only if it is a packet of its own: the bytes before it must
  // end on a packet boundary (a mutated length may swallow it as the tail of another packet).
  let complete = error === undefined && !decoder.hasPartialPacket;
  if (complete) {
    const before = new PacketDecoder({ maximumPacketSize: maxPacketSize, protocolVersion: 'detect' });
    try {
      before.feed(stream.subarray(0, stream.length - SENTINEL.length), () => undefined);
      complete = !before.hasPartialPacket;
    } catch {
      complete = false;
    }
  }
  const verdict = (expect: Expectation): { expect: Expectation; complete: boolean; level: 3 | 4 | 5 } => ({ expect, complete, level });
  if (packets.length < prefix) {
    // The fuzzed part ate into the prefix: cannot happen (prefix comes first), but stay safe.
    return verdict({ kind: 'any' });
  }
  if (!connected) {
    // Nothing accepted yet: the first packet decides.
    if (packets.length === 0 && v3) return verdict({ kind: 'v3refusal' });
    if (packets.length === 0 && error !== undefined && level !== 5) {
      return verdict(error === 0x85 ? { kind: 'v3identifier' } : { kind: 'silentClose', why: `decoder 0x${error.toString(16)} on a ${level === 4 ? '3.1.1' : '3.1'} CONNECT` });
    }
    if (packets.length === 0 && error !== undefined) {
      return verdict({ kind: 'exact', packet: PacketType.CONNACK, code: mapCode(PacketType.CONNACK, error), why: `decoder 0x${error.toString(16)} on the first packet` });
    }
    if (packets.length > 0 && packets[0]!.type !== PacketType.CONNECT) {
      return verdict({ kind: 'exact', packet: PacketType.CONNACK, code: 0x82, why: `packet type ${packets[0]!.type} before CONNECT` });
    }
    return verdict({ kind: 'any' });
  }
  if (packets.length === prefix && error !== undefined) {
    if (level !== 5) return verdict({ kind: 'silentClose', why: `decoder 0x${error.toString(16)} after a ${level === 4 ? '3.1.1' : '3.1'} CONNECT` });
    return verdict({ kind: 'exact', packet: PacketType.DISCONNECT, code: mapCode(PacketType.DISCONNECT, error), why: `decoder 0x${error.toString(16)}` });
  }
  return verdict({ kind: 'any' });
}

/** Splits `bytes` into 1–4 writes at random points (or none: one write). */
function split(bytes: Buffer, rnd: Random): Buffer[] {
  if (bytes.length < 2 || rnd.chance(0.5)) return [bytes];
  const cuts = new Set<number>();
  const n = rnd.range(1, 3);
  for (let i = 0; i < n; i++) cuts.add(rnd.range(1, bytes.length - 1));
  const points = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** Builds case `index` of a run. */
export function buildCase(seed: number, index: number, transport: 'tcp' | 'ws', shape: BrokerShape): FuzzCase {
  const rnd = new Random(caseSeed(seed, index));
  const clientId = `fz-${seed.toString(36)}-${index.toString(36)}`;
  const max = shape.maximumPacketSize;
  const roll = rnd.next();
  const parts: Buffer[] = [];
  let kind: string;
  let inputs = 1;
  let expect: Expectation;
  let complete: boolean;
  let textFrame = false;
  let level: 3 | 4 | 5 = 5;
  if (roll < 0.72 && rnd.chance(0.25)) {
    // MQTT 3.1.1 (or 3.1): a valid CONNECT at that level, benign packets, then a mutated packet or random bytes.
    const v: 3 | 4 = rnd.chance(0.25) ? 3 : 4;
    kind = roll < 0.45 ? 'mutated311' : roll < 0.6 ? 'mutatedConnect311' : 'random311';
    const connect = encode311(connectPacket311(rnd, clientId, v), v, () => connectPacket311(rnd, clientId, v));
    const sentinel = SENTINEL; // PINGREQ: the same two bytes at every level
    if (kind === 'mutatedConnect311') {
      parts.push(mutate(connect, encode311(anyPacket(rnd, shape, clientId), v, () => anyPacket(rnd, shape, clientId)), rnd, max).bytes);
    } else {
      parts.push(connect);
      const prefix = rnd.int(3);
      for (let i = 0; i < prefix; i++) parts.push(encode311(benignPacket(rnd, shape, rnd.range(1, 0xffff)), v, () => benignPacket(rnd, shape, rnd.range(1, 0xffff))));
      if (kind === 'mutated311') {
        const seedPacket = encode311(anyPacket(rnd, shape, clientId), v, () => anyPacket(rnd, shape, clientId));
        const other = encode311(anyPacket(rnd, shape, clientId), v, () => anyPacket(rnd, shape, clientId));
        parts.push(mutate(seedPacket, other, rnd, max).bytes);
      } else {
        parts.push(randomBytes(rnd));
      }
      parts.push(sentinel);
      ({ expect, complete, level } = oracle(Buffer.concat(parts), 1 + prefix, true, max));
      const stream = Buffer.concat(parts);
      return { index, kind, chunks: split(stream, rnd), textFrame, inputs, expect, complete, level };
    }
    parts.push(sentinel);
    ({ expect, complete, level } = oracle(Buffer.concat(parts), 0, false, max));
  } else if (roll < 0.45 || (roll >= 0.97 && transport === 'tcp')) {
    kind = 'mutated';
    parts.push(encode(connectPacket(rnd, clientId)));
    const prefix = rnd.int(3);
    for (let i = 0; i < prefix; i++) parts.push(encode(benignPacket(rnd, shape, rnd.range(1, 0xffff))));
    const seedPacket = encode(anyPacket(rnd, shape, clientId));
    const other = encode(anyPacket(rnd, shape, clientId));
    parts.push(mutate(seedPacket, other, rnd, max).bytes);
    parts.push(SENTINEL);
    ({ expect, complete, level } = oracle(Buffer.concat(parts), 1 + prefix, true, max));
  } else if (roll < 0.6) {
    kind = 'mutatedConnect';
    const connect = encode(connectPacket(rnd, clientId));
    parts.push(mutate(connect, encode(anyPacket(rnd, shape, clientId)), rnd, max).bytes);
    if (rnd.chance(0.5)) parts.push(encode(benignPacket(rnd, shape, rnd.range(1, 0xffff))));
    parts.push(SENTINEL);
    ({ expect, complete, level } = oracle(Buffer.concat(parts), 0, false, max));
  } else if (roll < 0.72) {
    kind = 'random';
    const connected = rnd.chance(0.6);
    if (connected) parts.push(encode(connectPacket(rnd, clientId)));
    parts.push(randomBytes(rnd));
    parts.push(SENTINEL);
    ({ expect, complete, level } = oracle(Buffer.concat(parts), connected ? 1 : 0, connected, max));
  } else {
    kind = 'sequence';
    const { steps, connects } = outOfOrderSequence(rnd, shape, clientId);
    let verdict: number | undefined;
    let why = '';
    for (const s of steps) {
      parts.push(s.bytes);
      if (verdict === undefined && s.verdict !== undefined) {
        verdict = s.verdict;
        why = s.label;
      }
    }
    inputs = steps.length;
    parts.push(SENTINEL);
    complete = true;
    expect =
      verdict === undefined
        ? { kind: 'open' }
        : { kind: 'exact', packet: connects ? PacketType.DISCONNECT : PacketType.CONNACK, code: verdict, why };
    if (transport === 'ws' && roll >= 0.97 && verdict === undefined) {
      // MQTT-6.0.0-1: a text frame closes the connection; no DISCONNECT is owed.
      kind = 'textFrame';
      textFrame = true;
      expect = { kind: 'any' };
    }
  }
  const stream = Buffer.concat(parts);
  return { index, kind, chunks: split(stream, rnd), textFrame, inputs, expect, complete, level };
}

/** What one connection saw. */
interface Outcome {
  /** The broker's bytes as received (kept for the 3.x refusal, which is not a v5 packet). */
  raw: Buffer[];
  packets: Packet[];
  decodeError: string | undefined;
  timedOut: string | undefined;
  /** Client-side transport error other than a reset after the broker closed. */
  transportError: string | undefined;
}

/** A minimal duplex view of a TCP socket or a WebSocket for the fuzzer. */
interface Wire {
  write(chunk: Buffer): void;
  text(s: string): void;
  end(): void;
  destroy(): void;
}

/** Runs one case on a fresh connection. */
function runCase(c: FuzzCase, target: BrokerTarget, transport: 'tcp' | 'ws', timeoutMs: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    // The broker answers in the level of the CONNECT it decoded.
    const decoder = new PacketDecoder({ protocolVersion: c.level });
    const out: Outcome = { raw: [], packets: [], decodeError: undefined, timedOut: undefined, transportError: undefined };
    const v3 = c.expect.kind === 'v3refusal' || c.expect.kind === 'v3identifier';
    let phase: 'connecting' | 'writing' | 'awaiting' | 'ending' = 'connecting';
    let finished = false;
    let wire: Wire;
    let timer: NodeJS.Timeout | undefined;

    const arm = (what: string): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => {
        out.timedOut = what;
        wire.destroy();
      }, timeoutMs);
    };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(out);
    };
    const endNow = (): void => {
      if (phase === 'ending') return;
      phase = 'ending';
      arm('the broker to close the connection after our FIN');
      wire.end();
    };
    const onBytes = (chunk: Buffer): void => {
      if (out.raw.length < 64) out.raw.push(chunk);
      // A 3.x refusal is checked byte for byte, not decoded as v5.
      if (v3 || out.decodeError !== undefined) return;
      try {
        decoder.feed(chunk, (p) => {
          out.packets.push(p);
          if (phase === 'awaiting' && p.type === PacketType.PINGRESP) endNow();
        });
      } catch (err) {
        out.decodeError = (err as Error).message;
      }
    };
    const writeAll = async (): Promise<void> => {
      phase = 'writing';
      for (let i = 0; i < c.chunks.length; i++) {
        if (finished) return;
        wire.write(c.chunks[i]!);
        // Separate writes in separate turns: separate segments/frames, exercising the decoder's splits.
        if (i + 1 < c.chunks.length) await new Promise<void>((r) => setImmediate(r));
      }
      if (c.textFrame) wire.text('not mqtt');
      if (finished) return;
      if (c.expect.kind === 'silentClose') {
        // The broker must close on its own: no FIN from us to prompt it.
        phase = 'awaiting';
        arm(`the broker to close the connection (${c.expect.why})`);
      } else if (c.complete && !c.textFrame) {
        phase = 'awaiting';
        arm('the broker to answer the sentinel PINGREQ or close');
        // A PINGRESP that already came (all in one read) ends the case now.
        if (out.packets.some((p) => p.type === PacketType.PINGRESP)) endNow();
      } else {
        endNow();
      }
    };

    arm('the connection to open');
    if (transport === 'tcp') {
      const socket = net.connect({ port: target.tcpPort!, host: '127.0.0.1', noDelay: true });
      wire = {
        write: (b) => socket.write(b),
        text: () => undefined,
        end: () => socket.end(),
        destroy: () => socket.destroy(),
      };
      socket.on('connect', () => void writeAll());
      socket.on('data', onBytes);
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // A reset after the broker closed on us (it discards, then destroys after its grace) is normal.
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') out.transportError = err.message;
      });
      socket.on('close', finish);
    } else {
      const ws = new WebSocket(target.wsUrl!, 'mqtt');
      wire = {
        write: (b) => ws.readyState === WebSocket.OPEN && ws.send(b, { binary: true }),
        text: (s) => ws.readyState === WebSocket.OPEN && ws.send(s, { binary: false }),
        end: () => ws.close(1000),
        destroy: () => ws.terminate(),
      };
      ws.on('open', () => void writeAll());
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) out.decodeError = 'the broker sent a text frame';
        else onBytes(data);
      });
      ws.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') out.transportError = err.message;
      });
      ws.on('close', finish);
    }
  });
}

const SERVER_TYPES = new Set<number>([
  PacketType.CONNACK,
  PacketType.PUBLISH,
  PacketType.PUBACK,
  PacketType.PUBREC,
  PacketType.PUBREL,
  PacketType.PUBCOMP,
  PacketType.SUBACK,
  PacketType.UNSUBACK,
  PacketType.PINGRESP,
  PacketType.DISCONNECT,
  PacketType.AUTH,
]);

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

/** Checks one outcome; returns a violation message or undefined, and records answers. */
function check(c: FuzzCase, o: Outcome, report: BrokerFuzzReport): string | undefined {
  if (o.timedOut !== undefined) return `timed out waiting for ${o.timedOut} (received ${o.packets.map((p) => p.type).join(',')})`;
  if (o.transportError !== undefined) return `transport error: ${o.transportError}`;
  if (c.expect.kind === 'v3refusal') {
    const got = Buffer.concat(o.raw).toString('hex');
    if (got !== CONNACK_V3_REFUSAL) return `expected the 3.1.1 CONNACK ${CONNACK_V3_REFUSAL} to a 3.x CONNECT, got ${got || 'nothing'}`;
    report.answers['CONNACK 3.x 0x01'] = (report.answers['CONNACK 3.x 0x01'] ?? 0) + 1;
    report.exactChecked++;
    return undefined;
  }
  if (c.expect.kind === 'v3identifier') {
    const got = Buffer.concat(o.raw).toString('hex');
    if (got !== '20020002') return `expected the 3.1.1 CONNACK 20020002 (identifier rejected), got ${got || 'nothing'}`;
    report.answers['CONNACK 3.x 0x02'] = (report.answers['CONNACK 3.x 0x02'] ?? 0) + 1;
    report.exactChecked++;
    return undefined;
  }
  if (o.decodeError !== undefined) return `broker sent bytes our decoder rejects${c.level === 5 ? '' : ` at level ${c.level}`}: ${o.decodeError}`;
  if (c.level !== 5) return check311(c, o, report);
  let refusal: { packet: number; code: number } | undefined;
  let sawConnack = false;
  let sawPingresp = false;
  for (let i = 0; i < o.packets.length; i++) {
    const p = o.packets[i]!;
    if (!SERVER_TYPES.has(p.type)) return `broker sent packet type ${p.type}, which only clients send`;
    if (i === 0 && p.type !== PacketType.CONNACK) return `first packet from the broker is type ${p.type}, not CONNACK`;
    if (refusal !== undefined) return `broker sent type ${p.type} after ${refusal.packet === PacketType.CONNACK ? 'CONNACK' : 'DISCONNECT'} ${hex(refusal.code)}`;
    if (p.type === PacketType.CONNACK) {
      if (sawConnack) return 'broker sent a second CONNACK';
      sawConnack = true;
      if (!isReasonCodeAllowed(PacketType.CONNACK, p.reasonCode)) return `CONNACK with reason code ${hex(p.reasonCode)} not allowed there`;
      if (p.reasonCode >= 0x80) refusal = { packet: PacketType.CONNACK, code: p.reasonCode };
    } else if (p.type === PacketType.DISCONNECT) {
      const code = p.reasonCode ?? 0;
      if (code < 0x80 || !isReasonCodeAllowed(PacketType.DISCONNECT, code)) return `server DISCONNECT with reason code ${hex(code)}`;
      refusal = { packet: PacketType.DISCONNECT, code };
    } else if (p.type === PacketType.PINGRESP) {
      sawPingresp = true;
    }
  }
  if (refusal !== undefined) {
    const label = `${refusal.packet === PacketType.CONNACK ? 'CONNACK' : 'DISCONNECT'} ${hex(refusal.code)}`;
    report.answers[label] = (report.answers[label] ?? 0) + 1;
    if (refusal.code === 0x83) return `broker answered ${label} (implementation error: a bug in the broker)`;
  }
  if (refusal?.packet === PacketType.DISCONNECT && refusal.code === 0x8e) {
    report.preempted++;
    return undefined;
  }
  const e = c.expect;
  if (e.kind === 'exact') {
    const want = `${e.packet === PacketType.CONNACK ? 'CONNACK' : 'DISCONNECT'} ${hex(e.code)}`;
    if (refusal === undefined || refusal.packet !== e.packet || refusal.code !== e.code) {
      const got = refusal === undefined ? 'no refusal' : `${refusal.packet === PacketType.CONNACK ? 'CONNACK' : 'DISCONNECT'} ${hex(refusal.code)}`;
      return `expected ${want} (${e.why}), got ${got}`;
    }
    report.exactChecked++;
  } else if (e.kind === 'open') {
    if (refusal !== undefined) return `a benign sequence was refused with ${refusal.packet === PacketType.CONNACK ? 'CONNACK' : 'DISCONNECT'} ${hex(refusal.code)}`;
    if (!sawPingresp) return 'a benign sequence got no PINGRESP for the sentinel PINGREQ';
    report.openChecked++;
  }
  return undefined;
}

/** {@link check} for an MQTT 3.1.1/3.1 connection: CONNACK first, never a DISCONNECT or an AUTH, the expected close. */
function check311(c: FuzzCase, o: Outcome, report: BrokerFuzzReport): string | undefined {
  let refused = false;
  for (let i = 0; i < o.packets.length; i++) {
    const p = o.packets[i]!;
    if (!SERVER_TYPES.has(p.type)) return `broker sent packet type ${p.type}, which only clients send`;
    if (p.type === PacketType.DISCONNECT || p.type === PacketType.AUTH) return `broker sent ${p.type === PacketType.AUTH ? 'AUTH' : 'DISCONNECT'} to an MQTT ${c.level === 4 ? '3.1.1' : '3.1'} client`;
    if (i === 0 && p.type !== PacketType.CONNACK) return `first packet from the broker is type ${p.type}, not CONNACK`;
    if (refused) return `broker sent type ${p.type} after a refusing CONNACK`;
    if (p.type === PacketType.CONNACK) {
      if (i !== 0) return 'broker sent a second CONNACK';
      if (p.reasonCode !== 0) {
        refused = true;
        const label = `CONNACK 3.x ${hex(p.reasonCode)}`;
        report.answers[label] = (report.answers[label] ?? 0) + 1;
      }
    }
  }
  const e = c.expect;
  if (e.kind === 'silentClose') {
    // runCase waited for the broker to close (it sent no FIN): that it finished without a timeout is the check.
    report.answers['closed (3.x)'] = (report.answers['closed (3.x)'] ?? 0) + 1;
    report.exactChecked++;
  }
  return undefined;
}

/** Runs the broker fuzzer and resolves with its report (violations included; it does not throw on them). */
export async function fuzzBroker(o: BrokerFuzzOptions): Promise<BrokerFuzzReport> {
  const started = Date.now();
  const report: BrokerFuzzReport = {
    transport: o.transport,
    seed: o.seed,
    cases: 0,
    inputs: 0,
    exactChecked: 0,
    openChecked: 0,
    preempted: 0,
    answers: {},
    violations: [],
    elapsedMs: 0,
  };
  const concurrency = o.concurrency ?? 32;
  const timeoutMs = o.caseTimeoutMs ?? 5000;
  let next = o.firstCase ?? 0;
  const last = o.lastCase ?? Number.MAX_SAFE_INTEGER;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop && report.inputs < o.inputs && next <= last) {
      const c = buildCase(o.seed, next++, o.transport, o.target.shape);
      report.inputs += c.inputs;
      const outcome = await runCase(c, o.target, o.transport, timeoutMs);
      report.cases++;
      const v = check(c, outcome, report);
      if (v !== undefined) {
        if (report.violations.length < 20) {
          report.violations.push(`[${o.transport} seed=${o.seed} case=${c.index} kind=${c.kind}] ${v}; sent ${c.chunks.map((b) => b.toString('hex')).join(' | ')}`);
        }
        if (o.failFast === true) stop = true;
      }
      if (report.cases % 1000 === 0) o.onProgress?.({ ...report, elapsedMs: Date.now() - started });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  report.elapsedMs = Date.now() - started;
  return report;
}
