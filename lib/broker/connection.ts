/**
 * One client connection: decoding, the per-client protocol state machine, batched writes with
 * backpressure, keep alive, and closing. CONNECT/AUTH and SUBSCRIBE/UNSUBSCRIBE live in their own
 * modules (connect-flow.ts, subscribe-flow.ts); this file handles the rest, PUBLISH first.
 *
 * Writes: every packet is queued as bytes and written in one socket write per batch: a client's own
 * answers at the end of each chunk it sent, everything else (deliveries) once per event-loop turn. When the socket's user-space
 * buffer passes the high-water mark, the connection counts as congested: further publishes wait in
 * the session queue (bounded) until 'drain', and past 4× the mark the broker stops reading from the
 * client (it is not reading our acknowledgements).
 *
 * Hooks that answer with a promise block the connection: it stops reading and queues the packets
 * already decoded, so that a client's packets are always processed in order.
 *
 * Why over 500 lines: input, the PUBLISH path, batched writes and closing share private state that is
 * touched per packet (pause bits, blockers, the write batch); split across files, that state would need
 * accessors or a call per packet on the hottest path of the broker.
 */
import { isUtf8 } from 'node:buffer';
import { inspect, type InspectOptionsStylized } from 'node:util';
import {
  MqttProtocolError,
  PACKET_NAMES,
  PacketDecoder,
  PacketType,
  UnsupportedProtocolError,
  encodePacket,
  withTopicAlias,
  isReasonCodeAllowed,
  propertylessAckLength,
  protocolError,
  writePropertylessAck,
  type ConnackPacket,
  type DisconnectPacket,
  type Packet,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type Will,
} from '../codec/index.js';
import { isThenable, type AuthorizePublishResult, type ClientInfo, type TransportKind } from './auth.js';
import { clientSnapshot } from './client-info.js';
import { handleAuth, handleConnect } from './connect-flow.js';
import {
  Blocker,
  ConnState,
  type AuthState,
  type ClientSocket,
  type ConnectionHost,
  type ProtocolConnection,
} from './connection-contract.js';
import { HookError } from './errors.js';
import type { DisconnectInitiator } from './events.js';
import { Message } from './message.js';
import { OutgoingAliases } from './outgoing-aliases.js';
import type { Session, SessionLink } from './session.js';
import { showsDurableState, storeFailureReasonCode, type AckTarget } from './store/persistence.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe-flow.js';
import { isSysTopic } from './sys-topics.js';

// Reasons to stop reading from the socket (bit flags).
const PAUSE_BLOCKED = 1;
const PAUSE_BACKPRESSURE = 2;

const kConnection = Symbol('mqtt5.connection');
type TaggedSocket = ClientSocket & { [kConnection]: Connection };

// Socket listeners shared by every connection (no closure per connection): `this` is the socket.
function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kConnection].onData(chunk);
}
function onSocketDrain(this: TaggedSocket): void {
  this[kConnection].onDrain();
}
function onSocketError(this: TaggedSocket, err: Error): void {
  this[kConnection].onSocketError(err);
}
function onSocketClose(this: TaggedSocket): void {
  this[kConnection].onSocketClose();
}
function destroyAfterGrace(conn: Connection): void {
  conn.destroy();
}

// The connection being fed to its decoder (decoding is synchronous): spares a bound callback per connection.
let feeding: Connection | null = null;
function onDecoded(packet: Packet): void {
  feeding!.onPacket(packet);
}

/** The MQTT 3.1/3.1.1 CONNACK refusing the protocol version (return code 0x01). */
const CONNACK_V3_UNACCEPTABLE_VERSION = Buffer.from([0x20, 0x02, 0x00, 0x01]);
/** PINGRESP: always these two bytes (sockets and Buffer.concat never write into a buffer they are given). */
const PINGRESP = Buffer.from([PacketType.PINGRESP << 4, 0x00]);

/**
 * A PUBACK, PUBREC or PUBCOMP without properties (the codec's property-less ack writer). At 4 or 5
 * bytes it always fits the client's Maximum Packet Size: a connected client's takes our CONNACK, which
 * is larger.
 */
function ackBytes(type: number, packetId: number, reasonCode: number): Buffer {
  const buf = Buffer.allocUnsafe(propertylessAckLength(reasonCode));
  writePropertylessAck(buf, 0, type, packetId, reasonCode);
  return buf;
}

const QUOTA_REASON = 'a subscriber queue is full';
/** PUBACK and PUBREC 0x97 with {@link QUOTA_REASON}, encoded once: refusals come at the publish rate when a queue is full. */
const quotaTemplates: (Buffer | undefined)[] = [];

/**
 * PUBACK/PUBREC 0x97 (Quota exceeded) for `packetId`: with the reason string when the client wants
 * problem information and it fits its Maximum Packet Size, else the 5-byte form.
 */
function quotaExceeded(type: typeof PacketType.PUBACK | typeof PacketType.PUBREC, packetId: number, withReason: boolean, maximumPacketSize: number): Buffer {
  const t = withReason ? (quotaTemplates[type] ??= encodePacket({ type, packetId: 1, reasonCode: 0x97, properties: { reasonString: QUOTA_REASON } })) : undefined;
  if (t === undefined || t.length > maximumPacketSize) return ackBytes(type, packetId, 0x97);
  const buf = Buffer.allocUnsafe(t.length);
  t.copy(buf);
  // One byte of remaining length (the packet is short): the packet identifier follows at offset 2.
  buf.writeUInt16BE(packetId, 2);
  return buf;
}

