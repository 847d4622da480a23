/**
 * MqttClient: the reconnecting MQTT v5 client of the seed, in TypeScript idiom — the session above
 * its network connections (paho.golang's `autopaho`). Each connection is a {@link ClientConnection}
 * (client-connection.ts) that owns everything living exactly as long as it: handshake, server
 * limits, send quota, topic aliases, re-send queue, inbound acks, keepalive. The client keeps what
 * outlives a connection — options, session store and packet ids, requests, subscriptions, receivers —
 * plus the reconnect policy and session resumption, and the public API.
 *
 * - `connect()` sends CONNECT and resolves with the CONNACK; afterwards a lost connection is
 *   re-established with exponential backoff and jitter, sending the same CONNECT (cleanStart false,
 *   the assigned client id), and the session resumes: with session present the in-flight messages
 *   are re-sent (PUBLISH with DUP, or PUBREL for QoS 2 flows past PUBREC); without, every active
 *   subscription is re-subscribed (event 'resubscribed' per filter) and QoS 1/2 flows restart.
 * - `publish()` resolves when written (QoS 0), on PUBACK (QoS 1) or PUBCOMP (QoS 2); it honours the
 *   server's Receive Maximum, Maximum Packet Size, Maximum QoS, Retain Available and Topic Alias
 *   Maximum. Publishes wait in a bounded, ordered queue while disconnected or over the limits.
 * - `subscribe()` routes messages to a MessageReceiver (pull) or a callback (push). Received QoS 1/2
 *   messages are acknowledged once handed over, or — with `manualAck` — when the application calls
 *   `ack()` (see inbound.ts).
 */
import { EventEmitter } from 'node:events';
import {
  PacketType,
  encodePacket,
  isReasonCodeAllowed,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type DisconnectPacket,
  type PublishPacket,
  type SubackPacket,
  type UnsubackPacket,
} from '../codec/index.js';
import type { Authenticator } from './auth.js';
import { buildConnect, buildPublish, connectPacketFor, checkSubscribeAllowed, validateSubscribe, validateUnsubscribe } from './build.js';
import { ClientConnection, DEFAULT_LIMITS, type ConnectionHost } from './client-connection.js';
import type { Connection, MqttStream } from './connection.js';
import { asClientError, asConnectFailure, asConnectionError } from './error-utils.js';
import {
  ClientClosedError,
  ClientStateError,
  ConnectTimeoutError,
  MqttClientError,
  NotConnectedError,
  SubscribeError,
} from './errors.js';
import type {
  ClientState,
  ConnectOptions,
  DisconnectOptions,
  MqttClientEvents,
  MqttClientOptions,
  PublishOptions,
  ServerLimits,
  SubscribeOptions,
  UnsubscribeOptions,
} from './options.js';
import { MessageReceiver, type MqttMessage } from './receiver.js';
import { reconnectBackoff, type ExponentialBackoff } from './reconnect.js';
import type { PendingRequest } from './requests.js';
import { MemorySessionStore, type PublishResult } from './session.js';
import { SessionState } from './session-state.js';
import { resolveSettings, type ClientSettings } from './settings.js';
import type { MessageSink } from './subscriptions.js';

const { PUBACK, PUBREC, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT } = PacketType;

/** The reconnecting MQTT v5 client. See the module comment, and README for examples. */
export class MqttClient extends EventEmitter<MqttClientEvents> {
  /** The network connection factory given to the constructor. */
  readonly connection: Connection;

  // Process lifetime: options, reconnect policy, lifecycle.
  private readonly opts: ClientSettings;
  private readonly backoff: ExponentialBackoff;
  /** What connections report to; kept off the public surface of the client. */
  private readonly host: ConnectionHost;
  private stateValue: ClientState = 'idle';
  private connectAbort: AbortController | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  // Session lifetime (outlives connections; resumed on each): set by connect(), or from CONNACK.
  private readonly session: SessionState;
  /** CONNECT as given to connect(); reconnects derive from it. */
  private connectTemplate: ConnectPacket | undefined;
  private authenticator: Authenticator | undefined;
  private currentClientId = '';

  // One network connection each.
  /**
   * The established connection: the current one, or the last one until the next CONNACK. Kept after
   * its loss because the acks of its messages still count until then (see ClientConnection.ack), and
   * for the getters that describe the last connection.
   */
  private conn: ClientConnection | undefined;
  /** The connection whose handshake is in progress. */
  private attempt: ClientConnection | undefined;

