/**
 * A seeded fault-injecting TCP proxy on 127.0.0.1, for chaos tests between clients and a broker:
 * - **cuts** every connection after a random lifetime or a random number of bytes (mid-packet, both
 *   sides destroyed, as a network failure would);
 * - **stalls** a direction for a few milliseconds now and then;
 * - **splits** chunks into pieces written in separate event-loop turns (separate TCP segments).
 *
 * Decisions come from a seeded generator (print `seed` so a failure can be replayed; the timing of the
 * network still varies between runs). `calm()` turns every fault off for new and existing connections
 * (bytes then flow straight through), e.g. for a first connect or a final drain; `unleash()` turns them
 * on, arming the connections already open too.
 */
import net from 'node:net';
import { Random } from './prng.js';

/** Fault settings; every field has a default. */
export interface ChaosOptions {
  /** Start calm (no faults until `unleash()`); default false. */
  startCalm?: boolean;
  /** Seed of the decisions; default a fresh one (read it back from `proxy.seed`). */
  seed?: number;
  /** A connection is cut after a lifetime drawn from this range (ms); undefined: no timed cuts. Default [5, 40]. */
  lifetimeMs?: [number, number] | undefined;
  /** A connection is cut after this many bytes (either direction, the cut falls mid-chunk); undefined: none. Default [100, 20000]. */
  cutAfterBytes?: [number, number] | undefined;
  /** Probability that a chunk is split into 2–4 pieces. Default 0.3. */
  splitProbability?: number;
  /** Probability that a chunk first waits a stall. Default 0.03. */
  stallProbability?: number;
  /** Stall duration range (ms). Default [1, 20]. */
  stallMs?: [number, number];
}

/** One direction of a proxied connection: an ordered queue of chunks written with faults. */
class Pipe {
  private readonly queue: Buffer[] = [];
  private busy = false;
  private queued = 0;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly proxy: ChaosProxy,
    private readonly pair: Pair,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
  }

  private push(chunk: Buffer): void {
    if (this.pair.dead) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    // Bounded: stop reading while a stall holds more than 256 KiB.
    if (this.queued > 256 * 1024) this.from.pause();
    if (!this.busy) this.pump();
  }

  private pump(): void {
    this.busy = true;
    while (!this.pair.dead) {
      const chunk = this.queue.shift();
      if (chunk === undefined) break;
      this.queued -= chunk.length;
      if (this.queued <= 64 * 1024) this.from.resume();
      const rnd = this.proxy.random;
      if (this.proxy.enabled && rnd.chance(this.proxy.options.stallProbability)) {
        this.queue.unshift(chunk);
        this.queued += chunk.length;
        const [lo, hi] = this.proxy.options.stallMs;
        this.pair.timer(() => this.pump(), rnd.range(lo, hi));
        return;
      }
      const budget = this.pair.budget;
      if (this.proxy.enabled && budget !== undefined && chunk.length >= budget) {
        // The cut falls inside this chunk: deliver the part before it, then the network "fails".
        if (budget > 0) this.to.write(chunk.subarray(0, budget));
        this.pair.budget = 0;
        this.proxy.cut(this.pair);
        return;
      }
      if (budget !== undefined) this.pair.budget = budget - chunk.length;
      if (this.proxy.enabled && chunk.length > 1 && rnd.chance(this.proxy.options.splitProbability)) {
        const at = rnd.range(1, chunk.length - 1);
        this.to.write(chunk.subarray(0, at));
        this.queue.unshift(chunk.subarray(at));
        this.queued += chunk.length - at;
        this.pair.immediate(() => this.pump());
        return;
      }
      if (!this.to.write(chunk)) {
        this.to.once('drain', () => this.pump());
        return;
      }
    }
    this.busy = false;
  }
}

/** A proxied connection: client side, broker side, its timers. */
class Pair {
  dead = false;
  /** Bytes left before the byte-triggered cut, or undefined. */
  budget: number | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly immediates = new Set<NodeJS.Immediate>();

  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {}

