/**
 * Validation of the options of ServerMqtt5 and ClientMqtt5, called from their constructors, so a
 * typo fails at construction with an `Mqtt5OptionsError` naming the option and its value — not
 * later at `listen()` as a raw `TypeError: Invalid URL`. Values are shown redacted: URLs without
 * credentials, passwords never.
 */
import { withoutCredentials } from '../client/index.js';
import { isValidTopicName } from '../codec/index.js';
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_CONCURRENCY,
  DEFAULT_CONNECT_ATTEMPTS,
  DEFAULT_CONNECT_DEADLINE,
  DEFAULT_NO_RESPONDERS_GRACE,
  DEFAULT_OFFLINE_QUEUE_LIMIT,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_SHUTDOWN_TIMEOUT,
} from './constants.js';
import { Mqtt5OptionsError } from './errors.js';
import type {
  Mqtt5ClientOptions,
  Mqtt5ConnectionOptions,
  Mqtt5HandlerErrorPolicy,
  Mqtt5NoRespondersPolicy,
  Mqtt5ServerOptions,
} from './options.js';

/** URL schemes `connectionFromUrl` opens. */
const SCHEMES = ['mqtt:', 'tcp:', 'mqtts:', 'tls:', 'ws:', 'wss:'];
/** Largest delay Node's timers accept (ms). */
const MAX_TIMER = 2_147_483_647;

/** Startup bounds shared by server and client, defaults applied. */
export interface ResolvedStartupOptions {
  connectAttempts: number;
  /** ms; 0 = no deadline. */
  connectTimeout: number;
}

/** The lifecycle options of ServerMqtt5, validated and with defaults. */
export interface ResolvedServerOptions extends ResolvedStartupOptions {
  shutdownTimeout: number;
  onHandlerError: Mqtt5HandlerErrorPolicy;
}

/** The lifecycle options of ClientMqtt5, validated and with defaults. */
export interface ResolvedClientOptions extends ResolvedStartupOptions {
  requestTimeout: number;
  offlineQueueLimit: number;
  noResponders: Mqtt5NoRespondersPolicy;
  noRespondersGrace: number;
  shutdownTimeout: number;
}

