/**
 * Network listeners: TCP, TLS (optionally requiring client certificates), WebSocket and secure
 * WebSocket (the `ws` package, path `/mqtt`, subprotocol `mqtt`). All feed one connection handler.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TransportKind } from './auth.js';
import type { ClientSocket } from './connection-contract.js';
import { WebSocketClientSocket } from './ws-socket.js';

/** Where to listen. Port 0 picks a free port; without `host` every interface is used. */
export interface TcpListenerOptions {
  port?: number;
  host?: string;
}

/** TLS listener: server key and certificate (and `ca` to verify clients), as for `tls.createServer`. */
export interface TlsListenerOptions extends TcpListenerOptions, TlsOptions {
  /** Require a client certificate signed by `ca` (mutual TLS); unverified clients are refused during the handshake. */
  requireClientCertificate?: boolean;
}

/** WebSocket listener. */
export interface WsListenerOptions extends TcpListenerOptions {
  /** The HTTP path of the WebSocket endpoint. Default `/mqtt`. */
  path?: string;
}

/** Secure WebSocket listener (WebSocket over HTTPS). */
export interface WssListenerOptions extends WsListenerOptions, TlsOptions {
  requireClientCertificate?: boolean;
}

/** The listeners to start. */
export interface ListenOptions {
  tcp?: TcpListenerOptions;
  tls?: TlsListenerOptions;
  ws?: WsListenerOptions;
  wss?: WssListenerOptions;
}

/** A bound listener address, with a URL clients can use. */
export interface BoundAddress {
  readonly host: string;
  readonly port: number;
  readonly family: string;
  /** e.g. `mqtt://127.0.0.1:1883`, `ws://127.0.0.1:8080/mqtt`. */
  readonly url: string;
}

/** The addresses of the listeners started by one `listen()` call. */
export interface ListenAddresses {
  tcp?: BoundAddress;
  tls?: BoundAddress;
  ws?: BoundAddress;
  wss?: BoundAddress;
}

type Closable = { close(cb?: (err?: Error) => void): unknown };

const SCHEMES: Record<TransportKind, string> = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' };

function boundAddress(server: NetServer, kind: TransportKind, path: string): BoundAddress {
  const a = server.address() as AddressInfo;
  const any = a.address === '::' || a.address === '0.0.0.0';
  const host = any ? '127.0.0.1' : a.address;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const suffix = kind === 'ws' || kind === 'wss' ? path : '';
  return { host, port: a.port, family: a.family, url: `${SCHEMES[kind]}://${urlHost}:${a.port}${suffix}` };
}

function tlsOptions(o: TlsListenerOptions | WssListenerOptions): TlsOptions {
  const { port: _p, host: _h, requireClientCertificate, ...rest } = o as TlsListenerOptions & { path?: string };
  delete (rest as { path?: string }).path;
  if (requireClientCertificate === true) return { ...rest, requestCert: true, rejectUnauthorized: true };
  return rest;
}

/** Starts and stops the listeners of one broker. */
export class Listeners {
  private readonly servers: Closable[] = [];
  private readonly httpServers: HttpServer[] = [];

  constructor(
    private readonly onSocket: (socket: ClientSocket, kind: TransportKind) => void,
    /** A listener failed after it started. */
    private readonly onError: (err: Error) => void,
    /** A connection failed before it reached MQTT (e.g. a TLS handshake). */
    private readonly onClientError: (err: Error) => void,
    private readonly maxFrameSize: number,
  ) {}

  /** Starts the requested listeners; resolves with their bound addresses. */
  async start(o: ListenOptions): Promise<ListenAddresses> {
    const out: ListenAddresses = {};
    if (o.tcp !== undefined) {
      const server = createNetServer({ noDelay: true }, (s: Socket) => this.onSocket(s as ClientSocket, 'tcp'));
      out.tcp = await this.bind(server, o.tcp, 'tcp', '');
    }
    if (o.tls !== undefined) {
      const server = createTlsServer(tlsOptions(o.tls), (s: TLSSocket) => {
        s.setNoDelay(true);
        this.onSocket(s as ClientSocket, 'tls');
      });
      server.on('tlsClientError', (err: Error) => this.onClientError(err));
      out.tls = await this.bind(server, o.tls, 'tls', '');
    }
    if (o.ws !== undefined) {
      out.ws = await this.startWebSocket(createHttpServer(notFound), o.ws, 'ws');
    }
    if (o.wss !== undefined) {
      const server = createHttpsServer(tlsOptions(o.wss), notFound);
      server.on('tlsClientError', (err: Error) => this.onClientError(err));
      out.wss = await this.startWebSocket(server, o.wss, 'wss');
    }
    return out;
  }

  private async startWebSocket(server: HttpServer, o: WsListenerOptions, kind: 'ws' | 'wss'): Promise<BoundAddress> {
    const path = o.path ?? '/mqtt';
    const wss = new WebSocketServer({
      server,
      path,
      clientTracking: false,
      maxPayload: this.maxFrameSize,
      handleProtocols: (protocols: Set<string>) => (protocols.has('mqtt') ? 'mqtt' : false),
    });
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      (req.socket as Socket).setNoDelay(true);
      this.onSocket(new WebSocketClientSocket(ws, req), kind);
    });
    wss.on('wsClientError', (err: Error) => this.onClientError(err));
    this.servers.push(wss);
    this.httpServers.push(server);
    return this.bind(server, o, kind, path);
  }

  private bind(server: NetServer, o: TcpListenerOptions, kind: TransportKind, path: string): Promise<BoundAddress> {
    return new Promise<BoundAddress>((resolve, reject) => {
      const onStartError = (err: Error): void => reject(err);
      server.once('error', onStartError);
      server.listen(o.port ?? 0, o.host, () => {
        server.off('error', onStartError);
        server.on('error', this.onError);
        this.servers.push(server);
        resolve(boundAddress(server, kind, path));
      });
    });
  }

  /** Stops accepting; resolves once every server has closed (after its connections ended). */
  async close(): Promise<void> {
    const closing = this.servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
        }),
    );
    // Plain HTTP requests (not upgraded) on keep-alive connections would hold the servers open.
    for (const h of this.httpServers.splice(0)) h.closeAllConnections();
    await Promise.all(closing);
  }
}

function notFound(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
  res.end('MQTT over WebSocket: connect with the mqtt subprotocol\n');
}