/** Whether a hook answer allows a publish; otherwise the reason code to refuse it with. */
function publishVerdict(r: AuthorizePublishResult): number {
  if (r === true) return 0;
  if (r === false) return 0x87;
  if (typeof r === 'number' && r < 0x80) return 0;
  return typeof r === 'number' && isReasonCodeAllowed(PacketType.PUBACK, r) ? r : 0x87;
}

/**
 * A client connection. Implements what its session needs ({@link SessionLink}) and what the flows and
 * the engine need ({@link ProtocolConnection}); hooks and events get {@link info}, a frozen snapshot.
 */
export class Connection implements SessionLink, ProtocolConnection, AckTarget {
  /** QoS 1/2 messages sent to the client unacknowledged at most: its Receive Maximum, capped by `maxInflightMessages`. */
  receiveMaximum: number;
  /** The client's Maximum Packet Size. */
  maximumPacketSize = 268_435_460;

  private id = '';
  private user: string | undefined = undefined;
  /** The protocol level, from the CONNECT (undefined before it: the decoder detects it). */
  private level: ProtocolVersion | undefined = undefined;
  /** The hooks' snapshot, taken when the client identifies itself (or on first need before that). */
  private snapshot: ClientInfo | null = null;
  private boundSession: Session | null = null;
  private connState: ConnState = ConnState.New;
  /** Whether reason strings and user properties may go into acks (Request Problem Information). */
  private problemInformation = true;
  private connectWill: Will | null = null;
  /** Session Expiry Interval as requested in CONNECT (DISCONNECT may not raise it from 0). */
  private connectSessionExpiry = 0;
  /** Keep alive in effect, seconds (0: none). */
  private keepAlive = 0;
  private authState: AuthState | null = null;
  private assigned = false;
  private takeover: { readonly cleanStart: boolean } | null = null;

  /** Our own decoder while a packet is split across reads; otherwise the core's shared one is used. */
  private decoder: PacketDecoder | null = null;
  private out: Buffer[] | null = null;
  private outBytes = 0;
  private dirty = false;
  /** The store group the buffered bytes wait for (0: none); see Persistence. */
  private holdGroup = 0;
  /** Registered with the persistence to be released when `holdGroup` is durable. */
  private heldByStore = false;
  /** The CONNACK accepting this connection is buffered, not written yet. */
  private connackUnsent = false;
  private writeBlocked = false;
  /** The last write was not taken whole by the kernel: deliveries into our buffers are bounded by the high-water mark until 'drain'. */
  private needDrain = false;
  private paused = 0;
  private socketClosed = false;
  /** The close grace timer (only while closing). */
  private timer: NodeJS.Timeout | null = null;
  /** Supervisor tick of the connection's start, then of its last read. */
  private lastTick: number;
  private aliases: Map<number, string> | null = null;
  /** Topic aliases we may use towards the client: min(its Topic Alias Maximum, outgoingTopicAliases). */
  private outAliasMax = 0;
  /** Our topic aliases towards the client, made on the first delivery when {@link outAliasMax} > 0. */
  private outAliases: OutgoingAliases | null = null;
  private blockers = 0;
  private backlog: Packet[] | null = null;
  /** QoS 1/2 publishes awaiting an asynchronous authorisation (they count against Receive Maximum). */
  private inboundPending = 0;
  private disconnectReceived: number | undefined = undefined;
  private readonly hwm: number;
  private readonly batchLimit: number;

  constructor(
    readonly host: ConnectionHost,
    private readonly socket: ClientSocket,
    readonly transport: TransportKind,
  ) {
    const s = socket as TaggedSocket;
    s[kConnection] = this;
    s.on('data', onSocketData);
    s.on('drain', onSocketDrain);
    s.on('error', onSocketError);
    s.on('close', onSocketClose);
    this.receiveMaximum = host.options.maxInflightMessages;
    this.hwm = host.options.writeBufferHighWaterMark;
    this.batchLimit = this.hwm * 16;
    this.lastTick = host.supervisor.tick;
  }

  // What the flows and the engine read ------------------------------------------------------------------

  /** The client's protocol level: 5, 4 (MQTT 3.1.1) or 3 (MQTT 3.1); 5 until its CONNECT says otherwise. */
  get protocolVersion(): ProtocolVersion {
    return this.level ?? 5;
  }

  get state(): ConnState {
    return this.connState;
  }

  get clientId(): string {
    return this.id;
  }

  get username(): string | undefined {
    return this.user;
  }

  get assignedClientId(): boolean {
    return this.assigned;
  }

  get session(): Session | null {
    return this.boundSession;
  }

  get will(): Will | null {
    return this.connectWill;
  }

  get auth(): AuthState | null {
    return this.authState;
  }

  get takenOver(): { readonly cleanStart: boolean } | null {
    return this.takeover;
  }

  /**
   * The frozen snapshot hooks and events get: taken on first need after CONNECT (the authenticate
   * hook, authorizePublish, an event), then reused — never per publish. An idle connection of a broker
   * without hooks or listeners never pays for one.
   */
  get info(): ClientInfo {
    return (this.snapshot ??= clientSnapshot(this.socket, this.transport, this.id, this.user, this.level));
  }

