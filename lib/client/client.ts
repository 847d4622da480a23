/**
 * MqttClient: the reconnecting MQTT v5 client of the seed, in TypeScript idiom.
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
  MqttProtocolError,
  PACKET_NAMES,
  PacketType,
  encodePacket,
  isReasonCodeAllowed,
  isValidTopicFilter,
  isValidTopicName,
  type AckPacket,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type DisconnectPacket,
  type EncodeOptions,
  type Packet,
  type PubackPacket,
  type PubcompPacket,
  type PublishPacket,
  type SubackPacket,
  type SubscribePacket,
  type UnsubackPacket,
} from '../codec/index.js';
import type { Authenticator } from './auth.js';
import { buildConnect, checkPublishAllowed, checkSubscribeAllowed, toBuffer, validateSubscribe } from './build.js';
import type { Connection, MqttStream } from './connection.js';
import { asClientError, asConnectFailure, asConnectionError, asPublishError, asRequestError, errorMessage } from './error-utils.js';
import {
  AuthenticationError,
  ClientClosedError,
  ClientStateError,
  ConnackError,
  ConnectTimeoutError,
  DisconnectedError,
  MqttClientError,
  NotConnectedError,
  PublishError,
  QueueFullError,
  SubscribeError,
  UnsubscribeError,
} from './errors.js';
import { InboundFlow } from './inbound.js';
import { Link, type LinkHost } from './link.js';
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
import { ExponentialBackoff } from './reconnect.js';
import { RequestQueue, type PendingRequest } from './requests.js';
import {
  ClientSession,
  MemorySessionStore,
  type OutgoingMessage,
  type PublishResult,
  type SessionStore,
} from './session.js';
import { SubscriptionRegistry, type MessageSink } from './subscriptions.js';
import { IncomingTopicAliases, OutgoingTopicAliases } from './topic-alias.js';

const { PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGRESP, DISCONNECT, AUTH, CONNACK } =
  PacketType;

/** Spec defaults for what a CONNACK leaves out. */
const DEFAULT_LIMITS: ServerLimits = {
  receiveMaximum: 65535,
  maximumPacketSize: undefined,
  topicAliasMaximum: 0,
  maximumQoS: 2,
  retainAvailable: true,
  wildcardSubscriptionAvailable: true,
  sharedSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
};

/** The connection being established. */
interface Handshake {
  readonly link: Link;
  readonly resolve: (connack: ConnackPacket) => void;
  readonly reject: (error: MqttClientError) => void;
  /** The CONNECT asked for a clean start: the server cannot have a session for us. */
  readonly cleanStart: boolean;
  authBusy: boolean;
}

/** The reconnecting MQTT v5 client. See the module comment, and README for examples. */
export class MqttClient extends EventEmitter<MqttClientEvents> {
  /** The network connection factory given to the constructor. */
  readonly connection: Connection;

  private readonly opts: Required<Omit<MqttClientOptions, 'sessionStore' | 'random' | 'pingTimeout'>> & {
    pingTimeout: number | undefined;
  };
  private readonly store: SessionStore;
  private readonly session: ClientSession;
  private readonly backoff: ExponentialBackoff;
  private readonly subscriptions: SubscriptionRegistry;

  private stateValue: ClientState = 'idle';
  /** CONNECT as given to connect(); reconnects derive from it. */
  private connectTemplate: ConnectPacket | undefined;
  private authenticator: Authenticator | undefined;
  private currentClientId = '';
  private link: Link | undefined;
  private handshake: Handshake | undefined;
  private connectAbort: AbortController | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  // Per-connection state, set from each CONNACK.
  private lastConnack: ConnackPacket | undefined;
  private limits: ServerLimits = DEFAULT_LIMITS;
  private encodeOptions: EncodeOptions = {};
  private sendQuota = 65535;
  private quotaUsed = 0;
  private outgoingAliases = new OutgoingTopicAliases(0, false);
  private incomingAliases = new IncomingTopicAliases(0);
  private sessionExpiry = 0;
  /** In-flight messages to re-send on this connection (after a CONNACK), in order. */
  private resendQueue: OutgoingMessage[] = [];
  private resendIndex = 0;
  /**
   * Inbound QoS 1/2 state of the current (or last) connection, including, with `manualAck`, the
   * messages awaiting `ack()`: a message is tied to the connection that delivered it by being found
   * there (by identity), so nothing is added to the message object the application sees.
   */
  private inbound: InboundFlow | undefined;

