/**
 * The client's options with their defaults applied, resolved once in the constructor: the client
 * reads the process-lifetime ones (reconnect, queue bounds), each connection the rest. @internal
 */
import type { MqttClientOptions } from './options.js';
import { DEFAULT_RECONNECT } from './reconnect.js';

/** {@link MqttClientOptions} with every default applied (the session store and random source aside). @internal */
export type ClientSettings = Required<Omit<MqttClientOptions, 'sessionStore' | 'random' | 'pingTimeout'>> & {
  pingTimeout: number | undefined;
};

/** Applies the defaults; throws RangeError for a `maxInflight` below 1 or a negative `maxPendingPublishes`. */
export function resolveSettings(options: MqttClientOptions): ClientSettings {
  const settings: ClientSettings = {
    initialReconnectDelay: options.initialReconnectDelay ?? DEFAULT_RECONNECT.initialReconnectDelay,
    maxReconnectDelay: options.maxReconnectDelay ?? DEFAULT_RECONNECT.maxReconnectDelay,
    reconnectJitter: options.reconnectJitter ?? DEFAULT_RECONNECT.reconnectJitter,
    reconnect: options.reconnect ?? true,
    connectTimeout: options.connectTimeout ?? 30000,
    pingTimeout: options.pingTimeout,
    maxPendingPublishes: options.maxPendingPublishes ?? 10000,
    maxInflight: Math.min(options.maxInflight ?? 65535, 65535),
    queueQoS0: options.queueQoS0 ?? true,
    autoTopicAlias: options.autoTopicAlias ?? false,
    disconnectTimeout: options.disconnectTimeout ?? 5000,
    manualAck: options.manualAck ?? false,
    enforceReceiveMaximum: options.enforceReceiveMaximum ?? true,
  };
  if (!(settings.maxInflight >= 1)) throw new RangeError('maxInflight must be ≥ 1');
  if (!(settings.maxPendingPublishes >= 0)) throw new RangeError('maxPendingPublishes must be ≥ 0');
  return settings;
}
