/**
 * MqttBroker: the public face of the embedded MQTT v5 broker. Options and hooks go to the
 * constructor; `listen()` starts TCP/TLS/WebSocket listeners; `close()` shuts everything down.
 */
import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { MqttProtocolError, PacketType, encodedLength, isReasonCodeAllowed, validateTopicName, type Properties, type QoS } from '../codec/index.js';
import { BrokerCore, type BrokerMetrics } from './core.js';
import { BrokerClosedError } from './errors.js';
import type { BrokerEventMap } from './events.js';
import { Listeners, type ListenAddresses, type ListenOptions } from './listeners.js';
import { Message } from './message.js';
import { resolveOptions, type MqttBrokerOptions } from './options.js';
import { MemoryRetainedStore } from './retained.js';
import { MemorySessionStore } from './store.js';
import type { BrokerStoreLoadStats } from './store/broker-store.js';
import { DurableBrokerStore } from './store/durable-store.js';
import { Persistence } from './store/persistence.js';
import { DurableRetainedStore } from './store/durable-retained.js';
import { restoreBroker } from './store/restore.js';

/** A message published by the application itself through {@link MqttBroker.publish}. */
export interface BrokerPublishOptions {
  topic: string;
  payload: Buffer | string;
  qos?: QoS;
  retain?: boolean;
  properties?: Properties;
}

/**
 * An MQTT v5 broker to embed in a Node.js process.
 *
 * ```ts
 * const broker = new MqttBroker({ authenticate: ({ username, password }) => check(username, password) });
 * const { tcp, ws } = await broker.listen({ tcp: { port: 1883 }, ws: { port: 8080 } });
 * broker.on('publish', (msg, client) => log(client?.clientId, msg.topic));
 * await broker.close();
 * ```
 */
export class MqttBroker extends EventEmitter<BrokerEventMap> {
  private readonly core: BrokerCore;
  private readonly network: Listeners;
  private closing: Promise<void> | null = null;
  private starting: Promise<BrokerStoreLoadStats | undefined> | null = null;
  private readonly persistenceOptions: MqttBrokerOptions['persistence'];
  private readonly customRetainedStore: boolean;

  /** Throws BrokerOptionsError for an option out of range. */
  constructor(options: MqttBrokerOptions = {}) {
    super();
    const resolved = resolveOptions(options);
    this.persistenceOptions = options.persistence;
    this.customRetainedStore = options.retainedStore !== undefined;
    this.core = new BrokerCore(resolved, this, options.sessionStore ?? new MemorySessionStore(), options.retainedStore ?? new MemoryRetainedStore());
    this.network = new Listeners(
      (socket, kind) => this.core.accept(socket, kind),
      (err) => this.emit('error', err),
      (err) => this.core.clientError(null, err),
      // A WebSocket frame holds at least one packet; leave room for a client that coalesces a few.
      Math.min(resolved.maximumPacketSize * 2 + 65_536, 512 * 1024 * 1024),
    );
  }

  /** Starts listeners (port 0: a free port) and resolves with their bound addresses. May be called more than once. */
  async listen(options: ListenOptions): Promise<ListenAddresses> {
    if (this.closing !== null) throw new BrokerClosedError();
    await this.start();
    return this.network.start(options);
  }

