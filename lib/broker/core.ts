/**
 * The broker's engine, shared by all connections: sessions and their lifetime, admission and takeover,
 * publishing (retained store, routing, wills), shared-subscription redistribution, batched flushing,
 * metrics and shutdown. {@link MqttBroker} is its public face.
 *
 * Slightly over 500 lines: it is the one object every connection, session and the router call back
 * into (ConnectionHost, SessionHost, RouterHost, RestoreHost); flow control, $SYS, persistence and the
 * will timers already live in their own files, and what is left is the glue between them.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { PacketDecoder, type ProtocolVersion, type QoS, type Will } from '../codec/index.js';
import type { ClientInfo, TransportKind } from './auth.js';
import { isThenable } from './auth.js';
import { Connection } from './connection.js';
import { ConnState, type Admission, type ClientSocket, type ConnectionHost, type Flushable, type ProtocolConnection } from './connection-contract.js';
import { HookError } from './errors.js';
import { FlowControl } from './flow-control.js';
import type { BrokerEventMap, DeniedAction, DisconnectInitiator } from './events.js';
import { Message } from './message.js';
import type { ResolvedOptions } from './options.js';
import { REFUSED, Router, type RouterHost } from './router.js';
import { Session, type DropReason, type SessionHost } from './session.js';
import type { RetainedMessage, RetainedStore, SessionStore } from './store.js';
import type { Persistence } from './store/persistence.js';
import type { RestoreHost } from './store/restore.js';
import { Supervisor } from './supervisor.js';
import { SysTopics, Traffic } from './sys-topics.js';
import { setLongTimeout } from './timers.js';
import { TopicTree, type SharedGroup, type SubscriptionEntry, type SubscriptionOptions } from './topic-tree.js';
import { WillScheduler, willPublishProperties } from './will.js';

/** Counters and gauges of a running broker. */
export interface BrokerMetrics {
  /** Open network connections (connected or still connecting). */
  connections: number;
  /** Connected clients (CONNACK 0x00 sent). */
  clients: number;
  /** Sessions, connected or not. */
  sessions: number;
  /** Subscriptions in the tree (shared members included). */
  subscriptions: number;
  retainedMessages: number;
  /** Wills waiting for their delay. */
  pendingWills: number;
  /** PUBLISH packets accepted (plus wills and broker-originated messages). */
  messagesReceived: number;
  /** Deliveries to sessions (sent at once or queued). */
  messagesRouted: number;
  /** Messages not delivered to a client (see the `drop` event). */
  droppedMessages: number;
  /** PUBLISH packets refused by `authorizePublish` (or sent to `$SYS`); see the `denied` event. */
  deniedPublishes: number;
  /** Subscriptions refused by `authorizeSubscribe`; see the `denied` event. */
  deniedSubscriptions: number;
  /** Bytes read from client sockets. */
  bytesReceived: number;
  /** Bytes written to client sockets. */
  bytesSent: number;
  /** {@link droppedMessages} by reason. */
  droppedByReason: Record<DropReason, number>;
  /** QoS 1/2 PUBLISHes answered 0x97 (Quota exceeded) because a subscriber's queue could not keep them. */
  refusedMessages: number;
  /** Bytes queued in all sessions (see `maxQueuedBytes`, `maxTotalQueuedBytes`). */
  queuedBytes: number;
}


/** The broker engine (internal; see MqttBroker for the API). */
export class BrokerCore implements SessionHost, ConnectionHost, RouterHost, RestoreHost {
  readonly tree = new TopicTree<Session>();
  readonly router = new Router(this.tree, this);
  readonly wills: WillScheduler;
  /** Connected clients by client identifier. */
  readonly clients = new Map<string, ProtocolConnection>();
  /** Every open connection, connected or not. */
  readonly connections = new Set<Connection>();
  closing = false;
  /** Connect timeouts and keep alive of every connection, on one timer. */
  readonly supervisor: Supervisor;
  /** Which publishers are held back, for which subscribers; the broker-wide account of queued bytes. */
  readonly flow: FlowControl;
  /** Write-through to the broker store (the `persistence` option), or null: nothing is stored. */
  persistence: Persistence | null = null;

