/**
 * Broker options: limits with safe defaults, feature switches announced in CONNACK, hooks and stores.
 * {@link resolveOptions} validates user input once, so the hot path reads plain numbers.
 */
import { ErrorCode, type MqttErrorDetails, type QoS } from '../codec/index.js';
import type { Authenticate, AuthorizePublish, AuthorizeSubscribe, DeliveryFilter } from './auth.js';
import type { RetainedStore, SessionStore } from './store.js';

/** What happens when a message must be queued for a session whose queue already holds `maxQueuedMessages`. */
export type QueueFullPolicy = 'dropNew' | 'dropOldest';

/** Options of {@link MqttBroker}. Every limit has a safe default; times are in milliseconds unless named `…Interval`/`…KeepAlive` (seconds, as on the wire). */
export interface MqttBrokerOptions {
  /** Connected clients at most; a CONNECT beyond gets CONNACK 0x89 (Server busy). Default 10,000. */
  maxConnections?: number;
  /** Largest packet accepted from a client, fixed header included (announced in CONNACK; larger → DISCONNECT 0x95). Default 1 MiB. */
  maximumPacketSize?: number;
  /** QoS 1/2 PUBLISHes a client may have unacknowledged towards the broker (CONNACK Receive Maximum; more → DISCONNECT 0x93). Default 1024. */
  receiveMaximum?: number;
  /** Highest topic alias a client may use towards the broker (0 disables aliases; above → DISCONNECT 0x94). Default 32. */
  topicAliasMaximum?: number;
  /**
   * Topic aliases the broker uses when sending to one v5 client (spec 3.3.2.3.4), at most — and never more
   * than the Topic Alias Maximum the client announced in CONNECT (0 there: none). The topics are replaced
   * by the clock algorithm once they are all in use. Saves the topic bytes of every repeated delivery at
   * the cost of one copy of each PUBLISH per receiving client (the shared encoding cannot be reused) and up
   * to this many topic strings per connection. 0 (the default, like Mosquitto; EMQX and HiveMQ send
   * aliases) sends none.
   */
  outgoingTopicAliases?: number;
  /**
   * Messages waiting for one session (offline, receive maximum reached, or socket full) at most, like
   * Mosquitto's `max_queued_messages`. Each session has its own queue: a subscriber that stops reading
   * fills only its own, and the others keep receiving. When full, new QoS 0 messages are dropped and
   * queued QoS 0 messages make room for QoS 1/2 ones; then {@link queueFullPolicy} applies. Every drop is
   * counted in `broker.metrics().droppedMessages` (by reason in `droppedByReason`) and reported by the
   * `drop` event. Default 1000.
   */
  maxQueuedMessages?: number;
  /**
   * Bytes (payload and topic) waiting for one session at most, like Mosquitto's `max_queued_bytes`;
   * same policy as {@link maxQueuedMessages}. 0: no byte limit (the default).
   */
  maxQueuedBytes?: number;
  /**
   * Bytes queued for all sessions together at most: the broker's memory bound. When reached, nothing
   * more is queued (drops with reason `memoryLimit`, QoS 1/2 publishers get 0x97) and the clients
   * publishing are not read until the queues are down to three quarters (at most
   * {@link slowConsumerTimeout} at a time). 0: no bound. Default 256 MiB.
   */
  maxTotalQueuedBytes?: number;
  /**
   * When a session's queue is full and its queued QoS 0 messages cannot make room for a QoS 1/2 one:
   * `dropNew` (default) refuses the new message — the publisher gets PUBACK/PUBREC 0x97 (Quota
   * exceeded), the other subscribers still get it, and the full session a `drop` event; nothing is
   * acknowledged that a session could not keep — and keeps the queue in order; `dropOldest` evicts the
   * oldest queued messages (each reported by a `drop` event).
   */
  queueFullPolicy?: QueueFullPolicy;
  /**
   * QoS 1/2 messages sent to one client and not yet acknowledged at most (the client's Receive Maximum
   * lowers it), like Mosquitto's `max_inflight_messages`: beyond it, messages wait in the session queue,
   * within its limits — so a client that stops reading holds at most this many in flight plus its queue.
   * Default 1000.
   */
  maxInflightMessages?: number;
  /** Whether QoS 0 messages are queued for a disconnected persistent session (they are always queued behind a full socket). Default false. */
  queueQoS0Offline?: boolean;
  /**
   * Flow control: when *every* subscriber a message goes to is connected with a queue at least half
   * full, its publisher is not read until one of them has drained to a quarter (nobody could take its
   * messages, so it waits instead of losing them). A subscriber with other, healthy routes beside it
   * never holds a publisher back: it only fills its own queue. A subscriber that holds publishers back
   * for this long (ms) counts as a slow consumer and holds nobody back any more (its queue policy
   * applies). 0 turns publisher flow control off. Default 1000 ms.
   */
  slowConsumerTimeout?: number;
  /** Subscriptions one session may hold; a SUBSCRIBE beyond gets SUBACK 0x97 (Quota exceeded) for the extra filters. Default 1000. */
  maxSubscriptionsPerClient?: number;
  /** A connection that has not completed CONNECT (and any AUTH exchange) within this time is closed. Default 10,000 ms. */
  connectTimeout?: number;
  /** When set, every client gets this keep alive (seconds) in CONNACK instead of its own. */
  serverKeepAlive?: number;
  /** Largest keep alive (seconds) a client may ask for; a larger one, or 0, is replaced by this in CONNACK. Default 65,535 (no cap). */
  maxKeepAlive?: number;
  /** Largest session expiry interval (seconds) granted; a larger request is lowered in CONNACK. Default 86,400 (one day). */
  maxSessionExpiryInterval?: number;
  /** Highest QoS accepted in PUBLISH (announced in CONNACK; above → DISCONNECT 0x9B). Default 2. */
  maximumQoS?: QoS;
  /** Whether retained messages are supported (announced in CONNACK; a retained PUBLISH otherwise → DISCONNECT 0x9A). Default true. */
  retainAvailable?: boolean;
  /** Whether wildcard filters may be subscribed (otherwise SUBACK 0xA2). Default true. */
  wildcardSubscriptionAvailable?: boolean;
  /** Whether subscription identifiers are supported (otherwise SUBSCRIBE carrying one → DISCONNECT 0xA1). Default true. */
  subscriptionIdentifiersAvailable?: boolean;
  /** Whether `$share/<group>/<filter>` subscriptions are supported (otherwise SUBACK 0x9E). Default true. */
  sharedSubscriptionAvailable?: boolean;
  /** Whether an empty client identifier gets an assigned one (otherwise CONNACK 0x85). Default true. */
  allowEmptyClientId?: boolean;
  /**
   * Whether a payload whose Payload Format Indicator is 1 (UTF-8) is checked to be valid UTF-8 (spec
   * 3.3.2.3.2, 3.1.3.2.3). An invalid one is refused with 0x99 (Payload format invalid): PUBACK/PUBREC for
   * QoS 1/2, DISCONNECT for QoS 0 (it has no acknowledgement), CONNACK for a will; it is not routed.
   * Payloads without the indicator are never inspected. Default true.
   */
  validatePayloadFormat?: boolean;
  /** Sent as Response Information in CONNACK to clients that request it (basis for response topics). */
  responseInformation?: string;
  /**
   * Outgoing bytes buffered in user space per client before further messages wait in its session queue,
   * and before the broker stops reading from a client that does not read its acknowledgements. A socket
   * whose writes back up takes no more deliveries into its buffers beyond about twice this (the rest
   * waits in the session queue, bounded, until 'drain'). Default 64 KiB.
   */
  writeBufferHighWaterMark?: number;
  /** After the broker closes a connection (DISCONNECT sent), it waits this long for the peer to close before destroying the socket. Default 1000 ms. */
  closeGracePeriod?: number;
  /** Authenticates CONNECT (and enhanced AUTH steps); without it every client is accepted unless it asks for enhanced authentication. */
  authenticate?: Authenticate;
  /**
   * Authorises each PUBLISH (and will message); a refusal answers PUBACK/PUBREC 0x87 (QoS 0: dropped). An
   * MQTT 3.1.1/3.1 client cannot be refused on the wire: its message is acknowledged as usual, dropped, and
   * reported as a `drop` event (reason `notAuthorized`).
   */
  authorizePublish?: AuthorizePublish;
  /** Authorises each subscription of SUBSCRIBE; a refusal answers 0x87 for that filter in SUBACK. */
  authorizeSubscribe?: AuthorizeSubscribe;
  /**
   * Per-message read checks for subscriptions only partly readable (see {@link DeliveryFilter}); not
   * consulted for `$share` subscriptions. Without it, or when it answers undefined, deliveries are not checked.
   */
  deliveryFilter?: DeliveryFilter;
  /**
   * Seconds between publications of the `$SYS/broker/…` statistics topics (retained, like Mosquitto's
   * `sys_interval`); 0 turns them off. Default 0: an embedded broker publishes nothing unasked (the CLI
   * broker's default is 10, as Mosquitto's).
   */
  sysInterval?: number;
  /** Where sessions live (default: in memory). */
  sessionStore?: SessionStore;
  /** Where retained messages live (default: in memory, a topic trie). */
  retainedStore?: RetainedStore;
  /**
   * Keep sessions, subscriptions, QoS 1/2 messages and retained messages on disk (an LMDB store in
   * `dir`), so that a restart — or a crash — loses nothing the broker acknowledged. Opened by
   * `listen()` (or `start()`), which rejects, naming the path, when the store cannot be used.
   * Default: none, everything lives in memory.
   */
  persistence?: BrokerPersistenceOptions;
}

