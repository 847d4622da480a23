/**
 * Streaming decoder: finds packet boundaries in a byte stream cut into arbitrary chunks and decodes each
 * packet. A packet lying wholly within a chunk is decoded in place (its PUBLISH payload is a view into the
 * chunk); only a packet split across chunks is assembled, into one buffer of its size, so every byte is
 * copied at most once (plus amortised growth for bodies above 64 KiB, see below).
 */
import { MqttProtocolError, UnsupportedProtocolError, malformed, protocolError } from './errors.js';
import { PacketType, type Packet, type ProtocolVersion } from './packets.js';
import { PacketParser, checkFirstByte } from './decode-packet.js';
import { Mqtt311PacketParser, protocolNameOf } from './decode-mqtt311.js';
import { MAX_PACKET_SIZE } from './wire.js';

/** Options of {@link PacketDecoder} and {@link decodePacket}. */
export interface DecoderOptions {
  /**
   * Largest packet accepted, in bytes including the fixed header (our Maximum Packet Size, spec 3.1.2.11.4).
   * A larger packet fails with MqttProtocolError 0x95 as soon as its fixed header is read, before any of its
   * body is buffered. Defaults to the protocol maximum, 268,435,460.
   */
  maximumPacketSize?: number;
  /**
   * The protocol level of the stream: 5 (the default), 4 (MQTT 3.1.1) or 3 (MQTT 3.1). A broker, which
   * learns the level only from the client's CONNECT, passes `'detect'`: the first packet must then be a
   * CONNECT (else MqttProtocolError 0x82, MQTT-3.1.0-1); its protocol name and level (`MQTT` 5, `MQTT` 4 or
   * `MQIsdp` 3) choose the wire form of that CONNECT and of every later packet, and
   * {@link PacketDecoder.protocolVersion} tells which — set even when that CONNECT then fails to decode,
   * so that the broker can answer it in a CONNACK the client reads. Any other name or level is an
   * UnsupportedProtocolError (0x84; 3.1.1 CONNACK return code 0x01). Not accepted by {@link decodePacket}.
   */
  protocolVersion?: ProtocolVersion | 'detect';
}

/** Callback receiving each decoded packet, in order. */
export type PacketHandler = (packet: Packet) => void;

/**
 * A split body is assembled into a buffer that starts at most this large and doubles as bytes arrive, so
 * that a peer announcing a huge packet cannot make us allocate it before sending it.
 */
const INITIAL_BODY_CAPACITY = 64 * 1024;

/** Where push()'s collector points between calls; never written to, since only push() feeds the collector. */
const NO_PACKETS: Packet[] = [];

function resolveMaximum(opts: DecoderOptions | undefined): number {
  const max = opts?.maximumPacketSize;
  if (max === undefined) return MAX_PACKET_SIZE;
  if (!Number.isInteger(max) || max < 2) throw new RangeError(`maximumPacketSize must be an integer ≥ 2, not ${max}`);
  return max;
}

function resolveVersion(v: DecoderOptions['protocolVersion']): ProtocolVersion | undefined {
  if (v === undefined) return 5;
  if (v === 'detect') return undefined;
  if (v !== 3 && v !== 4 && v !== 5) throw new RangeError(`protocolVersion must be 3, 4, 5 or 'detect', not ${String(v)}`);
  return v;
}

function parserFor(level: ProtocolVersion): PacketParser {
  return level === 5 ? new PacketParser() : new Mqtt311PacketParser(level);
}

/**
 * Reads the protocol name and level of the CONNECT body `buf[start, end)` without decoding the rest:
 * returns the level if it is one we speak, else throws UnsupportedProtocolError (or 0x81 if cut short).
 */
function connectLevel(buf: Buffer, start: number, end: number): ProtocolVersion {
  if (start + 2 > end) throw malformed('protocol name overruns the packet');
  const nameLen = (buf[start]! << 8) | buf[start + 1]!;
  const levelAt = start + 2 + nameLen;
  if (levelAt >= end) throw malformed('protocol level overruns the packet');
  const name = buf.toString('latin1', start + 2, start + 2 + Math.min(nameLen, 16));
  const level = buf[levelAt]!;
  if ((level === 3 || level === 4 || level === 5) && nameLen <= 16 && name === protocolNameOf(level)) return level;
  throw new UnsupportedProtocolError(name, level);
}

/**
 * The parser of a `'detect'` decoder until its CONNECT: reads the level, has the decoder switch to that
 * level's parser, and lets it parse the CONNECT. A parser of its own rather than a check in the decoder's
 * loop, so that the v5 hot path stays exactly as it was.
 */
class LevelDetector extends PacketParser {
  constructor(private readonly switchTo: (level: ProtocolVersion) => PacketParser) {
    super();
  }

