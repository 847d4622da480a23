/**
 * ServerMqtt5, the Nest microservice strategy. Longer than ~500 lines for a reason: its message
 * flow (dispatch, the concurrency bound and queue, handlers, replies, acknowledgements, close
 * draining) shares one set of counters that must change together; how requests and replies are
 * framed lives in the wire protocols (framing.ts, native-protocol.ts, compat-protocol.ts).
 */
import { Logger } from '@nestjs/common';
import { Server, type CustomTransportStrategy, type MessageHandler, type WritePacket } from '@nestjs/microservices';
import { isObservable, tap, type Observable } from 'rxjs';
import { topicMatches, type QoS, type SubackPacket, type Subscription } from '../codec/index.js';
import type { MqttClient } from '../client/index.js';
import { Queue } from '../client/internal.js';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_MAX_QUEUED,
  DEFAULT_RECEIVE_MAXIMUM,
  MQTT5_TRANSPORT,
  Mqtt5Status,
} from './constants.js';
import { connectWithRetry } from './connect-retry.js';
import { Mqtt5Context } from './context.js';
import { createWireProtocol } from './create-protocol.js';
import { Mqtt5NotConnectedError, Mqtt5SubscribeError, Mqtt5TransportError } from './errors.js';
import { ClientListeners, createMqttClient, type InboundMessage, type Mqtt5Events } from './mqtt-client.js';
import type { InboundRequest, ReplyKind, ReplyTo, WireProtocol } from './framing.js';
import { logClientLifecycle } from './lifecycle-log.js';
import type { Mqtt5PatternExtras, Mqtt5ServerOptions } from './options.js';
import { RequestPublisher } from './request-publish.js';
import { JsonDeserializer, JsonSerializer } from './serializers.js';
import { buildSubscription, filtersOverlap } from './topic-pattern.js';
import { validateServerOptions, type ResolvedServerOptions } from './options-validation.js';
import { shutdownGracefully } from './shutdown.js';
import { toTransportError } from './transport-errors.js';
import { combineEnds, resolveTelemetry, ServerTelemetry, type HandlerEnd } from './observability/transport-telemetry.js';

/** PUBACK/PUBREC reason codes the server acknowledges with. */
const RC_SUCCESS = 0x00;
const RC_UNSPECIFIED_ERROR = 0x80;
const RC_PAYLOAD_FORMAT_INVALID = 0x99;
/** Not a reason code: marks a delivery to leave unacknowledged (`onHandlerError: 'redeliver'`). */
const RC_REDELIVER = -1;

/**
 * One received PUBLISH on its way through the handlers it matched (several when patterns overlap):
 * it is acknowledged once, when the last of them settled. Kept beside the message, not on it — the
 * message object is the application's (`Mqtt5Context#getPacket()`), and nothing is added to it.
 */
interface Delivery {
  readonly message: InboundMessage;
  /** Handlers dispatched and not yet settled. */
  handlers: number;
  /** The PUBACK/PUBREC reason code: a failure of any handler wins over success. */
  ackCode: number;
}

/** One handler pattern and its subscription. Its `onMessage` is bound once, not per message. */
interface HandlerEntry {
  readonly key: string;
  readonly pattern: string;
  readonly topicFilter: string;
  readonly handler: MessageHandler;
  readonly isEvent: boolean;
  readonly subscription: Subscription;
  readonly onMessage: (message: InboundMessage) => void;
  /** Messages on it are handled; false while shutting down once it is no longer drained (shutdown.ts). */
  open: boolean;
}

interface QueuedMessage {
  entry: HandlerEntry;
  delivery: Delivery;
}

/**
 * A Nest microservice transport over MQTT v5, on our {@link MqttClient}.
 *
 * Every `@MessagePattern(topic)` / `@EventPattern(topic)` becomes a subscription (wildcards and
 * `$share/<group>/` allowed; decorator extras `{ qos, share, noLocal, retainAsPublished,
 * retainHandling }`). Requests are answered on their v5 response topic with their correlation
 * data. QoS 1/2 messages are acknowledged after their handler settled (or on receipt, by option),
 * handlers in flight never exceed `concurrency` (= the CONNECT receive maximum), and `close()`
 * shuts down gracefully (shutdown.ts). `listen()` keeps trying a broker that is not up yet
 * (`connectAttempts`, `connectTimeout`); the lifecycle is logged through Nest's Logger (context
 * `ServerMqtt5`); a failed event handler's message is acknowledged or left for redelivery
 * (`onHandlerError`).
 *
 * @example
 * ```ts
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   strategy: new ServerMqtt5({ url: 'mqtt://127.0.0.1:1883' }),
 * });
 * await app.listen();
 * ```
 */