/** The `persistence` option of {@link MqttBrokerOptions}. */
export interface BrokerPersistenceOptions {
  /** Data directory (created when missing). */
  dir: string;
  /**
   * `always` (default): PUBACK/PUBREC/SUBACK/CONNACK go out once the change is fsynced (one fsync per
   * group of messages arriving together). `periodic`: once written to the OS, fsynced every
   * `flushIntervalMs` — survives a crash of the process, not of the machine.
   */
  sync?: 'always' | 'periodic';
  /** With `sync: 'periodic'`: fsync interval in ms. Default 1000. */
  flushIntervalMs?: number;
}

/** Options after defaults and validation (internal). */
export interface ResolvedOptions {
  readonly maxConnections: number;
  readonly maximumPacketSize: number;
  readonly receiveMaximum: number;
  readonly topicAliasMaximum: number;
  readonly outgoingTopicAliases: number;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly maxTotalQueuedBytes: number;
  readonly maxInflightMessages: number;
  readonly queueFullPolicy: QueueFullPolicy;
  readonly queueQoS0Offline: boolean;
  readonly slowConsumerTimeout: number;
  readonly maxSubscriptionsPerClient: number;
  readonly connectTimeout: number;
  readonly serverKeepAlive: number | undefined;
  readonly maxKeepAlive: number;
  readonly maxSessionExpiryInterval: number;
  readonly maximumQoS: QoS;
  readonly retainAvailable: boolean;
  readonly wildcardSubscriptionAvailable: boolean;
  readonly subscriptionIdentifiersAvailable: boolean;
  readonly sharedSubscriptionAvailable: boolean;
  readonly allowEmptyClientId: boolean;
  readonly validatePayloadFormat: boolean;
  readonly responseInformation: string | undefined;
  readonly writeBufferHighWaterMark: number;
  readonly closeGracePeriod: number;
  readonly authenticate: Authenticate | undefined;
  readonly authorizePublish: AuthorizePublish | undefined;
  readonly authorizeSubscribe: AuthorizeSubscribe | undefined;
  readonly deliveryFilter: DeliveryFilter | undefined;
  /** Seconds; 0 = no $SYS topics. */
  readonly sysInterval: number;
}

