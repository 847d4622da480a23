/**
 * A small TCP proxy on 127.0.0.1 for fault injection: `cut()` destroys every proxied connection
 * (both sides), as a network failure would; `blackhole` silently drops traffic in both directions
 * (a dead link that only keepalive can detect).
 */
import net from 'node:net';

export class TcpProxy {
  /** While true, bytes are read and dropped instead of forwarded. */
  blackhole = false;
  /** Connections accepted so far. */
  accepted = 0;
  /** Called with every chunk forwarded: `up` = client → target, `down` = target → client. */
  tap: ((direction: 'up' | 'down', chunk: Buffer) => void) | undefined;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();

  private constructor(
    private readonly server: net.Server,
    readonly targetHost: string,
    readonly targetPort: number,
  ) {
    server.on('connection', (client) => this.onConnection(client));
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new TcpProxy(server, targetHost, targetPort);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connections currently proxied. */
  get size(): number {
    return this.pairs.size;
  }

  private onConnection(client: net.Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    client.pause();
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort, noDelay: true });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = (): void => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', close);
      s.on('close', close);
    }
    upstream.once('connect', () => {
      client.resume();
    });
    const forward = (from: net.Socket, to: net.Socket, direction: 'up' | 'down'): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.blackhole) return;
        this.tap?.(direction, chunk);
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
    };
    forward(client, upstream, 'up');
    forward(upstream, client, 'down');
  }

  /** Destroys every proxied connection at once; returns how many were cut. */
  cut(): number {
    const n = this.pairs.size;
    for (const [a, b] of [...this.pairs]) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    return n;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