  /** The decoders lent to connections between packets (see borrowDecoder): index 0 detects the level, 3/4/5 decode it. */
  private readonly decoders: (PacketDecoder | undefined)[] = [];
  /** Which of {@link decoders} are lent out (bit per index). */
  private decodersLent = 0;
  private messagesReceived = 0;
  private messagesRouted = 0;
  private droppedMessages = 0;
  private deniedPublishes = 0;
  private deniedSubscriptions = 0;
  readonly traffic = new Traffic();
  /** The `$SYS` publisher, when options.sysInterval > 0. */
  private sys: SysTopics | null = null;
  private readonly droppedByReason: Record<DropReason, number> = { queueFull: 0, memoryLimit: 0, packetTooLarge: 0, noSubscriberAvailable: 0, notAuthorized: 0 };
  private refusedMessages = 0;
  private flushQueue: Flushable[] = [];
  private flushSpare: Flushable[] = [];
  private flushImmediate: NodeJS.Immediate | null = null;
  private drained: (() => void) | null = null;

  constructor(
    readonly options: ResolvedOptions,
    readonly events: EventEmitter<BrokerEventMap>,
    readonly sessions: SessionStore,
    /** Replaced once at start with persistence (retained messages then read from the data file). */
    public retained: RetainedStore,
  ) {
    this.wills = new WillScheduler((will, client, session) => {
      this.publishWill(will, client, session);
      this.persistence?.willDone(session);
    });
    this.supervisor = new Supervisor(Supervisor.intervalFor(options.connectTimeout), () => {
      for (const conn of this.connections) conn.supervise();
      this.flow.supervise();
    });
    this.flow = new FlowControl(options, this.supervisor);
    if (options.sysInterval > 0) this.sys = new SysTopics(this, options.sysInterval);
  }

  private newDecoder(level: ProtocolVersion | undefined): PacketDecoder {
    return new PacketDecoder({ maximumPacketSize: this.options.maximumPacketSize, protocolVersion: level ?? 'detect' });
  }

  /**
   * A decoder for one read at protocol `level` (undefined: before CONNECT, the decoder detects it).
   * Connections share one per level between packets, which spares each idle connection the decoder's
   * memory; a nested read (not expected: decoding is synchronous) gets a fresh one.
   */
  borrowDecoder(level: ProtocolVersion | undefined): PacketDecoder {
    const i = level ?? 0;
    const bit = 1 << i;
    if ((this.decodersLent & bit) !== 0) return this.newDecoder(level);
    this.decodersLent |= bit;
    return (this.decoders[i] ??= this.newDecoder(level));
  }

  /**
   * Takes a decoder back after a read. Returns it to the connection when it holds part of a packet
   * (or failed): the connection keeps it, and the core makes itself a new shared one. A detecting
   * decoder that has seen a CONNECT now decodes that level, so it is not shared again.
   */
  returnDecoder(d: PacketDecoder): PacketDecoder | null {
    const keep = d.hasPartialPacket || d.error !== undefined;
    const decoders = this.decoders;
    const i = d === decoders[5] ? 5 : d === decoders[0] ? 0 : d === decoders[4] ? 4 : d === decoders[3] ? 3 : -1;
    if (i !== -1) {
      this.decodersLent &= ~(1 << i);
      if (keep || (i === 0 && d.protocolVersion !== undefined)) decoders[i] = undefined;
    }
    return keep ? d : null;
  }

  now(): number {
    return Date.now();
  }

  // Connections -----------------------------------------------------------------------------------------

  /** A new network connection. Past maxConnections plus a margin for refusals, it is dropped at once. */
  accept(socket: ClientSocket, transport: TransportKind): void {
    const max = this.options.maxConnections;
    if (this.closing || this.connections.size >= max + Math.max(64, max >> 4)) {
      socket.destroy();
      return;
    }
    this.connections.add(new Connection(this, socket, transport));
    this.supervisor.start();
  }

  /** The socket of `conn` closed. */
  connectionClosed(conn: ProtocolConnection): void {
    this.connections.delete(conn as Connection);
    if (this.connections.size === 0) {
      this.supervisor.stop();
      this.drained?.();
    }
  }

  /** A client identifier for a client that sent an empty one (spec 3.1.3.1). */
  assignClientId(): string {
    let id: string;
    do id = `auto-${randomUUID()}`;
    while (this.sessions.get(id) !== undefined);
    return id;
  }

