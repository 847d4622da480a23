import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { InvalidMessageException } from '@nestjs/microservices/errors/invalid-message.exception.js';
import { Observable, throwError, type Observer, type Subscriber } from 'rxjs';
import type { Properties, QoS, UserProperty } from '../codec/index.js';
import type { MqttClient, MqttMessage, PublishResult } from '../client/index.js';
import { compatReplyTopic, decodeCompatResponse, encodeCompatRequest } from './compat.js';
import { DEFAULT_QOS, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RESPONSE_PREFIX, Mqtt5Status } from './constants.js';
import {
  Mqtt5ClosedError,
  Mqtt5ConnectionLostError,
  Mqtt5NoRespondersError,
  Mqtt5NotConnectedError,
  Mqtt5RequestTimeoutError,
  Mqtt5SubscribeError,
} from './errors.js';
import { ClientListeners, createMqttClient, sessionPresentOf, type Mqtt5Events } from './mqtt-client.js';
import type { Mqtt5ClientOptions } from './options.js';
import { PendingRequests, type PendingRequest } from './pending.js';
import {
  CORRELATION_LENGTH,
  metadataToUserProperties,
  REPLY_END,
  REPLY_ERROR,
  REPLY_NEXT,
  replyKind,
} from './protocol.js';
import { isRecord, toUserProperties, unwrapRecord, type Mqtt5RecordOptions } from './record.js';
import { JsonDeserializer, JsonSerializer, type Mqtt5Deserializer, type Mqtt5Serializer } from './serializers.js';
import { validateClientOptions } from './options-validation.js';
import { toTransportError } from './transport-errors.js';

/** Reason code of a PUBACK/PUBREC saying nobody subscribes to the topic. */
const RC_NO_MATCHING_SUBSCRIBERS = 0x10;
/** Correlation counters wrap below 2^48 (six bytes of correlation data). */
const MAX_CORRELATION = 2 ** 48;

type PublishArgs = Parameters<MqttClient['publish']>[0];