  constructor(connection: Connection, options: MqttClientOptions = {}) {
    super();
    this.connection = connection;
    this.opts = resolveSettings(options);
    this.backoff = reconnectBackoff(options);
    this.session = new SessionState(options.sessionStore ?? new MemorySessionStore(), {
      pauseReading: () => this.conn?.pauseReading(),
      resumeReading: () => this.conn?.resumeReading(),
      handlerFailed: (error) => this.reportError(error instanceof Error ? error : new Error(String(error))),
      resubscribed: (result) => this.safeEmit('resubscribed', result),
    });
    this.host = {
      connackReceived: (conn, connack) => this.onConnack(conn, connack),
      connectionLost: (conn, error) => this.onConnectionLost(conn, error),
      unhandled: (msg) => this.unhandled(msg),
    };
  }

  // ---------------------------------------------------------------- state

  /** Whether a connection is established (CONNACK received and not lost since). */
  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  /** Lifecycle state: idle → connecting → connected ⇄ reconnecting → closing → closed. */
  get state(): ClientState {
    return this.stateValue;
  }

  /** The client identifier in use: the one given, or the one the server assigned. */
  get clientId(): string {
    return this.currentClientId;
  }

  /** The CONNACK of the current (or last) connection. */
  get connack(): ConnackPacket | undefined {
    return this.conn?.connack;
  }

  /** What the server allows on the current connection. */
  get serverLimits(): Readonly<ServerLimits> {
    return this.conn?.limits ?? DEFAULT_LIMITS;
  }

  /** The session expiry in force: the server's value from CONNACK if it sent one, else ours (seconds). */
  get sessionExpiryInterval(): number {
    return this.conn?.sessionExpiry ?? 0;
  }

  /** QoS 1/2 publishes sent and not yet completed (including those awaiting re-send after a reconnect). */
  get inflightCount(): number {
    return this.session.store.inflightCount;
  }

  /** Publishes waiting to be sent. */
  get pendingCount(): number {
    return this.session.store.pendingCount;
  }

  // ---------------------------------------------------------------- connect

  /**
   * Connects and resolves with the CONNACK. Rejects with ConnackError (the CONNACK's reason code)
   * when the server refuses, ConnectTimeoutError, ConnectionLostError for network failures, or
   * ClientClosedError if `disconnect()` is called meanwhile. A failed first connect does not start
   * reconnecting; after a successful one, losses are handled by reconnecting.
   */
  async connect(options: ConnectOptions = {}): Promise<ConnackPacket> {
    if (this.stateValue !== 'idle' && this.stateValue !== 'closed') {
      throw new ClientStateError(`connect() called while ${this.stateValue}`);
    }
    this.connectTemplate = buildConnect(options);
    this.authenticator = options.authenticator;
    this.currentClientId = this.connectTemplate.clientId;
    this.backoff.reset();
    this.stateValue = 'connecting';
    try {
      return await this.establish(false);
    } catch (error) {
      if (this.stateValue === 'connecting') {
        this.stateValue = 'idle';
        // Publishes and subscribes made during the attempt cannot go anywhere now.
        this.session.settle(error as MqttClientError, true, this.conn);
      }
      throw error;
    }
  }

  /** Opens the network connection, and has a new ClientConnection send CONNECT and wait for a successful CONNACK. */
  private async establish(reconnect: boolean): Promise<ConnackPacket> {
    const abort = new AbortController();
    this.connectAbort = abort;
    const timeoutMs = this.opts.connectTimeout;
    const timer = setTimeout(() => abort.abort(new ConnectTimeoutError(timeoutMs)), timeoutMs);
    let conn: ClientConnection | undefined;
    try {
      const connect = await connectPacketFor(this.connectTemplate!, this.currentClientId, reconnect, this.authenticator);
      let stream: MqttStream;
      try {
        stream = await this.connection.connect(abort.signal);
      } catch (error) {
        throw abort.signal.aborted ? abort.signal.reason : asConnectionError(error, this.connection.brokerUrl);
      }
      if (abort.signal.aborted) {
        stream.destroy();
        throw abort.signal.reason;
      }
      conn = new ClientConnection(stream, connect, this.opts, this.authenticator, this.session, this.host);
      this.attempt = conn;
      return await conn.handshake(abort.signal);
    } catch (error) {
      if (conn !== undefined && this.attempt === conn) {
        this.attempt = undefined;
        conn.destroy();
        this.connection.close();
      }
      throw asConnectFailure(error, this.connection.brokerUrl);
    } finally {
      clearTimeout(timer);
      if (this.connectAbort === abort) this.connectAbort = undefined;
    }
  }

