/**
 * Mqtt5HealthIndicator: `@nestjs/terminus` checks for a ClientMqtt5, a ServerMqtt5 and an embedded
 * MqttBroker, usable from a standard `HealthCheckService.check([...])` controller.
 */
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { MqttBroker } from '../broker/index.js';
import type { ClientMqtt5, ServerMqtt5 } from '../nest/index.js';
import { clientOf, watch, type Mqtt5DisconnectRecord, type WatchableTransport } from './connection-state.js';
import { DEFAULT_HEALTH_TOPIC_PREFIX, connectRoundTrip, pubackRoundTrip, sendRoundTrip } from './probes.js';

/** Milliseconds a round trip may take when `timeout` is not set. */
export const DEFAULT_HEALTH_TIMEOUT = 1000;

/** A round trip through the broker: a QoS 1 PUBLISH answered by its PUBACK. */
export interface Mqtt5PubackRoundTrip {
  kind: 'puback';
  /** Topic of the health message. Default `nest-mqtt5/health/<client id>`. */
  topic?: string;
}

/** A round trip through a service: `send(pattern, data)` answered by a handler (ClientMqtt5 only). */
export interface Mqtt5SendRoundTrip {
  kind: 'send';
  /** A pattern some ServerMqtt5 serves, e.g. with `@MessagePattern('health.ping') ping() { return 'pong'; }`. */
  pattern: string;
  /** The request payload. Default `'ping'` (Nest refuses a null one). */
  data?: unknown;
}

/** Options of {@link Mqtt5HealthIndicator.checkClient} and {@link Mqtt5HealthIndicator.checkServer}. */
export interface Mqtt5TransportCheckOptions {
  /** Broker URL shown in the result (credentials are removed). */
  url?: string;
  /** Milliseconds the round trip may take. Default {@link DEFAULT_HEALTH_TIMEOUT}. */
  timeout?: number;
  /** Also prove the path works, not only that the connection is up. Default: none. */
  roundTrip?: Mqtt5PubackRoundTrip | Mqtt5SendRoundTrip;
}

/** Options of {@link Mqtt5HealthIndicator.checkBroker}. */
export interface Mqtt5BrokerCheckOptions {
  /**
   * A URL of one of the broker's listeners: when given, the check connects a short-lived client,
   * publishes a QoS 1 message and awaits the PUBACK (shown without credentials).
   */
  url?: string;
  /** Milliseconds the round trip may take. Default {@link DEFAULT_HEALTH_TIMEOUT}. */
  timeout?: number;
}

/** Details of a transport check (beside terminus' `status`). */
export interface Mqtt5TransportHealth {
  [key: string]: unknown;
  /** The client's state (idle, connecting, connected, reconnecting, closing, closed), or `not started` before the transport built its client. */
  connection: string;
  url?: string;
  clientId?: string;
  lastDisconnect?: Mqtt5DisconnectRecord;
  /** Milliseconds the round trip took, when one was asked for and succeeded. */
  roundTripMs?: number;
  /** Why the check is down. */
  message?: string;
  /** The stable code of the error that failed the round trip (e.g. HEALTH_TIMEOUT, NO_RESPONDERS), when it has one. */
  code?: string;
}

/**
 * Health checks for the transport and the embedded broker. Provide it next to `TerminusModule`:
 *
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly mqtt: Mqtt5HealthIndicator,
 *               @Inject('MQTT') private readonly client: ClientMqtt5) {}
 *   @Get() @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.mqtt.checkClient('mqtt', this.client, { roundTrip: { kind: 'puback' } })]);
 *   }
 * }
 * ```
 *
 * A check never takes longer than its timeout (plus a few milliseconds): a connection that is not
 * up is reported at once, and a round trip is abandoned at its deadline.
 */
@Injectable()
export class Mqtt5HealthIndicator {
  constructor(private readonly health: HealthIndicatorService) {}

