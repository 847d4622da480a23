/**
 * ClientConnection: one network connection of the client, from CONNECT to its end — paho.golang's
 * `paho.Client` under the `autopaho` that `MqttClient` is. Its life is exactly that of one stream:
 * the client makes a new one for every (re)connection and drops it when the stream ends.
 *
 * It owns everything that lives as long as the connection: the CONNECT/CONNACK/AUTH handshake, what
 * the CONNACK says (server limits, session expiry, keepalive), both topic alias tables, the inbound
 * QoS state ({@link InboundFlow}), the send quota and re-send queue ({@link OutboundFlow}), a
 * re-authentication in progress, and the routing of every packet received. It works on session
 * state it does not own — session store, packet ids, requests, subscriptions ({@link
 * ConnectionSession}: the client's SessionState) — and tells the client ({@link ConnectionHost}) of
 * its CONNACK and of its loss, so that reconnect policy and session resumption stay above it.
 */
import {
  MqttProtocolError,
  PACKET_NAMES,
  PacketType,
  encodePacket,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  type PublishPacket,
} from '../codec/index.js';
import type { Authenticator } from './auth.js';
import type { MqttStream } from './connection.js';
import { errorMessage } from './error-utils.js';
import { AuthenticationError, ConnackError, DisconnectedError, type MqttClientError } from './errors.js';
import { InboundFlow } from './inbound.js';
import { Link, type LinkHost } from './link.js';
import type { ServerLimits } from './options.js';
import { OutboundFlow, type OutboundSession } from './outbound.js';
import type { MqttMessage } from './receiver.js';
import type { PendingRequest } from './requests.js';
import type { OutgoingMessage, PublishResult, SessionStore } from './session.js';
import type { ClientSettings } from './settings.js';
import type { SubscriptionRegistry } from './subscriptions.js';
import { IncomingTopicAliases } from './topic-alias.js';

const { PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH, CONNACK } = PacketType;

/** Spec defaults for what a CONNACK leaves out. @internal */
export const DEFAULT_LIMITS: ServerLimits = {
  receiveMaximum: 65535,
  maximumPacketSize: undefined,
  topicAliasMaximum: 0,
  maximumQoS: 2,
  retainAvailable: true,
  wildcardSubscriptionAvailable: true,
  sharedSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
};

/** The session state a connection works on (the client's SessionState). @internal */
export interface ConnectionSession extends OutboundSession {
  readonly subscriptions: SubscriptionRegistry;
}

/** What a connection reports to the client above it. @internal */
export interface ConnectionHost {
  /**
   * A successful CONNACK, after the connection applied it. Synchronous, so that packets after it see
   * the new state: the client resumes its session here ({@link ClientConnection.resume}).
   */
  connackReceived(conn: ClientConnection, connack: ConnackPacket): void;
  /** The established connection was lost (not after {@link ClientConnection.release}, nor for a failed handshake). */
  connectionLost(conn: ClientConnection, error: MqttClientError): void;
  /** A message none of the subscriptions took; returns whether someone ('unhandledMessage') got it. */
  unhandled(message: MqttMessage): boolean;
}

/** The CONNECT/CONNACK exchange in progress. */
interface Handshake {
  readonly resolve: (connack: ConnackPacket) => void;
  readonly reject: (error: MqttClientError) => void;
  /** A server challenge is being answered. */
  authBusy: boolean;
}

/** One network connection: handshake, per-connection protocol state and flow control. @internal */
export class ClientConnection implements LinkHost {
  readonly link: Link;
  private connackPacket: ConnackPacket | undefined;
  private serverLimits: ServerLimits = DEFAULT_LIMITS;
  private sessionExpiryInterval = 0;
  private readonly store: SessionStore;
  private readonly subscriptions: SubscriptionRegistry;
  /** Our Receive Maximum (CONNECT), which the server's unacknowledged QoS 1/2 messages may not exceed. */
  private readonly receiveMaximum: number;
  private readonly manualAck: boolean;
  private readonly enforceReceiveMaximum: boolean;
  private hs: Handshake | undefined;
  /** Between the CONNACK and the loss (or release) of the connection. */
  private open = false;
  private inbound: InboundFlow | undefined;
  private outbound: OutboundFlow | undefined;
  private incomingAliases: IncomingTopicAliases | undefined;
  private reauth: { resolve(p: AuthPacket): void; reject(e: Error): void } | undefined;