  timer(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.dead) fn();
    }, ms);
    this.timers.add(t);
  }

  immediate(fn: () => void): void {
    const i = setImmediate(() => {
      this.immediates.delete(i);
      if (!this.dead) fn();
    });
    this.immediates.add(i);
  }

  /** Destroys both sides and clears every timer. Returns false if already dead. */
  kill(): boolean {
    if (this.dead) return false;
    this.dead = true;
    for (const t of this.timers) clearTimeout(t);
    for (const i of this.immediates) clearImmediate(i);
    this.timers.clear();
    this.immediates.clear();
    this.client.destroy();
    this.upstream.destroy();
    return true;
  }
}

/** The chaos proxy. */
export class ChaosProxy {
  /** Connections cut by the proxy (forced disconnects). */
  cuts = 0;
  /** Connections accepted. */
  accepted = 0;
  readonly seed: number;
  readonly random: Random;
  readonly options: Required<Omit<ChaosOptions, 'seed' | 'lifetimeMs' | 'cutAfterBytes' | 'startCalm'>> & Pick<ChaosOptions, 'lifetimeMs' | 'cutAfterBytes'>;
  private readonly pairs = new Set<Pair>();
  private faults: boolean;
  private cutListeners: (() => void)[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly targetPort: number,
    options: ChaosOptions,
  ) {
    this.faults = options.startCalm !== true;
    this.seed = options.seed ?? Random.newSeed();
    this.random = new Random(this.seed);
    this.options = {
      lifetimeMs: 'lifetimeMs' in options ? options.lifetimeMs : [5, 40],
      cutAfterBytes: 'cutAfterBytes' in options ? options.cutAfterBytes : [100, 20_000],
      splitProbability: options.splitProbability ?? 0.3,
      stallProbability: options.stallProbability ?? 0.03,
      stallMs: options.stallMs ?? [1, 20],
    };
    server.on('connection', (socket) => this.onConnection(socket));
  }

  /** Starts a proxy to 127.0.0.1:`targetPort` on an ephemeral loopback port. */
  static async start(targetPort: number, options: ChaosOptions = {}): Promise<ChaosProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new ChaosProxy(server, targetPort, options);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Whether faults are on. */
  get enabled(): boolean {
    return this.faults;
  }

  /** Connections currently proxied. */
  get size(): number {
    return this.pairs.size;
  }

  /** Resolves once `cuts` reaches `n` (no timeout here: race it with one). */
  whenCuts(n: number): Promise<void> {
    if (this.cuts >= n) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.cuts < n) return;
        this.cutListeners = this.cutListeners.filter((l) => l !== check);
        resolve();
      };
      this.cutListeners.push(check);
    });
  }

  private onConnection(client: net.Socket): void {
    this.accepted++;
    client.pause();
    const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort, noDelay: true });
    const pair = new Pair(client, upstream);
    this.pairs.add(pair);
    const close = (): void => {
      pair.kill();
      this.pairs.delete(pair);
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
    upstream.once('connect', () => {
      if (pair.dead) return;
      new Pipe(client, upstream, this, pair);
      new Pipe(upstream, client, this, pair);
      client.resume();
      if (this.faults) this.arm(pair);
    });
  }

  /** Gives a connection its cut: a byte budget and a lifetime. */
  private arm(pair: Pair): void {
    const r = this.random;
    const bytes = this.options.cutAfterBytes;
    if (bytes !== undefined) pair.budget = r.range(bytes[0], bytes[1]);
    const life = this.options.lifetimeMs;
    if (life !== undefined) pair.timer(() => this.faults && this.cut(pair), r.range(life[0], life[1]));
  }

  /** Cuts one connection (both sides). */
  cut(pair: Pair): void {
    if (!pair.kill()) return;
    this.pairs.delete(pair);
    this.cuts++;
    for (const l of [...this.cutListeners]) l();
  }

  /** Cuts every connection now; returns how many. */
  cutAll(): number {
    const n = this.pairs.size;
    for (const p of [...this.pairs]) this.cut(p);
    return n;
  }

  /** Turns faults off: existing connections lose their pending cuts and flow straight through. */
  calm(): void {
    this.faults = false;
    for (const p of this.pairs) p.budget = undefined;
  }

  /** Turns faults on, for the connections already open too. */
  unleash(): void {
    if (this.faults) return;
    this.faults = true;
    for (const p of this.pairs) this.arm(p);
  }

  /** Cuts everything and stops listening. */
  async close(): Promise<void> {
    this.faults = false;
    for (const p of [...this.pairs]) p.kill();
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