/** Checks the options of ServerMqtt5; throws Mqtt5OptionsError. Returns its lifecycle options resolved. */
export function validateServerOptions(o: Mqtt5ServerOptions = {}): ResolvedServerOptions {
  const startup = validateConnectionOptions(o);
  const s = o.subscribeOptions;
  if (s !== undefined) {
    object('subscribeOptions', s);
    qos('subscribeOptions.qos', s.qos);
    if (s.share !== undefined && (typeof s.share !== 'string' || !/^[^/+#]+$/.test(s.share))) {
      fail('subscribeOptions.share', 'a non-empty group name without "/", "+" or "#"', s.share);
    }
    bool('subscribeOptions.noLocal', s.noLocal);
    bool('subscribeOptions.retainAsPublished', s.retainAsPublished);
    oneOf('subscribeOptions.retainHandling', s.retainHandling, [0, 1, 2]);
  }
  oneOf('ackMode', o.ackMode, ['after-handling', 'on-receipt']);
  const concurrency = int('concurrency', o.concurrency, 1, 65535);
  if (o.receiveMaximum !== undefined) {
    int('receiveMaximum', o.receiveMaximum, concurrency ?? DEFAULT_CONCURRENCY, 65535);
  }
  int('maxQueuedMessages', o.maxQueuedMessages, 0, Number.MAX_SAFE_INTEGER);
  qos('replyQos', o.replyQos);
  const closeTimeout = int('closeTimeout', o.closeTimeout, 0, MAX_TIMER);
  const shutdownTimeout = int('shutdownTimeout', o.shutdownTimeout, 0, MAX_TIMER);
  const onHandlerError = oneOf('onHandlerError', o.onHandlerError, ['ack', 'redeliver'] as const);
  bool('compat', o.compat);
  codec('serializer', o.serializer, 'serialize');
  codec('deserializer', o.deserializer, 'deserialize');
  return {
    ...startup,
    shutdownTimeout: shutdownTimeout ?? closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
    onHandlerError: onHandlerError ?? 'ack',
  };
}

/** Checks the options of ClientMqtt5; throws Mqtt5OptionsError. Returns its lifecycle options resolved. */
export function validateClientOptions(o: Mqtt5ClientOptions = {}): ResolvedClientOptions {
  const startup = validateConnectionOptions(o);
  qos('qos', o.qos);
  qos('responseQos', o.responseQos);
  if (o.responseTopicPrefix !== undefined && (typeof o.responseTopicPrefix !== 'string' || !isValidTopicName(o.responseTopicPrefix))) {
    fail('responseTopicPrefix', 'a valid topic name (no wildcards)', o.responseTopicPrefix);
  }
  const requestTimeout = int('requestTimeout', o.requestTimeout, 0, MAX_TIMER);
  if (o.userProperties !== undefined) object('userProperties', o.userProperties);
  const offlineQueueLimit = int('offlineQueueLimit', o.offlineQueueLimit, 0, Number.MAX_SAFE_INTEGER);
  const noResponders = oneOf('noResponders', o.noResponders, ['fail', 'wait'] as const);
  const noRespondersGrace = int('noRespondersGrace', o.noRespondersGrace, 0, MAX_TIMER);
  const shutdownTimeout = int('shutdownTimeout', o.shutdownTimeout, 0, MAX_TIMER);
  bool('compat', o.compat);
  codec('serializer', o.serializer, 'serialize');
  codec('deserializer', o.deserializer, 'deserialize');
  return {
    ...startup,
    requestTimeout: requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
    offlineQueueLimit: offlineQueueLimit ?? DEFAULT_OFFLINE_QUEUE_LIMIT,
    noResponders: noResponders ?? 'fail',
    noRespondersGrace: noRespondersGrace ?? DEFAULT_NO_RESPONDERS_GRACE,
    shutdownTimeout: shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT,
  };
}

/** A per-call timeout (ms, 0 = none), e.g. of `Mqtt5RecordBuilder.setTimeout()`. */
export function validateTimeout(option: string, value: unknown): number {
  return int(option, value, 0, MAX_TIMER)!;
}

/** The options both sides share: URL, CONNECT fields, client options, startup bounds. */
function validateConnectionOptions(o: Mqtt5ConnectionOptions): ResolvedStartupOptions {
  if (typeof o !== 'object' || o === null) fail('options', 'an object', o);
  if (o.connection === undefined && o.url !== undefined) url(o.url);
  if (o.connection !== undefined && (typeof o.connection !== 'object' || typeof o.connection.connect !== 'function')) {
    fail('connection', 'a Connection (an object with connect())', undefined);
  }
  if (o.clientId !== undefined && typeof o.clientId !== 'string') fail('clientId', 'a string', o.clientId);
  if (o.username !== undefined && typeof o.username !== 'string') fail('username', 'a string', o.username);
  if (o.password !== undefined && typeof o.password !== 'string' && !Buffer.isBuffer(o.password)) {
    fail('password', 'a string or a Buffer', undefined); // never shown
  }
  int('keepAlive', o.keepAlive, 0, 65535);
  bool('cleanStart', o.cleanStart);
  int('sessionExpiryInterval', o.sessionExpiryInterval, 0, 0xffff_ffff);
  if (o.connectProperties !== undefined) object('connectProperties', o.connectProperties);
  if (o.telemetry !== undefined && typeof o.telemetry !== 'boolean') {
    object('telemetry', o.telemetry);
    bool('telemetry.tracing', o.telemetry.tracing);
    bool('telemetry.metrics', o.telemetry.metrics);
  }
  if (o.will !== undefined) {
    object('will', o.will);
    if (typeof o.will.topic !== 'string' || !isValidTopicName(o.will.topic)) fail('will.topic', 'a valid topic name', o.will.topic);
    qos('will.qos', o.will.qos);
  }
  if (o.durableSession !== undefined) {
    object('durableSession', o.durableSession);
    if (typeof o.durableSession.dir !== 'string' || o.durableSession.dir.length === 0) fail('durableSession.dir', 'a directory path', o.durableSession.dir);
    if (o.durableSession.sync !== undefined && o.durableSession.sync !== 'always' && o.durableSession.sync !== 'periodic') {
      fail('durableSession.sync', "'always' or 'periodic'", o.durableSession.sync);
    }
    if (o.clientId === undefined) fail('clientId', 'a fixed client id (durableSession resumes the session under it)', undefined);
  }
  const c = o.clientOptions;
  if (c !== undefined) {
    object('clientOptions', c);
    int('clientOptions.initialReconnectDelay', c.initialReconnectDelay, 0, MAX_TIMER);
    int('clientOptions.maxReconnectDelay', c.maxReconnectDelay, 0, MAX_TIMER);
    if (c.reconnectJitter !== undefined && !(typeof c.reconnectJitter === 'number' && c.reconnectJitter >= 0 && c.reconnectJitter <= 1)) {
      fail('clientOptions.reconnectJitter', 'a number in 0..1', c.reconnectJitter);
    }
    int('clientOptions.connectTimeout', c.connectTimeout, 1, MAX_TIMER);
    int('clientOptions.pingTimeout', c.pingTimeout, 1, MAX_TIMER);
    int('clientOptions.maxPendingPublishes', c.maxPendingPublishes, 0, Number.MAX_SAFE_INTEGER);
    int('clientOptions.maxInflight', c.maxInflight, 1, 65535);
    int('clientOptions.disconnectTimeout', c.disconnectTimeout, 0, MAX_TIMER);
    bool('clientOptions.queueQoS0', c.queueQoS0);
    bool('clientOptions.autoTopicAlias', c.autoTopicAlias);
    if (c.reconnect !== undefined && typeof c.reconnect !== 'boolean' && typeof c.reconnect !== 'function') {
      fail('clientOptions.reconnect', 'a boolean or a function', c.reconnect);
    }
  }
  let attempts = DEFAULT_CONNECT_ATTEMPTS;
  if (o.connectAttempts !== undefined && o.connectAttempts !== Infinity) {
    attempts = int('connectAttempts', o.connectAttempts, 1, Number.MAX_SAFE_INTEGER)!;
  }
  const deadline = int('connectTimeout', o.connectTimeout, 0, MAX_TIMER);
  return { connectAttempts: attempts, connectTimeout: deadline ?? DEFAULT_CONNECT_DEADLINE };
}

/** Checks a broker URL: parseable, a scheme `connectionFromUrl` opens, a host. */
function url(value: unknown): void {
  const expected = 'a broker URL such as mqtt://host:1883 (schemes mqtt:, tcp:, mqtts:, tls:, ws:, wss:)';
  if (typeof value !== 'string') fail('url', expected, value);
  let u: URL;
  try {
    u = new URL(value);
  } catch (error) {
    throw new Mqtt5OptionsError('url', expected, JSON.stringify(withoutCredentials(value)), { cause: error });
  }
  if (!SCHEMES.includes(u.protocol)) {
    fail('url', `${expected}; unknown scheme ${u.protocol}`, withoutCredentials(u));
  }
  if (u.hostname === '') fail('url', `${expected}; no host`, withoutCredentials(u));
}

function int(option: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(option, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in ${min}..${max}`, v);
  }
  return v;
}

function qos(option: string, v: unknown): void {
  if (v !== undefined && v !== 0 && v !== 1 && v !== 2) fail(option, '0, 1 or 2', v);
}

function bool(option: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') fail(option, 'true or false', v);
}

function object(option: string, v: unknown): void {
  if (typeof v !== 'object' || v === null) fail(option, 'an object', v);
}

function oneOf<T>(option: string, v: unknown, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) fail(option, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, v);
  return v as T;
}

function codec(option: string, v: unknown, method: string): void {
  if (v !== undefined && (typeof v !== 'object' || v === null || typeof (v as Record<string, unknown>)[method] !== 'function')) {
    fail(option, `an object with a ${method}() method`, undefined);
  }
}

function fail(option: string, expected: string, value: unknown): never {
  throw new Mqtt5OptionsError(option, expected, value === undefined ? undefined : show(value));
}

/** A short, printable form of a wrong value. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  return `a value of type ${typeof value}`;
}
