/**
 * Round-trip probes of the health indicator, each bounded by its timeout: a QoS 1 PUBLISH answered
 * by a PUBACK, a `send()` answered by a handler, and a fresh connection to a broker.
 */
import { randomBytes } from 'node:crypto';
import { MqttClient, connectionFromUrl } from '../client/index.js';
import type { ClientMqtt5 } from '../nest/index.js';
import { withDeadline } from './deadline.js';

/** Prefix of the default health topic; the client id follows. */
export const DEFAULT_HEALTH_TOPIC_PREFIX = 'nest-mqtt5/health/';

/**
 * Publishes an empty QoS 1 message to `topic` and resolves with the milliseconds until its PUBACK.
 * The message expires at the broker within a second or so of the deadline, so one left in flight
 * by a timeout (the client resends it after a reconnect) goes nowhere.
 */
export async function pubackRoundTrip(client: MqttClient, topic: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const published = client.publish({
    topic,
    payload: Buffer.alloc(0),
    qos: 1,
    properties: { messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)) },
  });
  await withDeadline(published, timeoutMs, `PUBACK for the health message on "${topic}"`);
  return Math.round(performance.now() - started);
}

/**
 * Sends `data` to `pattern` through a ClientMqtt5 and resolves with the milliseconds until the first
 * response (or completion). On timeout the request is unsubscribed, which drops its pending entry.
 */
export function sendRoundTrip(proxy: ClientMqtt5, pattern: string, data: unknown, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let unsubscribe: (() => void) | undefined;
  const answered = new Promise<void>((resolve, reject) => {
    const subscription = proxy.send(pattern, data).subscribe({ next: () => resolve(), complete: () => resolve(), error: reject });
    unsubscribe = () => subscription.unsubscribe();
  });
  return withDeadline(answered, timeoutMs, `a response to "${pattern}"`, () => unsubscribe?.()).then(
    () => {
      unsubscribe?.();
      return Math.round(performance.now() - started);
    },
  );
}

/**
 * Connects a short-lived client to `url`, publishes a QoS 1 health message (PUBACK), disconnects,
 * and resolves with the milliseconds taken. On timeout the client is closed at once.
 */
export async function connectRoundTrip(url: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  // The deadline below decides (one error kind for every timeout); the client's own connect timeout is only a backstop.
  const client = new MqttClient(connectionFromUrl(url), { reconnect: false, connectTimeout: timeoutMs + 1000, disconnectTimeout: timeoutMs });
  const clientId = `nest-mqtt5-health-${randomBytes(6).toString('hex')}`;
  const probe = (async () => {
    await client.connect({ clientId, cleanStart: true, keepAlive: 0 });
    await client.publish({ topic: DEFAULT_HEALTH_TOPIC_PREFIX + clientId, payload: Buffer.alloc(0), qos: 1, properties: { messageExpiryInterval: 1 } });
  })();
  try {
    await withDeadline(probe, timeoutMs, `connecting to ${url} and a PUBACK`);
  } catch (error) {
    // Not awaited past the deadline: disconnect() aborts a pending connect and ends the socket.
    client.disconnect().catch(() => {});
    throw error;
  }
  const elapsed = Math.round(performance.now() - started);
  await client.disconnect().catch(() => {});
  return elapsed;
}