  /** util.inspect shows the snapshot, never the broker behind the connection (other clients, a CONNECT's password). */
  [inspect.custom](_depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return `Connection ${inspectFn(this.info, options)}`;
  }

  // Intents of the CONNECT flow ----------------------------------------------------------------------------

  adoptClientLimits(props: Properties | undefined): void {
    if (props === undefined) return;
    if (props.receiveMaximum !== undefined) this.receiveMaximum = Math.min(props.receiveMaximum, this.host.options.maxInflightMessages);
    if (props.maximumPacketSize !== undefined) this.maximumPacketSize = props.maximumPacketSize;
    if (props.requestProblemInformation === false) this.problemInformation = false;
    this.connectSessionExpiry = props.sessionExpiryInterval ?? 0;
    const aliasMax = props.topicAliasMaximum;
    if (aliasMax !== undefined) this.outAliasMax = Math.min(aliasMax, this.host.options.outgoingTopicAliases);
  }

  identify(clientId: string, assigned: boolean, username: string | undefined, protocolVersion: number): void {
    this.id = clientId;
    this.assigned = assigned;
    this.user = username;
    this.level = protocolVersion as ProtocolVersion;
    // Taken again on next need (a snapshot taken before CONNECT, for a clientError, lacks the identity).
    this.snapshot = null;
  }

  keepWill(will: Will | null): void {
    this.connectWill = will;
  }

  beginAuthentication(state: AuthState): void {
    this.authState = state;
  }

  endAuthentication(): void {
    this.authState = null;
  }

  accepted(session: Session, sessionPresent: boolean, connack: ConnackPacket, keepAlive: number): void {
    this.boundSession = session;
    this.connState = ConnState.Connected;
    // Stored before CONNACK (which waits for the commit, like every write; see Persistence).
    this.host.persistence?.sessionConnected(session, this.protocolVersion ?? 5, this.connectWill);
    this.connackUnsent = true;
    this.sendPacket(connack);
    this.keepAlive = keepAlive;
    this.lastTick = this.host.supervisor.tick;
    session.attach(this, sessionPresent);
  }

  // SessionLink ---------------------------------------------------------------------------------------

  /**
   * The socket is full, or this turn's batch is already large: further publishes wait in the session
   * queue. Once a write was not taken whole, a batch stops at the high-water mark, so a socket that
   * backs up holds at most about twice that in user space.
   */
  get congested(): boolean {
    return this.writeBlocked || this.outBytes >= (this.needDrain ? this.hwm : this.batchLimit);
  }

  /** Queues bytes for the next batched write. */
  sendBuffer(buf: Buffer): void {
    if (this.connState === ConnState.Closed) return;
    const out = this.out;
    if (out === null) this.out = [buf];
    else out.push(buf);
    this.outBytes += buf.length;
    const persistence = this.host.persistence;
    if (persistence !== null) {
      // A packet that shows durable state waits for the group holding that state (see Persistence).
      // Only a persistent session's peer (or one about to be told CONNACK) sees stored state.
      const group = persistence.unsettledGroup;
      if (group !== 0 && (this.connackUnsent || this.boundSession?.journal != null) && showsDurableState(buf[0]!)) this.holdGroup = group;
    }
    if (!this.dirty) {
      this.dirty = true;
      this.host.scheduleFlush(this);
    }
  }

  /**
   * Encodes and queues a packet. Above the client's Maximum Packet Size, the reason string and user
   * properties are left out (spec 3.1.2.11.4); if it is still too large it is not sent.
   */
  sendPacket(packet: Packet): void {
    const buf = this.encodeForClient(packet);
    if (buf !== undefined) this.sendBuffer(buf);
  }

  /**
   * The packet encoded within the client's Maximum Packet Size — without reason string and user
   * properties if it takes that (spec 3.1.2.11.4) — or undefined when even that is too large.
   */
  encodeForClient(packet: Packet): Buffer | undefined {
    const level = this.level;
    if (level !== undefined && level !== 5) return this.encode311(packet, level);
    try {
      return encodePacket(packet, { maximumPacketSize: this.maximumPacketSize });
    } catch (err) {
      const props = (packet as { properties?: Properties }).properties;
      if (!(err instanceof MqttProtocolError) || err.reasonCode !== 0x95 || props === undefined) throw err;
      const { reasonString: _r, userProperties: _u, ...rest } = props;
      try {
        return encodePacket({ ...packet, properties: rest } as Packet, { maximumPacketSize: this.maximumPacketSize });
      } catch (again) {
        if (again instanceof MqttProtocolError && again.reasonCode === 0x95) return undefined;
        throw again;
      }
    }
  }

  /**
   * A packet for an MQTT 3.1.1/3.1 client (the encoder leaves properties out and maps CONNACK/SUBACK codes):
   * a DISCONNECT is never sent to one (the server just closes), and a PUBREL/PUBCOMP failure code, which a
   * 3.1.1 ack cannot carry, goes as the plain ack that ends the client's flow (3.1.1 §4.3.3).
   */
  private encode311(packet: Packet, level: 3 | 4): Buffer | undefined {
    switch (packet.type) {
      case PacketType.DISCONNECT:
        return undefined;
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
        return ackBytes(packet.type, packet.packetId, 0);
      default:
        return encodePacket(packet, { protocolVersion: level });
    }
  }