  /**
   * Starts recording a transport's status and disconnects now. Checks do it on first use; call it at
   * start-up to have the reason of a disconnect that happens before the first probe.
   */
  observe(target: ClientMqtt5 | ServerMqtt5): void {
    watch(target);
  }

  /** Checks a ClientMqtt5: connected, and optionally a PUBACK or a `send()` round trip. */
  checkClient<const Key extends string>(key: Key, client: ClientMqtt5, options: Mqtt5TransportCheckOptions = {}): Promise<HealthIndicatorResult<Key>> {
    return this.checkTransport(key, client, client, options);
  }

  /** Checks a ServerMqtt5: connected, and optionally a PUBACK round trip (a `send()` needs a client). */
  checkServer<const Key extends string>(key: Key, server: ServerMqtt5, options: Mqtt5TransportCheckOptions = {}): Promise<HealthIndicatorResult<Key>> {
    if (options.roundTrip?.kind === 'send') throw new TypeError('a send() round trip needs a ClientMqtt5: use checkClient()');
    return this.checkTransport(key, server, undefined, options);
  }

  /**
   * Checks an embedded broker: its counters, and with `url` a connect + PUBACK round trip through
   * that listener (down when it fails or times out).
   */
  async checkBroker<const Key extends string>(key: Key, broker: MqttBroker, options: Mqtt5BrokerCheckOptions = {}): Promise<HealthIndicatorResult<Key>> {
    const session = this.health.check(key);
    const m = broker.metrics();
    const details: Record<string, unknown> = { connections: m.connections, clients: m.clients, sessions: m.sessions, droppedMessages: m.droppedMessages };
    if (options.url === undefined) return session.up(details);
    details.url = withoutCredentials(options.url);
    try {
      details.roundTripMs = await connectRoundTrip(options.url, options.timeout ?? DEFAULT_HEALTH_TIMEOUT);
      return session.up(details);
    } catch (error) {
      const code = codeOf(error);
      return session.down({ ...details, message: messageOf(error), ...(code !== undefined ? { code } : {}) });
    }
  }

  private async checkTransport<const Key extends string>(
    key: Key,
    target: WatchableTransport,
    proxy: ClientMqtt5 | undefined,
    options: Mqtt5TransportCheckOptions,
  ): Promise<HealthIndicatorResult<Key>> {
    const session = this.health.check(key);
    const state = watch(target);
    const client = clientOf(target);
    // The client's own state is exact and synchronous; the status stream is the fallback before it exists.
    const details: Mqtt5TransportHealth = { connection: client?.state ?? state.status ?? 'not started' };
    // Without `url`, the client's `brokerUrl` (a Connection's, never holding credentials) when it exposes one.
    const url = options.url ?? (client as { brokerUrl?: unknown } | undefined)?.brokerUrl;
    if (typeof url === 'string') details.url = withoutCredentials(url);
    if (client !== undefined) details.clientId = client.clientId;
    if (state.lastDisconnect !== undefined) details.lastDisconnect = state.lastDisconnect;
    if (client === undefined || !client.connected) {
      details.message = state.lastDisconnect !== undefined ? `not connected: ${state.lastDisconnect.reason}` : 'not connected';
      return session.down(details);
    }
    const roundTrip = options.roundTrip;
    if (roundTrip === undefined) return session.up(details);
    const timeout = options.timeout ?? DEFAULT_HEALTH_TIMEOUT;
    try {
      details.roundTripMs =
        roundTrip.kind === 'send'
          ? await sendRoundTrip(proxy!, roundTrip.pattern, roundTrip.data ?? 'ping', timeout)
          : await pubackRoundTrip(client, roundTrip.topic ?? DEFAULT_HEALTH_TOPIC_PREFIX + client.clientId, timeout);
      return session.up(details);
    } catch (error) {
      details.message = messageOf(error);
      const code = codeOf(error);
      if (code !== undefined) details.code = code;
      return session.down(details);
    }
  }
}

/** The URL without user name and password, for display. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