export class ServerMqtt5 extends Server<Mqtt5Events> implements CustomTransportStrategy {
  override transportId = MQTT5_TRANSPORT;
  protected override readonly logger = new Logger('ServerMqtt5');

  private client: MqttClient | undefined;
  private readonly listeners = new ClientListeners();
  /** How requests are read and replies framed: native v5 or the built-in envelope (chosen once). */
  private readonly protocol: WireProtocol;
  private readonly concurrency: number;
  private readonly receiveMaximum: number;
  private readonly maxQueued: number;
  private readonly ackAfterHandling: boolean;
  private readonly lifecycle: ResolvedServerOptions;
  /** `onHandlerError: 'redeliver'`: a failed event handler's message is left unacknowledged. */
  private readonly redeliver: boolean;
  /** Aborts connectWithRetry when close() is called during listen(). */
  private abort: AbortController | undefined;
  private stopLog: (() => void) | undefined;

  /** Nest's default (no-op) processing start hook, to tell when instrumentation installed one. */
  private readonly defaultStartHook = this.onProcessingStartHook;
  private entries: HandlerEntry[] = [];
  private readonly queue = new Queue<QueuedMessage>();
  /**
   * The delivery of the message dispatched last. The client hands one message to all the handlers
   * it matched in one synchronous loop, so its other handlers find it here — no per-message map.
   */
  private lastDelivery: Delivery | undefined;
  private inFlight = 0;
  private closing = false;
  /** Shutdown drained (or gave up): queued messages are no longer started. */
  private stopped = false;
  private drained: (() => void) | undefined;
  private dropped = 0;
  /** Tracing and metrics (inert without an OpenTelemetry SDK); rebuilt in listen() for the client id. */
  private telemetry: ServerTelemetry;
  private readonly telemetrySwitches: ReturnType<typeof resolveTelemetry>;

