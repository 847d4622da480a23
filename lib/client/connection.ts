/**
 * The network side of the client, as in the seed: a `Connection` opens a byte stream to the broker.
 * The client calls `connect()` for the first connection and again for every reconnect, so an
 * implementation may pick another address, refresh credentials or apply its own dial policy.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A bidirectional byte stream carrying MQTT packets: a `net.Socket`, a `tls.TLSSocket`, a WebSocket
 * stream, or any Node `Duplex` (binary mode). The client writes Buffers, reads Buffers, and uses
 * `pause()`/`resume()` and the `'drain'` event for flow control.
 */
export type MqttStream = Duplex;

/** Opens network connections to one broker. TcpConnection, TlsConnection and WebSocketConnection are provided. */
export interface Connection {
  /** Where this connection goes, e.g. `mqtt://127.0.0.1:1883` (for logs and errors). */
  readonly brokerUrl: string;
  /**
   * Opens a new network connection and resolves with its stream once bytes can be written.
   * Must reject (and release what it opened) when `signal` aborts. A rejection during a reconnect
   * makes the client wait its backoff delay and try again.
   */
  connect(signal: AbortSignal): Promise<MqttStream>;
  /** Closes the network connection last opened by `connect()`, if still open. Idempotent. */
  close(): void;
}

/**
 * Opens a socket with `open()` and resolves once `readyEvent` fires; rejects on 'error' or when
 * `signal` aborts, destroying the socket. Shared by the TCP and TLS connections.
 * @internal
 */
export function openSocket<S extends Duplex>(
  open: () => S,
  readyEvent: string,
  signal: AbortSignal,
): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const socket = open();
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener(readyEvent, onReady);
      socket.removeListener('error', onError);
    };
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(signal.reason);
    };
    const onReady = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once(readyEvent, onReady);
    socket.once('error', onError);
  });
}

/**
 * What TcpConnection and TlsConnection share: remember the socket last opened so that `close()`
 * can destroy it. Subclasses only say how to open (and wait for) their kind of socket.
 * @internal
 */
export abstract class SocketConnection<S extends net.Socket> implements Connection {
  readonly brokerUrl: string;
  private socket: S | undefined;

  protected constructor(brokerUrl: string) {
    this.brokerUrl = brokerUrl;
  }

  async connect(signal: AbortSignal): Promise<MqttStream> {
    const socket = await this.open(signal);
    this.socket = socket;
    return socket;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Opens a socket to the broker; resolves once it is ready for MQTT bytes (see {@link openSocket}). */
  protected abstract open(signal: AbortSignal): Promise<S>;
}
