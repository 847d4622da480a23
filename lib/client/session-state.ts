/**
 * SessionState: everything of the client that lives as long as its MQTT session, across network
 * connections — the session store and packet ids, the requests awaiting their ack, the
 * subscriptions and their receivers, and the receivers' backpressure. Each {@link ClientConnection}
 * works on it while it is the client's; {@link SessionState.resume} puts the session on a new one.
 * The reconnect policy and the client's lifecycle stay in MqttClient. @internal
 */
import type { PublishPacket } from '../codec/index.js';
import { ReceiverBackpressure, type ReadControl } from './backpressure.js';
import type { ClientConnection } from './client-connection.js';
import { QueueFullError, type MqttClientError } from './errors.js';
import type { ResubscribeResult } from './options.js';
import { RequestQueue } from './requests.js';
import { ClientSession, type OutgoingMessage, type PublishResult, type SessionStore } from './session.js';
import { SubscriptionRegistry } from './subscriptions.js';

/** What the session reports to the client. @internal */
export interface SessionOwner extends ReadControl {
  /** A push-model callback threw or its promise rejected. */
  handlerFailed(error: unknown): void;
  /** One filter re-subscribed after the server lost the session. */
  resubscribed(result: ResubscribeResult): void;
}

/** The session-lifetime state of one client. @internal */
export class SessionState {
  readonly session: ClientSession;
  readonly subscriptions: SubscriptionRegistry;
  readonly requests: RequestQueue;
  readonly backpressure: ReceiverBackpressure;

  constructor(
    readonly store: SessionStore,
    owner: SessionOwner,
  ) {
    this.session = new ClientSession(store);
    const backpressure = (this.backpressure = new ReceiverBackpressure(owner));
    this.subscriptions = new SubscriptionRegistry({
      receiverFull: (receiver) => backpressure.receiverFull(receiver),
      handlerFailed: (error) => owner.handlerFailed(error),
    });
    this.requests = new RequestQueue(this.subscriptions, (result) => owner.resubscribed(result));
  }

  /**
   * Resumes the session on a connection that just got its CONNACK: without a session on the server,
   * every active subscription is re-subscribed; the messages in flight are re-sent (see
   * ClientSession.prepareResend), then the requests and the queued publishes.
   */
  resume(conn: ClientConnection, sessionPresent: boolean): void {
    if (!sessionPresent) this.requests.queueResubscribe();
    conn.resume(this.session.prepareResend(sessionPresent));
    if (this.backpressure.blocked) conn.pauseReading();
  }

  /**
   * Queues a publish to be sent when a connection, the server's quota and the socket allow;
   * rejects with QueueFullError when `maxPending` are waiting already.
   */
  enqueue(packet: PublishPacket, maxPending: number): Promise<PublishResult> {
    const store = this.store;
    if (store.pendingCount >= maxPending) return Promise.reject(new QueueFullError(maxPending));
    const msg: OutgoingMessage = { packet, state: 'queued', sent: false, resolve: undefined, reject: undefined };
    const promise = new Promise<PublishResult>((resolve, reject) => {
      msg.resolve = resolve;
      msg.reject = reject;
    });
    store.pushPending(msg);
    return promise;
  }

  /**
   * Settles everything pending with `error`: queued publishes, in-flight publishes (kept in the store
   * without their promise when `keepInflight`), requests, receivers and subscriptions; and releases
   * the state of `last`, the client's current or last connection.
   */
  settle(error: MqttClientError, keepInflight: boolean, last: ClientConnection | undefined): void {
    const store = this.store;
    for (let msg = store.shiftPending(); msg !== undefined; msg = store.shiftPending()) msg.reject?.(error);
    for (const msg of store.inflight()) {
      msg.reject?.(error);
      msg.resolve = msg.reject = undefined;
      msg.sent = false;
    }
    last?.release(error, keepInflight);
    if (!keepInflight) store.clear();
    for (const req of this.requests.drain()) req.reject?.(error);
    for (const r of this.subscriptions.receivers()) r.close(error);
    this.subscriptions.clear();
    this.backpressure.clear();
  }
}
