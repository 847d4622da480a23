/**
 * Builds and validates outgoing packets from the user's options, and checks them against what the
 * server allows (CONNACK). Pure functions: no client state. @internal
 */
import {
  PacketType,
  encodePacket,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from '../codec/index.js';
import type { Authenticator } from './auth.js';
import { ClientStateError, PublishError, SubscribeError, UnsubscribeError } from './errors.js';
import { asClientError, asPublishError } from './error-utils.js';
import type { ConnectOptions, PublishOptions, ServerLimits, SubscribeOptions, UnsubscribeOptions } from './options.js';

const MAX_SUBSCRIPTION_IDENTIFIER = 268_435_455;
const EMPTY = Buffer.alloc(0);

/** A payload as a Buffer: Buffers as they are, Uint8Arrays as views (no copy), strings as UTF-8. */
export function toBuffer(payload: Buffer | Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return EMPTY;
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new PublishError(0x81, 'Payload must be a Buffer, a Uint8Array or a string');
}

/** The CONNECT for `connect()` options; throws an MqttClientError for what the encoder would refuse. */
export function buildConnect(o: ConnectOptions): ConnectPacket {
  const keepAlive = o.keepAlive ?? 60;
  if (!Number.isInteger(keepAlive) || keepAlive < 0 || keepAlive > 65535) {
    throw new ClientStateError(`keepAlive must be an integer 0–65535 seconds, not ${keepAlive}`);
  }
  const packet: ConnectPacket = {
    type: PacketType.CONNECT,
    clientId: o.clientId ?? '',
    keepAlive,
    cleanStart: o.cleanStart ?? true,
    username: o.username,
    password: o.password === undefined ? undefined : toBuffer(o.password),
    properties: o.properties,
  };
  if (o.will !== undefined) {
    packet.will = {
      topic: o.will.topic,
      payload: toBuffer(o.will.payload),
      qos: o.will.qos ?? 0,
      retain: o.will.retain === true,
      properties: o.will.properties,
    };
  }
  // Fail fast, at the call, on what the encoder would refuse at every connection attempt.
  try {
    encodePacket(packet);
  } catch (error) {
    throw asClientError(error);
  }
  return packet;
}

/** Resolves an outgoing topic alias to its topic on the current connection. */
export interface TopicAliasResolver {
  resolveTopic(alias: number): string;
}

/**
 * Validates `publish()` options and builds the PUBLISH (full topic; packet id assigned when sent).
 * A topic given only as an alias is resolved through `aliases`, the live connection (undefined when
 * there is none). Throws PublishError: 0x82 bad QoS, 0x90 invalid topic, 0x94 unknown alias.
 */
export function buildPublish(o: PublishOptions, aliases: TopicAliasResolver | undefined): PublishPacket {
  const qos = o.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new PublishError(0x82, `Invalid QoS ${String(qos)}`);
  let topic = o.topic;
  if (topic === '') {
    const alias = o.properties?.topicAlias;
    if (alias === undefined) throw new PublishError(0x90, 'Empty topic name without a topic alias');
    if (aliases === undefined) throw new PublishError(0x94, 'A topic alias alone needs a connection that defined it');
    try {
      topic = aliases.resolveTopic(alias);
    } catch (error) {
      throw asPublishError(error);
    }
  } else if (!isValidTopicName(topic)) {
    throw new PublishError(0x90, `Invalid topic name ${JSON.stringify(topic)}`);
  }
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: toBuffer(o.payload),
    qos,
    retain: o.retain === true,
    dup: false,
    packetId: undefined,
    properties: o.properties,
  };
}

/** Validates `unsubscribe()` options; throws UnsubscribeError (0x8F invalid filter, 0x82 none given). */
export function validateUnsubscribe(options: UnsubscribeOptions): void {
  const filters = options.topicFilters;
  if (!Array.isArray(filters) || filters.length === 0) {
    throw new UnsubscribeError(0x82, 'UNSUBSCRIBE needs at least one topic filter');
  }
  for (const f of filters) {
    if (!isValidTopicFilter(f)) throw new UnsubscribeError(0x8f, `Invalid topic filter ${JSON.stringify(f)}`);
  }
}

