/**
 * ClientMqtt5, the Nest ClientProxy over MqttClient: send() (v5 request/response), emit(), connection
 * lifecycle (startup retry, offline queue, no-responders policy, bounded close) and telemetry call sites.
 * Slightly over 500 lines: those lifecycle steps share the proxy's connection state; each policy itself
 * lives in its own file (offline-queue.ts, no-responders.ts, connect-retry.ts, in-flight.ts,
 * event-observable.ts, observability/transport-telemetry.ts).
 */
import { Logger } from '@nestjs/common';
import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { InvalidMessageException } from '@nestjs/microservices/errors/invalid-message.exception.js';
import { Observable, throwError, type Observer } from 'rxjs';
import type { MqttClient, MqttMessage, PublishResult } from '../client/index.js';
import { DEFAULT_QOS, DEFAULT_RESPONSE_PREFIX, Mqtt5Status } from './constants.js';
import { connectWithRetry } from './connect-retry.js';
import {
  Mqtt5ClosedError,
  Mqtt5ConnectionLostError,
  Mqtt5NoRespondersError,
  Mqtt5NotConnectedError,
  Mqtt5RequestTimeoutError,
  Mqtt5TimeoutError,
} from './errors.js';
import { eventObservable, withDeadline } from './event-observable.js';
import { InFlight } from './in-flight.js';
import { logClientLifecycle } from './lifecycle-log.js';
import { NoRespondersPolicy } from './no-responders.js';
import { OfflineQueue } from './offline-queue.js';
import { createWireProtocol } from './create-protocol.js';
import type { PublishArgs, RequestId, WireProtocol } from './framing.js';
import { ClientListeners, createMqttClient, sessionPresentOf, type Mqtt5Events } from './mqtt-client.js';
import type { Mqtt5ClientOptions } from './options.js';
import { PendingRequests, type PendingRequest } from './pending.js';
import { Mqtt5Record, toUserProperties } from './record.js';
import { RequestPublisher } from './request-publish.js';
import { JsonDeserializer, JsonSerializer } from './serializers.js';
import { validateClientOptions, type ResolvedClientOptions } from './options-validation.js';
import { ClientTelemetry, resolveTelemetry } from './observability/transport-telemetry.js';
import { toTransportError } from './transport-errors.js';

/** Reason code of a PUBACK/PUBREC saying nobody subscribes to the topic. */
const RC_NO_MATCHING_SUBSCRIBERS = 0x10;

/**
 * A Nest `ClientProxy` over MQTT v5, on our {@link MqttClient}.
 *
 * `emit(topic, data)` publishes; `send(topic, data)` publishes a request carrying this client's
 * response topic and a correlation id, and yields the responses (one or several values, or an
 * error) — with one response subscription per client, a request timeout, and a clear failure when
 * the connection (and the session) is lost before the response arrives. With `compat: true` it
 * speaks Nest's built-in `Transport.MQTT` envelope instead (the {@link WireProtocol} is chosen once).
 *
 * In production: `connect()` keeps trying a broker that is not up yet (`connectAttempts`,
 * `connectTimeout`); while (re)connecting, `send()`/`emit()` wait in order in a bounded offline
 * queue (`offlineQueueLimit`), each bounded by its own timeout; a request nobody subscribes right
 * after a (re)connect is published again (`noResponders`, `noRespondersGrace`, no-responders.ts);
 * `close()` lets publishes in flight be acknowledged first (`shutdownTimeout`). Every error is an
 * `Mqtt5*` error; the lifecycle is logged through Nest's Logger (context `ClientMqtt5`).
 *
 * @example
 * ```ts
 * ClientsModule.register([{ name: 'DEVICES', customClass: ClientMqtt5, options: { url } }]);
 * ```
 */