  /**
   * With the `persistence` option: opens the data directory and restores what it holds (sessions,
   * subscriptions, queued and in-flight messages, retained messages; expired sessions end and overdue
   * wills go out). Resolves with the counts, or undefined without persistence. Rejects with a
   * `StoreOpenError` / `StoreCorruptError` / `StoreVersionError` naming the path rather than start
   * empty. `listen()` calls it; call it first to restore before publishing from the application.
   * Idempotent.
   */
  start(): Promise<BrokerStoreLoadStats | undefined> {
    this.starting ??= (async () => {
      const p = this.persistenceOptions;
      if (p === undefined) return undefined;
      const store = DurableBrokerStore.open({
        dir: p.dir,
        ...(p.sync !== undefined ? { sync: p.sync } : {}),
        ...(p.flushIntervalMs !== undefined ? { flushIntervalMs: p.flushIntervalMs } : {}),
      });
      const persistence = new Persistence(
        store,
        (err) => this.core.clientError(null, err),
        () => this.core.flushNow(),
      );
      // Set first: wills and expiries handled while restoring are written through too.
      this.core.persistence = persistence;
      // Retained messages stay in the data file (read on demand) unless the application brought its own
      // retained store. What was retained in memory before start() ($SYS) carries over, unless the file
      // has the topic (as when the file was loaded over it).
      const previous = this.core.retained;
      const onDemand = !this.customRetainedStore && previous instanceof MemoryRetainedStore;
      if (onDemand) {
        const retained = new DurableRetainedStore(store);
        for (const m of previous.all()) if (retained.get(m.topic) === undefined) retained.set(m);
        this.core.retained = retained;
        persistence.retained = retained;
      }
      return restoreBroker(persistence, this.core, !onDemand);
    })();
    return this.starting;
  }

  /**
   * Stops listening, sends DISCONNECT 0x8B (Server shutting down) to every client, and resolves once
   * every socket is closed and every timer cleared. Idempotent.
   *
   * Wills: the broker closes these connections without having received DISCONNECT 0x00, so, as the spec
   * requires (3.1.2.5) and as Mosquitto does, the will of every connected client is published, and so is
   * every will still waiting for its Will Delay Interval (the broker's sessions end with it). They are
   * routed before the DISCONNECT 0x8B goes out, so connected subscribers receive them. A will whose
   * `authorizePublish` answers asynchronously is not published during shutdown.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopListening = this.network.close();
      // A start in progress finishes first, so that its store is closed too.
      await this.starting?.catch(() => undefined);
      await this.core.close();
      await stopListening;
    })();
    return this.closing;
  }

  /**
   * Publishes a message from the application to the broker's subscribers (and the retained store).
   * Throws MqttProtocolError for an invalid message (0x90: topic name; 0x81/0x82: QoS, properties; 0x99: a
   * payload that is not the UTF-8 its Payload Format Indicator announces).
   */
  publish(message: BrokerPublishOptions): void {
    if (this.closing !== null) throw new BrokerClosedError();
    validateTopicName(message.topic);
    const payload = typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload;
    const qos = message.qos ?? 0;
    const retain = message.retain ?? false;
    const properties = message.properties;
    if (properties?.topicAlias !== undefined || properties?.subscriptionIdentifier !== undefined) {
      throw new MqttProtocolError(0x82, 'a message of the broker carries no topic alias or subscription identifier');
    }
    if (properties?.payloadFormatIndicator === true && this.core.options.validatePayloadFormat && !isUtf8(payload)) {
      throw new MqttProtocolError(0x99, 'the payload is not valid UTF-8 although its Payload Format Indicator says it is');
    }
    // Validates QoS, payload and properties once, before any subscriber sees the message.
    encodedLength({ type: PacketType.PUBLISH, topic: message.topic, payload, qos, retain, dup: false, packetId: qos === 0 ? undefined : 1, properties });
    const msg = new Message(message.topic, payload, qos, retain, properties, null, this.core.now());
    this.core.publish(msg.own(), null);
  }

  /**
   * Disconnects a connected client with DISCONNECT `reasonCode` (default 0x98 Administrative action).
   * Returns false when no client with that id is connected.
   */
  disconnectClient(clientId: string, reasonCode = 0x98): boolean {
    const conn = this.core.clients.get(clientId);
    if (conn === undefined) return false;
    conn.disconnect(isReasonCodeAllowed(PacketType.DISCONNECT, reasonCode) ? reasonCode : 0x98);
    return true;
  }

  /** Whether a client with this id is connected. */
  isConnected(clientId: string): boolean {
    return this.core.clients.has(clientId);
  }

  /** Current counters and gauges. */
  metrics(): BrokerMetrics {
    return this.core.metrics();
  }
}
