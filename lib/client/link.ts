/**
 * One network connection of the client: the stream, the streaming decoder, the batched writer and
 * the keepalive timer. The client makes a new Link for every (re)connection; protocol logic stays
 * in the client.
 *
 * Writes of one event loop turn are collected and handed to the stream once (one syscall for a
 * burst of publishes or acks); when the stream signals backpressure (`write()` returned false), the
 * link reports `writable = false` until 'drain', and the client stops taking new publishes from its
 * queue meanwhile.
 */
import {
  MqttProtocolError,
  PacketDecoder,
  PacketType,
  encodePacket,
  isReasonCodeAllowed,
  writePropertylessAck,
  type Packet,
} from '../codec/index.js';
import type { MqttStream } from './connection.js';
import { ConnectionLostError, MqttClientError } from './errors.js';

/** What the link reports to its owner. */
export interface LinkHost {
  /** A packet arrived. Throwing an MqttProtocolError fails the link with a DISCONNECT of that reason code. */
  onPacket(packet: Packet, link: Link): void;
  /** The link closed or failed. Called once. */
  onLinkClosed(link: Link, error: MqttClientError): void;
  /** The stream accepts writes again after backpressure. */
  onLinkDrain(link: Link): void;
}

/** A batch above this size is written at once rather than at the end of the tick, bounding memory. */
const FLUSH_THRESHOLD = 64 * 1024;
const PINGREQ = Buffer.from([0xc0, 0x00]);
/** Size of the buffers acks are written into (819–1024 acks each). */
const ACK_SLAB = 4096;
/** How long a failing link waits for its last DISCONNECT to leave before destroying the stream. */
const FAIL_GRACE_MS = 1000;

/** One network connection: reads and decodes packets, writes batched bytes, runs the keepalive. */
export class Link {
  /** False while the stream is backpressured (waiting for 'drain'). */
  writable = true;
  /** True once closed or failed: no more packets are delivered or written. */
  closed = false;
  /** Reading is paused because a receiver is full. */
  private readPaused = false;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /**
   * Short acks are written straight into this buffer rather than allocated one by one; the run of
   * them since the last other write, [ackStart, ackEnd), joins the batch as one view. Bytes once
   * handed out are never written again (the stream may still hold them): a full slab is replaced.
   */
  private ackSlab: Buffer | undefined;
  private ackStart = 0;
  private ackEnd = 0;
  private flushHandle: NodeJS.Immediate | undefined;
  private batchDone: { promise: Promise<void>; resolve(): void; reject(e: Error): void } | undefined;
  private lastWrite = Date.now();
  private keepAliveMs = 0;
  private pingTimeoutMs = 0;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly decoder: PacketDecoder;

  constructor(
    readonly stream: MqttStream,
    maximumPacketSize: number | undefined,
    private readonly host: LinkHost,
  ) {
    this.decoder = new PacketDecoder({ maximumPacketSize });
    stream.on('data', this.onData);
    stream.on('error', this.onError);
    stream.on('end', this.onEnd);
    stream.on('close', this.onClose);
  }

  /** Queues encoded bytes; they go out with the rest of this tick's batch. */
  write(buf: Buffer): void {
    if (this.closed) return;
    if (this.ackEnd !== this.ackStart) this.sealAcks();
    this.batch.push(buf);
    this.batchBytes += buf.length;
    this.scheduleFlush();
  }

