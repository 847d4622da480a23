/**
 * Adapts a `ws` WebSocket to the small socket interface a connection runs on. MQTT over WebSocket
 * (spec 6) carries the byte stream in binary frames, in any split; a text frame closes the connection.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { ClientSocket } from './connection-contract.js';

/** Backpressure threshold, as for net.Socket. */
const HIGH_WATER_MARK = 16 * 1024;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

const kAdapter = Symbol('mqtt5.wsAdapter');
type TaggedWebSocket = WebSocket & { [kAdapter]: WebSocketClientSocket };

// WebSocket listeners shared by every connection (no closures per connection): `this` is the WebSocket.
function onWsMessage(this: TaggedWebSocket, data: RawData, isBinary: boolean): void {
  if (!isBinary) {
    // MQTT-6.0.0-1: a text frame is a protocol violation; close the network connection.
    this.close(1003, 'MQTT needs binary frames');
    return;
  }
  this[kAdapter].emit('data', toBuffer(data));
}
function onWsError(this: TaggedWebSocket, err: Error): void {
  this[kAdapter].emit('error', err);
}
function onWsClose(this: TaggedWebSocket): void {
  this[kAdapter].emit('close');
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
    const tagged = ws as TaggedWebSocket;
    tagged[kAdapter] = this;
    tagged.on('message', onWsMessage as (this: WebSocket, data: RawData, isBinary: boolean) => void);
    tagged.on('error', onWsError as (this: WebSocket, err: Error) => void);
    tagged.on('close', onWsClose as (this: WebSocket) => void);
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
