/**
 * What the health indicator knows of a transport's connection: its latest status (from the public
 * `status` observable) and the last disconnect (from the forwarded `disconnected` event). One watcher
 * per transport, attached the first time it is checked and kept as long as the transport lives.
 */
import type { Subscription } from 'rxjs';
import type { MqttClient } from '../client/index.js';
import type { Mqtt5Status } from '../nest/index.js';

/** The last time the connection ended, as reported in health details. */
export interface Mqtt5DisconnectRecord {
  /** When it happened (ISO 8601). */
  readonly at: string;
  /** The error's message, e.g. "Server sent DISCONNECT: Server shutting down". */
  readonly reason: string;
  /** The error class name, e.g. DisconnectedError, ConnectionLostError. */
  readonly error: string;
  /** The MQTT reason code when the peer (or our client) gave one. */
  readonly reasonCode?: number;
}

/** A ServerMqtt5 or ClientMqtt5, as far as the watcher needs it (their public surface). */
export interface WatchableTransport {
  readonly status: { subscribe(next: (status: Mqtt5Status) => void): Subscription };
  on(event: 'disconnected', callback: (reason: Error) => void): void;
  unwrap<T = MqttClient>(): T;
}

/** The watcher of one transport. */
export class ConnectionWatch {
  status: Mqtt5Status | undefined;
  lastDisconnect: Mqtt5DisconnectRecord | undefined;
  private readonly subscription: Subscription;

  constructor(target: WatchableTransport) {
    this.subscription = target.status.subscribe((status) => (this.status = status));
    target.on('disconnected', (reason) => (this.lastDisconnect = recordOf(reason)));
  }

  /** Stops following the status (the `disconnected` listener lives as long as the client). */
  close(): void {
    this.subscription.unsubscribe();
  }
}

const watches = new WeakMap<object, ConnectionWatch>();

/** The watcher of `target`, created on first use. */
export function watch(target: WatchableTransport): ConnectionWatch {
  let w = watches.get(target);
  if (w === undefined) watches.set(target, (w = new ConnectionWatch(target)));
  return w;
}

/** The MqttClient under a transport, or undefined before `connect()` / `listen()` built it. */
export function clientOf(target: WatchableTransport): MqttClient | undefined {
  try {
    return target.unwrap<MqttClient>();
  } catch {
    return undefined;
  }
}

function recordOf(reason: Error): Mqtt5DisconnectRecord {
  const reasonCode = (reason as { reasonCode?: unknown }).reasonCode;
  return {
    at: new Date().toISOString(),
    reason: reason.message,
    error: reason.name !== 'Error' ? reason.name : reason.constructor.name,
    ...(typeof reasonCode === 'number' ? { reasonCode } : {}),
  };
}