  /**
   * The PUBLISH bytes of `m` for this client ({@link SessionLink.encodePublish}): the message's shared
   * v5 encoding, its 3.1.1 one for a 3.1.1/3.1 client, or a per-client copy carrying a topic alias.
   */
  encodePublish(m: Message, qos: QoS, retain: boolean, ids: number | number[] | undefined, packetId: number, dup: boolean, now: number): Buffer {
    if (this.level !== 5) return m.encode311(qos, retain, packetId, dup);
    const buf = m.encode(qos, retain, ids, packetId, dup, now);
    return this.outAliasMax === 0 ? buf : this.withAlias(buf, m.topic);
  }

  /** `buf` with a topic alias for `topic`; a new alias counts only once the packet fits the client's limit. */
  private withAlias(buf: Buffer, topic: string): Buffer {
    // The alias property takes 3 bytes: a topic this short gains nothing from one.
    if (topic.length <= 3) return buf;
    const aliases = (this.outAliases ??= new OutgoingAliases(this.outAliasMax));
    const alias = aliases.lookup(topic);
    if (alias > 0) return withTopicAlias(buf, alias, false);
    const out = withTopicAlias(buf, -alias, true);
    // Too large: the session drops it, and the client must not be assumed to know the alias.
    if (out.length <= this.maximumPacketSize) aliases.commit();
    return out;
  }

  /** A reason string for an ack, unless the client asked for no problem information. */
  problem(reasonString: string): Properties | undefined {
    return this.problemInformation ? { reasonString } : undefined;
  }

  /**
   * Writes the queued bytes in one socket write (called once per event-loop turn by the core), unless
   * they wait for a store group commit: then once it is durable ({@link releaseHeld}).
   */
  flush(): void {
    const group = this.holdGroup;
    if (group !== 0) {
      const persistence = this.host.persistence;
      if (persistence !== null && !persistence.settled(group)) {
        if (!this.heldByStore) {
          this.heldByStore = true;
          persistence.hold(this, group);
        }
        return;
      }
      this.holdGroup = 0;
    }
    this.writeOut();
  }

  /** @internal The store group this connection's bytes waited for is durable. */
  releaseHeld(): void {
    this.heldByStore = false;
    const persistence = this.host.persistence;
    if (persistence !== null && persistence.failure !== undefined) this.storeFailed(persistence.failure);
    else if (this.dirty) this.flush();
  }

  /**
   * The store group our buffered bytes waited for failed: they show state that was not kept (a SUBACK
   * for a subscription, a CONNACK for a session), so they are dropped and the connection refused
   * (before CONNACK) or closed, with 0x97 when the disk is full, else 0x80.
   */
  private storeFailed(error: Error): void {
    this.out = null;
    this.outBytes = 0;
    this.dirty = false;
    this.holdGroup = 0;
    const reasonCode = storeFailureReasonCode(error);
    const why = 'the broker could not store the session state';
    if (this.connackUnsent) this.refuse(reasonCode, this.problemInformation ? why : undefined);
    else this.disconnect(reasonCode, this.problemInformation ? why : undefined);
  }

  /** Writes the queued bytes now, in one socket write. */
  private writeOut(): void {
    this.dirty = false;
    this.connackUnsent = false;
    const out = this.out;
    if (out === null) return;
    const buf = out.length === 1 ? out[0]! : Buffer.concat(out, this.outBytes);
    this.out = null;
    this.outBytes = 0;
    if (this.socketClosed) return;
    this.host.traffic.bytesSent += buf.length;
    const socket = this.socket;
    // write() returns false only when bytes stay buffered in user space; 'drain' follows then.
    const taken = socket.write(buf);
    if (!taken) this.needDrain = true;
    if (!taken && socket.writableLength > this.hwm) {
      // Until 'drain', publishes wait in the session queue.
      this.writeBlocked = true;
      if (socket.writableLength > 4 * this.hwm) this.setPaused(PAUSE_BACKPRESSURE, true);
    } else if (this.connState === ConnState.Connected && this.boundSession!.hasBacklog) {
      // Messages queued while this turn's batch was full: next batch (written next turn).
      this.boundSession!.pump();
    }
  }

  // Input -----------------------------------------------------------------------------------------------

  /** @internal A chunk from the socket. */
  onData(chunk: Buffer): void {
    const core = this.host;
    const state = this.connState;
    if (state === ConnState.Closed) return; // lingering close: read and discard
    core.traffic.bytesReceived += chunk.length;
    // Between packets a connection needs no decoder state: it borrows the core's shared decoder, and
    // keeps one only while a packet is split across reads.
    const decoder = this.decoder ?? core.borrowDecoder(this.level);
    const prev = feeding;
    feeding = this;
    try {
      decoder.feed(chunk, onDecoded);
    } catch (err) {
      // A CONNECT that failed to decode still told its level: the refusal goes out in that format.
      if (this.level === undefined) this.level = decoder.protocolVersion;
      this.fail(err);
    } finally {
      feeding = prev;
      this.decoder = core.returnDecoder(decoder);
    }
    // Our answers to this chunk (acks, CONNACK, SUBACK, …) go out in one write now, before the read
    // buffer is released; deliveries to other clients wait for the end of the event-loop turn. With
    // persistence, packets that show state not yet durable wait for its commit (flush() holds them).
    if (this.dirty) this.flush();
  }