export class ClientMqtt5 extends ClientProxy<Mqtt5Events> {
  private readonly logger = new Logger('ClientMqtt5');
  private client: MqttClient | undefined;
  private connecting: Promise<MqttClient> | undefined;
  /** Whether connect() has completed on the current client. */
  private connected = false;
  private readonly listeners = new ClientListeners();
  /** Requests waiting for their replies, by the id the wire protocol gave them. */
  private readonly pending: PendingRequests<RequestId>;
  /** How requests, events and replies are framed: native v5 or the built-in envelope. */
  private readonly protocol: WireProtocol;
  private readonly timeout: number;
  private readonly emitReasonCode: boolean;
  private epoch = 0;
  private readonly lifecycle: ResolvedClientOptions;
  /** Calls made while (re)connecting, waiting for the connection. */
  private readonly offline: OfflineQueue;
  private readonly noResponders: NoRespondersPolicy;
  /** Publishes not yet acknowledged by the broker (close() waits for them). */
  private readonly inflight = new InFlight();
  /** Aborts connectWithRetry when close() is called during startup. */
  private abort: AbortController | undefined;
  private stopLog: (() => void) | undefined;
  private closing = false;
  /** Tracing and metrics (inert without an OpenTelemetry SDK); rebuilt per client for its client id. */
  private telemetry: ClientTelemetry;
  private readonly telemetrySwitches: ReturnType<typeof resolveTelemetry>;

  constructor(private readonly options: Mqtt5ClientOptions = {}) {
    super();
    this.lifecycle = validateClientOptions(options); // throws Mqtt5OptionsError naming the option
    const serializer = options.serializer ?? new JsonSerializer();
    this.timeout = this.lifecycle.requestTimeout;
    this.offline = new OfflineQueue(this.lifecycle.offlineQueueLimit);
    this.noResponders = new NoRespondersPolicy(this.lifecycle.noResponders, this.lifecycle.noRespondersGrace);
    const defaultUserProperties = options.userProperties ? toUserProperties(options.userProperties) : undefined;
    this.protocol = createWireProtocol(options.compat ?? false, {
      serializer,
      deserializer: options.deserializer ?? new JsonDeserializer(),
      publisher: new RequestPublisher(serializer, options.qos ?? DEFAULT_QOS, defaultUserProperties),
      responseQos: options.responseQos ?? DEFAULT_QOS,
      onReply: (message: MqttMessage) => this.handleReply(message),
    });
    this.pending = new PendingRequests<RequestId>(this.timeout, (request: PendingRequest) =>
      request.callback({ err: new Mqtt5RequestTimeoutError(request.topic, request.timeout ?? this.timeout) }),
    );
    this.emitReasonCode = options.emitReasonCode === true;
    this.telemetrySwitches = resolveTelemetry(options.telemetry, options.compat ?? false);
    this.telemetry = new ClientTelemetry({ clientId: options.clientId }, this.telemetrySwitches);
  }

  /**
   * Connection status: 'connected', 'disconnected', 'reconnecting', 'closed'. (Typed here rather
   * than through ClientProxy's Status parameter, which would make the class unusable as a
   * `customClass` of ClientsModule.)
   */
  override get status(): Observable<Mqtt5Status> {
    return super.status as Observable<Mqtt5Status>;
  }

  /** Requests waiting for their response (for diagnostics and tests). */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Calls waiting for the connection (for diagnostics and tests). */
  get queuedCalls(): number {
    return this.offline.size;
  }

