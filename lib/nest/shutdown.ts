/**
 * Graceful shutdown of ServerMqtt5 (`app.close()`, SIGTERM with `enableShutdownHooks()`), in order:
 *
 * 1. Stop taking new messages. Subscriptions that end with the session anyway (session expiry 0)
 *    and shared ones (`$share/…`, the other members take over) are UNSUBSCRIBEd, so the broker
 *    sends nothing more here and routes new messages to the other replicas. Messages already on
 *    their way are still handled. Non-shared subscriptions of a persistent session are kept — the
 *    broker keeps their messages for the restart — and their new messages are left unacknowledged.
 * 2. Let the handlers in progress and the messages already received finish, with their replies and
 *    acknowledgements sent — bounded by `shutdownTimeout` (the UNSUBSCRIBE round trip included).
 * 3. DISCONNECT. When every subscription is shared, with session expiry 0: nothing is kept for this
 *    replica, so the broker may hand what it has not acknowledged to another member at once.
 *
 * What is not acknowledged by then: our broker hands the unacknowledged messages of a shared
 * subscription to another connected member as soon as this connection ends (and queued ones when
 * the session ends); Mosquitto 2.0 does not re-dispatch them (they are dropped with the session, or
 * redelivered to this client on session resume) — which is why step 2 finishes everything received.
 */
import type { MqttClient } from '../client/index.js';
import type { Mqtt5Logger } from './lifecycle-log.js';
import { toTransportError } from './transport-errors.js';

/** A handler subscription as the shutdown sees it. */
export interface ShutdownSubscription {
  readonly topicFilter: string;
  /** Still handling messages that arrive (set false when they are to be left unacknowledged). */
  open: boolean;
}

/** What {@link shutdownGracefully} needs from the server. */
export interface ShutdownOptions {
  client: MqttClient | undefined;
  subscriptions: readonly ShutdownSubscription[];
  /** Total time (ms) for unsubscribing and draining. */
  timeoutMs: number;
  logger: Mqtt5Logger;
  /** Resolves true once no handler runs and nothing waits for one, false after `ms`. */
  whenIdle(ms: number): Promise<boolean>;
  /** Handlers running plus messages waiting, for the log line when time runs out. */
  busy(): number;
  /** Called when the drain is over (done or timed out): nothing more is handled. */
  stopHandling(): void;
}

/** Runs steps 1–3 above. Never rejects: failures are logged, and the connection is closed either way. */
export async function shutdownGracefully(o: ShutdownOptions): Promise<void> {
  const { client, subscriptions, logger } = o;
  const deadline = performance.now() + o.timeoutMs;
  const left = (): number => Math.max(0, Math.round(deadline - performance.now()));
  const shared = subscriptions.every((s) => isShared(s.topicFilter));
  if (client !== undefined && client.connected) {
    const sessionEnds = client.sessionExpiryInterval === 0;
    const released: string[] = [];
    for (const s of subscriptions) {
      if (sessionEnds || isShared(s.topicFilter)) released.push(s.topicFilter);
      else s.open = false;
    }
    if (released.length > 0) {
      const unsubscribed = await bounded(client.unsubscribe({ topicFilters: released }), left());
      if (unsubscribed instanceof Error) logger.warn(`Shutdown: unsubscribing failed (${unsubscribed.message}); finishing what was received`);
    }
  } else {
    for (const s of subscriptions) s.open = false;
  }
  if (!(await o.whenIdle(left()))) {
    logger.warn(`Shutdown: ${o.busy()} message(s) still being handled after ${o.timeoutMs} ms (shutdownTimeout); disconnecting, the broker redelivers them`);
  }
  o.stopHandling();
  if (client === undefined) return;
  try {
    await client.disconnect(shared && subscriptions.length > 0 ? { properties: { sessionExpiryInterval: 0 } } : {});
  } catch (err) {
    logger.error(toTransportError(err));
  }
}

function isShared(topicFilter: string): boolean {
  return topicFilter.startsWith('$share/');
}

/** The promise's value, its error, or a timeout error after `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T | Error> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Error>((resolve) => {
    timer = setTimeout(() => resolve(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
