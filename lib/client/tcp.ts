import net from 'node:net';
import { openSocket, type Connection, type MqttStream } from './connection.js';

/** Options of {@link TcpConnection}. */
export interface TcpConnectionOptions {
  /** Host name or IP address of the broker. */
  host: string;
  /** Port; default 1883. */
  port?: number;
  /**
   * Disable Nagle's algorithm; default true. The client already batches the packets of one event
   * loop turn into one write, so Nagle would only add latency.
   */
  noDelay?: boolean;
  /** Extra `net.connect` options (family, localAddress, lookup, …). */
  socketOptions?: Omit<net.TcpNetConnectOpts, 'host' | 'port'>;
}

/** Plain TCP connection to a broker (`mqtt://` / `tcp://`). */
export class TcpConnection implements Connection {
  readonly brokerUrl: string;
  private readonly options: TcpConnectionOptions;
  private socket: net.Socket | undefined;

  constructor(options: TcpConnectionOptions) {
    this.options = options;
    this.brokerUrl = `mqtt://${formatHost(options.host)}:${options.port ?? 1883}`;
  }

  async connect(signal: AbortSignal): Promise<MqttStream> {
    const { host, port = 1883, noDelay = true, socketOptions } = this.options;
    const socket = await openSocket(() => net.connect({ ...socketOptions, host, port, noDelay }), 'connect', signal);
    this.socket = socket;
    return socket;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }
}

/** IPv6 literals need brackets in a URL. @internal */
export function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
