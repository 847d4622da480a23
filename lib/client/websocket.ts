import WebSocket, { createWebSocketStream, type ClientOptions } from 'ws';
import type { Connection, MqttStream } from './connection.js';
import { withoutCredentials } from './redact-url.js';

/** Options of {@link WebSocketConnection}. */
export interface WebSocketConnectionOptions {
  /** `ws://` or `wss://` URL of the broker's WebSocket endpoint, path included (e.g. `ws://host:8080/mqtt`). */
  url: string | URL;
  /** WebSocket subprotocol to request; default `mqtt` (MQTT v5 spec 6.0). */
  protocol?: string;
  /**
   * Options for the `ws` client: TLS (`ca`, `cert`, `key`, `rejectUnauthorized`, `servername`),
   * `headers`, `handshakeTimeout`, … `perMessageDeflate` defaults to false: MQTT payloads are
   * usually small or already compressed, and deflate costs CPU on both sides.
   */
  wsOptions?: ClientOptions;
}

/**
 * MQTT over WebSocket (`ws://` / `wss://`) with the `ws` package. Packets travel in binary frames;
 * the stream view lets a packet span frames and a frame hold several packets.
 */
export class WebSocketConnection implements Connection {
  readonly brokerUrl: string;
  private readonly options: WebSocketConnectionOptions;
  private socket: WebSocket | undefined;
  private stream: MqttStream | undefined;

  constructor(options: WebSocketConnectionOptions) {
    this.options = options;
    this.brokerUrl = withoutCredentials(options.url);
  }

  connect(signal: AbortSignal): Promise<MqttStream> {
    return new Promise<MqttStream>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const ws = new WebSocket(this.options.url, this.options.protocol ?? 'mqtt', {
        perMessageDeflate: false,
        ...this.options.wsOptions,
      });
      ws.binaryType = 'nodebuffer';
      const cleanup = (): void => {
        signal.removeEventListener('abort', onAbort);
        ws.removeListener('open', onOpen);
        ws.removeListener('error', onError);
      };
      const onAbort = (): void => {
        cleanup();
        // An error may still come from the terminated handshake; nobody waits for it any more.
        ws.on('error', ignore);
        ws.terminate();
        reject(signal.reason);
      };
      const onOpen = (): void => {
        cleanup();
        this.socket = ws;
        this.stream = createWebSocketStream(ws);
        resolve(this.stream);
      };
      const onError = (err: Error): void => {
        cleanup();
        ws.on('error', ignore);
        ws.terminate();
        reject(err);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      ws.once('open', onOpen);
      ws.once('error', onError);
    });
  }

  close(): void {
    this.stream?.destroy();
    this.socket?.terminate();
    this.stream = undefined;
    this.socket = undefined;
  }
}

/** Errors after a failed or aborted handshake were already reported by the rejection. */
function ignore(): void {}