  /**
   * Connects (once; later calls share the same promise) and subscribes the response topic. An
   * unreachable broker is retried with the client's backoff (one warning per attempt), bounded by
   * `connectAttempts` / `connectTimeout`; rejects with an `Mqtt5*` error.
   */
  connect(): Promise<MqttClient> {
    if (this.connecting) return this.connecting;
    if (this.closing) return Promise.reject(new Mqtt5ClosedError('ClientMqtt5'));
    let created: ReturnType<typeof createMqttClient>;
    try {
      created = createMqttClient(this.options, 'client', {});
    } catch (err) {
      return Promise.reject(err);
    }
    const { client } = created;
    this.client = client;
    this.stopLog = logClientLifecycle(client, this.logger);
    this.telemetry = new ClientTelemetry({ clientId: created.clientId, url: client.connection.brokerUrl }, this.telemetrySwitches);
    this.bindEvents(client);
    this.listeners.attach(client);
    const abort = new AbortController();
    this.abort = abort;
    const connecting = this.open(created, abort.signal).catch(async (err: unknown) => {
      // A failed connection is not cached: the next send()/emit() starts over with a new client.
      if (this.connecting === connecting) this.connecting = undefined;
      if (this.client === client) {
        this.client = undefined;
        this.connected = false;
        this.stopLog?.();
        this.stopLog = undefined;
      }
      await client.disconnect().catch(() => undefined); // releases what the failed attempt holds; `err` is what matters
      const error = toTransportError(err, { url: client.connection.brokerUrl });
      // The calls that waited for this connection get its error, not a timeout later.
      if (this.client === undefined) this.offline.close(error);
      throw error;
    });
    this.connecting = connecting;
    return connecting;
  }

  private async open({ client, connectOptions, clientId }: ReturnType<typeof createMqttClient>, signal: AbortSignal): Promise<MqttClient> {
    const connack = await connectWithRetry(
      client,
      { connectOptions, ...this.lifecycle, clientOptions: this.options.clientOptions, signal, what: 'ClientMqtt5' },
      this.logger,
    );
    const id = connack.properties?.assignedClientIdentifier ?? clientId;
    const prefix = connack.properties?.responseInformation ?? this.options.responseTopicPrefix ?? DEFAULT_RESPONSE_PREFIX;
    await this.protocol.open(client, `${prefix}/${id}`);
    if (this.client === client) {
      this.connected = true;
      this.online();
    }
    return client;
  }

  /**
   * Connected with the response subscription in place (after a reconnect the client writes its
   * re-SUBSCRIBEs before anything queued, so the broker has them before these requests): the
   * grace window of the no-responders policy starts, and the calls that waited go out in order.
   */
  private online(): void {
    this.noResponders.connected();
    const client = this.client!;
    this.offline.drain(() => this.client === client && client.connected);
  }

  /** Whether calls can go out now rather than wait in the offline queue. */
  private isOnline(): boolean {
    const client = this.client;
    return client !== undefined && this.connected && client.connected;
  }

  /** Starts connecting (once) when a call finds no connection; its failure reaches the waiting calls. */
  private ensureConnecting(): void {
    if (this.connecting === undefined) this.connect().catch(noop);
  }

  private bindEvents(client: MqttClient): void {
    client.on('connected', () => {
      this._status$.next(Mqtt5Status.CONNECTED);
      // A reconnect (the first connection is handled by open(), once the response topic is subscribed).
      if (this.client === client && this.connected) this.online();
    });
    // Errors the client reports (e.g. from a callback) are logged, never left to crash the process.
    client.on('error', (err) => this.logger.error(err));
    client.on('reconnecting', () => this._status$.next(Mqtt5Status.RECONNECTING));
    client.on('closed', (reason) => {
      if (this.client !== client) return; // close() was called
      // The client gave up (its reconnect policy said no): nothing pending can complete, and
      // the next send()/emit() starts over with a new client.
      this.client = undefined;
      this.connected = false;
      this.connecting = undefined;
      this.protocol.reset();
      this.failAll((request) => new Mqtt5ConnectionLostError(request.topic, reason.message, reason.reasonCode));
      this.offline.close(toTransportError(reason, { url: client.connection.brokerUrl }));
      this._status$.next(Mqtt5Status.CLOSED);
    });
    client.on('disconnected', () => {
      this._status$.next(Mqtt5Status.DISCONNECTED);
      this.epoch++;
      // Without a session (the broker's CONNACK value wins) the broker forgets our response
      // subscription right now: whatever the responders answer from here on is lost.
      if (client.sessionExpiryInterval === 0) this.failTaken('the session ended with the connection');
    });
    client.on('reconnected', (...args: unknown[]) => {
      this._status$.next(Mqtt5Status.CONNECTED);
      if (!sessionPresentOf(args)) this.failTaken('the broker did not resume the session');
    });
  }