  /** @internal One decoded packet, in order. */
  onPacket(p: Packet): void {
    const state = this.connState;
    if (state === ConnState.Closed) return;
    // Keep alive counts from the last complete control packet (spec 3.1.2.10), not from the last byte: a
    // client trickling a packet must not hold its connection forever. The connect timeout counts from the start.
    if (state === ConnState.Connected) this.lastTick = this.host.supervisor.tick;
    if (this.blockers !== 0) {
      (this.backlog ??= []).push(p);
      return;
    }
    this.dispatch(p);
  }

  private dispatch(p: Packet): void {
    if (this.connState !== ConnState.Connected) {
      this.dispatchBeforeConnack(p);
      return;
    }
    switch (p.type) {
      case PacketType.PUBLISH:
        this.onPublish(p);
        return;
      case PacketType.PUBACK:
        this.boundSession!.onPuback(p.packetId);
        return;
      case PacketType.PUBREC:
        this.boundSession!.onPubrec(p.packetId, p.reasonCode ?? 0);
        return;
      case PacketType.PUBREL: {
        const known = this.boundSession!.inboundQoS2?.delete(p.packetId) ?? false;
        if (known && this.host.persistence !== null) this.host.persistence.inboundChanged(this.boundSession!, p.packetId, false);
        // 3.1.1 has no code for an unknown identifier: the plain PUBCOMP ends the client's flow.
        this.sendBuffer(ackBytes(PacketType.PUBCOMP, p.packetId, known || this.level !== 5 ? 0 : 0x92));
        return;
      }
      case PacketType.PUBCOMP:
        this.boundSession!.onPubcomp(p.packetId);
        return;
      case PacketType.SUBSCRIBE:
        handleSubscribe(this, p);
        return;
      case PacketType.UNSUBSCRIBE:
        handleUnsubscribe(this, p);
        return;
      case PacketType.PINGREQ:
        this.sendBuffer(PINGRESP);
        return;
      case PacketType.DISCONNECT:
        this.onDisconnect(p);
        return;
      case PacketType.AUTH:
        handleAuth(this, p);
        return;
      case PacketType.CONNECT:
        throw protocolError('second CONNECT on a connection (MQTT-3.1.0-2)');
      default:
        throw protocolError(`${PACKET_NAMES[p.type]} is not sent by clients`);
    }
  }

  private dispatchBeforeConnack(p: Packet): void {
    if (this.connState === ConnState.New && p.type === PacketType.CONNECT) {
      this.connState = ConnState.Connecting;
      this.level = (p.protocolVersion ?? 5) as ProtocolVersion;
      handleConnect(this, p);
    } else if (this.connState === ConnState.Connecting && p.type === PacketType.AUTH) {
      handleAuth(this, p);
    } else if (p.type === PacketType.CONNECT) {
      throw protocolError('second CONNECT on a connection (MQTT-3.1.0-2)');
    } else {
      throw protocolError(`${PACKET_NAMES[p.type]} before the connection was accepted (MQTT-3.1.0-1)`);
    }
  }

  // PUBLISH ---------------------------------------------------------------------------------------------

  private onPublish(p: PublishPacket): void {
    const core = this.host;
    const opts = core.options;
    const qos = p.qos;
    if (qos > opts.maximumQoS) throw new MqttProtocolError(0x9b, `QoS ${qos} is above the maximum QoS ${opts.maximumQoS}`);
    if (p.retain && !opts.retainAvailable) throw new MqttProtocolError(0x9a, 'retained messages are not supported');
    const props = p.properties;
    let topic = p.topic;
    if (props !== undefined) {
      if (props.subscriptionIdentifier !== undefined) throw protocolError('a PUBLISH from a client must not carry a subscription identifier');
      if (props.topicAlias !== undefined) topic = this.resolveAlias(props.topicAlias, topic);
    }
    const session = this.boundSession!;
    const packetId = p.packetId ?? 0;
    if (qos !== 0) {
      const qos2 = session.inboundQoS2;
      if (qos === 2 && qos2 !== null && qos2.has(packetId)) {
        // A re-sent QoS 2 message already routed: acknowledge again, deliver nothing (exactly once).
        this.sendBuffer(ackBytes(PacketType.PUBREC, packetId, 0));
        return;
      }
      if (this.inboundPending + (qos2 === null ? 0 : qos2.size) >= opts.receiveMaximum) {
        throw new MqttProtocolError(0x93, `more than ${opts.receiveMaximum} QoS 1/2 publishes unacknowledged`);
      }
    }
    // Spec 3.3.2.3.2: a receiver may check a payload that claims to be UTF-8. Only such payloads pay for it.
    if (props !== undefined && props.payloadFormatIndicator === true && opts.validatePayloadFormat && !isUtf8(p.payload)) {
      this.refusePayloadFormat(qos, packetId);
      return;
    }
    // The clock is read only for messages that expire.
    const now = props === undefined || props.messageExpiryInterval === undefined ? 0 : core.now();
    const msg = new Message(topic, p.payload, qos, p.retain, props, session, now);
    // While the broker publishes its $SYS statistics, clients may not publish there (0x87, as Mosquitto).
    if (topic.charCodeAt(0) === 0x24 && opts.sysInterval !== 0 && isSysTopic(topic)) {
      this.completePublish(msg, packetId, 0x87);
      return;
    }
    const hook = opts.authorizePublish;
    if (hook === undefined) {
      this.completePublish(msg, packetId, 0);
      return;
    }
    let r: AuthorizePublishResult | PromiseLike<AuthorizePublishResult>;
    try {
      r = hook(this.info, msg, false);
    } catch (err) {
      this.hookFailed(err, msg, packetId);
      return;
    }
    if (!isThenable(r)) {
      this.completePublish(msg, packetId, publishVerdict(r));
      return;
    }
    if (qos !== 0) this.inboundPending++;
    this.block();
    r.then(
      (res) => {
        if (qos !== 0) this.inboundPending--;
        if (this.connState !== ConnState.Closed) this.completePublish(msg, packetId, publishVerdict(res));
        this.unblock();
      },
      (err: unknown) => {
        if (qos !== 0) this.inboundPending--;
        if (this.connState !== ConnState.Closed) this.hookFailed(err, msg, packetId);
        this.unblock();
      },
    );
  }

