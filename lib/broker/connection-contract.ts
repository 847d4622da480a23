/**
 * What a client connection and the broker engine see of each other, as small interfaces, so that the
 * dependencies run one way: the engine (core.ts) creates connections (connection.ts), a connection
 * runs its protocol flows (connect-flow.ts, subscribe-flow.ts), and all of them know each other only
 * through this file — the way a Session knows its owner only through SessionHost/SessionLink.
 * A connection owns its state: the flows and the engine read it here and change it only through the
 * intent-named methods of {@link ProtocolConnection}.
 */
import type { EventEmitter } from 'node:events';
import type { ConnackPacket, ConnectPacket, Packet, PacketDecoder, Properties, ProtocolVersion, QoS, Will } from '../codec/index.js';
import type { ClientInfo } from './auth.js';
import type { BrokerEventMap, DeniedAction, DisconnectInitiator } from './events.js';
import type { Message } from './message.js';
import type { ResolvedOptions } from './options.js';
import type { DropReason, Session, SessionLink } from './session.js';
import type { Persistence } from './store/persistence.js';
import type { Supervisor } from './supervisor.js';
import type { Traffic } from './sys-topics.js';
import type { TopicTree } from './topic-tree.js';

/** The duplex a connection runs on: a net/tls Socket, or the WebSocket adapter. */
export interface ClientSocket {
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly writableLength: number;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Connection states: waiting for CONNECT; authenticating; CONNACK 0x00 sent; closing or closed (input discarded). */
export const ConnState = { New: 0, Connecting: 1, Connected: 2, Closed: 3 } as const;
export type ConnState = (typeof ConnState)[keyof typeof ConnState];

/** Reasons to stop processing a client's packets (bit flags of {@link ProtocolConnection.block}). */
export const Blocker = {
  /** A hook answered with a promise. */
  Hook: 1,
  /** Every route of this client's messages is backed up (flow control). */
  Downstream: 2,
  /** The broker-wide bound of queued bytes is reached (flow control). */
  Memory: 4,
} as const;

/** Authentication state of a connection (owned by connect-flow.ts, held by the connection). */
export interface AuthState {
  /** The enhanced authentication method, or undefined for simple (user name/password) authentication. */
  readonly method: string | undefined;
  /** 0 for the first call, +1 per AUTH from the client. */
  step: number;
  /** The CONNECT being authenticated (until CONNACK). */
  connect: ConnectPacket | null;
  /** Properties of the AUTH 0x19 that started a re-authentication. */
  reauthProperties: Properties | undefined;
  /** A re-authentication (AUTH 0x19) is in progress. */
  reauthenticating: boolean;
  /** We sent AUTH 0x18 and wait for the client's answer. */
  awaitingClient: boolean;
}

/** What admission of a CONNECT yields. */
export interface Admission {
  session: Session;
  sessionPresent: boolean;
}

/** A client connection as the protocol flows and the engine see it. */
export interface ProtocolConnection extends SessionLink {
  readonly host: ConnectionHost;
  readonly state: ConnState;
  /** The client's protocol level (5; 4 = MQTT 3.1.1; 3 = MQTT 3.1), known once its CONNECT arrived. */
  readonly protocolVersion: ProtocolVersion;
  /** The client identifier (the assigned one when the client sent an empty one); '' before CONNECT. */
  readonly clientId: string;
  readonly username: string | undefined;
  /** Whether the broker assigned the client identifier (CONNACK then carries it). */
  readonly assignedClientId: boolean;
  /** The frozen snapshot that hooks and events get (never the connection itself). */
  readonly info: ClientInfo;
  /** Set once CONNACK 0x00 is sent. */
  readonly session: Session | null;
  /** The will of this connection; cleared by DISCONNECT 0x00. */
  readonly will: Will | null;
  /** Enhanced authentication in progress or established (method), or null. */
  readonly auth: AuthState | null;
  /** Set when a newer connection took over this client id, with the newer one's Clean Start. */
  readonly takenOver: { readonly cleanStart: boolean } | null;

