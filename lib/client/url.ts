import type { ClientOptions } from 'ws';
import type { Connection } from './connection.js';
import { TcpConnection } from './tcp.js';
import { TlsConnection, type TlsConnectionOptions } from './tls.js';
import { WebSocketConnection } from './websocket.js';

/** Extra options for {@link connectionFromUrl}, applied according to the URL's scheme. */
export interface ConnectionFromUrlOptions {
  /** For `mqtts:` / `tls:`: certificates and verification (host and port come from the URL). */
  tls?: Omit<TlsConnectionOptions, 'host' | 'port'>;
  /** For `ws:` / `wss:`: options of the `ws` client (TLS options for `wss:`, headers, …). */
  ws?: ClientOptions;
  /** For `ws:` / `wss:`: the subprotocol; default `mqtt`. */
  wsProtocol?: string;
}

/**
 * Builds the {@link Connection} for a broker URL:
 * - `mqtt://host[:1883]`, `tcp://host[:1883]` → {@link TcpConnection}
 * - `mqtts://host[:8883]`, `tls://host[:8883]` → {@link TlsConnection}
 * - `ws://host[:80]/path`, `wss://host[:443]/path` → {@link WebSocketConnection} (the path is kept as given)
 *
 * Throws a TypeError for another scheme or a URL without a host. Credentials in the URL are not
 * used: pass `username`/`password` to `connect()`.
 */
export function connectionFromUrl(url: string | URL, options: ConnectionFromUrlOptions = {}): Connection {
  const u = typeof url === 'string' ? new URL(url) : url;
  // URL keeps the brackets of an IPv6 literal in `hostname`; sockets want the bare address.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') throw new TypeError(`Broker URL has no host: ${u.href}`);
  const port = u.port === '' ? undefined : Number(u.port);
  switch (u.protocol) {
    case 'mqtt:':
    case 'tcp:':
      return new TcpConnection({ host, port: port ?? 1883 });
    case 'mqtts:':
    case 'tls:':
      return new TlsConnection({ ...options.tls, host, port: port ?? 8883 });
    case 'ws:':
    case 'wss:':
      return new WebSocketConnection({ url: u, protocol: options.wsProtocol, wsOptions: options.ws });
    default:
      throw new TypeError(`Unsupported broker URL scheme ${u.protocol} (use mqtt:, tcp:, mqtts:, tls:, ws: or wss:)`);
  }
}