  /**
   * Queues a PUBACK/PUBREC/PUBREL/PUBCOMP without properties, written by the codec straight into a
   * shared slab instead of a buffer per ack (the acks of one run leave as one view of it).
   */
  writeAck(type: number, packetId: number, reasonCode: number): void {
    if (this.closed) return;
    let slab = this.ackSlab;
    let end = this.ackEnd;
    if (slab === undefined || end + 5 > slab.length) {
      if (end !== this.ackStart) this.sealAcks();
      slab = this.ackSlab = Buffer.allocUnsafe(ACK_SLAB);
      end = this.ackStart = 0;
    }
    const after = writePropertylessAck(slab, end, type, packetId, reasonCode);
    this.ackEnd = after;
    this.batchBytes += after - end;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.batchBytes >= FLUSH_THRESHOLD) this.flush();
    else if (this.flushHandle === undefined) this.flushHandle = setImmediate(this.flush);
  }

  /** Moves the acks written into the slab since the last seal into the batch, keeping write order. */
  private sealAcks(): void {
    this.batch.push(this.ackSlab!.subarray(this.ackStart, this.ackEnd));
    this.ackStart = this.ackEnd;
  }

  /**
   * Settles when the bytes queued so far are handed to the stream (resolves) or the link fails first
   * (rejects). One promise is shared by the whole batch: the QoS 0 publishes of a tick cost nothing each.
   */
  written(): Promise<void> {
    if (this.batchBytes === 0) return Promise.resolve();
    let d = this.batchDone;
    if (d === undefined) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A QoS 0 publish is fire-and-forget: its loss must not become an unhandled rejection.
      promise.catch(noop);
      d = this.batchDone = { promise, resolve, reject };
    }
    return d.promise;
  }

  /** Hands the batch to the stream now (unless backpressured: then at 'drain'). */
  readonly flush = (): void => {
    if (this.flushHandle !== undefined) {
      clearImmediate(this.flushHandle);
      this.flushHandle = undefined;
    }
    if (this.closed || !this.writable || this.batchBytes === 0) return;
    if (this.ackEnd !== this.ackStart) this.sealAcks();
    const batch = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    const done = this.batchDone;
    this.batchDone = undefined;
    this.lastWrite = Date.now();
    const stream = this.stream;
    let ok: boolean;
    if (batch.length === 1) {
      ok = stream.write(batch[0]);
    } else if (bytes <= FLUSH_THRESHOLD) {
      // Small packets: one copy into one buffer beats a write() call per packet.
      ok = stream.write(Buffer.concat(batch, bytes));
    } else {
      // Large payloads: no copy; cork so that the stream hands them to the OS together (writev).
      stream.cork();
      ok = true;
      for (const b of batch) ok = stream.write(b) && ok;
      stream.uncork();
    }
    done?.resolve();
    if (!ok) {
      this.writable = false;
      stream.once('drain', this.onDrain);
    }
  };

  /** Stops reading the socket (a receiver is full). */
  pauseReading(): void {
    if (this.readPaused || this.closed) return;
    this.readPaused = true;
    this.stream.pause();
  }

  resumeReading(): void {
    if (!this.readPaused || this.closed) return;
    this.readPaused = false;
    this.stream.resume();
  }

  /**
   * Starts the keepalive: a PINGREQ whenever nothing was sent for `keepAliveMs`, and failure with
   * 0x8D when its PINGRESP does not come within `pingTimeoutMs`. 0 disables it.
   */
  startKeepAlive(keepAliveMs: number, pingTimeoutMs: number): void {
    this.keepAliveMs = keepAliveMs;
    this.pingTimeoutMs = pingTimeoutMs;
    if (keepAliveMs > 0 && !this.closed) this.keepAliveTimer = setTimeout(this.onKeepAlive, keepAliveMs);
  }

  /** A PINGRESP arrived. */
  pingResponse(): void {
    if (this.pingTimer !== undefined) {
      clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
    }
  }

  /**
   * Fails the link: optionally sends a DISCONNECT with `disconnectCode` (best effort), destroys the
   * stream and reports `error` to the host. Idempotent.
   */
  fail(error: MqttClientError, disconnectCode?: number): void {
    if (this.closed) return;
    this.shutdown(error);
    const stream = this.stream;
    if (disconnectCode !== undefined && !stream.destroyed) {
      // Give the DISCONNECT a moment to leave; the grace timer bounds it.
      stream.end(disconnectPacket(disconnectCode));
      this.graceTimer = setTimeout(() => stream.destroy(), FAIL_GRACE_MS);
      this.graceTimer.unref();
    } else {
      stream.destroy();
    }
    this.host.onLinkClosed(this, error);
  }

  /**
   * Closes gracefully: sends what is queued plus `last` (a DISCONNECT), ends the stream and waits
   * for it to close, destroying it after `timeoutMs`. The host is not notified (the client closes
   * the link itself).
   */
  end(last: Buffer | undefined, timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (last !== undefined) this.write(last);
    // Send the batch even if backpressured: the stream buffers it, and nothing follows.
    this.writable = true;
    this.flush();
    this.shutdown(new ConnectionLostError(0, 'Connection closed by the client'));
    const stream = this.stream;
    if (stream.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => stream.destroy(), timeoutMs);
      stream.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      // Our FIN makes the server close; a socket never read from would not report 'close'.
      stream.resume();
      stream.end();
    });
  }

  /** Destroys the stream without a word to the server or the host. */
  destroy(): void {
    if (this.closed) return;
    this.shutdown(new ConnectionLostError(0x80, 'Connection destroyed'));
    this.stream.destroy();
  }

  private shutdown(error: Error): void {
    this.closed = true;
    if (this.flushHandle !== undefined) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    if (this.keepAliveTimer !== undefined) clearTimeout(this.keepAliveTimer);
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.keepAliveTimer = this.pingTimer = undefined;
    this.batch = [];
    this.batchBytes = 0;
    this.ackStart = this.ackEnd;
    const done = this.batchDone;
    this.batchDone = undefined;
    done?.reject(error);
  }

  private readonly onKeepAlive = (): void => {
    this.keepAliveTimer = undefined;
    if (this.closed) return;
    const idle = Date.now() - this.lastWrite;
    // Timers may fire a millisecond early; a ping that is a hair early is harmless.
    if (idle >= this.keepAliveMs - 5) {
      this.write(PINGREQ);
      this.flush();
      if (this.pingTimer === undefined) this.pingTimer = setTimeout(this.onPingTimeout, this.pingTimeoutMs);
      this.keepAliveTimer = setTimeout(this.onKeepAlive, this.keepAliveMs);
    } else {
      this.keepAliveTimer = setTimeout(this.onKeepAlive, this.keepAliveMs - idle);
    }
  };

  private readonly onPingTimeout = (): void => {
    this.pingTimer = undefined;
    if (this.closed) return;
    if (this.readPaused) {
      // The PINGRESP may be sitting unread behind a full receiver: not the server's fault.
      this.pingTimer = setTimeout(this.onPingTimeout, this.pingTimeoutMs);
      return;
    }
    this.fail(new ConnectionLostError(0x8d, `No PINGRESP within ${this.pingTimeoutMs} ms`), 0x8d);
  };

  private readonly onPacket = (packet: Packet): void => {
    if (!this.closed) this.host.onPacket(packet, this);
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed) return;
    try {
      this.decoder.feed(chunk, this.onPacket);
    } catch (err) {
      if (err instanceof MqttProtocolError) {
        this.fail(new ConnectionLostError(err.reasonCode, `Server broke the protocol: ${err.message}`, { cause: err }), err.reasonCode);
      } else if (err instanceof MqttClientError) {
        this.fail(err, err.reasonCode >= 0x80 ? err.reasonCode : undefined);
      } else {
        // A bug on our side: close with 0x83 and let it surface.
        this.fail(new ConnectionLostError(0x83, `Internal error: ${String(err)}`, { cause: err }), 0x83);
        throw err;
      }
    }
  };

  private readonly onError = (err: Error): void => {
    this.fail(new ConnectionLostError(0x80, `Connection error: ${err.message}`, { cause: err }));
  };

  private readonly onEnd = (): void => {
    this.fail(new ConnectionLostError(0x80, 'Connection closed by the server'));
  };

  private readonly onClose = (): void => {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.fail(new ConnectionLostError(0x80, 'Connection closed'));
  };

  private readonly onDrain = (): void => {
    if (this.closed) return;
    this.writable = true;
    this.flush();
    if (this.writable) this.host.onLinkDrain(this);
  };
}

function noop(): void {}

/**
 * The DISCONNECT that tells the server why we close. Not every reason code of an error may travel in
 * a DISCONNECT: the decoder's 0x84 (a server sending CONNECT of another protocol version) may not,
 * and encoding it would throw inside the socket's 'data' listener — leaving the client "connected"
 * on a dead link. Such codes become 0x82 Protocol Error, which is what the server did.
 */
function disconnectPacket(reasonCode: number): Buffer {
  const code = isReasonCodeAllowed(PacketType.DISCONNECT, reasonCode) ? reasonCode : 0x82;
  return encodePacket({ type: PacketType.DISCONNECT, reasonCode: code });
}