  private readonly requests = new RequestQueue();
  private readonly blockedReceivers = new Set<MessageReceiver>();
  private reauth: { resolve(p: AuthPacket): void; reject(e: Error): void } | undefined;

  /** What links report to; kept off the public surface of the client. */
  private readonly linkHost: LinkHost = {
    onPacket: (packet, link) => this.onPacket(packet, link),
    onLinkClosed: (link, error) => this.onLinkClosed(link, error),
    onLinkDrain: (link) => {
      if (link === this.link) this.pump();
    },
  };

  constructor(connection: Connection, options: MqttClientOptions = {}) {
    super();
    this.connection = connection;
    this.opts = {
      initialReconnectDelay: options.initialReconnectDelay ?? 1000,
      maxReconnectDelay: options.maxReconnectDelay ?? 32000,
      reconnectJitter: options.reconnectJitter ?? 0.5,
      reconnect: options.reconnect ?? true,
      connectTimeout: options.connectTimeout ?? 30000,
      pingTimeout: options.pingTimeout,
      maxPendingPublishes: options.maxPendingPublishes ?? 10000,
      maxInflight: Math.min(options.maxInflight ?? 65535, 65535),
      queueQoS0: options.queueQoS0 ?? true,
      autoTopicAlias: options.autoTopicAlias ?? false,
      disconnectTimeout: options.disconnectTimeout ?? 5000,
      manualAck: options.manualAck ?? false,
      enforceReceiveMaximum: options.enforceReceiveMaximum ?? true,
    };
    if (!(this.opts.maxInflight >= 1)) throw new RangeError('maxInflight must be ≥ 1');
    if (!(this.opts.maxPendingPublishes >= 0)) throw new RangeError('maxPendingPublishes must be ≥ 0');
    this.store = options.sessionStore ?? new MemorySessionStore();
    this.session = new ClientSession(this.store);
    this.backoff = new ExponentialBackoff({
      initialDelay: this.opts.initialReconnectDelay,
      maxDelay: this.opts.maxReconnectDelay,
      jitter: this.opts.reconnectJitter,
      random: options.random,
    });
    this.subscriptions = new SubscriptionRegistry({
      receiverFull: (receiver) => this.receiverFull(receiver),
      handlerFailed: (error) => this.reportError(error instanceof Error ? error : new Error(String(error))),
    });
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
    return this.lastConnack;
  }

  /** What the server allows on the current connection. */
  get serverLimits(): Readonly<ServerLimits> {
    return this.limits;
  }

  /** The session expiry in force: the server's value from CONNACK if it sent one, else ours (seconds). */
  get sessionExpiryInterval(): number {
    return this.sessionExpiry;
  }

  /** QoS 1/2 publishes sent and not yet completed (including those awaiting re-send after a reconnect). */
  get inflightCount(): number {
    return this.store.inflightCount;
  }

