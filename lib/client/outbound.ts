/**
 * The sending side of QoS on one network connection: the server's receive quota (its Receive
 * Maximum, capped by `maxInflight`), outgoing topic aliases, the re-send of the messages in flight
 * after a CONNACK, the first send of queued publishes, the acks of our QoS 1/2 publishes (PUBACK,
 * PUBREC, PUBCOMP) and SUBSCRIBE/UNSUBSCRIBE under fresh packet ids.
 *
 * One {@link OutboundFlow} is made per connection at its CONNACK, when the server's limits are
 * known. What outlives the connection — the messages in flight, the queue of publishes waiting, the
 * requests not yet acknowledged — is session state ({@link SessionStore}, {@link ClientSession},
 * {@link RequestQueue}) that every connection of the client works on in turn.
 */
import {
  PacketType,
  encodePacket,
  type AckPacket,
  type EncodeOptions,
  type PubackPacket,
  type PubcompPacket,
  type PublishPacket,
} from '../codec/index.js';
import { checkPublishAllowed, checkSubscribeAllowed } from './build.js';
import { asPublishError, asRequestError } from './error-utils.js';
import { MqttClientError, PublishError } from './errors.js';
import type { Link } from './link.js';
import type { ServerLimits } from './options.js';
import type { PendingRequest, RequestQueue } from './requests.js';
import type { ClientSession, OutgoingMessage, PublishResult, SessionStore } from './session.js';
import { OutgoingTopicAliases } from './topic-alias.js';

const { PUBREL, SUBSCRIBE, UNSUBSCRIBE } = PacketType;

/** The session state a connection sends from, shared by every connection of one client. @internal */
export interface OutboundSession {
  readonly store: SessionStore;
  readonly session: ClientSession;
  readonly requests: RequestQueue;
}

/** Outgoing publishes and requests of one network connection. @internal */
export class OutboundFlow {
  private readonly store: SessionStore;
  private readonly session: ClientSession;
  private readonly requests: RequestQueue;
  private readonly encodeOptions: EncodeOptions;
  /** How many QoS 1/2 publishes may be unacknowledged at once on this connection. */
  private readonly sendQuota: number;
  private quotaUsed = 0;
  private aliases: OutgoingTopicAliases;
  /** In-flight messages to re-send on this connection (after its CONNACK), in order. */
  private resendQueue: OutgoingMessage[] = [];
  private resendIndex = 0;
  /** Between {@link start} and {@link stop}: the connection is established and the client's. */
  private active = false;

  constructor(
    private readonly link: Link,
    /** What the server allows on this connection (its CONNACK). */
    readonly limits: ServerLimits,
    maxInflight: number,
    private readonly autoTopicAlias: boolean,
    owner: OutboundSession,
  ) {
    this.store = owner.store;
    this.session = owner.session;
    this.requests = owner.requests;
    this.encodeOptions = { maximumPacketSize: limits.maximumPacketSize };
    this.sendQuota = Math.min(limits.receiveMaximum, maxInflight);
    this.aliases = new OutgoingTopicAliases(limits.topicAliasMaximum, autoTopicAlias);
  }

  /**
   * Resumes the session on this connection: re-sends `resend` (the session's in-flight messages, see
   * ClientSession.prepareResend), then every unacknowledged request, then the queued publishes.
   */
  start(resend: OutgoingMessage[]): void {
    this.active = true;
    this.resendQueue = resend;
    this.resendIndex = 0;
    for (const req of this.requests.all()) this.sendRequest(req);
    this.pump();
  }

  /** The connection is lost or given up: nothing more is sent, and no message counts as sent on it. */
  stop(): void {
    this.active = false;
    this.quotaUsed = 0;
    this.resendQueue = [];
    this.resendIndex = 0;
    for (const msg of this.store.inflight()) msg.sent = false;
  }

  /** The topic an alias stands for on this connection (for a PUBLISH given only an alias). */
  resolveTopic(alias: number): string {
    return this.aliases.resolveTopic(alias);
  }