/** Thrown by the constructor of {@link MqttBroker} for an option out of range; `option` names it. */
export class BrokerOptionsError extends RangeError implements MqttErrorDetails {
  override readonly name = 'BrokerOptionsError';
  readonly code: string = ErrorCode.INVALID_OPTION;
  constructor(
    message: string,
    /** The option at fault, e.g. `maxConnections`. */
    readonly option?: string,
  ) {
    super(message);
  }
}

/** The defaults, exported for documentation and tests. */
export const DEFAULT_OPTIONS = {
  maxConnections: 10_000,
  maximumPacketSize: 1024 * 1024,
  receiveMaximum: 1024,
  topicAliasMaximum: 32,
  outgoingTopicAliases: 0,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 0,
  maxTotalQueuedBytes: 256 * 1024 * 1024,
  maxInflightMessages: 1000,
  queueFullPolicy: 'dropNew',
  queueQoS0Offline: false,
  slowConsumerTimeout: 1000,
  maxSubscriptionsPerClient: 1000,
  connectTimeout: 10_000,
  maxKeepAlive: 65_535,
  maxSessionExpiryInterval: 86_400,
  maximumQoS: 2,
  writeBufferHighWaterMark: 64 * 1024,
  closeGracePeriod: 1000,
} as const;

function int(name: string, v: number | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new BrokerOptionsError(`option ${name} must be an integer in ${min}..${max}, got ${String(v)}`, name);
  }
  return v;
}

function hook<T>(name: string, v: T | undefined): T | undefined {
  if (v !== undefined && typeof v !== 'function') throw new BrokerOptionsError(`option ${name} must be a function`, name);
  return v;
}