  /** A PUBLISH whose payload is not the UTF-8 its Payload Format Indicator announces: 0x99, and it is not routed. */
  private refusePayloadFormat(qos: number, packetId: number): void {
    const why = 'the payload is not valid UTF-8 although its Payload Format Indicator says it is';
    // QoS 0 has no acknowledgement to carry the refusal: the spec's answer is DISCONNECT 0x99.
    if (qos === 0) throw new MqttProtocolError(0x99, why);
    const type = qos === 1 ? PacketType.PUBACK : PacketType.PUBREC;
    this.sendPacket({ type, packetId, reasonCode: 0x99, properties: this.problem(why) });
  }

  private hookFailed(err: unknown, msg: Message, packetId: number): void {
    const e = new HookError('authorizePublish', 0x80, err);
    this.host.clientError(this.info, e);
    if (this.level !== 5) {
      // A 3.1.1 ack cannot refuse, and this message was not judged: close, so that the client sends it again.
      this.close(null, 'server', 0x80);
      return;
    }
    this.completePublish(msg, packetId, 0x80);
  }

  /** Routes an authorised message (verdict 0) or refuses it, and acknowledges per its QoS. */
  private completePublish(msg: Message, packetId: number, verdict: number): void {
    const qos = msg.qos;
    if (verdict !== 0 && this.level !== 5) {
      // MQTT 3.1.1 has no way to refuse a PUBLISH: acknowledge it as usual and drop it (MQTT-3.3.5-2), counted.
      this.host.dropped(this.boundSession!, msg, qos, 'notAuthorized');
      if (qos === 1) this.sendBuffer(ackBytes(PacketType.PUBACK, packetId, 0));
      else if (qos === 2) {
        (this.boundSession!.inboundQoS2 ??= new Set()).add(packetId);
        this.sendBuffer(ackBytes(PacketType.PUBREC, packetId, 0));
      }
      return;
    }
    if (verdict !== 0) {
      this.host.denied(this.info, 'publish', msg.topic, verdict);
      // QoS 0 cannot be refused on the wire: it is not routed.
      if (qos === 1) this.sendPacket({ type: PacketType.PUBACK, packetId, reasonCode: verdict, properties: this.problem('not authorized') });
      else if (qos === 2) this.sendPacket({ type: PacketType.PUBREC, packetId, reasonCode: verdict, properties: this.problem('not authorized') });
      return;
    }
    const persistence = this.host.persistence;
    if (persistence !== null && qos !== 0) {
      this.completeStoredPublish(msg, packetId, persistence);
      return;
    }
    const delivered = this.host.publish(msg, this.info);
    if (qos === 0) return;
    if (delivered < 0) {
      // A subscriber's queue could not keep it: never acknowledge what is not kept (no PUBREC state either).
      if (this.level !== 5) {
        // A 3.1.1 ack cannot refuse: close without acknowledging, so that the client sends it again later.
        this.close(null, 'server', 0x97);
        return;
      }
      this.sendBuffer(quotaExceeded(qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId, this.problemInformation, this.maximumPacketSize));
      return;
    }
    const reasonCode = delivered === 0 && this.level === 5 ? 0x10 : 0;
    if (qos === 1) {
      this.sendBuffer(ackBytes(PacketType.PUBACK, packetId, reasonCode));
    } else {
      (this.boundSession!.inboundQoS2 ??= new Set()).add(packetId);
      this.sendBuffer(ackBytes(PacketType.PUBREC, packetId, reasonCode));
    }
  }