  constructor(private readonly options: Mqtt5ServerOptions = {}) {
    super();
    this.lifecycle = validateServerOptions(options); // throws Mqtt5OptionsError naming the option
    this.redeliver = this.lifecycle.onHandlerError === 'redeliver';
    const serializer = options.serializer ?? new JsonSerializer();
    this.protocol = createWireProtocol(options.compat ?? false, {
      serializer,
      deserializer: options.deserializer ?? new JsonDeserializer(),
      // The responder publishes only replies, framed by ReplyTo: no request defaults, no reply subscriptions.
      publisher: new RequestPublisher(serializer, 0, undefined),
      responseQos: 0,
      onReply: noop,
    });
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 65535) {
      throw new RangeError(`concurrency must be an integer in 1..65535, got ${concurrency}`);
    }
    this.concurrency = concurrency;
    const receiveMaximum = options.receiveMaximum ?? Math.max(concurrency, DEFAULT_RECEIVE_MAXIMUM);
    if (!Number.isInteger(receiveMaximum) || receiveMaximum < concurrency || receiveMaximum > 65535) {
      throw new RangeError(`receiveMaximum must be an integer in concurrency..65535 (${concurrency}..65535), got ${receiveMaximum}`);
    }
    this.receiveMaximum = receiveMaximum;
    this.maxQueued = options.maxQueuedMessages ?? DEFAULT_MAX_QUEUED;
    this.ackAfterHandling = (options.ackMode ?? 'after-handling') === 'after-handling';
    this.telemetrySwitches = resolveTelemetry(options.telemetry, options.compat ?? false);
    this.telemetry = new ServerTelemetry({ clientId: options.clientId }, this.telemetrySwitches, this.logger);
  }

  /** Connection status: 'connected', 'disconnected', 'reconnecting', 'closed'. */
  override get status(): Observable<Mqtt5Status> {
    return super.status as Observable<Mqtt5Status>;
  }

  /** Number of QoS 0 messages dropped because `maxQueuedMessages` was reached. */
  get droppedMessages(): number {
    return this.dropped;
  }

  /** Handlers running right now. */
  get handlersInFlight(): number {
    return this.inFlight;
  }

  /** Connects, subscribes every handler pattern, then calls back (with the error if any step failed). */
  async listen(callback: (...optionalParams: unknown[]) => any): Promise<void> {
    try {
      await this.start();
    } catch (err) {
      callback(toTransportError(err, { url: this.client?.connection.brokerUrl }));
      return;
    }
    callback();
  }

  private async start(): Promise<void> {
    this.closing = false;
    this.stopped = false;
    // Build (and validate) every subscription before touching the network.
    this.entries = this.buildEntries();
    const { client, connectOptions, clientId } = createMqttClient(this.options, 'server', {
      receiveMaximum: this.receiveMaximum,
      manualAck: true,
    });
    this.client = client;
    this.stopLog = logClientLifecycle(client, this.logger);
    this.telemetry = new ServerTelemetry({ clientId, url: client.connection.brokerUrl }, this.telemetrySwitches, this.logger);
    this.bindStatus(client);
    // A resumed session delivers what the broker kept for it right after CONNACK, before our
    // SUBSCRIBEs are answered: route those messages by pattern instead of losing them.
    client.on('unhandledMessage', this.onUnhandled);
    this.listeners.attach(client);
    const abort = new AbortController();
    this.abort = abort;
    await connectWithRetry(
      client,
      { connectOptions, ...this.lifecycle, clientOptions: this.options.clientOptions, signal: abort.signal, what: 'ServerMqtt5' },
      this.logger,
    );
    this.abort = undefined;
    // One SUBSCRIBE per handler. When patterns overlap, each gets its own subscription identifier
    // (if the broker supports them) so that a message reaches exactly the handlers it matched,
    // whether the broker sends one copy or one per subscription. Without overlap there is
    // nothing to tell apart, and the broker can forward messages without re-encoding them.
    const identifiers = client.serverLimits.subscriptionIdentifiersAvailable && this.patternsOverlap();
    const subacks = await Promise.all(
      this.entries.map((entry, i) =>
        client.subscribe(
          identifiers
            ? { subscriptions: [entry.subscription], properties: { subscriptionIdentifier: i + 1 } }
            : { subscriptions: [entry.subscription] },
          entry.onMessage,
        ),
      ),
    );
    subacks.forEach((suback: SubackPacket, i) => {
      const code = suback.reasonCodes[0] ?? RC_UNSPECIFIED_ERROR;
      if (code >= 0x80) {
        throw new Mqtt5SubscribeError(this.entries[i]!.topicFilter, code, suback.properties?.reasonString);
      }
    });
  }

  private buildEntries(): HandlerEntry[] {
    const entries: HandlerEntry[] = [];
    const byFilter = new Map<string, string>();
    for (const [key, handler] of this.messageHandlers) {
      const { pattern, subscription } = buildSubscription(
        key,
        handler.extras as Mqtt5PatternExtras | undefined,
        this.options.subscribeOptions,
      );
      const clash = byFilter.get(subscription.topicFilter);
      if (clash !== undefined) {
        throw new Mqtt5TransportError(
          'DUPLICATE_SUBSCRIPTION',
          `Handlers "${clash}" and "${key}" both subscribe "${subscription.topicFilter}"; give them one pattern`,
          0x8f,
        );
      }
      byFilter.set(subscription.topicFilter, key);
      const entry: HandlerEntry = {
        key,
        pattern,
        topicFilter: subscription.topicFilter,
        handler,
        isEvent: handler.isEventHandler === true,
        subscription,
        onMessage: (message: InboundMessage) => this.dispatch(entry, message),
        open: true,
      };
      entries.push(entry);
    }
    return entries;
  }

  private patternsOverlap(): boolean {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        if (filtersOverlap(entries[i]!.pattern, entries[j]!.pattern)) return true;
      }
    }
    return false;
  }

  private bindStatus(client: MqttClient): void {
    client.on('connected', () => this._status$.next(Mqtt5Status.CONNECTED));
    client.on('reconnected', () => this._status$.next(Mqtt5Status.CONNECTED));
    client.on('disconnected', () => this._status$.next(Mqtt5Status.DISCONNECTED));
    client.on('closed', () => {
      // Only the reconnect policy stops the client while the server still uses it (logged as "Gave up" by lifecycle-log.ts).
      if (this.client === client && !this.closing) this._status$.next(Mqtt5Status.CLOSED);
    });
    client.on('reconnecting', () => this._status$.next(Mqtt5Status.RECONNECTING));
    client.on('error', (err: unknown) => this.logger.error(err));
  }

  // ---- message flow -------------------------------------------------------------------------

  /** A message no subscription callback took (e.g. kept by the broker for a resumed session). */
  private readonly onUnhandled = (message: InboundMessage): void => {
    let matched = false;
    for (const entry of this.entries) {
      if (topicMatches(entry.pattern, message.topic)) {
        matched = true;
        this.dispatch(entry, message);
      }
    }
    if (matched) return;
    // A subscription of an earlier incarnation of this service that it no longer has: nobody
    // will handle it, so acknowledge it rather than hold back the acks of later messages.
    this.logger.warn(`No handler for a message on "${message.topic}" (left from an earlier session); acknowledged`);
    if (message.qos !== 0) this.client?.ack(message, RC_SUCCESS);
  };

  private dispatch(entry: HandlerEntry, message: InboundMessage): void {
    // While shutting down, leave new messages unacknowledged: the broker redelivers them.
    if (!entry.open) return;
    let delivery = this.lastDelivery;
    if (delivery === undefined || delivery.message !== message) {
      delivery = { message, handlers: 0, ackCode: RC_SUCCESS };
      this.lastDelivery = delivery;
    }
    delivery.handlers++;
    if (this.inFlight < this.concurrency) {
      this.run(entry, delivery);
      return;
    }
    if (message.qos === 0 && this.queue.length >= this.maxQueued) {
      // QoS 0 is not flow-controlled by the receive maximum; bound the queue and say so.
      delivery.handlers--;
      if (this.dropped++ % 1000 === 0) {
        this.logger.warn(`Handler queue full (${this.maxQueued}): dropped ${this.dropped} QoS 0 message(s) so far`);
      }
      return;
    }
    this.queue.push({ entry, delivery });
  }

  private run(entry: HandlerEntry, delivery: Delivery): void {
    this.inFlight++;
    if (!this.ackAfterHandling) this.acknowledge(delivery, RC_SUCCESS);
    const packet = delivery.message;
    let request: InboundRequest;
    try {
      request = this.protocol.readRequest(packet);
    } catch (err) {
      this.logger.error(
        new Mqtt5TransportError('DESERIALIZE_FAILED', `Cannot deserialize the payload on "${packet.topic}"`, 0x99, {
          cause: err,
        }),
      );
      this.finish(delivery, RC_PAYLOAD_FORMAT_INVALID);
      return;
    }
    const reply = entry.isEvent ? undefined : request.reply;
    // Span (child of the message's trace context) and metrics: undefined while nothing records.
    const telemetry = this.telemetry.startHandler(entry.pattern, entry.topicFilter, packet, reply !== undefined);
    const context = new Mqtt5Context([packet.topic, packet, entry.pattern, entry.topicFilter], telemetry?.traceId);
    if (telemetry === undefined) this.handle(entry, delivery, request.data, context, reply, noop);
    else telemetry.run(() => this.handle(entry, delivery, request.data, context, reply && telemetry.reply(reply), telemetry.end));
  }

  /** Runs the handler of an event (no `reply`: also a request nobody can be answered for) or of a request. */
  private handle(entry: HandlerEntry, delivery: Delivery, data: unknown, context: Mqtt5Context, reply: ReplyTo | undefined, ended: HandlerEnd): void {
    if (reply === undefined) this.handleEventMessage(entry, delivery, data, context, ended);
    else this.handleRequestMessage(entry, delivery, data, context, reply, ended);
  }

  /** An event (or a request nobody can be answered for): run the handler, then acknowledge. */
  private handleEventMessage(entry: HandlerEntry, delivery: Delivery, data: unknown, context: Mqtt5Context, ended: HandlerEnd): void {
    if (!this.hooksInstalled()) {
      // The usual case: no instrumentation, so no async wrapper per message — the handler's
      // promise (Nest's handler proxies always return one) gets one reaction, which acknowledges.
      let result: unknown;
      try {
        result = entry.handler(data, context);
      } catch (err) {
        // A raw handler may throw synchronously.
        this.eventFailed(delivery, err, ended);
        return;
      }
      // Like `await`: a plain value or a thenable settles in a later tick too.
      Promise.resolve(result).then(
        (value) => this.eventSettled(delivery, value, ended),
        (err: unknown) => this.eventFailed(delivery, err, ended),
      );
      return;
    }
    this.runWithProcessingHooks(context, async (nestEndHook: () => void) => {
      const runEndHook = combineEnds(ended, nestEndHook);
      let value: unknown;
      try {
        value = await entry.handler(data, context);
      } catch (err) {
        this.eventFailed(delivery, err, runEndHook);
        return;
      }
      this.eventSettled(delivery, value, runEndHook);
    });
  }

  /** An event handler returned (a value or a stream): acknowledge when it is done. */
  private eventSettled(delivery: Delivery, result: unknown, runEndHook: HandlerEnd): void {
    if (!isObservable(result)) {
      runEndHook();
      this.finish(delivery, RC_SUCCESS);
      return;
    }
    result.subscribe({
      // Nest's exception layer has already reported the failure (it logs event handler errors
      // because propagatesEventHandlerErrors is false); here it only decides the ack code.
      error: (err: unknown) => {
        runEndHook(true, err);
        this.finish(delivery, this.failureCode());
      },
      complete: () => {
        runEndHook();
        this.finish(delivery, RC_SUCCESS);
      },
    });
  }

  /** An event handler threw or rejected (Nest's handler proxies turn errors into error streams; a raw handler may still throw). */
  private eventFailed(delivery: Delivery, err: unknown, runEndHook: HandlerEnd): void {
    runEndHook(true, err);
    this.logger.error(err);
    this.finish(delivery, this.failureCode());
  }

  /**
   * The ack code of a failed event handler: 0x80 (acknowledged, `onHandlerError: 'ack'`), or
   * RC_REDELIVER — not acknowledged at all, so that the broker delivers it again (see `onHandlerError`).
   */
  private failureCode(): number {
    return this.redeliver ? RC_REDELIVER : RC_UNSPECIFIED_ERROR;
  }

  /** A request: answer where `reply` says, in its framing; its handler's failure acknowledges with `reply.failureAck`. */
  private handleRequestMessage(entry: HandlerEntry, delivery: Delivery, data: unknown, context: Mqtt5Context, reply: ReplyTo, ended: HandlerEnd): void {
    const qos = this.options.replyQos ?? delivery.message.qos;
    this.withProcessingHooks(context, ended, async (runEndHook) => {
      let result: unknown;
      try {
        result = await entry.handler(data, context);
      } catch (err) {
        // A raw handler threw (Nest's proxies return error streams): answer with the error.
        runEndHook(true, err);
        this.logger.error(err);
        await this.publishReply(reply, 'error', toErrorObject(err), qos);
        this.finish(delivery, reply.failureAck);
        return;
      }
      if (!isObservable(result)) {
        // Fast path: one value, one reply, no stream machinery.
        runEndHook();
        const ok = await this.publishReply(reply, 'value', result, qos);
        this.finish(delivery, ok ? RC_SUCCESS : reply.failureAck);
        return;
      }
      let failed = false;
      let done = false;
      const respond = async (packet: WritePacket): Promise<void> => {
        // An error ends the exchange; the completion after it is moot.
        if (done) return;
        if (packet.err !== undefined) {
          done = true;
          failed = true;
          await this.publishReply(reply, 'error', toErrorObject(packet.err), qos);
        } else if ('response' in packet) {
          if (packet.isDisposed) done = true;
          const ok = await this.publishReply(reply, packet.isDisposed ? 'value' : 'next', packet.response, qos);
          failed ||= !ok;
        } else if (packet.isDisposed) {
          done = true;
          const ok = await this.publishReply(reply, 'end', undefined, qos);
          failed ||= !ok;
        }
        if (done) this.finish(delivery, failed ? reply.failureAck : RC_SUCCESS);
      };
      const ends = { error: (err: unknown) => runEndHook(true, err), finalize: () => runEndHook() };
      this.send((result as Observable<unknown>).pipe(tap(ends)), respond);
    });
  }

  /**
   * Publishes one reply of `kind`. Resolves false (after logging) when it could not be framed or
   * published: the caller still settles.
   */
  private async publishReply(reply: ReplyTo, kind: ReplyKind, value: unknown, qos: QoS): Promise<boolean> {
    try {
      const client = this.requireClient();
      await client.publish(reply.frame(kind, value, qos));
      return true;
    } catch (err) {
      this.logger.error(
        new Mqtt5TransportError('REPLY_FAILED', `Could not publish the response to "${reply.topic}"`, undefined, { cause: err }),
      );
      return false;
    }
  }

  /**
   * Nest's processing hooks (instrumentation) around a handler. Without any installed — the
   * usual case — the handler runs directly, sparing the hook machinery per message. `fn` never
   * rejects: every failure is handled inside it.
   */
  private withProcessingHooks(context: Mqtt5Context, ended: HandlerEnd, fn: (runEndHook: HandlerEnd) => Promise<void>): void {
    if (!this.hooksInstalled()) {
      void fn(ended);
      return;
    }
    this.runWithProcessingHooks(context, (nestEndHook: () => void) => fn(combineEnds(ended, nestEndHook)));
  }

  /** Whether instrumentation installed Nest processing hooks (checked per message: they may be set after listen()). */
  private hooksInstalled(): boolean {
    return this.onProcessingStartHook !== this.defaultStartHook || this.onProcessingEndHook !== undefined;
  }

  /** A handler settled: acknowledge (after-handling mode), free its slot, start the next one. */
  private finish(delivery: Delivery, reasonCode: number): void {
    if (this.ackAfterHandling) this.acknowledge(delivery, reasonCode);
    this.inFlight--;
    while (this.inFlight < this.concurrency && this.queue.length > 0 && !this.stopped) {
      const next = this.queue.shift()!;
      this.run(next.entry, next.delivery);
    }
    if (this.inFlight === 0 && this.drained) this.drained();
  }

  /**
   * Counts one handler of the delivery done; the last one sends the PUBACK/PUBREC (QoS 1/2 only).
   * A failure of any handler wins over success in the reason code.
   */
  private acknowledge(delivery: Delivery, reasonCode: number): void {
    if (reasonCode !== RC_SUCCESS && delivery.ackCode !== RC_REDELIVER) delivery.ackCode = reasonCode;
    if (--delivery.handlers > 0) return;
    // Done with it: hold no message past its acknowledgement (its payload is a view of a read buffer).
    if (this.lastDelivery === delivery) this.lastDelivery = undefined;
    // The client sends it on the connection that delivered the message, in receive order; after
    // that connection is gone it sends nothing and the broker redelivers.
    const message = delivery.message;
    if (message.qos !== 0 && delivery.ackCode !== RC_REDELIVER) this.client?.ack(message, delivery.ackCode);
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new Mqtt5NotConnectedError('call listen() before publishing');
    return this.client;
  }

  // ---- Nest surface -------------------------------------------------------------------------

  /**
   * Graceful shutdown (shutdown.ts): stops taking new messages, lets handlers in progress and the
   * messages already received finish with their replies and acks (up to `shutdownTimeout`), then
   * DISCONNECTs. Messages not acknowledged by then are redelivered by the broker.
   */
  async close(): Promise<void> {
    const client = this.client;
    this.closing = true;
    this.abort?.abort();
    this.abort = undefined;
    await shutdownGracefully({
      client,
      subscriptions: this.entries,
      timeoutMs: this.lifecycle.shutdownTimeout,
      logger: this.logger,
      whenIdle: (ms) => this.whenIdle(ms),
      busy: () => this.inFlight + this.queue.length,
      stopHandling: () => {
        this.stopped = true;
        for (const entry of this.entries) entry.open = false;
        // Not started, not acknowledged: the broker redelivers them (QoS 1/2).
        this.queue.drain();
      },
    });
    if (this.client === client) this.client = undefined;
    this.stopLog?.();
    this.stopLog = undefined;
    this._status$.next(Mqtt5Status.CLOSED);
  }

  /** Resolves true once no handler runs (and none waits), false after `ms`. */
  private async whenIdle(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = await new Promise<boolean>((resolve) => {
      this.drained = () => resolve(true);
      timer = setTimeout(() => resolve(false), ms);
    });
    clearTimeout(timer);
    this.drained = undefined;
    return idle;
  }

  /** Listens to the MqttClient's events ('connected', 'disconnected', 'reconnecting', 'reconnected', 'error', …). */
  on<EventKey extends keyof Mqtt5Events = keyof Mqtt5Events, EventCallback extends Mqtt5Events[EventKey] = Mqtt5Events[EventKey]>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.listeners.add(this.client, event, callback as (...args: any[]) => void);
  }

  /** The underlying {@link MqttClient}. */
  unwrap<T = MqttClient>(): T {
    if (!this.client) throw new Mqtt5NotConnectedError('call listen() (app.listen()) before unwrap()');
    return this.client as T;
  }
}

function noop(): void {}

/** What an error becomes on the wire: Nest's exception layer yields plain objects already. */
function toErrorObject(err: unknown): unknown {
  if (err instanceof Error) return { status: 'error', message: err.message };
  return err;
}