  constructor(
    stream: MqttStream,
    /** The CONNECT this connection sends. */
    private readonly connect: ConnectPacket,
    private readonly settings: ClientSettings,
    private readonly authenticator: Authenticator | undefined,
    private readonly session: ConnectionSession,
    private readonly host: ConnectionHost,
  ) {
    this.store = session.store;
    this.subscriptions = session.subscriptions;
    this.receiveMaximum = connect.properties?.receiveMaximum ?? 65535;
    this.manualAck = settings.manualAck;
    this.enforceReceiveMaximum = settings.enforceReceiveMaximum;
    this.link = new Link(stream, connect.properties?.maximumPacketSize, this);
  }

  /** This connection's CONNACK, once received. */
  get connack(): ConnackPacket | undefined {
    return this.connackPacket;
  }

  /** What the server allows on this connection (spec defaults until the CONNACK). */
  get limits(): ServerLimits {
    return this.serverLimits;
  }

  /** The session expiry in force: the server's value from CONNACK if it sent one, else ours (seconds). */
  get sessionExpiry(): number {
    return this.sessionExpiryInterval;
  }

  /** Established (CONNACK received) and neither lost nor released. */
  get isOpen(): boolean {
    return this.open;
  }

  /** A re-authentication is in progress. */
  get reauthenticating(): boolean {
    return this.reauth !== undefined;
  }

  // ---------------------------------------------------------------- handshake