/** Applies defaults and checks ranges; throws {@link BrokerOptionsError} on a bad value. */
/** Checks the `persistence` option; throws {@link BrokerOptionsError}. */
function checkPersistence(p: BrokerPersistenceOptions | undefined): void {
  if (p === undefined) return;
  if (typeof p !== 'object' || p === null || typeof p.dir !== 'string' || p.dir.length === 0) {
    throw new BrokerOptionsError('option persistence.dir must be a non-empty path', 'persistence');
  }
  if (p.sync !== undefined && p.sync !== 'always' && p.sync !== 'periodic') {
    throw new BrokerOptionsError(`option persistence.sync must be 'always' or 'periodic'`, 'persistence');
  }
  int('persistence.flushIntervalMs', p.flushIntervalMs, 1000, 1, 3_600_000);
}

export function resolveOptions(o: MqttBrokerOptions = {}): ResolvedOptions {
  const d = DEFAULT_OPTIONS;
  checkPersistence(o.persistence);
  const policy = o.queueFullPolicy ?? d.queueFullPolicy;
  if (policy !== 'dropNew' && policy !== 'dropOldest') {
    throw new BrokerOptionsError(`option queueFullPolicy must be 'dropNew' or 'dropOldest'`, 'queueFullPolicy');
  }
  return {
    maxConnections: int('maxConnections', o.maxConnections, d.maxConnections, 1, 10_000_000),
    // 5 bytes of fixed header at least; 268,435,460 is the protocol's own ceiling.
    maximumPacketSize: int('maximumPacketSize', o.maximumPacketSize, d.maximumPacketSize, 64, 268_435_460),
    receiveMaximum: int('receiveMaximum', o.receiveMaximum, d.receiveMaximum, 1, 65_535),
    topicAliasMaximum: int('topicAliasMaximum', o.topicAliasMaximum, d.topicAliasMaximum, 0, 65_535),
    outgoingTopicAliases: int('outgoingTopicAliases', o.outgoingTopicAliases, d.outgoingTopicAliases, 0, 65_535),
    maxQueuedMessages: int('maxQueuedMessages', o.maxQueuedMessages, d.maxQueuedMessages, 0, 10_000_000),
    maxQueuedBytes: int('maxQueuedBytes', o.maxQueuedBytes, d.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER),
    maxTotalQueuedBytes: int('maxTotalQueuedBytes', o.maxTotalQueuedBytes, d.maxTotalQueuedBytes, 0, Number.MAX_SAFE_INTEGER),
    maxInflightMessages: int('maxInflightMessages', o.maxInflightMessages, d.maxInflightMessages, 1, 65_535),
    queueFullPolicy: policy,
    queueQoS0Offline: o.queueQoS0Offline ?? false,
    slowConsumerTimeout: int('slowConsumerTimeout', o.slowConsumerTimeout, d.slowConsumerTimeout, 0, 3_600_000),
    maxSubscriptionsPerClient: int('maxSubscriptionsPerClient', o.maxSubscriptionsPerClient, d.maxSubscriptionsPerClient, 1, 10_000_000),
    connectTimeout: int('connectTimeout', o.connectTimeout, d.connectTimeout, 1, 2_147_483_647),
    serverKeepAlive: o.serverKeepAlive === undefined ? undefined : int('serverKeepAlive', o.serverKeepAlive, 0, 0, 65_535),
    maxKeepAlive: int('maxKeepAlive', o.maxKeepAlive, d.maxKeepAlive, 1, 65_535),
    maxSessionExpiryInterval: int('maxSessionExpiryInterval', o.maxSessionExpiryInterval, d.maxSessionExpiryInterval, 0, 0xffff_ffff),
    maximumQoS: int('maximumQoS', o.maximumQoS, d.maximumQoS, 0, 2) as QoS,
    retainAvailable: o.retainAvailable ?? true,
    wildcardSubscriptionAvailable: o.wildcardSubscriptionAvailable ?? true,
    subscriptionIdentifiersAvailable: o.subscriptionIdentifiersAvailable ?? true,
    sharedSubscriptionAvailable: o.sharedSubscriptionAvailable ?? true,
    allowEmptyClientId: o.allowEmptyClientId ?? true,
    validatePayloadFormat: o.validatePayloadFormat ?? true,
    responseInformation: o.responseInformation,
    writeBufferHighWaterMark: int('writeBufferHighWaterMark', o.writeBufferHighWaterMark, d.writeBufferHighWaterMark, 1024, 1 << 30),
    closeGracePeriod: int('closeGracePeriod', o.closeGracePeriod, d.closeGracePeriod, 0, 600_000),
    authenticate: hook('authenticate', o.authenticate),
    authorizePublish: hook('authorizePublish', o.authorizePublish),
    authorizeSubscribe: hook('authorizeSubscribe', o.authorizeSubscribe),
    deliveryFilter: hook('deliveryFilter', o.deliveryFilter),
    sysInterval: int('sysInterval', o.sysInterval, 0, 0, 86_400),
  };
}