  /**
   * A QoS 1/2 publish on a broker with persistence: routed (its deliveries to persistent sessions and
   * its retained change staged in the store), then acknowledged once that is durable — never before.
   * Once the store has failed, it is refused (0x97 full, 0x80 otherwise) and not routed.
   */
  private completeStoredPublish(msg: Message, packetId: number, persistence: NonNullable<ConnectionHost['persistence']>): void {
    const type = msg.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC;
    if (persistence.failure !== undefined) {
      // Never acknowledged unless kept; a 3.1.1 ack cannot refuse, so that client is closed and sends it again.
      if (this.level !== 5) this.close(null, 'server', storeFailureReasonCode(persistence.failure));
      else this.sendPacket({ type, packetId, reasonCode: storeFailureReasonCode(persistence.failure), properties: this.problem('the broker cannot store messages') });
      return;
    }
    const delivered = this.host.publish(msg, this.info);
    if (delivered < 0) {
      // A subscriber's queue could not keep it (see completePublish).
      if (this.level !== 5) this.close(null, 'server', 0x97);
      else this.sendBuffer(quotaExceeded(type, packetId, this.problemInformation, this.maximumPacketSize));
      return;
    }
    if (msg.qos === 2) {
      const session = this.boundSession!;
      (session.inboundQoS2 ??= new Set()).add(packetId);
      persistence.inboundChanged(session, packetId, true);
    }
    persistence.acknowledge(this, type, packetId, delivered === 0 && this.level === 5 ? 0x10 : 0);
  }

  /** @internal A deferred PUBACK/PUBREC (see Persistence.acknowledge); ≥ 0x80 when the store failed. */
  sendStoredAck(type: number, packetId: number, reasonCode: number): void {
    if (this.connState !== ConnState.Connected) return;
    if (reasonCode >= 0x80) {
      // Not kept: the QoS 2 flow ends here, and a re-send is a new message.
      if (type === PacketType.PUBREC) this.boundSession!.inboundQoS2?.delete(packetId);
      if (this.level !== 5) {
        this.close(null, 'server', reasonCode);
        return;
      }
      this.sendPacket({ type: type as typeof PacketType.PUBACK, packetId, reasonCode, properties: this.problem('the broker could not store the message') });
      return;
    }
    this.sendBuffer(ackBytes(type, packetId, reasonCode));
  }

  /** Topic alias from the client (spec 3.3.2.3.4): set the mapping, or use it for an empty topic. */
  private resolveAlias(alias: number, topic: string): string {
    const max = this.host.options.topicAliasMaximum;
    if (alias === 0 || alias > max) throw new MqttProtocolError(0x94, `topic alias ${alias} is outside 1..${max}`);
    if (topic.length === 0) {
      const mapped = this.aliases?.get(alias);
      // 0x94 (Topic Alias invalid) like the client does, rather than the generic 0x82: the alias is what is wrong.
      if (mapped === undefined) throw new MqttProtocolError(0x94, `topic alias ${alias} has no topic yet`);
      return mapped;
    }
    (this.aliases ??= new Map()).set(alias, topic);
    return topic;
  }

  // DISCONNECT and closing --------------------------------------------------------------------------------

