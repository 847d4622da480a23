import net from 'node:net';
import { openSocket, SocketConnection } from './connection.js';

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
export class TcpConnection extends SocketConnection<net.Socket> {
  private readonly options: TcpConnectionOptions;

  constructor(options: TcpConnectionOptions) {
    super(`mqtt://${formatHost(options.host)}:${options.port ?? 1883}`);
    this.options = options;
  }

  protected open(signal: AbortSignal): Promise<net.Socket> {
    const { host, port = 1883, noDelay = true, socketOptions } = this.options;
    return openSocket(() => net.connect({ ...socketOptions, host, port, noDelay }), 'connect', signal);
  }
}

/** IPv6 literals need brackets in a URL. @internal */
export function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