  override parse(first: number, buf: Buffer, start: number, end: number): Packet {
    if (first >> 4 !== PacketType.CONNECT) throw protocolError('the first packet must be CONNECT (MQTT-3.1.0-1)');
    return this.switchTo(connectLevel(buf, start, end)).parse(first, buf, start, end);
  }
}

function tooLarge(size: number, max: number): MqttProtocolError {
  return new MqttProtocolError(0x95, `packet of ${size} bytes exceeds the maximum packet size of ${max} bytes`);
}

/**
 * Streaming MQTT decoder for one connection (v5 unless {@link DecoderOptions.protocolVersion} says otherwise). Feed it the received chunks in order; it yields complete
 * packets in order. Malformed input throws {@link MqttProtocolError} with the reason code to send in
 * DISCONNECT (or CONNACK); the decoder then stays failed and throws the same error on every later call,
 * since the connection must be closed.
 *
 * A decoded PUBLISH payload is a view into the received bytes: copy it before keeping it for long
 * (retained messages, offline queues) if the chunk is large.
 */
export class PacketDecoder {
  /** Largest packet accepted, fixed header included. */
  readonly maximumPacketSize: number;

  private failure: MqttProtocolError | undefined;
  private parser: PacketParser;
  // The level in use; undefined while waiting for the CONNECT that tells it ('detect').
  private level: ProtocolVersion | undefined;

  // A fixed header cut by a chunk boundary: bytes seen so far (0 = none) and what they said.
  private headerBytes = 0;
  private first = 0;
  private remaining = 0;
  private multiplier = 1;

  // A body cut by a chunk boundary, being assembled (undefined = none).
  private body: Buffer | undefined;
  private bodyFilled = 0;
  private bodyLength = 0;

  // Input not yet decoded because an onPacket callback threw; decoded before the next chunk.
  private stash: Buffer | undefined;
  private callbackThrew = false;

  // push() collects into this array through a handler made once, not per call.
  private collected: Packet[] = NO_PACKETS;
  private readonly collect: PacketHandler = (p) => {
    this.collected.push(p);
  };

  constructor(opts?: DecoderOptions) {
    this.maximumPacketSize = resolveMaximum(opts);
    this.level = resolveVersion(opts?.protocolVersion);
    this.parser =
      this.level !== undefined
        ? parserFor(this.level)
        : new LevelDetector((level) => {
            this.setProtocolVersion(level);
            return this.parser;
          });
  }

  /**
   * The protocol level being decoded: 3, 4 or 5, or undefined while a `'detect'` decoder has not yet
   * seen the CONNECT.
   */
  get protocolVersion(): ProtocolVersion | undefined {
    return this.level;
  }

  /**
   * Switches the wire form of the packets decoded from now on (e.g. a broker that decoded the CONNECT
   * with another decoder). Throws RangeError for a level other than 3, 4 or 5.
   */
  setProtocolVersion(level: ProtocolVersion): void {
    const v = resolveVersion(level);
    if (v === undefined) throw new RangeError(`protocolVersion must be 3, 4 or 5, not ${String(level)}`);
    if (v !== this.level) this.parser = parserFor(v);
    this.level = v;
  }

  /** The error that failed this decoder, if any. */
  get error(): MqttProtocolError | undefined {
    return this.failure;
  }

  /** Whether part of a packet is buffered, waiting for more bytes. */
  get hasPartialPacket(): boolean {
    return this.headerBytes !== 0 || this.body !== undefined || this.stash !== undefined;
  }

  /**
   * Decodes `chunk` and returns the packets it completes (possibly none). Throws MqttProtocolError on
   * malformed input; packets the same chunk completed before the error are then not returned — use
   * {@link feed} to receive them.
   */
  push(chunk: Buffer): Packet[] {
    const out: Packet[] = [];
    this.collected = out;
    try {
      this.feed(chunk, this.collect);
    } finally {
      this.collected = NO_PACKETS;
    }
    return out;
  }