  /** Fails every pending request. */
  private failAll(error: (request: PendingRequest) => Error): void {
    for (const request of this.pending.clear()) {
      request.callback({ err: error(request) });
    }
  }

  /** Fails the requests the broker took before the current connection: their responses are gone. */
  private failTaken(reason: string): void {
    for (const [id, request] of [...this.pending.values()]) {
      if (request.epoch < 0 || request.epoch >= this.epoch) continue;
      this.pending.delete(id, request);
      request.callback({ err: new Mqtt5ConnectionLostError(request.topic, reason) });
    }
  }

  // ---- requests -----------------------------------------------------------------------------

  /**
   * Request/response. Same contract as Nest's `ClientProxy#send` (cold: the request goes out on
   * subscribe; unsubscribing cancels it), without its per-call `defer(connect)` pipeline once
   * connected — this is the hot path of every RPC.
   */
  override send<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return throwError(() => new InvalidMessageException());
    }
    return new Observable<TResult>((observer) => {
      const callback = this.createObserver(observer);
      const timeout = callTimeout(data) ?? this.timeout;
      if (this.isOnline()) return this.publish(this.createPacket(pattern, data), callback, timeout);
      return this.sendLater(pattern, data, callback, timeout);
    });
  }

  /** A request made while (re)connecting: waits in the offline queue, within its own timeout. */
  private sendLater(pattern: unknown, data: unknown, callback: (packet: WritePacket) => void, timeout: number): () => void {
    if (this.closing) {
      callback({ err: new Mqtt5ClosedError('ClientMqtt5') });
      return noop;
    }
    const start = performance.now();
    let teardown: (() => void) | undefined;
    const entry = this.offline.enqueue(
      {
        run: () => {
          const left = timeout > 0 ? Math.max(1, Math.ceil(timeout - (performance.now() - start))) : 0;
          teardown = this.publish(this.createPacket(pattern, data), callback, left);
        },
        fail: (err) => callback({ err }),
      },
      timeout,
      () => new Mqtt5RequestTimeoutError(this.topicOf(pattern), timeout),
    );
    this.ensureConnecting();
    return () => {
      if (entry !== undefined) this.offline.cancel(entry);
      teardown?.();
    };
  }

  /**
   * Publishes an event. Same contract as Nest's `ClientProxy#emit` (hot: published at once; the
   * observable yields `undefined` and completes when the broker took it, or errors), without its
   * per-call rxjs pipeline. With the `emitReasonCode` option it yields the broker's reason code
   * instead (a number, e.g. 0x10 No matching subscribers in a QoS 1 PUBACK; `undefined` at QoS 0).
   */
  override emit<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return throwError(() => new InvalidMessageException());
    }
    const packet = this.createPacket(pattern, data);
    const timeout = callTimeout(data);
    this.inflight.start(); // ended when the observable's outcome is known
    let published = this.isOnline() ? this.dispatchEvent<PublishResult>(packet) : this.emitLater(packet, timeout ?? this.timeout);
    if (timeout !== undefined && timeout > 0) published = withDeadline(published, timeout, () => new Mqtt5TimeoutError(`emit() on "${this.topicOf(pattern)}"`, timeout));
    return eventObservable<TResult>(published, this.emitReasonCode, this.eventSettled);
  }

  private readonly eventSettled = (): void => this.inflight.end();

  /** An event emitted while (re)connecting: waits in the offline queue, within its timeout. */
  private emitLater(packet: ReadPacket, timeout: number): Promise<PublishResult> {
    if (this.closing) return Promise.reject(new Mqtt5ClosedError('ClientMqtt5'));
    return new Promise<PublishResult>((resolve, reject) => {
      this.offline.enqueue(
        { run: () => this.dispatchEvent<PublishResult>(packet).then(resolve, reject), fail: reject },
        timeout,
        () => new Mqtt5TimeoutError(`emit() on "${this.topicOf(packet.pattern)}"`, timeout, 'no connection'),
      );
      this.ensureConnecting();
    });
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void, timeout: number = this.timeout): () => void {
    const client = this.client;
    if (!client) {
      callback({ err: new Mqtt5NotConnectedError('connect() failed or close() was called') });
      return noop;
    }
    const protocol = this.protocol;
    const topic = this.topicOf(packet.pattern);
    const id = protocol.nextId();
    const telemetry = this.telemetry.startRequest(topic, callback);
    const request: PendingRequest = { topic, callback: telemetry?.callback ?? callback, telemetry, deadline: Infinity, epoch: -1, timeout };
    const subscribed = protocol.subscribeReplies(client, topic);
    if (subscribed === undefined) {
      // Replies reach us already (native): the request goes out in this tick.
      let args: PublishArgs;
      try {
        args = protocol.frameRequest(topic, packet, id);
      } catch (err) {
        request.callback({ err: toTransportError(err, { topic }) });
        return noop;
      }
      this.pending.add(id, request);
      this.publishRequest(client, args, id, request);
    } else {
      this.pending.add(id, request);
      subscribed.then(
        () => {
          if (this.pending.get(id) === request) this.publishRequest(client, protocol.frameRequest(topic, packet, id), id, request);
        },
      ).catch((err: unknown) => this.failRequest(id, request, err));
    }
    return () => {
      if (this.pending.delete(id, request)) request.telemetry?.cancelled();
    };
  }

  /** Publishes a registered request; the broker's answer decides whether it now waits for replies. */
  private publishRequest(client: MqttClient, args: PublishArgs, id: RequestId, request: PendingRequest): void {
    this.inflight.start();
    client.publish(request.telemetry?.publishing(args) ?? args).then(
      (ack) => {
        this.inflight.end();
        if (this.pending.get(id) !== request) return;
        if (reasonCodeOf(ack) === RC_NO_MATCHING_SUBSCRIBERS) this.noRespondersFor(client, args, id, request);
        else request.epoch = this.epoch;
      },
      (err: unknown) => {
        this.inflight.end();
        this.failRequest(id, request, err);
      },
    );
  }

  /** Nobody subscribed the request's topic: publish it again later, or fail (see no-responders.ts). */
  private noRespondersFor(client: MqttClient, args: PublishArgs, id: RequestId, request: PendingRequest): void {
    const next = this.noResponders.retryDelay((request.noResponders = (request.noResponders ?? 0) + 1), request.deadline);
    if (next === 'fail') {
      this.pending.delete(id, request);
      request.callback({ err: new Mqtt5NoRespondersError(request.topic) });
    } else if (next !== 'expire') {
      this.noResponders.schedule(() => {
        if (this.pending.get(id) === request && this.client === client) this.publishRequest(client, args, id, request);
      }, next);
    } // 'expire': its timeout comes first; it fails with Mqtt5RequestTimeoutError
  }

  /** Fails a request that is still pending (not answered, cancelled or timed out meanwhile). */
  private failRequest(id: RequestId, request: PendingRequest, err: unknown): void {
    if (this.pending.get(id) !== request) return;
    this.pending.delete(id, request);
    request.callback({ err: toTransportError(err, { topic: request.topic }) });
  }

  /** A message on a reply subscription: the reply of a pending request, or not ours. */
  private handleReply(message: MqttMessage): void {
    const protocol = this.protocol;
    const id = protocol.replyId(message);
    if (id === undefined) return;
    const request = this.pending.get(id);
    if (request === undefined) return; // late (timed out, cancelled) or duplicate
    request.telemetry?.replied(message);
    let reply: WritePacket;
    try {
      reply = protocol.readReply(message);
    } catch (err) {
      this.pending.delete(id, request);
      request.callback({ err });
      return;
    }
    // The timeout bounds silence, not the length of a stream.
    if (reply.isDisposed === true || 'err' in reply) this.pending.delete(id, request);
    else this.pending.touch(id, request);
    request.callback(reply);
  }

  /**
   * Unlike Nest's default, a final `undefined` value is still a value: a handler returning
   * nothing yields `undefined` once, so `lastValueFrom(client.send(…))` resolves.
   */
  protected override createObserver<T>(observer: Observer<T>): (packet: WritePacket) => void {
    return (packet: WritePacket) => {
      if (packet.err !== undefined) {
        observer.error(packet.err);
        return;
      }
      if ('response' in packet) observer.next(packet.response as T);
      if (packet.isDisposed) observer.complete();
    };
  }

  // ---- events -------------------------------------------------------------------------------

  /**
   * Publishes an event; resolves with the client's publish result (the acknowledgement packet, an
   * internal object), which `emit()` turns into `undefined` or, with `emitReasonCode`, its reason code.
   */
  protected dispatchEvent<T = PublishResult>(packet: ReadPacket): Promise<T> {
    const client = this.client;
    if (!client) return Promise.reject(new Mqtt5NotConnectedError('connect() failed or close() was called'));
    let args: PublishArgs;
    try {
      args = this.protocol.frameEvent(this.topicOf(packet.pattern), packet);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.telemetry.publishEvent(client, this.topicOf(packet.pattern), args) as Promise<unknown> as Promise<T>;
  }

  // ---- publishing helpers -------------------------------------------------------------------

  private topicOf(pattern: unknown): string {
    return typeof pattern === 'string' ? pattern : this.normalizePattern(pattern as never);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /**
   * Graceful close: calls still waiting for a connection fail with Mqtt5ClosedError, publishes in
   * flight get up to `shutdownTimeout` ms to be acknowledged by the broker, then pending requests
   * fail with Mqtt5ClosedError and the client DISCONNECTs. Safe to call at any time.
   */
  async close(): Promise<void> {
    this.closing = true;
    try {
      this.abort?.abort();
      this.abort = undefined;
      this.offline.close(new Mqtt5ClosedError('ClientMqtt5'));
      if (this.client !== undefined && !(await this.inflight.whenIdle(this.lifecycle.shutdownTimeout))) {
        this.logger.warn(`close(): ${this.inflight.size} publish(es) not acknowledged after ${this.lifecycle.shutdownTimeout} ms (shutdownTimeout); disconnecting`);
      }
      const client = this.client;
      this.client = undefined;
      this.connected = false;
      this.connecting = undefined;
      this.protocol.reset();
      this.noResponders.clear();
      this.failAll(() => new Mqtt5ClosedError('ClientMqtt5'));
      if (client) await client.disconnect().catch((err: unknown) => this.logger.error(toTransportError(err)));
      this.stopLog?.();
      this.stopLog = undefined;
      this._status$.next(Mqtt5Status.CLOSED);
    } finally {
      this.closing = false;
    }
  }

  /** Listens to the MqttClient's events ('connected', 'disconnected', 'reconnecting', 'reconnected', 'error', …). */
  override on<EventKey extends keyof Mqtt5Events = keyof Mqtt5Events, EventCallback extends Mqtt5Events[EventKey] = Mqtt5Events[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.listeners.add(this.client, event, callback as (...args: any[]) => void);
  }

  /** The underlying {@link MqttClient} (after `connect()`). */
  unwrap<T = MqttClient>(): T {
    if (!this.client) throw new Mqtt5NotConnectedError('call connect() (or send/emit once) before unwrap()');
    return this.client as T;
  }
}

function noop(): void {}

/** The per-call timeout of a record (`Mqtt5RecordBuilder.setTimeout()`), if any. */
function callTimeout(data: unknown): number | undefined {
  return data instanceof Mqtt5Record ? data.options.timeout : undefined;
}

function reasonCodeOf(ack: unknown): number | undefined {
  return ack !== null && typeof ack === 'object' && 'reasonCode' in ack ? (ack as { reasonCode?: number }).reasonCode : undefined;
}