  /**
   * The fast path of `publish()`: when nothing waits ahead of `packet` and the quota and the socket
   * allow, sends it into this tick's batch and returns its promise; otherwise returns undefined and
   * the client queues it.
   */
  trySend(packet: PublishPacket): Promise<PublishResult> | undefined {
    const link = this.link;
    if (!link.writable || this.store.pendingCount !== 0 || this.resendIndex < this.resendQueue.length) return undefined;
    if (packet.qos === 0) {
      try {
        checkPublishAllowed(this.limits, packet);
        link.write(this.encodePublish(packet));
      } catch (error) {
        return Promise.reject(asPublishError(error));
      }
      return link.written() as Promise<PublishResult>;
    }
    if (this.quotaUsed >= this.sendQuota) return undefined;
    const msg: OutgoingMessage = { packet, state: 'queued', sent: false, resolve: undefined, reject: undefined };
    const promise = new Promise<PublishResult>((resolve, reject) => {
      msg.resolve = resolve;
      msg.reject = reject;
    });
    this.transmit(msg);
    return promise;
  }

  /** Sends what may go now: re-sends first, then queued publishes, within the quota and while writable. */
  pump(): void {
    if (!this.active) return;
    const link = this.link;
    const store = this.store;
    while (link.writable && !link.closed) {
      if (this.resendIndex < this.resendQueue.length) {
        if (this.quotaUsed >= this.sendQuota) return;
        const msg = this.resendQueue[this.resendIndex++]!;
        // Skip what was settled meanwhile (e.g. rejected by a local check).
        if (store.getInflight(msg.packet.packetId as number) === msg) this.retransmit(msg);
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
      this.transmit(next);
    }
  }

  onPuback(ack: PubackPacket): void {
    const msg = this.store.getInflight(ack.packetId);
    if (msg === undefined || msg.packet.qos !== 1) return;
    this.finish(msg);
    const code = ack.reasonCode ?? 0;
    if (code >= 0x80) msg.reject?.(new PublishError(code, undefined, ack));
    else msg.resolve?.(ack);
    this.pump();
  }

  onPubrec(ack: AckPacket<typeof PacketType.PUBREC>): void {
    const id = ack.packetId;
    const msg = this.store.getInflight(id);
    if (msg === undefined || msg.packet.qos !== 2) {
      this.link.write(encodePacket({ type: PUBREL, packetId: id, reasonCode: 0x92 }));
      return;
    }
    const code = ack.reasonCode ?? 0;
    if (code >= 0x80) {
      // An error PUBREC ends the flow (spec 4.3.3).
      this.finish(msg);
      msg.reject?.(new PublishError(code, undefined, ack));
      this.pump();
      return;
    }
    if (msg.state !== 'pubrel') {
      msg.state = 'pubrel';
      this.store.setInflight(msg);
    }
    this.link.write(encodePacket({ type: PUBREL, packetId: id }));
  }

  onPubcomp(ack: PubcompPacket): void {
    const msg = this.store.getInflight(ack.packetId);
    if (msg === undefined || msg.state !== 'pubrel') return;
    this.finish(msg);
    msg.resolve?.(ack);
    this.pump();
  }

  /** Sends (or re-sends after a reconnect) a SUBSCRIBE/UNSUBSCRIBE under a fresh packet id. */
  sendRequest(req: PendingRequest): void {
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
      this.requests.failed(req, asRequestError(error, req.type === SUBSCRIBE));
      return;
    }
    this.requests.sent(req, id);
    this.link.write(bytes);
  }

  /** A QoS 1/2 flow ended: off the session, and out of this connection's quota if sent on it. */
  private finish(msg: OutgoingMessage): void {
    this.store.deleteInflight(msg.packet.packetId as number);
    if (msg.sent) {
      msg.sent = false;
      this.quotaUsed--;
    }
  }

  /** Applies topic aliases and encodes; an alias assigned for a packet that then fails is withdrawn. */
  private encodePublish(packet: PublishPacket): Buffer {
    const wire = this.aliases.apply(packet);
    if (wire === packet) return encodePacket(packet, this.encodeOptions);
    try {
      return encodePacket(wire, this.encodeOptions);
    } catch (error) {
      // The server never saw this alias definition: start afresh for this connection.
      this.aliases = new OutgoingTopicAliases(this.limits.topicAliasMaximum, this.autoTopicAlias);
      throw error;
    }
  }

  /** First send of a queued or fast-path publish. */
  private transmit(msg: OutgoingMessage): void {
    const packet = msg.packet;
    const link = this.link;
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
  private retransmit(msg: OutgoingMessage): void {
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
    this.link.write(bytes);
  }
}