  /**
   * Decodes `chunk`, calling `onPacket` for each packet it completes, in order. The hot path: no array.
   * Throws MqttProtocolError on malformed input. If `onPacket` throws, its error propagates and the
   * rest of the chunk is kept, to be decoded at the next call.
   */
  feed(chunk: Buffer, onPacket: PacketHandler): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.stash !== undefined) {
      chunk = Buffer.concat([this.stash, chunk]);
      this.stash = undefined;
    }
    try {
      this.run(chunk, onPacket);
    } catch (err) {
      if (this.callbackThrew) {
        this.callbackThrew = false;
        throw err;
      }
      throw this.fail(err);
    }
  }

  /** Records a decoding failure. Anything but an MqttProtocolError is a decoder bug: reported as 0x83, still fatal. */
  private fail(err: unknown): MqttProtocolError {
    this.failure =
      err instanceof MqttProtocolError
        ? err
        : new MqttProtocolError(0x83, `decoder failure: ${err instanceof Error ? err.message : String(err)}`);
    this.body = undefined;
    this.stash = undefined;
    this.parser.release();
    return this.failure;
  }

  private run(chunk: Buffer, onPacket: PacketHandler): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (this.body !== undefined) {
        pos = this.appendBody(chunk, pos);
        if (this.bodyFilled < this.bodyLength) return;
        const body = this.body;
        this.body = undefined;
        this.deliver(this.parser.parse(this.first, body, 0, this.bodyLength), onPacket, chunk, pos);
        continue;
      }

      // Fixed header: first byte, then the Remaining Length (spec 2.1.4), possibly resumed from the last chunk.
      let first: number;
      let remaining: number;
      let multiplier: number;
      let headerBytes: number;
      if (this.headerBytes === 0) {
        first = chunk[pos++]!;
        checkFirstByte(first);
        remaining = 0;
        multiplier = 1;
        headerBytes = 1;
      } else {
        first = this.first;
        remaining = this.remaining;
        multiplier = this.multiplier;
        headerBytes = this.headerBytes;
      }
      for (;;) {
        if (pos === len) {
          this.first = first;
          this.remaining = remaining;
          this.multiplier = multiplier;
          this.headerBytes = headerBytes;
          return;
        }
        const b = chunk[pos++]!;
        headerBytes++;
        remaining += (b & 0x7f) * multiplier;
        if (b < 0x80) {
          if (b === 0 && headerBytes > 2) throw malformed('Remaining Length is not in its shortest form');
          break;
        }
        if (headerBytes === 5) throw malformed('Remaining Length is longer than 4 bytes');
        multiplier *= 0x80;
      }
      this.headerBytes = 0;
      if (headerBytes + remaining > this.maximumPacketSize) throw tooLarge(headerBytes + remaining, this.maximumPacketSize);

      if (len - pos >= remaining) {
        // The whole body is here: decode in place.
        const end = pos + remaining;
        const packet = this.parser.parse(first, chunk, pos, end);
        pos = end;
        this.deliver(packet, onPacket, chunk, pos);
      } else {
        this.first = first;
        this.bodyLength = remaining;
        this.bodyFilled = 0;
        this.body = Buffer.allocUnsafe(Math.min(remaining, INITIAL_BODY_CAPACITY));
        pos = this.appendBody(chunk, pos);
      }
    }
  }

  /** Copies as much of the pending body as `chunk` holds from `pos`, growing the buffer; returns the new position. */
  private appendBody(chunk: Buffer, pos: number): number {
    const take = Math.min(this.bodyLength - this.bodyFilled, chunk.length - pos);
    let body = this.body!;
    const needed = this.bodyFilled + take;
    if (needed > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.bodyLength, Math.max(needed, body.length * 2)));
      body.copy(grown, 0, 0, this.bodyFilled);
      this.body = body = grown;
    }
    chunk.copy(body, this.bodyFilled, pos, pos + take);
    this.bodyFilled = needed;
    return pos + take;
  }

  private deliver(packet: Packet, onPacket: PacketHandler, chunk: Buffer, pos: number): void {
    try {
      onPacket(packet);
    } catch (err) {
      // Not a decoding failure: keep the undecoded rest so that the stream stays intact.
      this.stash = pos < chunk.length ? chunk.subarray(pos) : undefined;
      this.callbackThrew = true;
      throw err;
    }
  }
}

/**
 * Decodes exactly one complete packet from `buf` (fixed header included), as {@link PacketDecoder} would.
 * Throws MqttProtocolError 0x81 if `buf` holds less or more than one packet, 0x95 if it exceeds
 * `opts.maximumPacketSize`.
 */
export function decodePacket(buf: Buffer, opts?: DecoderOptions): Packet {
  const max = resolveMaximum(opts);
  const level = resolveVersion(opts?.protocolVersion);
  if (level === undefined) throw new RangeError("decodePacket needs a protocolVersion; 'detect' is for PacketDecoder");
  if (buf.length === 0) throw malformed('no bytes to decode');
  const first = buf[0]!;
  checkFirstByte(first);
  let remaining = 0;
  let multiplier = 1;
  let pos = 1;
  for (;;) {
    if (pos === buf.length) throw malformed('incomplete fixed header');
    const b = buf[pos++]!;
    remaining += (b & 0x7f) * multiplier;
    if (b < 0x80) {
      if (b === 0 && pos > 2) throw malformed('Remaining Length is not in its shortest form');
      break;
    }
    if (pos === 5) throw malformed('Remaining Length is longer than 4 bytes');
    multiplier *= 0x80;
  }
  if (pos + remaining > max) throw tooLarge(pos + remaining, max);
  if (pos + remaining !== buf.length) {
    throw malformed(`Remaining Length ${remaining} does not match the ${buf.length - pos} bytes given`);
  }
  return parserFor(level).parse(first, buf, pos, buf.length);
}
