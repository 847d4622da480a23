import net from 'node:net';
import tls from 'node:tls';
import { openSocket, SocketConnection } from './connection.js';
import { formatHost } from './tcp.js';

/** Options of {@link TlsConnection}. */
export interface TlsConnectionOptions {
  /** Host name or IP address of the broker. */
  host: string;
  /** Port; default 8883. */
  port?: number;
  /** Trusted CA certificate(s), PEM; default: Node's bundled root CAs. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate chain (PEM) for mutual TLS. */
  cert?: string | Buffer | Array<string | Buffer>;
  /** Private key of the client certificate (PEM). */
  key?: string | Buffer | Array<string | Buffer>;
  /** Passphrase of `key`. */
  passphrase?: string;
  /** Verify the server certificate against `ca`; default true. Set false only for testing. */
  rejectUnauthorized?: boolean;
  /** SNI server name; default `host` when it is a name (not sent for IP addresses). */
  servername?: string;
  /** Disable Nagle's algorithm; default true (the client batches writes itself). */
  noDelay?: boolean;
  /** Further `tls.connect` options (ALPNProtocols, minVersion, ciphers, …). */
  tlsOptions?: Omit<tls.ConnectionOptions, 'host' | 'port'>;
}

/** TLS connection to a broker (`mqtts://` / `tls://`). */
export class TlsConnection extends SocketConnection<tls.TLSSocket> {
  private readonly options: TlsConnectionOptions;

  constructor(options: TlsConnectionOptions) {
    super(`mqtts://${formatHost(options.host)}:${options.port ?? 8883}`);
    this.options = options;
  }

  protected async open(signal: AbortSignal): Promise<tls.TLSSocket> {
    const o = this.options;
    const servername = o.servername ?? (net.isIP(o.host) === 0 ? o.host : undefined);
    const connectOptions: tls.ConnectionOptions = {
      ...o.tlsOptions,
      host: o.host,
      port: o.port ?? 8883,
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      passphrase: o.passphrase,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      servername,
    };
    const socket = await openSocket(() => tls.connect(connectOptions), 'secureConnect', signal);
    socket.setNoDelay(o.noDelay ?? true);
    return socket;
  }
}