  /** Encodes and queues a packet (reason string and user properties left out if it is too large). */
  sendPacket(packet: Packet): void;
  /** The packet encoded within the client's Maximum Packet Size, or undefined when it cannot be. */
  encodeForClient(packet: Packet): Buffer | undefined;
  /** A reason string for an ack, unless the client asked for no problem information. */
  problem(reasonString: string): Properties | undefined;
  /** Sends CONNACK with a failure reason code and closes (before the connection was accepted). */
  refuse(reasonCode: number, reasonString?: string, properties?: Properties): void;
  /** Sends DISCONNECT with `reasonCode` and closes (after the connection was accepted). */
  disconnect(reasonCode: number, reasonString?: string): void;
  /** Ends the connection on a protocol violation (or any error while handling its input). */
  fail(err: unknown): void;
  /** Closes because a newer connection with the same client id arrived (DISCONNECT 0x8E). */
  takeOver(newCleanStart: boolean): void;
  /** Stops processing input (and reading) until {@link unblock} with the same reason. */
  block(reason?: number): void;
  /** Lifts `reason`; processes what arrived meanwhile once nothing blocks any more. */
  unblock(reason?: number): void;

  // Intents of the CONNECT flow ------------------------------------------------------------------------
  /** Takes the client's limits from its CONNECT properties (Receive Maximum, Maximum Packet Size, …). */
  adoptClientLimits(properties: Properties | undefined): void;
  /** Names the client: its (possibly assigned) identifier and user name; the hooks' snapshot follows. */
  identify(clientId: string, assigned: boolean, username: string | undefined, protocolVersion: number): void;
  /** Keeps the will of CONNECT (or none). */
  keepWill(will: Will | null): void;
  /** Enhanced or simple authentication begins (the authenticate hook is configured). */
  beginAuthentication(state: AuthState): void;
  /** Simple authentication succeeded: no authentication state is kept. */
  endAuthentication(): void;
  /** The client is admitted: binds `session`, sends `connack`, starts keep alive `keepAlive` (seconds). */
  accepted(session: Session, sessionPresent: boolean, connack: ConnackPacket, keepAlive: number): void;
}

/** Something with bytes to write at the end of the event-loop turn. */
export interface Flushable {
  flush(): void;
}

/** What a connection (and its flows) needs from the broker engine. */
export interface ConnectionHost {
  readonly options: ResolvedOptions;
  /** Connect timeouts and keep alive of every connection, on one coarse clock. */
  readonly supervisor: Pick<Supervisor, 'tick' | 'elapsedSince'>;
  readonly tree: TopicTree<Session>;
  readonly events: EventEmitter<BrokerEventMap>;
  /** Write-through to the broker store, or null when the broker keeps everything in memory only. */
  readonly persistence: Persistence | null;
  /** The current time in ms. */
  now(): number;
  /** A decoder for one read at `level` (undefined: detect it from CONNECT); shared between connections while no packet is split across reads. */
  borrowDecoder(level: ProtocolVersion | undefined): PacketDecoder;
  /** Takes a decoder back; returns it when the connection must keep it (part of a packet, or failed). */
  returnDecoder(d: PacketDecoder): PacketDecoder | null;
  /** `conn` has bytes to write: flush it once this turn's I/O is done. */
  scheduleFlush(conn: Flushable): void;
  /** A client identifier for a client that sent an empty one. */
  assignClientId(): string;
  /** Admits an authenticated CONNECT: a session, or the CONNACK reason code refusing it. */
  admit(conn: ProtocolConnection, cleanStart: boolean): Admission | number;
  /** CONNACK 0x00 went out. */
  connected(conn: ProtocolConnection, sessionPresent: boolean): void;
  /**
   * Stores (retained), routes and reports an accepted message; returns the number of deliveries, or
   * -1 when a subscriber's queue could not keep it at QoS 1/2 (the publisher gets 0x97 Quota exceeded).
   */
  publish(msg: Message, client: ClientInfo | null): number;
  /** Sends the retained messages matching `filter` to `session`. */
  sendRetained(session: Session, filter: string, qos: QoS, subscriptionId: number): void;
  /** A connected client's connection ended. */
  clientGone(conn: ProtocolConnection, initiator: DisconnectInitiator, reasonCode: number | undefined): void;
  /** The socket of `conn` closed. */
  connectionClosed(conn: ProtocolConnection): void;
  /** A subscriber holding publishers back past the slow-consumer timeout stops doing so. */
  checkSlowConsumer(subscriber: Session): void;
  /** A message was not delivered for `reason` (counted, and the `drop` event). */
  dropped(session: Session, message: Message, qos: QoS, reason: DropReason): void;
  /** An authorisation hook refused a PUBLISH or a subscription: counted, and the `denied` event. */
  denied(client: ClientInfo, action: DeniedAction, topic: string, reasonCode: number): void;
  /** Bytes read from and written to client sockets (for `$SYS/broker/bytes/…`): one addition per read/write. */
  readonly traffic: Traffic;
  /** Reports a client's error (the `clientError` event). */
  clientError(client: ClientInfo | null, err: Error): void;
}
