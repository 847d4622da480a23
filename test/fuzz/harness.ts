/**
 * The broker under fuzz: an in-process MqttBroker on TCP and WebSocket loopback listeners with small
 * limits (so that the limit paths are reachable by mutation), session expiry capped at 0 (so that a
 * run leaves no sessions behind), a retained store we own (so that the run can clear what the fuzzer
 * retained before measuring memory), and a watch on `clientError` events: a protocol error or a socket
 * error is expected, anything else (a TypeError, a RangeError from our code…) is a broker bug.
 */
import { MemoryRetainedStore, MqttBroker, type MqttBrokerOptions, type RetainedMessage, type RetainedStore } from '../../lib/broker/index.js';
import { MqttProtocolError } from '../../lib/codec/index.js';
import type { BrokerTarget } from './broker-fuzz.js';

/** Network and WebSocket error codes a client may cause; not broker bugs. */
const SOCKET_ERROR_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

/** The limits the fuzz broker runs with (the fuzzer's generators read them). */
export const FUZZ_LIMITS = {
  maximumPacketSize: 64 * 1024,
  topicAliasMaximum: 8,
  receiveMaximum: 64,
} as const;

/** A running fuzz broker. */
export interface FuzzBroker {
  broker: MqttBroker;
  target: BrokerTarget;
  retained: TrackingRetainedStore;
  /** clientError events that are neither protocol nor socket errors (broker bugs). */
  unexpectedErrors: string[];
  /** clientError events by reason code (protocol errors) or error code. */
  errorCounts: Record<string, number>;
  /** Deletes every retained message the fuzzer stored. */
  clearRetained(): void;
  /** Resolves once the broker holds at most `n` connections (bounded: rejects after `timeoutMs`). */
  settle(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The in-memory retained store, remembering its topics so that a run can clear them all ('$' ones included). */
export class TrackingRetainedStore implements RetainedStore {
  private readonly inner = new MemoryRetainedStore();
  private readonly topics = new Set<string>();

  get size(): number {
    return this.inner.size;
  }
  set(message: RetainedMessage): void {
    this.topics.add(message.topic);
    this.inner.set(message);
  }
  delete(topic: string): boolean {
    this.topics.delete(topic);
    return this.inner.delete(topic);
  }
  get(topic: string): RetainedMessage | undefined {
    return this.inner.get(topic);
  }
  match(filter: string, visit: (message: RetainedMessage) => void): void {
    this.inner.match(filter, visit);
  }
  /** Deletes every retained message. */
  clear(): void {
    for (const t of [...this.topics]) this.delete(t);
  }
}

/** Starts the broker under fuzz on ephemeral loopback ports. */
export async function startFuzzBroker(extra: MqttBrokerOptions = {}): Promise<FuzzBroker> {
  const retained = new TrackingRetainedStore();
  const broker = new MqttBroker({
    ...FUZZ_LIMITS,
    maxSessionExpiryInterval: 0,
    closeGracePeriod: 200,
    connectTimeout: 3000,
    retainedStore: retained,
    ...extra,
  });
  const unexpectedErrors: string[] = [];
  const errorCounts: Record<string, number> = {};
  broker.on('clientError', (_client, err) => {
    let key: string;
    if (err instanceof MqttProtocolError) key = `0x${err.reasonCode.toString(16)}`;
    else {
      const code = (err as NodeJS.ErrnoException).code;
      key = code ?? err.name;
      const wsProtocolError = typeof code === 'string' && code.startsWith('WS_ERR_');
      if (!(code !== undefined && SOCKET_ERROR_CODES.has(code)) && !wsProtocolError && unexpectedErrors.length < 20) {
        unexpectedErrors.push(`${err.name}: ${err.message}\n${err.stack ?? ''}`);
      }
    }
    errorCounts[key] = (errorCounts[key] ?? 0) + 1;
  });
  broker.on('error', (err) => unexpectedErrors.push(`listener error: ${err.message}`));
  const { tcp, ws } = await broker.listen({ tcp: { port: 0, host: '127.0.0.1' }, ws: { port: 0, host: '127.0.0.1' } });
  return {
    broker,
    target: { tcpPort: tcp!.port, wsUrl: ws!.url, shape: { ...FUZZ_LIMITS } },
    retained,
    unexpectedErrors,
    errorCounts,
    clearRetained(): void {
      retained.clear();
    },
    async settle(n: number, timeoutMs = 5000): Promise<void> {
      // The broker has no event for "a socket finished closing"; check its gauge on a short timer, bounded.
      const deadline = Date.now() + timeoutMs;
      while (broker.metrics().connections > n) {
        if (Date.now() > deadline) throw new Error(`broker still holds ${broker.metrics().connections} connections after ${timeoutMs} ms (want ≤ ${n})`);
        await new Promise<void>((r) => setTimeout(r, 10));
      }
    },
    close: () => broker.close(),
  };
}