  /** Publishes waiting to be sent. */
  get pendingCount(): number {
    return this.store.pendingCount;
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
        this.settleAll(error as MqttClientError, true);
      }
      throw error;
    }
  }

  /** Opens the network connection, sends CONNECT and waits for a successful CONNACK. */
  private async establish(reconnect: boolean): Promise<ConnackPacket> {
    const abort = new AbortController();
    this.connectAbort = abort;
    const timeoutMs = this.opts.connectTimeout;
    const timer = setTimeout(() => abort.abort(new ConnectTimeoutError(timeoutMs)), timeoutMs);
    let link: Link | undefined;
    try {
      const connect = await this.connectPacket(reconnect);
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
      link = new Link(stream, connect.properties?.maximumPacketSize, this.linkHost);
      this.link = link;
      const connected = new Promise<ConnackPacket>((resolve, reject) => {
        this.handshake = { link: link!, resolve, reject, cleanStart: connect.cleanStart, authBusy: false };
      });
      const onAbort = (): void => this.handshake?.reject(abort.signal.reason);
      abort.signal.addEventListener('abort', onAbort, { once: true });
      link.write(encodePacket(connect));
      link.flush();
      try {
        return await connected;
      } finally {
        abort.signal.removeEventListener('abort', onAbort);
      }
    } catch (error) {
      if (link !== undefined && this.link === link) {
        this.link = undefined;
        link.destroy();
        this.connection.close();
      }
      throw asConnectFailure(error, this.connection.brokerUrl);
    } finally {
      clearTimeout(timer);
      this.handshake = undefined;
      if (this.connectAbort === abort) this.connectAbort = undefined;
    }
  }

  /** The CONNECT for this attempt: reconnects resume the session under the (assigned) client id. */
  private async connectPacket(reconnect: boolean): Promise<ConnectPacket> {
    const template = this.connectTemplate!;
    const auth = this.authenticator;
    let properties = template.properties;
    if (auth !== undefined) {
      const data = auth.initialData === undefined ? undefined : await auth.initialData();
      properties = { ...properties, authenticationMethod: auth.method, authenticationData: data };
    }
    return {
      ...template,
      clientId: this.currentClientId,
      cleanStart: reconnect ? false : template.cleanStart,
      properties,
    };
  }

  /** A packet during the CONNECT/CONNACK exchange. */
  private onHandshakePacket(packet: Packet, link: Link, hs: Handshake): void {
    switch (packet.type) {
      case CONNACK: {
        if (packet.reasonCode >= 0x80) {
          this.handshake = undefined;
          hs.reject(new ConnackError(packet));
          return;
        }
        if (packet.sessionPresent && hs.cleanStart) {
          // Spec 3.2.2.1.1: we have no session state the server could be continuing.
          throw new MqttProtocolError(0x82, 'CONNACK claims a session after a clean start');
        }
        const auth = this.authenticator;
        if (auth !== undefined) {
          const method = packet.properties?.authenticationMethod;
          if (method !== undefined && method !== auth.method) {
            throw new MqttProtocolError(0x8c, `Server answered with authentication method ${method}`);
          }
          try {
            auth.complete?.(packet.properties?.authenticationData, packet);
          } catch (error) {
            link.fail(new AuthenticationError(0x80, `Authenticator refused the server: ${errorMessage(error)}`, { cause: error }), 0x80);
            return;
          }
        }
        this.handshake = undefined;
        this.onConnack(link, packet);
        hs.resolve(packet);
        return;
      }
      case AUTH:
        this.onServerAuth(packet, link, hs);
        return;
      case DISCONNECT:
        link.fail(new DisconnectedError(packet));
        return;
      default:
        throw new MqttProtocolError(0x82, `Expected CONNACK, got ${PACKET_NAMES[packet.type]}`);
    }
  }

  /** A successful CONNACK: apply the server's limits and resume the session. Synchronous, so that packets after it see the new state. */
  private onConnack(link: Link, connack: ConnackPacket): void {
    const template = this.connectTemplate!;
    const p = connack.properties ?? {};
    this.lastConnack = connack;
    this.limits = {
      receiveMaximum: p.receiveMaximum ?? 65535,
      maximumPacketSize: p.maximumPacketSize,
      topicAliasMaximum: p.topicAliasMaximum ?? 0,
      maximumQoS: p.maximumQoS ?? 2,
      retainAvailable: p.retainAvailable ?? true,
      wildcardSubscriptionAvailable: p.wildcardSubscriptionAvailable ?? true,
      sharedSubscriptionAvailable: p.sharedSubscriptionAvailable ?? true,
      subscriptionIdentifiersAvailable: p.subscriptionIdentifiersAvailable ?? true,
    };
    this.encodeOptions = { maximumPacketSize: p.maximumPacketSize };
    this.sendQuota = Math.min(this.limits.receiveMaximum, this.opts.maxInflight);
    this.quotaUsed = 0;
    if (p.assignedClientIdentifier !== undefined) this.currentClientId = p.assignedClientIdentifier;
    // The broker's session expiry wins over ours (seed; spec 3.2.2.3.2).
    this.sessionExpiry = p.sessionExpiryInterval ?? template.properties?.sessionExpiryInterval ?? 0;
    this.outgoingAliases = new OutgoingTopicAliases(this.limits.topicAliasMaximum, this.opts.autoTopicAlias);
    this.incomingAliases = new IncomingTopicAliases(template.properties?.topicAliasMaximum ?? 0);
    const keepAlive = p.serverKeepAlive ?? template.keepAlive;
    const keepAliveMs = keepAlive * 1000;
    link.startKeepAlive(keepAliveMs, this.opts.pingTimeout ?? Math.min(keepAliveMs, 30000));

    // Acks of the previous connection's messages must no longer touch the session (its ids may be reused now).
    this.inbound?.supersede();
    this.inbound = new InboundFlow(link, this.store);

    const reconnected = this.stateValue === 'reconnecting';
    this.stateValue = 'connected';
    if (!connack.sessionPresent) this.queueResubscribe();
    this.resendQueue = this.session.prepareResend(connack.sessionPresent);
    this.resendIndex = 0;
    for (const req of this.requests.all()) this.sendRequest(link, req);
    this.pump();
    if (this.blockedReceivers.size !== 0) link.pauseReading();

    this.safeEmit('connected', connack);
    if (reconnected) this.safeEmit('reconnected', { sessionPresent: connack.sessionPresent, connack });
  }

  // ---------------------------------------------------------------- connection loss and reconnect

  /** The link of the handshake or of the established connection closed. */
  private onLinkClosed(link: Link, error: MqttClientError): void {
    const hs = this.handshake;
    if (hs !== undefined && hs.link === link) {
      this.handshake = undefined;
      hs.reject(error);
      return;
    }
    if (link !== this.link) return;
    this.link = undefined;
    this.connection.close();
    this.inbound?.close(this.sessionExpiry > 0);
    this.quotaUsed = 0;
    this.resendQueue = [];
    this.resendIndex = 0;
    for (const msg of this.store.inflight()) msg.sent = false;
    this.requests.connectionLost();
    this.reauth?.reject(error);
    this.reauth = undefined;
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
      this.settleAll(error, this.sessionExpiry > 0);
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
    const link = this.link;
    this.link = undefined;
    const expiry = options.properties?.sessionExpiryInterval ?? this.sessionExpiry;
    this.settleAll(error, expiry > 0);
    if (link !== undefined && wasConnected) {
      await link.end(bytes, this.opts.disconnectTimeout);
    } else {
      link?.destroy();
    }
    this.connection.close();
    this.stateValue = 'closed';
    if (wasConnected) this.safeEmit('disconnected', error);
    this.safeEmit('closed', error);
  }

  /**
   * Settles everything pending with `error`: queued publishes, in-flight publishes (kept in the store
   * without their promise when `keepInflight`), requests, receivers and subscriptions.
   */
  private settleAll(error: MqttClientError, keepInflight: boolean): void {
    const store = this.store;
    for (let msg = store.shiftPending(); msg !== undefined; msg = store.shiftPending()) msg.reject?.(error);
    for (const msg of store.inflight()) {
      msg.reject?.(error);
      msg.resolve = msg.reject = undefined;
      msg.sent = false;
    }
    const inbound = this.inbound;
    if (inbound !== undefined) {
      inbound.close(keepInflight);
      if (!keepInflight) inbound.supersede();
    }
    if (!keepInflight) store.clear();
    this.resendQueue = [];
    this.resendIndex = 0;
    this.quotaUsed = 0;
    for (const req of this.requests.drain()) req.reject?.(error);
    this.reauth?.reject(error);
    this.reauth = undefined;
    for (const r of this.subscriptions.receivers()) r.close(error);
    this.subscriptions.clear();
    for (const r of this.blockedReceivers) r.offDrain(this.onReceiverDrained);
    this.blockedReceivers.clear();
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
    let packet: PublishPacket;
    try {
      packet = this.makePublish(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const link = this.link;
    // Fast path: nothing queued ahead of it, so it goes straight into this tick's batch.
    if (
      state === 'connected' &&
      link !== undefined &&
      link.writable &&
      this.store.pendingCount === 0 &&
      this.resendIndex >= this.resendQueue.length
    ) {
      if (packet.qos === 0) {
        try {
          checkPublishAllowed(this.limits, packet);
          link.write(this.encodePublish(packet));
        } catch (error) {
          return Promise.reject(asPublishError(error));
        }
        return link.written() as Promise<PublishResult>;
      }
      if (this.quotaUsed < this.sendQuota) {
        const msg: OutgoingMessage = { packet, state: 'queued', sent: false, resolve: undefined, reject: undefined };
        const promise = new Promise<PublishResult>((resolve, reject) => {
          msg.resolve = resolve;
          msg.reject = reject;
        });
        this.transmit(link, msg);
        return promise;
      }
    }
    if (packet.qos === 0 && state !== 'connected' && !this.opts.queueQoS0) {
      return Promise.reject(new NotConnectedError('Not connected, and queueQoS0 is false'));
    }
    if (this.store.pendingCount >= this.opts.maxPendingPublishes) {
      return Promise.reject(new QueueFullError(this.opts.maxPendingPublishes));
    }
    const msg: OutgoingMessage = { packet, state: 'queued', sent: false, resolve: undefined, reject: undefined };
    const promise = new Promise<PublishResult>((resolve, reject) => {
      msg.resolve = resolve;
      msg.reject = reject;
    });
    this.store.pushPending(msg);
    return promise;
  }

  /** Validates the options and builds the PUBLISH (full topic; packet id assigned when sent). */
  private makePublish(o: PublishOptions): PublishPacket {
    const qos = o.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new PublishError(0x82, `Invalid QoS ${String(qos)}`);
    let topic = o.topic;
    if (topic === '') {
      const alias = o.properties?.topicAlias;
      if (alias === undefined) throw new PublishError(0x90, 'Empty topic name without a topic alias');
      if (!this.connected) throw new PublishError(0x94, 'A topic alias alone needs a connection that defined it');
      try {
        topic = this.outgoingAliases.resolveTopic(alias);
      } catch (error) {
        throw asPublishError(error);
      }
    } else if (!isValidTopicName(topic)) {
      throw new PublishError(0x90, `Invalid topic name ${JSON.stringify(topic)}`);
    }
    return {
      type: PUBLISH,
      topic,
      payload: toBuffer(o.payload),
      qos,
      retain: o.retain === true,
      dup: false,
      packetId: undefined,
      properties: o.properties,
    };
  }

  /** Applies topic aliases and encodes; an alias assigned for a packet that then fails is withdrawn. */
  private encodePublish(packet: PublishPacket): Buffer {
    const wire = this.outgoingAliases.apply(packet);
    if (wire === packet) return encodePacket(packet, this.encodeOptions);
    try {
      return encodePacket(wire, this.encodeOptions);
    } catch (error) {
      // The server never saw this alias definition: start afresh for this connection.
      this.outgoingAliases = new OutgoingTopicAliases(this.limits.topicAliasMaximum, this.opts.autoTopicAlias);
      throw error;
    }
  }

  /** First send of a queued or fast-path publish on `link`. */
  private transmit(link: Link, msg: OutgoingMessage): void {
    const packet = msg.packet;
    let bytes: Buffer;
    try {
      checkPublishAllowed(this.limits, packet);
      if (packet.qos !== 0) {
        const id = this.session.allocatePacketId(this.requests.inUse);
        if (id === undefined) throw new PublishError(0x91, 'No packet identifier is free');
        packet.packetId = id;
      }
      bytes = this.encodePublish(packet);
    } catch (error) {
      if (packet.qos !== 0) packet.packetId = undefined;
      msg.reject?.(asPublishError(error));
      return;
    }
    if (packet.qos === 0) {
      link.write(bytes);
      msg.resolve?.(link.written() as Promise<undefined>);
      return;
    }
    msg.state = 'publish';
    msg.sent = true;
    this.quotaUsed++;
    this.store.setInflight(msg);
    link.write(bytes);
  }

  /** Re-send of an in-flight message after a reconnect: PUBLISH (DUP per session) or PUBREL. */
  private retransmit(link: Link, msg: OutgoingMessage): void {
    const packet = msg.packet;
    let bytes: Buffer;
    try {
      if (msg.state === 'pubrel') {
        bytes = encodePacket({ type: PUBREL, packetId: packet.packetId as number });
      } else {
        checkPublishAllowed(this.limits, packet);
        bytes = this.encodePublish(packet);
      }
    } catch (error) {
      this.store.deleteInflight(packet.packetId as number);
      msg.reject?.(asPublishError(error));
      return;
    }
    msg.sent = true;
    this.quotaUsed++;
    link.write(bytes);
  }

  /** Sends what may go now: re-sends first, then queued publishes, within the quota and while writable. */
  private pump(): void {
    const link = this.link;
    if (link === undefined || this.stateValue !== 'connected') return;
    const store = this.store;
    while (link.writable && !link.closed) {
      if (this.resendIndex < this.resendQueue.length) {
        if (this.quotaUsed >= this.sendQuota) return;
        const msg = this.resendQueue[this.resendIndex++]!;
        // Skip what was settled meanwhile (e.g. rejected by a local check).
        if (store.getInflight(msg.packet.packetId as number) === msg) this.retransmit(link, msg);
        continue;
      }
      if (this.resendQueue.length !== 0) {
        this.resendQueue = [];
        this.resendIndex = 0;
      }
      const next = store.peekPending();
      if (next === undefined) return;
      if (next.packet.qos !== 0 && this.quotaUsed >= this.sendQuota) return;
      store.shiftPending();
      this.transmit(link, next);
    }
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
      if (state === 'connected') checkSubscribeAllowed(this.limits, subscriptions, options.properties?.subscriptionIdentifier);
    } catch (error) {
      return Promise.reject(error);
    }
    const group = { identifier: options.properties?.subscriptionIdentifier, userProperties: options.properties?.userProperties };
    const entries = this.subscriptions.add(subscriptions, group, sink);
    return this.request({ type: SUBSCRIBE, subscriptions, properties: options.properties, entries, resubscribe: false });
  }

  /**
   * Unsubscribes and resolves with the UNSUBACK. Messages for these filters stop being delivered at
   * once. Rejects with UnsubscribeError 0x8F for an invalid filter.
   */
  unsubscribe(options: UnsubscribeOptions): Promise<UnsubackPacket> {
    const state = this.stateValue;
    if (state === 'idle' || state === 'closed' || state === 'closing') return Promise.reject(new NotConnectedError());
    const filters = options.topicFilters;
    if (!Array.isArray(filters) || filters.length === 0) {
      return Promise.reject(new UnsubscribeError(0x82, 'UNSUBSCRIBE needs at least one topic filter'));
    }
    for (const f of filters) {
      if (!isValidTopicFilter(f)) return Promise.reject(new UnsubscribeError(0x8f, `Invalid topic filter ${JSON.stringify(f)}`));
    }
    for (const f of filters) this.subscriptions.remove(f);
    return this.request({ type: UNSUBSCRIBE, topicFilters: filters, properties: options.properties, resubscribe: false });
  }

  private request(req: PendingRequest): Promise<SubackPacket & UnsubackPacket> {
    const promise = this.requests.add(req);
    if (this.stateValue === 'connected' && this.link !== undefined) this.sendRequest(this.link, req);
    return promise;
  }

  /** Sends (or re-sends after a reconnect) a SUBSCRIBE/UNSUBSCRIBE under a fresh packet id. */
  private sendRequest(link: Link, req: PendingRequest): void {
    let bytes: Buffer;
    let id: number | undefined;
    try {
      id = this.session.allocatePacketId(this.requests.inUse);
      if (id === undefined) throw new MqttClientError(0x91, 'No packet identifier is free');
      if (req.type === SUBSCRIBE) {
        checkSubscribeAllowed(this.limits, req.subscriptions!, req.properties?.subscriptionIdentifier);
        bytes = encodePacket(
          { type: SUBSCRIBE, packetId: id, subscriptions: req.subscriptions!, properties: req.properties },
          this.encodeOptions,
        );
      } else {
        bytes = encodePacket(
          { type: UNSUBSCRIBE, packetId: id, topicFilters: req.topicFilters!, properties: req.properties },
          this.encodeOptions,
        );
      }
    } catch (error) {
      this.failRequest(req, asRequestError(error, req.type === SUBSCRIBE));
      return;
    }
    this.requests.sent(req, id);
    link.write(bytes);
  }

  private failRequest(req: PendingRequest, error: MqttClientError): void {
    this.requests.remove(req);
    if (req.entries !== undefined) {
      for (const e of req.entries) {
        this.subscriptions.granted(e, error.reasonCode >= 0x80 ? error.reasonCode : 0x80);
        if (req.resubscribe) {
          this.safeEmit('resubscribed', {
            topicFilter: e.subscription.topicFilter,
            subscription: e.subscription,
            reasonCode: error.reasonCode,
            error,
          });
        }
      }
    }
    req.reject?.(error);
  }

  /** After a CONNACK without session: re-subscribe every active subscription, one SUBSCRIBE per original group. */
  private queueResubscribe(): void {
    const resubscribes: PendingRequest[] = [];
    for (const { group, entries } of this.subscriptions.takeForResubscribe()) {
      const properties: SubscribePacket['properties'] =
        group.identifier === undefined && group.userProperties === undefined
          ? undefined
          : { subscriptionIdentifier: group.identifier, userProperties: group.userProperties };
      resubscribes.push({ type: SUBSCRIBE, subscriptions: entries.map((e) => e.subscription), properties, entries, resubscribe: true });
    }
    // Before the requests the application queued while disconnected.
    this.requests.prepend(resubscribes);
  }

  // ---------------------------------------------------------------- enhanced authentication

  /**
   * Re-authenticates on the live connection (AUTH 0x19 with the authenticator's initial data) and
   * resolves with the server's final AUTH 0x00. Needs the `authenticator` given to `connect()`.
   */
  async reauthenticate(): Promise<AuthPacket> {
    const auth = this.authenticator;
    const link = this.link;
    if (auth === undefined) throw new ClientStateError('reauthenticate() needs an authenticator in connect()');
    if (!this.connected || link === undefined) throw new NotConnectedError();
    if (this.reauth !== undefined) throw new ClientStateError('A re-authentication is already in progress');
    const data = auth.initialData === undefined ? undefined : await auth.initialData();
    if (this.link !== link || link.closed) throw new NotConnectedError('Connection lost before re-authentication');
    const done = new Promise<AuthPacket>((resolve, reject) => {
      this.reauth = { resolve, reject };
    });
    link.write(encodePacket({ type: AUTH, reasonCode: 0x19, properties: { authenticationMethod: auth.method, authenticationData: data } }));
    return done;
  }

  /** An AUTH from the server: a challenge (0x18) during connect or re-authentication, or the end of a re-authentication (0x00). */
  private onServerAuth(packet: AuthPacket, link: Link, hs?: Handshake): void {
    const auth = this.authenticator;
    const code = packet.reasonCode ?? 0;
    if (auth === undefined) throw new MqttProtocolError(0x82, 'AUTH received without enhanced authentication');
    const method = packet.properties?.authenticationMethod;
    if (method !== auth.method) {
      throw new MqttProtocolError(0x8c, `AUTH with method ${String(method)}, expected ${auth.method}`);
    }
    if (code === 0x00 && hs === undefined && this.reauth !== undefined) {
      try {
        auth.complete?.(packet.properties?.authenticationData, packet);
      } catch (error) {
        const err = new AuthenticationError(0x80, `Authenticator refused the server: ${errorMessage(error)}`, { cause: error });
        this.reauth.reject(err);
        this.reauth = undefined;
        link.fail(err, 0x80);
        return;
      }
      this.reauth.resolve(packet);
      this.reauth = undefined;
      return;
    }
    if (code !== 0x18) throw new MqttProtocolError(0x82, `Unexpected AUTH reason code ${code}`);
    if (hs !== undefined) {
      if (hs.authBusy) throw new MqttProtocolError(0x82, 'AUTH received before the previous one was answered');
      hs.authBusy = true;
    }
    Promise.resolve()
      .then(() => auth.challenge(packet.properties?.authenticationData, packet))
      .then(
        (data) => {
          if (hs !== undefined) hs.authBusy = false;
          link.write(
            encodePacket({
              type: AUTH,
              reasonCode: 0x18,
              properties: { authenticationMethod: auth.method, authenticationData: data },
            }),
          );
        },
        (error: unknown) => {
          link.fail(new AuthenticationError(0x80, `Authenticator failed: ${errorMessage(error)}`, { cause: error }), 0x80);
        },
      );
  }

  // ---------------------------------------------------------------- incoming packets

  /** Every packet received; throwing an MqttProtocolError fails the link with a DISCONNECT of its code. */
  private onPacket(packet: Packet, link: Link): void {
    const hs = this.handshake;
    if (hs !== undefined && hs.link === link) {
      this.onHandshakePacket(packet, link, hs);
      return;
    }
    if (link !== this.link) return;
    switch (packet.type) {
      case PUBLISH:
        this.onPublish(packet);
        return;
      case PUBACK:
        this.onPuback(packet);
        return;
      case PUBREC:
        this.onPubrec(packet, link);
        return;
      case PUBREL:
        this.inbound!.onPubrel(packet.packetId);
        return;
      case PUBCOMP:
        this.onPubcomp(packet);
        return;
      case SUBACK:
      case UNSUBACK:
        this.onRequestAck(packet);
        return;
      case PINGRESP:
        link.pingResponse();
        return;
      case DISCONNECT:
        link.fail(new DisconnectedError(packet));
        return;
      case AUTH:
        this.onServerAuth(packet, link);
        return;
      default:
        throw new MqttProtocolError(0x82, `Unexpected ${PACKET_NAMES[packet.type]} from the server`);
    }
  }

  private onPublish(packet: PublishPacket): void {
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) this.incomingAliases.resolve(packet, alias);
    else if (packet.topic.length === 0) throw new MqttProtocolError(0x82, 'PUBLISH without topic name or alias');
    const qos = packet.qos;
    if (qos === 0) {
      this.deliver(packet);
      return;
    }
    const flow = this.inbound!;
    // Duplicates (re-sent while awaiting our ack, or QoS 2 past PUBREC) are not delivered again.
    if (!flow.admit(packet)) return;
    // Spec 3.3.4: more unacknowledged QoS 1/2 messages than our Receive Maximum is a protocol error.
    if (
      this.opts.enforceReceiveMaximum &&
      flow.pendingCount + this.store.incomingCount >= (this.connectTemplate!.properties?.receiveMaximum ?? 65535)
    ) {
      throw new MqttProtocolError(0x93, 'Server exceeded our Receive Maximum');
    }
    const id = packet.packetId as number;
    if (!this.opts.manualAck) {
      // Acked on receipt, before delivery, so that a QoS 2 id is on record even if a callback
      // disconnects; the ack still leaves in this tick's batch.
      flow.ackNow(id, qos);
      this.deliver(packet);
      return;
    }
    // Tracked before delivery: a callback may ack() synchronously.
    const pending = flow.track(packet);
    // Nobody received it, so nobody will ack it; its pending ack would hold back all later ones.
    if (!this.deliver(packet)) flow.settle(pending, 0x00);
  }

  /** Hands a message to its receivers/callbacks, or to 'unhandledMessage'; returns whether anyone got it. */
  private deliver(msg: MqttMessage): boolean {
    if (this.subscriptions.dispatch(msg) !== 0) return true;
    if (this.listenerCount('unhandledMessage') === 0) return false;
    this.safeEmit('unhandledMessage', msg);
    return true;
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
    const flow = this.inbound;
    const pending = flow?.find(message);
    return pending === undefined ? false : flow!.settle(pending, reasonCode);
  }

  private onPuback(ack: PubackPacket): void {
    const msg = this.store.getInflight(ack.packetId);
    if (msg === undefined || msg.packet.qos !== 1) return;
    this.finishOutgoing(msg);
    const code = ack.reasonCode ?? 0;
    if (code >= 0x80) msg.reject?.(new PublishError(code, undefined, ack));
    else msg.resolve?.(ack);
    this.pump();
  }

  private onPubrec(ack: AckPacket<typeof PUBREC>, link: Link): void {
    const id = ack.packetId;
    const msg = this.store.getInflight(id);
    if (msg === undefined || msg.packet.qos !== 2) {
      link.write(encodePacket({ type: PUBREL, packetId: id, reasonCode: 0x92 }));
      return;
    }
    const code = ack.reasonCode ?? 0;
    if (code >= 0x80) {
      // An error PUBREC ends the flow (spec 4.3.3).
      this.finishOutgoing(msg);
      msg.reject?.(new PublishError(code, undefined, ack));
      this.pump();
      return;
    }
    if (msg.state !== 'pubrel') {
      msg.state = 'pubrel';
      this.store.setInflight(msg);
    }
    link.write(encodePacket({ type: PUBREL, packetId: id }));
  }

  private onPubcomp(ack: PubcompPacket): void {
    const msg = this.store.getInflight(ack.packetId);
    if (msg === undefined || msg.state !== 'pubrel') return;
    this.finishOutgoing(msg);
    msg.resolve?.(ack);
    this.pump();
  }

  private finishOutgoing(msg: OutgoingMessage): void {
    this.store.deleteInflight(msg.packet.packetId as number);
    if (msg.sent) {
      msg.sent = false;
      this.quotaUsed--;
    }
  }

  private onRequestAck(ack: SubackPacket | UnsubackPacket): void {
    const req = this.requests.take(ack.packetId, ack.type);
    if (req === undefined) return;
    if (req.entries !== undefined) {
      const entries = req.entries;
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k]!;
        const code = ack.reasonCodes[k] ?? 0x80;
        this.subscriptions.granted(e, code);
        if (req.resubscribe) {
          this.safeEmit('resubscribed', {
            topicFilter: e.subscription.topicFilter,
            subscription: e.subscription,
            reasonCode: code,
            error: code >= 0x80 ? new SubscribeError(code) : undefined,
          });
        }
      }
    }
    req.resolve?.(ack as SubackPacket & UnsubackPacket);
  }

  // ---------------------------------------------------------------- receivers and user callbacks

  /** A receiver is full: stop reading the socket until it drains. */
  private receiverFull(receiver: MessageReceiver): void {
    if (!this.blockedReceivers.has(receiver)) {
      this.blockedReceivers.add(receiver);
      receiver.onDrain(this.onReceiverDrained);
    }
    if (this.blockedReceivers.size !== 0) this.link?.pauseReading();
  }

  private readonly onReceiverDrained = (receiver: MessageReceiver): void => {
    if (!this.blockedReceivers.delete(receiver)) return;
    if (this.blockedReceivers.size === 0) this.link?.resumeReading();
  };

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