  /**
   * Admits an authenticated CONNECT: refuses past maxConnections (0x89), takes over a connected
   * client with the same id (DISCONNECT 0x8E), and finds or creates the session per Clean Start.
   */
  admit(conn: ProtocolConnection, cleanStart: boolean): Admission | number {
    const id = conn.clientId;
    const old = this.clients.get(id);
    if (old === undefined && this.clients.size >= this.options.maxConnections) return 0x89;
    if (old !== undefined) old.takeOver(cleanStart);
    let session = this.sessions.get(id);
    let sessionPresent = false;
    if (session !== undefined) {
      if (cleanStart) {
        this.endSession(session);
        session = undefined;
      } else {
        sessionPresent = true;
        session.expiryTimer?.cancel();
        session.expiryTimer = null;
        // A new connection to the session before the will delay elapsed: no will (MQTT-3.1.3-9).
        this.wills.cancel(session);
      }
    }
    if (session === undefined) {
      session = new Session(id, this);
      this.sessions.set(id, session);
    }
    this.clients.set(id, conn);
    return { session, sessionPresent };
  }

  /** CONNACK 0x00 went out. */
  connected(conn: ProtocolConnection, sessionPresent: boolean): void {
    if (this.events.listenerCount('connect') !== 0) this.events.emit('connect', conn.info, sessionPresent);
  }

  /**
   * A connected client's connection ended: schedule its will, redistribute shared messages it had not
   * acknowledged, and end the session now (expiry 0) or arm its expiry timer.
   */
  clientGone(conn: ProtocolConnection, initiator: DisconnectInitiator, reasonCode: number | undefined): void {
    const session = conn.session!;
    if (this.clients.get(conn.clientId) === conn) this.clients.delete(conn.clientId);
    if (session.link === conn) session.detach();
    const will = conn.will;
    // While closing, close() has published the will already.
    let willPublished = this.closing && will !== null;
    if (!this.closing) {
      if (session.sharedCount !== 0) this.redistributeShared(session, false);
      const takeover = conn.takenOver;
      if (takeover !== null) {
        // Like Mosquitto: the will goes out when the session ends with the takeover, else it is dropped.
        if (session.expiryInterval === 0 || takeover.cleanStart) {
          if (will !== null) {
            this.publishWill(will, conn.info, session);
            willPublished = true;
          }
          this.endSession(session);
        }
      } else {
        if (will !== null) {
          this.wills.schedule(session, will, conn.info);
          willPublished = true;
        }
        if (session.expiryInterval === 0) this.endSession(session);
        else if (session.expiryInterval !== 0xffff_ffff) {
          session.expiryTimer = setLongTimeout(() => this.endSession(session), session.expiryInterval * 1000);
        }
      }
    }
    // A session that outlives its connection is stored as offline (with the will waiting for its delay).
    if (this.persistence !== null && this.sessions.get(session.clientId) === session && session.link === null) {
      this.persistence.sessionDisconnected(session, this.wills.pendingFor(session), this.now());
    }
    this.events.emit('disconnect', conn.info, { initiator, reasonCode, willPublished });
  }