  private onDisconnect(p: DisconnectPacket): void {
    const expiry = p.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (expiry !== 0 && this.connectSessionExpiry === 0) {
        throw protocolError('DISCONNECT sets a session expiry interval although CONNECT had 0 (MQTT-3.14.2-2)');
      }
      this.boundSession!.expiryInterval = Math.min(expiry, this.host.options.maxSessionExpiryInterval);
    }
    const reasonCode = p.reasonCode ?? 0;
    if (reasonCode === 0) this.connectWill = null;
    this.disconnectReceived = reasonCode;
    this.close(null, 'client', reasonCode);
  }

  /** Ends the connection on a protocol violation (or any error while handling its input). */
  fail(err: unknown): void {
    const e = err instanceof MqttProtocolError ? err : new MqttProtocolError(0x83, `internal error: ${err instanceof Error ? err.message : String(err)}`);
    this.host.clientError(this.info, err instanceof Error ? err : e);
    if (this.connState === ConnState.Closed) return;
    if (err instanceof UnsupportedProtocolError && this.connState === ConnState.New && (err.protocolVersion === 3 || err.protocolVersion === 4)) {
      // An MQTT 3.1/3.1.1 client cannot parse a v5 CONNACK: answer in its format, return code 0x01
      // (unacceptable protocol version, 3.1.1 §3.2.2.3), as Mosquitto does.
      this.sendBuffer(CONNACK_V3_UNACCEPTABLE_VERSION);
      this.close(null, 'server', 0x84);
      return;
    }
    if (this.level !== undefined && this.level !== 5 && e.reasonCode !== 0x85) {
      // MQTT 3.1.1 answers a protocol violation by closing the connection (§4.8); a CONNACK return code
      // exists only for a rejected identifier (0x02).
      this.close(null, 'server', e.reasonCode);
      return;
    }
    if (this.connState !== ConnState.Connected) {
      // No DISCONNECT before a successful CONNACK (MQTT-3.14.0-1): refuse with CONNACK instead.
      this.refuse(isReasonCodeAllowed(PacketType.CONNACK, e.reasonCode) ? e.reasonCode : 0x82, e.message);
    } else {
      this.disconnect(isReasonCodeAllowed(PacketType.DISCONNECT, e.reasonCode) ? e.reasonCode : 0x82, e.message);
    }
  }

  /** Sends CONNACK with a failure reason code and closes (before the connection was accepted). */
  refuse(reasonCode: number, reasonString?: string, properties?: Properties): void {
    const props: Properties | undefined = reasonString === undefined ? properties : { ...properties, reasonString };
    this.close({ type: PacketType.CONNACK, sessionPresent: false, reasonCode, properties: props }, 'server', reasonCode);
  }

  /** Sends DISCONNECT with `reasonCode` and closes (after the connection was accepted). */
  disconnect(reasonCode: number, reasonString?: string): void {
    // MQTT 3.1.1 has no server DISCONNECT: the connection is just closed.
    if (this.level !== 5) return this.close(null, 'server', reasonCode);
    const properties = reasonString === undefined ? undefined : { reasonString };
    this.close({ type: PacketType.DISCONNECT, reasonCode, properties }, 'server', reasonCode);
  }

  /** Closes because a newer connection with the same client id arrived (DISCONNECT 0x8E). */
  takeOver(newCleanStart: boolean): void {
    this.takeover = { cleanStart: newCleanStart };
    this.disconnect(0x8e);
  }

  /**
   * Sends `packet` (if any), flushes, and half-closes; input is read and discarded until the peer
   * closes or the grace period ends. Session and will are handled now: the connection is over.
   */
  close(packet: Packet | null, initiator: DisconnectInitiator, reasonCode: number | undefined): void {
    if (this.connState === ConnState.Closed) return;
    if (packet !== null) {
      try {
        this.sendPacket(packet);
      } catch (err) {
        // The connection must close regardless; report why its last packet could not be sent.
        this.host.clientError(this.info, err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.writeOut();
    const wasConnected = this.connState === ConnState.Connected;
    this.connState = ConnState.Closed;
    this.clearTimer();
    this.releaseInput();
    if (wasConnected) this.host.clientGone(this, initiator, reasonCode);
    if (this.socketClosed) return;
    this.socket.end();
    this.timer = setTimeout(destroyAfterGrace, this.host.options.closeGracePeriod, this);
  }

  /** Destroys the socket at once. */
  destroy(): void {
    this.clearTimer();
    if (!this.socketClosed) this.socket.destroy();
  }

  /** @internal */
  onSocketError(err: Error): void {
    // The 'close' event follows and ends the session's connection.
    this.host.clientError(this.info, err);
  }

  /** @internal */
  onSocketClose(): void {
    this.socketClosed = true;
    this.clearTimer();
    this.out = null;
    this.outBytes = 0;
    if (this.connState !== ConnState.Closed) {
      const wasConnected = this.connState === ConnState.Connected;
      this.connState = ConnState.Closed;
      this.releaseInput();
      if (wasConnected) {
        const byClient = this.disconnectReceived !== undefined;
        this.host.clientGone(this, byClient ? 'client' : 'network', this.disconnectReceived);
      }
    }
    this.host.connectionClosed(this);
  }

  /** @internal 'drain': the socket took our bytes; resume publishes and reading. */
  onDrain(): void {
    this.writeBlocked = false;
    this.needDrain = false;
    this.setPaused(PAUSE_BACKPRESSURE, false);
    if (this.connState === ConnState.Connected) this.boundSession!.pump();
  }

  // Timers ------------------------------------------------------------------------------------------------

  /** @internal Called by the supervisor every tick: connect timeout and keep alive. */
  supervise(): void {
    if (this.connState === ConnState.Closed) return;
    const core = this.host;
    if (this.boundSession?.throttle != null) core.checkSlowConsumer(this.boundSession);
    const idle = core.supervisor.elapsedSince(this.lastTick);
    if (this.connState !== ConnState.Connected) {
      if (idle < core.options.connectTimeout) return;
      core.clientError(this.info, new MqttProtocolError(0x87, `no CONNECT completed within ${core.options.connectTimeout} ms`));
      this.close(null, 'server', undefined);
      this.destroy();
    } else if (this.keepAlive !== 0 && idle >= this.keepAlive * 1500) {
      this.disconnect(0x8d, `nothing received for ${idle} ms or more (keep alive ${this.keepAlive} s)`);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  // Flow control ------------------------------------------------------------------------------------------

  /** Stops processing input (and reading) until {@link unblock} with the same reason. */
  block(reason: number = Blocker.Hook): void {
    this.blockers |= reason;
    this.setPaused(PAUSE_BLOCKED, true);
  }

  /** Lifts `reason`; when nothing blocks any more, processes the packets that arrived meanwhile and resumes reading. */
  unblock(reason: number = Blocker.Hook): void {
    if ((this.blockers & reason) === 0) return;
    this.blockers &= ~reason;
    const backlog = this.backlog;
    while (backlog !== null && backlog.length !== 0 && this.blockers === 0 && this.connState !== ConnState.Closed) {
      const p = backlog.shift()!;
      try {
        this.dispatch(p);
      } catch (err) {
        this.fail(err);
      }
    }
    if (this.blockers === 0) {
      this.backlog = null;
      this.setPaused(PAUSE_BLOCKED, false);
    }
  }

  private releaseInput(): void {
    this.backlog = null;
    this.blockers = 0;
    this.aliases = null;
    this.outAliases = null;
    // Keep reading (and discarding) so that unread input does not turn our close into a reset.
    this.paused = 0;
    if (!this.socketClosed) this.socket.resume();
  }

  private setPaused(bit: number, on: boolean): void {
    const before = this.paused;
    const after = on ? before | bit : before & ~bit;
    if (before === after || this.connState === ConnState.Closed) return;
    this.paused = after;
    if (before === 0) this.socket.pause();
    else if (after === 0) this.socket.resume();
  }
}
