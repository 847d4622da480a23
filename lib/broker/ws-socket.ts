/**
 * Adapts a `ws` WebSocket to the small socket interface a connection runs on. MQTT over WebSocket
 * (spec 6) carries the byte stream in binary frames, in any split; a text frame closes the connection.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { ClientSocket } from './connection.js';

/** Backpressure threshold, as for net.Socket. */
const HIGH_WATER_MARK = 16 * 1024;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A WebSocket seen as a {@link ClientSocket}: 'data', 'drain', 'error', 'close'; write/end/destroy/pause/resume. */
export class WebSocketClientSocket extends EventEmitter implements ClientSocket {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  private pending = 0;
  private needDrain = false;

  constructor(
    private readonly ws: WebSocket,
    req: IncomingMessage,
  ) {
    super();
    this.remoteAddress = req.socket.remoteAddress;
    this.remotePort = req.socket.remotePort;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) {
        // MQTT-6.0.0-1: a text frame is a protocol violation; close the network connection.
        ws.close(1003, 'MQTT needs binary frames');
        return;
      }
      this.emit('data', toBuffer(data));
    });
    ws.on('error', (err: Error) => this.emit('error', err));
    ws.on('close', () => this.emit('close'));
  }

  /** Bytes handed to the WebSocket and not yet written to its socket. */
  get writableLength(): number {
    return this.pending;
  }

  write(chunk: Buffer): boolean {
    if (this.ws.readyState !== 1) return false;
    const n = chunk.length;
    this.pending += n;
    this.ws.send(chunk, { binary: true }, () => {
      this.pending -= n;
      if (this.needDrain && this.pending === 0) {
        this.needDrain = false;
        this.emit('drain');
      }
    });
    if (this.pending < HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}