  /**
   * Sends the CONNECT and resolves with a successful CONNACK; rejects with ConnackError, the error the
   * link failed with, or `signal`'s reason. On rejection the caller destroys the connection.
   */
  async handshake(signal: AbortSignal): Promise<ConnackPacket> {
    const connected = new Promise<ConnackPacket>((resolve, reject) => {
      this.hs = { resolve, reject, authBusy: false };
    });
    const onAbort = (): void => this.hs?.reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.link.write(encodePacket(this.connect));
      this.link.flush();
      return await connected;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.hs = undefined;
    }
  }

  /** A packet during the CONNECT/CONNACK exchange. */
  private onHandshakePacket(packet: Packet, hs: Handshake): void {
    switch (packet.type) {
      case CONNACK: {
        if (packet.reasonCode >= 0x80) {
          this.hs = undefined;
          hs.reject(new ConnackError(packet));
          return;
        }
        if (packet.sessionPresent && this.connect.cleanStart) {
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
            this.link.fail(new AuthenticationError(0x80, `Authenticator refused the server: ${errorMessage(error)}`, { cause: error }), 0x80);
            return;
          }
        }
        this.hs = undefined;
        this.onConnack(packet);
        hs.resolve(packet);
        return;
      }
      case AUTH:
        this.onServerAuth(packet, hs);
        return;
      case DISCONNECT:
        this.link.fail(new DisconnectedError(packet));
        return;
      default:
        throw new MqttProtocolError(0x82, `Expected CONNACK, got ${PACKET_NAMES[packet.type]}`);
    }
  }

  /** A successful CONNACK: applies the server's limits, then lets the client resume its session. */
  private onConnack(connack: ConnackPacket): void {
    const connect = this.connect;
    const p = connack.properties ?? {};
    const limits: ServerLimits = {
      receiveMaximum: p.receiveMaximum ?? 65535,
      maximumPacketSize: p.maximumPacketSize,
      topicAliasMaximum: p.topicAliasMaximum ?? 0,
      maximumQoS: p.maximumQoS ?? 2,
      retainAvailable: p.retainAvailable ?? true,
      wildcardSubscriptionAvailable: p.wildcardSubscriptionAvailable ?? true,
      sharedSubscriptionAvailable: p.sharedSubscriptionAvailable ?? true,
      subscriptionIdentifiersAvailable: p.subscriptionIdentifiersAvailable ?? true,
    };
    this.connackPacket = connack;
    this.serverLimits = limits;
    // The broker's session expiry wins over ours (seed; spec 3.2.2.3.2).
    this.sessionExpiryInterval = p.sessionExpiryInterval ?? connect.properties?.sessionExpiryInterval ?? 0;
    this.outbound = new OutboundFlow(this.link, limits, this.settings.maxInflight, this.settings.autoTopicAlias, this.session);
    this.incomingAliases = new IncomingTopicAliases(connect.properties?.topicAliasMaximum ?? 0);
    const keepAliveMs = (p.serverKeepAlive ?? connect.keepAlive) * 1000;
    this.link.startKeepAlive(keepAliveMs, this.settings.pingTimeout ?? Math.min(keepAliveMs, 30000));
    this.inbound = new InboundFlow(this.link, this.store);
    this.open = true;
    this.host.connackReceived(this, connack);
  }

  // ---------------------------------------------------------------- session on this connection

  /**
   * Resumes the session here (from the client's CONNACK handler): re-sends `resend` (see
   * ClientSession.prepareResend), then the unacknowledged requests, then the queued publishes.
   */
  resume(resend: OutgoingMessage[]): void {
    this.outbound!.start(resend);
  }

  /** See {@link OutboundFlow.trySend}; only while open. */
  trySend(packet: PublishPacket): Promise<PublishResult> | undefined {
    return this.outbound!.trySend(packet);
  }

  /** The topic an outgoing alias stands for on this connection; only while open. */
  resolveTopic(alias: number): string {
    return this.outbound!.resolveTopic(alias);
  }

  /** Sends a SUBSCRIBE/UNSUBSCRIBE; only while open. */
  sendRequest(req: PendingRequest): void {
    this.outbound!.sendRequest(req);
  }

  /**
   * With `manualAck`: acknowledges a message delivered on this connection (see `MqttClient.ack`). A
   * message is tied to its connection by being found in its inbound flow (by identity), so nothing
   * is added to the message object the application sees.
   */
  ack(message: MqttMessage, reasonCode: number): boolean {
    const flow = this.inbound;
    if (flow === undefined) return false;
    const pending = flow.find(message);
    return pending === undefined ? false : flow.settle(pending, reasonCode);
  }

  /** A later connection of the client was established: acks of this one's messages mean nothing now. */
  supersede(): void {
    this.inbound?.supersede();
  }

  /**
   * The client gives up this connection's state (it closes, or stops reconnecting): nothing more is
   * sent or delivered; inbound acks still owed are dropped, or — `keepInflight`, the session outlives
   * the connection — recorded as InboundFlow.close describes. The link itself is left to the caller.
   */
  release(error: MqttClientError, keepInflight: boolean): void {
    this.open = false;
    const inbound = this.inbound;
    if (inbound !== undefined) {
      inbound.close(keepInflight);
      if (!keepInflight) inbound.supersede();
    }
    this.outbound?.stop();
    this.rejectReauth(error);
  }

  /** Sends `last` (a DISCONNECT) after what is queued and closes; see Link.end. */
  end(last: Buffer, timeoutMs: number): Promise<void> {
    return this.link.end(last, timeoutMs);
  }

  /** Destroys the stream without a word to the server or the client. */
  destroy(): void {
    this.link.destroy();
  }

  pauseReading(): void {
    this.link.pauseReading();
  }

  resumeReading(): void {
    this.link.resumeReading();
  }

  // ---------------------------------------------------------------- link events (LinkHost)

  /** Every packet received; throwing an MqttProtocolError fails the link with a DISCONNECT of its code. */
  onPacket(packet: Packet): void {
    const hs = this.hs;
    if (hs !== undefined) {
      this.onHandshakePacket(packet, hs);
      return;
    }
    if (!this.open) return;
    switch (packet.type) {
      case PUBLISH:
        this.onPublish(packet);
        return;
      case PUBACK:
        this.outbound!.onPuback(packet);
        return;
      case PUBREC:
        this.outbound!.onPubrec(packet);
        return;
      case PUBREL:
        this.inbound!.onPubrel(packet.packetId);
        return;
      case PUBCOMP:
        this.outbound!.onPubcomp(packet);
        return;
      case SUBACK:
      case UNSUBACK:
        this.session.requests.acked(packet);
        return;
      case PINGRESP:
        this.link.pingResponse();
        return;
      case DISCONNECT:
        this.link.fail(new DisconnectedError(packet));
        return;
      case AUTH:
        this.onServerAuth(packet, undefined);
        return;
      default:
        throw new MqttProtocolError(0x82, `Unexpected ${PACKET_NAMES[packet.type]} from the server`);
    }
  }

  /** The link closed or failed: the handshake fails, or the established connection is lost. */
  onLinkClosed(_link: Link, error: MqttClientError): void {
    const hs = this.hs;
    if (hs !== undefined) {
      this.hs = undefined;
      hs.reject(error);
      return;
    }
    if (!this.open) return;
    this.open = false;
    this.inbound!.close(this.sessionExpiryInterval > 0);
    this.outbound!.stop();
    this.session.requests.connectionLost();
    this.rejectReauth(error);
    this.host.connectionLost(this, error);
  }

  onLinkDrain(): void {
    this.outbound?.pump();
  }

  // ---------------------------------------------------------------- receiving

  private onPublish(packet: PublishPacket): void {
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) this.incomingAliases!.resolve(packet, alias);
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
    if (this.enforceReceiveMaximum && flow.pendingCount + this.store.incomingCount >= this.receiveMaximum) {
      throw new MqttProtocolError(0x93, 'Server exceeded our Receive Maximum');
    }
    const id = packet.packetId as number;
    if (!this.manualAck) {
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

  /** Hands a message to its receivers/callbacks, or to the client's 'unhandledMessage'; returns whether anyone got it. */
  private deliver(msg: MqttMessage): boolean {
    if (this.subscriptions.dispatch(msg) !== 0) return true;
    return this.host.unhandled(msg);
  }

  // ---------------------------------------------------------------- enhanced authentication

  /**
   * Starts a re-authentication (AUTH 0x19 with `data`) and resolves with the server's final AUTH
   * 0x00; rejects when the connection ends first. One at a time (see {@link reauthenticating}).
   */
  reauthenticate(data: Buffer | undefined): Promise<AuthPacket> {
    const method = this.authenticator!.method;
    // Encoded first: a refused encoding must not leave a re-authentication marked as in progress.
    const bytes = encodePacket({ type: AUTH, reasonCode: 0x19, properties: { authenticationMethod: method, authenticationData: data } });
    const done = new Promise<AuthPacket>((resolve, reject) => {
      this.reauth = { resolve, reject };
    });
    this.link.write(bytes);
    return done;
  }

  private rejectReauth(error: Error): void {
    this.reauth?.reject(error);
    this.reauth = undefined;
  }

  /** An AUTH from the server: a challenge (0x18) during the handshake or a re-authentication, or the end of a re-authentication (0x00). */
  private onServerAuth(packet: AuthPacket, hs: Handshake | undefined): void {
    const auth = this.authenticator;
    const code = packet.reasonCode ?? 0;
    if (auth === undefined) throw new MqttProtocolError(0x82, 'AUTH received without enhanced authentication');
    const method = packet.properties?.authenticationMethod;
    if (method !== auth.method) {
      throw new MqttProtocolError(0x8c, `AUTH with method ${String(method)}, expected ${auth.method}`);
    }
    const link = this.link;
    if (code === 0x00 && hs === undefined && this.reauth !== undefined) {
      try {
        auth.complete?.(packet.properties?.authenticationData, packet);
      } catch (error) {
        const err = new AuthenticationError(0x80, `Authenticator refused the server: ${errorMessage(error)}`, { cause: error });
        this.rejectReauth(err);
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
}