/**
 * The CONNECT of one connection attempt: the template of `connect()` under the client id in use;
 * a reconnect resumes the session (cleanStart false); with an authenticator, its method and initial data.
 */
export async function connectPacketFor(
  template: ConnectPacket,
  clientId: string,
  reconnect: boolean,
  auth: Authenticator | undefined,
): Promise<ConnectPacket> {
  let properties = template.properties;
  if (auth !== undefined) {
    const data = auth.initialData === undefined ? undefined : await auth.initialData();
    properties = { ...properties, authenticationMethod: auth.method, authenticationData: data };
  }
  return { ...template, clientId, cleanStart: reconnect ? false : template.cleanStart, properties };
}

/** Validates `subscribe()` options; throws SubscribeError (0x8F invalid filter, 0x82 otherwise). */
export function validateSubscribe(options: SubscribeOptions): void {
  const subs = options.subscriptions;
  if (!Array.isArray(subs) || subs.length === 0) throw new SubscribeError(0x82, 'SUBSCRIBE needs at least one subscription');
  const id = options.properties?.subscriptionIdentifier;
  if (id !== undefined && (!Number.isInteger(id) || id < 1 || id > MAX_SUBSCRIPTION_IDENTIFIER)) {
    throw new SubscribeError(0x82, `Subscription identifier must be 1–${MAX_SUBSCRIPTION_IDENTIFIER}, not ${id}`);
  }
  for (const s of subs) {
    if (!isValidTopicFilter(s.topicFilter)) throw new SubscribeError(0x8f, `Invalid topic filter ${JSON.stringify(s.topicFilter)}`);
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw new SubscribeError(0x82, `Invalid QoS ${String(s.qos)}`);
    if (s.retainHandling !== undefined && s.retainHandling !== 0 && s.retainHandling !== 1 && s.retainHandling !== 2) {
      throw new SubscribeError(0x82, `Invalid retainHandling ${String(s.retainHandling)}`);
    }
    // Spec 3.8.3.1: No Local on a shared subscription is a Protocol Error.
    if (s.noLocal === true && parseSharedSubscription(s.topicFilter) !== undefined) {
      throw new SubscribeError(0x82, `noLocal is not allowed on shared subscription ${s.topicFilter}`);
    }
  }
}

/** Refuses subscription features the server does not offer: identifiers 0xA1, shared 0x9E, wildcards 0xA2. */
export function checkSubscribeAllowed(
  limits: ServerLimits,
  subscriptions: readonly Subscription[],
  identifier: number | number[] | undefined,
): void {
  if (identifier !== undefined && !limits.subscriptionIdentifiersAvailable) {
    throw new SubscribeError(0xa1, 'The server does not support subscription identifiers');
  }
  for (const s of subscriptions) {
    const f = s.topicFilter;
    if (!limits.sharedSubscriptionAvailable && f.startsWith('$share/')) {
      throw new SubscribeError(0x9e, `The server does not support shared subscriptions (${f})`);
    }
    if (!limits.wildcardSubscriptionAvailable && (f.includes('+') || f.includes('#'))) {
      throw new SubscribeError(0xa2, `The server does not support wildcard subscriptions (${f})`);
    }
  }
}

/** Refuses a PUBLISH above the server's Maximum QoS (0x9B) or retained when it has no retain (0x9A). */
export function checkPublishAllowed(limits: ServerLimits, packet: PublishPacket): void {
  if (packet.qos > limits.maximumQoS) {
    throw new PublishError(0x9b, `QoS ${packet.qos} exceeds the server's Maximum QoS ${limits.maximumQoS}`);
  }
  if (packet.retain && !limits.retainAvailable) {
    throw new PublishError(0x9a, 'The server does not support retained messages');
  }
}