  /**
   * A successful CONNACK on `conn`, which has applied the server's limits: it becomes the client's
   * connection and the session resumes on it. Synchronous, so that packets after it see the new state.
   */
  private onConnack(conn: ClientConnection, connack: ConnackPacket): void {
    const assigned = connack.properties?.assignedClientIdentifier;
    if (assigned !== undefined) this.currentClientId = assigned;
    // Acks of the previous connection's messages must no longer touch the session (its ids may be reused now).
    this.conn?.supersede();
    this.conn = conn;
    if (this.attempt === conn) this.attempt = undefined;

    const reconnected = this.stateValue === 'reconnecting';
    this.stateValue = 'connected';
    this.session.resume(conn, connack.sessionPresent);

    this.safeEmit('connected', connack);
    if (reconnected) this.safeEmit('reconnected', { sessionPresent: connack.sessionPresent, connack });
  }

  // ---------------------------------------------------------------- connection loss and reconnect

  /** The established connection was lost (it has already dropped its own state). */
  private onConnectionLost(conn: ClientConnection, error: MqttClientError): void {
    if (conn !== this.conn) return;
    this.connection.close();
    if (this.stateValue !== 'connected') return;
    this.stateValue = 'reconnecting';
    this.safeEmit('disconnected', error);
    this.scheduleReconnect(error);
  }

  private scheduleReconnect(error: MqttClientError): void {
    const policy = this.opts.reconnect;
    let again = true;
    if (typeof policy === 'function') {
      try {
        again = policy(error) === true;
      } catch (policyError) {
        // A throwing policy cannot decide: keep reconnecting (the client's purpose) and report it.
        this.reportError(policyError instanceof Error ? policyError : new Error(String(policyError)));
      }
    } else {
      again = policy;
    }
    if (!again) {
      this.stateValue = 'closed';
      this.session.settle(error, this.sessionExpiryInterval > 0, this.conn);
      this.safeEmit('closed', error);
      return;
    }
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(this.reconnectNow, delay);
    this.safeEmit('reconnecting', { attempt: this.backoff.attempt, delay, error });
  }

  private readonly reconnectNow = (): void => {
    this.reconnectTimer = undefined;
    if (this.stateValue !== 'reconnecting') return;
    this.establish(true).then(
      () => this.backoff.reset(),
      (error: MqttClientError) => {
        if (this.stateValue === 'reconnecting') this.scheduleReconnect(error);
      },
    );
  };

  // ---------------------------------------------------------------- disconnect