/**
 * A Nest `ClientProxy` over MQTT v5, on our {@link MqttClient}.
 *
 * `emit(topic, data)` publishes; `send(topic, data)` publishes a request carrying this client's
 * response topic and a correlation id, and yields the responses (one or several values, or an
 * error) — with one response subscription per client, a request timeout, and a clear failure when
 * the connection (and the session) is lost before the response arrives.
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
  private readonly pending: PendingRequests<number>;
  private readonly compatPending: PendingRequests<string>;
  private readonly compatSubscriptions = new Map<string, Promise<void>>();
  private readonly payloadSerializer: Mqtt5Serializer;
  private readonly payloadDeserializer: Mqtt5Deserializer;
  private readonly qos: QoS;
  private readonly timeout: number;
  private readonly defaultUserProperties: UserProperty[] | undefined;
  private readonly compat: boolean;
  private responseTopic = '';
  private epoch = 0;
  private seq = 0;
  private readonly onResponse = (message: MqttMessage): void => this.handleResponse(message);

  constructor(private readonly options: Mqtt5ClientOptions = {}) {
    super();
    validateClientOptions(options); // throws Mqtt5OptionsError naming the option
    this.payloadSerializer = options.serializer ?? new JsonSerializer();
    this.payloadDeserializer = options.deserializer ?? new JsonDeserializer();
    this.qos = options.qos ?? DEFAULT_QOS;
    this.timeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
    this.defaultUserProperties = options.userProperties ? toUserProperties(options.userProperties) : undefined;
    this.compat = options.compat ?? false;
    const expire = (request: PendingRequest) => request.callback({ err: new Mqtt5RequestTimeoutError(request.topic, this.timeout) });
    this.pending = new PendingRequests<number>(this.timeout, expire);
    this.compatPending = new PendingRequests<string>(this.timeout, expire);
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
    return this.pending.size + this.compatPending.size;
  }

  /** Connects (once; later calls share the same promise) and subscribes the response topic. */
  connect(): Promise<MqttClient> {
    if (this.connecting) return this.connecting;
    let created: ReturnType<typeof createMqttClient>;
    try {
      created = createMqttClient(this.options, 'client', {});
    } catch (err) {
      return Promise.reject(err);
    }
    const { client } = created;
    this.client = client;
    this.bindEvents(client);
    this.listeners.attach(client);
    const connecting = this.open(created).catch(async (err: unknown) => {
      // A failed connection is not cached: the next send()/emit() starts over with a new client.
      if (this.connecting === connecting) this.connecting = undefined;
      if (this.client === client) {
        this.client = undefined;
        this.connected = false;
      }
      await client.disconnect().catch(() => undefined); // releases what the failed attempt holds; `err` is what matters
      throw toTransportError(err, { url: client.connection.brokerUrl });
    });
    this.connecting = connecting;
    return connecting;
  }

  private async open({ client, connectOptions, clientId }: ReturnType<typeof createMqttClient>): Promise<MqttClient> {
    const connack = await client.connect(connectOptions);
    const id = connack.properties?.assignedClientIdentifier ?? clientId;
    const prefix = connack.properties?.responseInformation ?? this.options.responseTopicPrefix ?? DEFAULT_RESPONSE_PREFIX;
    this.responseTopic = `${prefix}/${id}`;
    if (!this.compat) {
      const suback = await client.subscribe(
        { subscriptions: [{ topicFilter: this.responseTopic, qos: this.options.responseQos ?? DEFAULT_QOS }] },
        this.onResponse,
      );
      const code = suback.reasonCodes[0] ?? 0x80;
      if (code >= 0x80) throw new Mqtt5SubscribeError(this.responseTopic, code, suback.properties?.reasonString);
    }
    if (this.client === client) this.connected = true;
    return client;
  }

  private bindEvents(client: MqttClient): void {
    client.on('connected', () => this._status$.next(Mqtt5Status.CONNECTED));
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
      this.compatSubscriptions.clear();
      this.failAll((request) => new Mqtt5ConnectionLostError(request.topic, reason.message, reason.reasonCode));
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
    for (const request of [...this.pending.clear(), ...this.compatPending.clear()]) {
      request.callback({ err: error(request) });
    }
  }

  /** Fails the requests the broker took before the current connection: their responses are gone. */
  private failTaken(reason: string): void {
    const fail = <K>(pending: PendingRequests<K>) => {
      for (const [id, request] of [...pending.values()]) {
        if (request.epoch < 0 || request.epoch >= this.epoch) continue;
        pending.delete(id, request);
        request.callback({ err: new Mqtt5ConnectionLostError(request.topic, reason) });
      }
    };
    fail(this.pending);
    fail(this.compatPending);
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
      if (this.client !== undefined && this.connected) return this.publish(this.createPacket(pattern, data), callback);
      let cancelled = false;
      let teardown: (() => void) | undefined;
      this.connect().then(
        () => {
          if (!cancelled) teardown = this.publish(this.createPacket(pattern, data), callback);
        },
        (err: unknown) => observer.error(err),
      );
      return () => {
        cancelled = true;
        teardown?.();
      };
    });
  }

  /**
   * Publishes an event. Same contract as Nest's `ClientProxy#emit` (hot: published at once, the
   * observable completes when the broker took it or errors), without its per-call rxjs pipeline.
   */
  override emit<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return throwError(() => new InvalidMessageException());
    }
    const packet = this.createPacket(pattern, data);
    const published =
      this.client !== undefined && this.connected
        ? this.dispatchEvent<TResult>(packet)
        : this.connect().then(() => this.dispatchEvent<TResult>(packet));
    return eventObservable(published);
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    if (this.compat) return this.publishCompat(packet, callback);
    const client = this.client;
    if (!client) {
      callback({ err: new Mqtt5NotConnectedError('connect() failed or close() was called') });
      return noop;
    }
    const topic = this.topicOf(packet.pattern);
    this.seq = this.seq + 1 === MAX_CORRELATION ? 1 : this.seq + 1;
    const id = this.seq;
    const correlationData = Buffer.allocUnsafe(CORRELATION_LENGTH);
    correlationData.writeUIntBE(id, 0, CORRELATION_LENGTH);
    const request: PendingRequest = { topic, callback, deadline: Infinity, epoch: -1 };
    let args: PublishArgs;
    try {
      args = this.buildPublish(topic, packet, correlationData);
    } catch (err) {
      callback({ err });
      return noop;
    }
    this.pending.add(id, request);
    client.publish(args).then(
      (ack) => {
        if (this.pending.get(id) !== request) return;
        if (reasonCodeOf(ack) === RC_NO_MATCHING_SUBSCRIBERS) {
          this.settle(this.pending, id, request);
          callback({ err: new Mqtt5NoRespondersError(topic) });
        } else {
          request.epoch = this.epoch;
        }
      },
      (err: unknown) => {
        if (this.pending.get(id) !== request) return;
        this.settle(this.pending, id, request);
        callback({ err });
      },
    );
    return () => this.settle(this.pending, id, request);
  }

  private handleResponse(message: MqttMessage): void {
    const properties = message.properties;
    const correlation = properties?.correlationData;
    // Anything else on our response topic is not ours to answer for.
    if (correlation === undefined || correlation.length !== CORRELATION_LENGTH) return;
    const id = correlation.readUIntBE(0, CORRELATION_LENGTH);
    const request = this.pending.get(id);
    if (request === undefined) return; // late (timed out, cancelled) or duplicate
    let value: unknown;
    try {
      value = this.payloadDeserializer.deserialize(message.payload, properties);
    } catch (err) {
      this.settle(this.pending, id, request);
      request.callback({ err });
      return;
    }
    switch (replyKind(properties!.userProperties)) {
      case REPLY_NEXT:
        // The timeout bounds silence, not the length of a stream.
        this.pending.touch(id, request);
        request.callback({ response: value });
        return;
      case REPLY_END:
        this.settle(this.pending, id, request);
        request.callback({ isDisposed: true });
        return;
      case REPLY_ERROR:
        this.settle(this.pending, id, request);
        request.callback({ err: value });
        return;
      default:
        this.settle(this.pending, id, request);
        request.callback({ response: value, isDisposed: true });
    }
  }

  private publishCompat(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const client = this.client;
    if (!client) {
      callback({ err: new Mqtt5NotConnectedError('connect() failed or close() was called') });
      return noop;
    }
    const topic = this.topicOf(packet.pattern);
    const id = randomUUID();
    const request: PendingRequest = { topic, callback, deadline: Infinity, epoch: -1 };
    this.compatPending.add(id, request);
    const fail = (err: unknown) => {
      if (this.compatPending.get(id) !== request) return;
      this.settle(this.compatPending, id, request);
      callback({ err });
    };
    this.subscribeCompatReplies(client, compatReplyTopic(topic)).then(() => {
      if (this.compatPending.get(id) !== request) return;
      const { data, options } = unwrapRecord(packet.data);
      const payload = encodeCompatRequest(packet.pattern, data, id);
      return client.publish(this.publishArgs(topic, payload, options, undefined, packet.metadata)).then((ack) => {
        if (this.compatPending.get(id) !== request) return;
        if (reasonCodeOf(ack) === RC_NO_MATCHING_SUBSCRIBERS) fail(new Mqtt5NoRespondersError(topic));
        else request.epoch = this.epoch;
      });
    }).catch(fail);
    return () => this.settle(this.compatPending, id, request);
  }

  /** The built-in transport answers on `<pattern>/reply`: one subscription per pattern, kept. */
  private subscribeCompatReplies(client: MqttClient, replyTopic: string): Promise<void> {
    let subscribed = this.compatSubscriptions.get(replyTopic);
    if (!subscribed) {
      subscribed = client
        .subscribe(
          { subscriptions: [{ topicFilter: replyTopic, qos: this.options.responseQos ?? DEFAULT_QOS }] },
          (message: MqttMessage) => this.handleCompatResponse(message),
        )
        .then((suback) => {
          const code = suback.reasonCodes[0] ?? 0x80;
          if (code >= 0x80) throw new Mqtt5SubscribeError(replyTopic, code, suback.properties?.reasonString);
        });
      // A failed subscription is retried by the next request.
      subscribed.catch(() => this.compatSubscriptions.delete(replyTopic));
      this.compatSubscriptions.set(replyTopic, subscribed);
    }
    return subscribed;
  }

  private handleCompatResponse(message: MqttMessage): void {
    const response = decodeCompatResponse(message.payload);
    if (!response) return;
    const request = this.compatPending.get(response.id);
    if (!request) return;
    if (response.err !== undefined) {
      this.settle(this.compatPending, response.id, request);
      request.callback({ err: response.err });
    } else if (response.isDisposed) {
      this.settle(this.compatPending, response.id, request);
      request.callback('response' in response ? { response: response.response, isDisposed: true } : { isDisposed: true });
    } else {
      this.compatPending.touch(response.id, request);
      request.callback({ response: response.response });
    }
  }

  /** Forgets a request (answered, failed or unsubscribed). Idempotent. */
  private settle<K>(pending: PendingRequests<K>, id: K, request: PendingRequest): void {
    pending.delete(id, request);
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
   * Publishes an event; resolves with the broker's acknowledgement (the PUBACK for QoS 1, the
   * PUBCOMP for QoS 2, undefined for QoS 0) — e.g. reason code 0x10 says nobody subscribes.
   */
  protected dispatchEvent<T = PublishResult>(packet: ReadPacket): Promise<T> {
    const client = this.client;
    if (!client) return Promise.reject(new Mqtt5NotConnectedError('connect() failed or close() was called'));
    let args: PublishArgs;
    try {
      const topic = this.topicOf(packet.pattern);
      if (this.compat) {
        const { data, options } = unwrapRecord(packet.data);
        args = this.publishArgs(topic, encodeCompatRequest(packet.pattern, data), options, undefined, packet.metadata);
      } else {
        args = this.buildPublish(topic, packet, undefined);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return client.publish(args) as Promise<unknown> as Promise<T>;
  }


  // ---- publishing helpers -------------------------------------------------------------------

  private topicOf(pattern: unknown): string {
    return typeof pattern === 'string' ? pattern : this.normalizePattern(pattern as never);
  }

  /** Serializes the packet's data (or record) into publish arguments; `correlationData` makes it a request. */
  private buildPublish(topic: string, packet: ReadPacket, correlationData: Buffer | undefined): PublishArgs {
    let data = packet.data as unknown;
    let options: Mqtt5RecordOptions | undefined;
    if (isRecord(data)) ({ data, options } = unwrapRecord(data));
    const serialized = this.payloadSerializer.serialize(data);
    if (Buffer.isBuffer(serialized)) {
      return this.publishArgs(topic, serialized, options, correlationData, packet.metadata);
    }
    const args = this.publishArgs(topic, serialized.payload, options, correlationData, packet.metadata);
    const properties: Properties = (args.properties ??= {});
    if (serialized.contentType !== undefined) properties.contentType = serialized.contentType;
    if (serialized.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = serialized.payloadFormatIndicator;
    return args;
  }

  private publishArgs(
    topic: string,
    payload: Buffer,
    options: Mqtt5RecordOptions | undefined,
    correlationData: Buffer | undefined,
    metadata: Record<string, string> | undefined,
  ): PublishArgs {
    let properties: Properties | undefined;
    if (options?.properties) {
      properties = { ...options.properties };
      if (correlationData !== undefined) {
        properties.responseTopic = this.responseTopic;
        properties.correlationData = correlationData;
      }
    } else if (correlationData !== undefined) {
      properties = { responseTopic: this.responseTopic, correlationData };
    }
    if (this.defaultUserProperties !== undefined || metadata !== undefined) {
      properties ??= {};
      const user: UserProperty[] = [];
      if (this.defaultUserProperties) user.push(...this.defaultUserProperties);
      if (properties.userProperties) user.push(...properties.userProperties);
      if (metadata) user.push(...metadataToUserProperties(metadata));
      properties.userProperties = user;
    }
    return { topic, payload, qos: options?.qos ?? this.qos, retain: options?.retain === true, properties };
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Fails pending requests with Mqtt5ClosedError and disconnects. Safe to call at any time. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    this.connecting = undefined;
    this.compatSubscriptions.clear();
    this.failAll(() => new Mqtt5ClosedError('ClientMqtt5'));
    if (client) await client.disconnect();
    this._status$.next(Mqtt5Status.CLOSED);
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

function reasonCodeOf(ack: unknown): number | undefined {
  return ack !== null && typeof ack === 'object' && 'reasonCode' in ack ? (ack as { reasonCode?: number }).reasonCode : undefined;
}

/**
 * The observable of one `emit()`: completes with the publish outcome, for whoever subscribes, now
 * or later; no subscriber is not an error. One reaction on the publish promise serves the usual
 * case — a subscriber that subscribed before the broker's acknowledgement — rather than a `catch`
 * plus a `then` per subscriber (two extra promises per event on the hottest path of the client).
 * A subscriber arriving after the outcome still gets it asynchronously, as before.
 */
function eventObservable<T>(published: Promise<T>): Observable<T> {
  let settled = false;
  let failed = false;
  let outcome: unknown;
  // Almost always zero or one subscriber: no array unless there are more.
  let first: Subscriber<T> | undefined;
  let more: Subscriber<T>[] | undefined;
  const deliver = (subscriber: Subscriber<T>): void => {
    if (failed) {
      subscriber.error(outcome);
    } else {
      subscriber.next(outcome as T);
      subscriber.complete();
    }
  };
  const settle = (isError: boolean, value: unknown): void => {
    settled = true;
    failed = isError;
    outcome = value;
    const waiting = first;
    first = undefined;
    if (waiting !== undefined) deliver(waiting);
    if (more !== undefined) {
      const rest = more;
      more = undefined;
      for (const subscriber of rest) deliver(subscriber);
    }
  };
  published.then(
    (value) => settle(false, value),
    (err: unknown) => settle(true, err),
  );
  return new Observable<T>((subscriber) => {
    if (settled) {
      // Late: still asynchronous, like a reaction on a settled promise.
      void published.then(() => deliver(subscriber), () => deliver(subscriber));
    } else if (first === undefined) {
      first = subscriber;
    } else {
      (more ??= []).push(subscriber);
    }
  });
}