  /** Ends a session: its pending will goes out, its subscriptions and messages are dropped. */
  endSession(session: Session): void {
    session.expiryTimer?.cancel();
    session.expiryTimer = null;
    this.wills.fire(session);
    this.persistence?.sessionEnded(session);
    if (session.sharedCount !== 0) this.redistributeShared(session, true);
    const subs = session.subscriptions;
    if (subs !== null) for (const filter of subs.keys()) this.tree.remove(filter, session);
    session.subscriptions = null;
    session.sharedCount = 0;
    session.inboundQoS2 = null;
    session.clearMessages();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  /**
   * Hands the shared-subscription messages `session` has not acknowledged to another member of their
   * group: to a connected one when the client merely went offline, to any other when the session ends.
   */
  private redistributeShared(session: Session, ending: boolean): void {
    const connected = (e: { owner: Session }): boolean => e.owner.link !== null;
    const hasOtherConnected = (g: SharedGroup<Session>): boolean => g.members.some((m) => m.owner !== session && m.owner.link !== null);
    const taken = session.takeShared((d) => !ending && !hasOtherConnected(d.group!));
    const now = this.now();
    for (const d of taken) {
      if (d.message.isExpired(now)) continue;
      const m = d.group!.pick(connected, session);
      if (m === undefined) {
        this.dropped(session, d.message, d.qos, 'noSubscriberAvailable');
        continue;
      }
      const qos = (m.qos < d.message.qos ? m.qos : d.message.qos) as QoS;
      m.owner.deliver(d.message, qos, m.retainAsPublished && d.message.retain, m.subscriptionId === 0 ? undefined : m.subscriptionId, d.group);
    }
  }

  // Publishing ------------------------------------------------------------------------------------------

  /**
   * Stores (retained), routes and reports an accepted message; returns the number of deliveries, or
   * {@link REFUSED} when a subscriber's queue could not keep it at QoS 1/2 (the publisher is told 0x97;
   * the subscribers that could take it got it, and the one that could not got a `drop` event).
   */
  publish(msg: Message, client: ClientInfo | null): number {
    this.messagesReceived++;
    const n = this.router.route(msg);
    if (n === REFUSED) this.refusedMessages++;
    else this.messagesRouted += n;
    // A message refused (0x97) was not accepted: it does not replace the retained one either.
    if (msg.retain && n !== REFUSED) {
      if (msg.payload.length === 0) {
        this.retained.delete(msg.topic);
        this.persistence?.retainedChanged(msg.topic, null);
      } else {
        const r = new Message(msg.topic, msg.own().payload, msg.qos, true, msg.properties, null, 0, msg.expiresAt);
        this.retained.set(r);
        this.persistence?.retainedChanged(msg.topic, r);
      }
    }
    if (this.flow.memoryFull) this.flow.holdForMemory(msg.origin);
    this.events.emit('publish', msg, client);
    return n;
  }

  /** Publishes a will (after the authorizePublish hook, when configured). */
  publishWill(will: Will, client: ClientInfo, session: Session): void {
    const msg = new Message(will.topic, will.payload, will.qos, will.retain, willPublishProperties(will.properties), session, this.now());
    const hook = this.options.authorizePublish;
    if (hook === undefined) {
      this.publish(msg, client);
      return;
    }
    const allowed = (r: boolean | number): boolean => r === true || (typeof r === 'number' && r < 0x80);
    try {
      const r = hook(client, msg, true);
      if (!isThenable(r)) {
        if (allowed(r)) this.publish(msg, client);
        return;
      }
      r.then(
        (res) => {
          if (allowed(res) && !this.closing) this.publish(msg, client);
        },
        (err: unknown) => this.clientError(client, new HookError('authorizePublish', 0x80, err)),
      );
    } catch (err) {
      this.clientError(client, new HookError('authorizePublish', 0x80, err));
    }
  }

  /**
   * A `$SYS` statistic: retained and routed like a broker message, but neither counted as received nor
   * reported by the `publish` event (it would flood `-vv` logs every interval).
   */
  publishSys(topic: string, payload: string): void {
    const msg = new Message(topic, Buffer.from(payload), 0, true, undefined, null, 0);
    this.retained.set(msg);
    this.messagesRouted += this.router.route(msg);
  }

  /** Sends the retained messages matching `filter` to `session` (after SUBACK), with retain set. */
  sendRetained(session: Session, filter: string, qos: QoS, subscriptionId: number): void {
    const found: RetainedMessage[] = [];
    // A subscription granted partly readable (deliveryFilter) gets only the retained messages it may read.
    const deliverIf = session.subscriptions?.get(filter)?.deliverIf;
    this.retained.match(filter, deliverIf == null ? (m) => found.push(m) : (m) => deliverIf(m.topic) && found.push(m));
    const now = this.now();
    for (const m of found) {
      if (m.expiresAt !== 0 && m.expiresAt <= now) {
        this.retained.delete(m.topic);
        this.persistence?.retainedChanged(m.topic, null);
        continue;
      }
      const msg = Message.from(m, now);
      session.deliver(msg, (msg.qos < qos ? msg.qos : qos) as QoS, true, subscriptionId === 0 ? undefined : subscriptionId, null);
    }
  }

  // Reporting -------------------------------------------------------------------------------------------

  dropped(session: Session, message: Message, qos: QoS, reason: DropReason): void {
    this.droppedMessages++;
    this.droppedByReason[reason]++;
    if (this.events.listenerCount('drop') !== 0) this.events.emit('drop', { clientId: session.clientId, message, qos, reason });
  }

  // Flow control (flow-control.ts) ----------------------------------------------------------------------

  holdBack(publisher: object | null, routes: readonly (Session | undefined)[], count: number): void {
    this.flow.holdBack(publisher, routes, count);
  }

  release(subscriber: Session): void {
    this.flow.release(subscriber);
  }

  checkSlowConsumer(subscriber: Session): void {
    this.flow.checkSlowConsumer(subscriber);
  }

  get memoryFull(): boolean {
    return this.flow.memoryFull;
  }

  queuedBytesChanged(delta: number): void {
    this.flow.queuedBytesChanged(delta);
  }

  denied(client: ClientInfo, action: DeniedAction, topic: string, reasonCode: number): void {
    if (action === 'publish') this.deniedPublishes++;
    else this.deniedSubscriptions++;
    if (this.events.listenerCount('denied') !== 0) this.events.emit('denied', client, { action, topic, reasonCode });
  }

  clientError(client: ClientInfo | null, err: Error): void {
    this.events.emit('clientError', client, err);
  }

  metrics(): BrokerMetrics {
    return {
      connections: this.connections.size,
      clients: this.clients.size,
      sessions: this.sessions.size,
      subscriptions: this.tree.size,
      retainedMessages: this.retained.size,
      pendingWills: this.wills.size,
      messagesReceived: this.messagesReceived,
      messagesRouted: this.messagesRouted,
      droppedMessages: this.droppedMessages,
      deniedPublishes: this.deniedPublishes,
      deniedSubscriptions: this.deniedSubscriptions,
      bytesReceived: this.traffic.bytesReceived,
      bytesSent: this.traffic.bytesSent,
      droppedByReason: { ...this.droppedByReason },
      refusedMessages: this.refusedMessages,
      queuedBytes: this.flow.queuedBytes,
    };
  }

  // Batched writes --------------------------------------------------------------------------------------

  /** `conn` has bytes to write: flush it (with every other such connection) once this turn's I/O is done. */
  scheduleFlush(conn: Flushable): void {
    this.flushQueue.push(conn);
    if (this.flushImmediate === null) this.flushImmediate = setImmediate(this.flushAll);
  }

  /** Writes what is batched now instead of at the end of the turn (a group commit released acks). */
  flushNow(): void {
    if (this.flushImmediate === null) return;
    clearImmediate(this.flushImmediate);
    this.flushAll();
  }

  private readonly flushAll = (): void => {
    this.flushImmediate = null;
    // A connection whose bytes show state not yet durable holds them itself (see Persistence).
    const list = this.flushQueue;
    this.flushQueue = this.flushSpare;
    this.flushSpare = list;
    for (let i = 0; i < list.length; i++) list[i]!.flush();
    list.length = 0;
  };

  // Shutdown --------------------------------------------------------------------------------------------

  /**
   * Publishes the wills of connected clients and every pending will (see MqttBroker.close), then sends
   * DISCONNECT 0x8B to every connected client, closes every connection and clears every timer.
   * Sessions and retained messages stay in their stores.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.supervisor.stop();
    this.sys?.stop();
    // The server ends these connections without DISCONNECT 0x00 (spec 3.1.2.5): their wills go out,
    // before the DISCONNECTs, so that the subscribers still connected receive them.
    for (const conn of [...this.clients.values()]) {
      if (conn.will !== null && conn.session !== null) this.publishWill(conn.will, conn.info, conn.session);
    }
    // A delay cannot outlast the broker: pending wills go out now.
    this.wills.fireAll();
    for (const s of this.sessions.values()) {
      s.expiryTimer?.cancel();
      s.expiryTimer = null;
    }
    for (const conn of [...this.connections]) {
      if (conn.state === ConnState.Connected) conn.disconnect(0x8b, 'server shutting down');
      else conn.close(null, 'server', undefined);
    }
    if (this.flushImmediate !== null) {
      clearImmediate(this.flushImmediate);
      this.flushAll();
    }
    if (this.connections.size !== 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      this.drained = null;
    }
    const persistence = this.persistence;
    if (persistence !== null) {
      this.persistence = null;
      await persistence.close();
    }
  }

  // Restore (RestoreHost) ---------------------------------------------------------------------------------

  createSession(clientId: string): Session {
    const session = new Session(clientId, this);
    this.sessions.set(clientId, session);
    return session;
  }

  subscribe(session: Session, filter: string, options: SubscriptionOptions): SubscriptionEntry<Session> {
    return this.tree.add(filter, session, options).entry;
  }

  retain(message: RetainedMessage): void {
    this.retained.set(message);
  }

  scheduleWill(session: Session, will: Will, client: ClientInfo, delayMs: number): void {
    this.wills.schedule(session, will, client, delayMs);
  }

  scheduleExpiry(session: Session, ms: number): void {
    session.expiryTimer = setLongTimeout(() => this.endSession(session), ms);
  }
}