  /**
   * Sends DISCONNECT (reason code and properties as given; 0x04 makes the server publish the will),
   * closes the connection and stops reconnecting. Every pending publish, subscribe and unsubscribe
   * rejects with ClientClosedError; receivers are closed (iteration ends after their queued messages).
   * QoS 1/2 messages in flight stay in the session store when the session outlives the connection,
   * to be completed by a later `connect()` that resumes the session. Idempotent.
   */
  disconnect(options: DisconnectOptions = {}): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.stateValue === 'idle' || this.stateValue === 'closed') return Promise.resolve();
    const packet: DisconnectPacket = { type: DISCONNECT, reasonCode: options.reasonCode ?? 0, properties: options.properties };
    let bytes: Buffer;
    try {
      bytes = encodePacket(packet);
    } catch (error) {
      return Promise.reject(asClientError(error));
    }
    this.closing = this.close(bytes, packet, options).finally(() => {
      this.closing = undefined;
    });
    return this.closing;
  }

  private async close(bytes: Buffer, packet: DisconnectPacket, options: DisconnectOptions): Promise<void> {
    const error = new ClientClosedError(packet.reasonCode);
    const wasConnected = this.stateValue === 'connected';
    this.stateValue = 'closing';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.connectAbort?.abort(error);
    // Connected: the established connection is live and ends with our DISCONNECT. Otherwise at most
    // a handshake is in progress, and is cut short.
    const live = wasConnected ? this.conn : undefined;
    const attempt = this.attempt;
    this.attempt = undefined;
    const expiry = options.properties?.sessionExpiryInterval ?? this.sessionExpiryInterval;
    this.session.settle(error, expiry > 0, this.conn);
    if (live !== undefined) {
      await live.end(bytes, this.opts.disconnectTimeout);
    } else {
      attempt?.destroy();
    }
    this.connection.close();
    this.stateValue = 'closed';
    if (wasConnected) this.safeEmit('disconnected', error);
    this.safeEmit('closed', error);
  }

  // ---------------------------------------------------------------- publish

  /**
   * Publishes an application message. Resolves when written to the network (QoS 0), on PUBACK
   * (QoS 1) or on PUBCOMP (QoS 2), with that ack. Rejects with PublishError carrying the reason code
   * of an error PUBACK/PUBREC, or of a local refusal: 0x90 invalid topic, 0x95 larger than the
   * server's Maximum Packet Size, 0x9B QoS above its Maximum QoS, 0x9A retain not available, 0x94
   * invalid topic alias. QueueFullError when `maxPendingPublishes` are waiting; NotConnectedError
   * before `connect()` or after `disconnect()`.
   */
  publish(options: PublishOptions): Promise<PublishResult> {
    const state = this.stateValue;
    if (state === 'idle' || state === 'closed' || state === 'closing') {
      return Promise.reject(new NotConnectedError());
    }
    // While connected, `conn` is the live connection.
    const live = state === 'connected' ? this.conn : undefined;
    let packet: PublishPacket;
    try {
      packet = buildPublish(options, live);
    } catch (error) {
      return Promise.reject(error);
    }
    if (live !== undefined) {
      // Fast path: nothing queued ahead of it, so it goes straight into this tick's batch.
      const sent = live.trySend(packet);
      if (sent !== undefined) return sent;
    } else if (packet.qos === 0 && !this.opts.queueQoS0) {
      return Promise.reject(new NotConnectedError('Not connected, and queueQoS0 is false'));
    }
    return this.session.enqueue(packet, this.opts.maxPendingPublishes);
  }

  // ---------------------------------------------------------------- subscribe / unsubscribe

  /**
   * Subscribes and resolves with the SUBACK (one reason code per filter; filters refused by the
   * server are dropped locally). Messages go to `sink`: a MessageReceiver (pull) or a callback
   * (push), by subscription identifier when the server echoes one, else by filter matching.
   * Rejects with SubscribeError for a local refusal: 0x8F invalid filter, 0x82 noLocal on a shared
   * subscription or a bad identifier, 0xA2/0x9E/0xA1 wildcard/shared/identifier not supported by the
   * server, 0x95 too large.
   */
  subscribe(options: SubscribeOptions, sink: MessageSink): Promise<SubackPacket> {
    const state = this.stateValue;
    if (state === 'idle' || state === 'closed' || state === 'closing') return Promise.reject(new NotConnectedError());
    const subscriptions = options.subscriptions;
    try {
      validateSubscribe(options);
      if (!(sink instanceof MessageReceiver) && typeof sink !== 'function') {
        throw new SubscribeError(0x80, 'subscribe() needs a MessageReceiver or a callback');
      }
      if (state === 'connected') checkSubscribeAllowed(this.conn!.limits, subscriptions, options.properties?.subscriptionIdentifier);
    } catch (error) {
      return Promise.reject(error);
    }
    const group = { identifier: options.properties?.subscriptionIdentifier, userProperties: options.properties?.userProperties };
    const entries = this.session.subscriptions.add(subscriptions, group, sink);
    return this.request({ type: SUBSCRIBE, subscriptions, properties: options.properties, entries, resubscribe: false });
  }

  /**
   * Unsubscribes and resolves with the UNSUBACK. Messages for these filters stop being delivered at
   * once. Rejects with UnsubscribeError 0x8F for an invalid filter.
   */
  unsubscribe(options: UnsubscribeOptions): Promise<UnsubackPacket> {
    const state = this.stateValue;
    if (state === 'idle' || state === 'closed' || state === 'closing') return Promise.reject(new NotConnectedError());
    try {
      validateUnsubscribe(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const filters = options.topicFilters;
    for (const f of filters) this.session.subscriptions.remove(f);
    return this.request({ type: UNSUBSCRIBE, topicFilters: filters, properties: options.properties, resubscribe: false });
  }

  /** Queues a request; sends it now when connected, else after the next CONNACK. */
  private request(req: PendingRequest): Promise<SubackPacket & UnsubackPacket> {
    const promise = this.session.requests.add(req);
    if (this.stateValue === 'connected') this.conn!.sendRequest(req);
    return promise;
  }

  // ---------------------------------------------------------------- enhanced authentication

  /**
   * Re-authenticates on the live connection (AUTH 0x19 with the authenticator's initial data) and
   * resolves with the server's final AUTH 0x00. Needs the `authenticator` given to `connect()`.
   */
  async reauthenticate(): Promise<AuthPacket> {
    const auth = this.authenticator;
    const conn = this.conn;
    if (auth === undefined) throw new ClientStateError('reauthenticate() needs an authenticator in connect()');
    if (!this.connected || conn === undefined) throw new NotConnectedError();
    if (conn.reauthenticating) throw new ClientStateError('A re-authentication is already in progress');
    const data = auth.initialData === undefined ? undefined : await auth.initialData();
    if (this.conn !== conn || !conn.isOpen) throw new NotConnectedError('Connection lost before re-authentication');
    return conn.reauthenticate(data);
  }

  // ---------------------------------------------------------------- manual acknowledgement

  /**
   * With `manualAck`: acknowledges a received message — PUBACK for QoS 1, PUBREC for QoS 2 (the
   * server's PUBREL is then answered with PUBCOMP as usual; an error code ends a QoS 2 flow at PUBREC,
   * spec 4.3.3). Call it once the message is processed: until then the server holds it for
   * redelivery, and it takes one slot of our Receive Maximum (CONNECT `properties.receiveMaximum`),
   * so that a conforming server sends no more than that many unacknowledged messages (some brokers
   * overshoot it, see inbound.ts). No time limit applies.
   *
   * Acknowledgements go out in the order the messages were received (spec 4.6): one given early
   * waits until every message received before it on the same connection is acknowledged too. So a
   * message left unacknowledged holds back the acks of all later ones, and once Receive Maximum
   * messages are outstanding a conforming server sends no more QoS 1/2 messages. (Acking out of
   * order would let the server's window move past a slow message, but the spec requires the order,
   * and paho.golang keeps it too.)
   *
   * Nothing is sent — returning false — for a QoS 0 message, one acknowledged already, one not
   * delivered by this client in manual mode, and one delivered on a connection that has since been
   * lost: packet ids may be reused on the new connection, and the server redelivers the message
   * there, as a new message object to ack in turn. A QoS 2 message acknowledged with a success code
   * between the loss and the next CONNACK is the exception that keeps QoS 2 exactly-once: with the
   * session resumed, the server's re-send of it is answered with PUBREC without a second delivery.
   *
   * @param reasonCode PUBACK/PUBREC reason code; default 0x00 Success. 0x10 No matching subscribers,
   *   or an error: 0x80 Unspecified error (e.g. the handler failed), 0x83, 0x87, 0x90, 0x91, 0x97, 0x99.
   * @returns true when the ack was sent or queued behind earlier messages; false when there was nothing to do.
   * @throws RangeError for a reason code that PUBACK/PUBREC cannot carry.
   */
  ack(message: MqttMessage, reasonCode = 0x00): boolean {
    // 0x00 Success is allowed in both; checked first as the common case.
    if (reasonCode !== 0x00 && !isReasonCodeAllowed(message.qos === 2 ? PUBREC : PUBACK, reasonCode)) {
      throw new RangeError(`Reason code ${String(reasonCode)} is not allowed in ${message.qos === 2 ? 'PUBREC' : 'PUBACK'}`);
    }
    // The connection that delivered it, if it is still the current (or last) one.
    const conn = this.conn;
    return conn === undefined ? false : conn.ack(message, reasonCode);
  }

  // ---------------------------------------------------------------- receivers and user callbacks

  /** A message no subscription took: to 'unhandledMessage' if anyone listens; returns whether anyone got it. */
  private unhandled(msg: MqttMessage): boolean {
    if (this.listenerCount('unhandledMessage') === 0) return false;
    this.safeEmit('unhandledMessage', msg);
    return true;
  }

  private reportError(error: Error): void {
    if (this.listenerCount('error') !== 0) {
      this.emit('error', error);
    } else {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** Emits an event without letting a throwing listener break the client's state. */
  private safeEmit<K extends keyof MqttClientEvents>(event: K, ...args: MqttClientEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: MqttClientEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.reportError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
